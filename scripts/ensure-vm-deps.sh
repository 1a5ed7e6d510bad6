#!/usr/bin/env bash
# Installs what the VM lab (test/vm) needs, only when missing: QEMU, qemu-img, mmdebstrap, zstd,
# getfattr. Never fails the caller: the VM tests skip with a one-line reason when something is
# still missing afterwards.
set -uo pipefail
need=()
for pair in qemu-system-x86_64:qemu-system-x86 qemu-img:qemu-utils mmdebstrap:mmdebstrap zstd:zstd getfattr:attr mkfs.ext4:e2fsprogs; do
  cmd=${pair%%:*} pkg=${pair#*:}
  command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || [ -x "/sbin/$cmd" ] || need+=("$pkg")
done
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
  echo "ensure-vm-deps: apt-get install ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2 || true
  apt-get install -y -qq --no-install-recommends "${need[@]}" >&2 || echo "ensure-vm-deps: apt-get install failed; the VM tests will say what is missing" >&2
else
  echo "ensure-vm-deps: missing ${need[*]} (install them as root); the VM tests will be skipped" >&2
fi
exit 0
