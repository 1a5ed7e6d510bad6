#!/usr/bin/env bash
# Installs what tprun's tests and lab need, only when missing: npm packages, then Debian packages.
set -euo pipefail
cd "$(dirname "$0")/.."
# npm ci also applies patches/ (prepare: patch-package), so a newer patch reinstalls too.
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ] ||
  [ -n "$(find patches -newer node_modules/.package-lock.json 2>/dev/null)" ]; then
  echo "ensure-deps: npm ci" >&2
  npm ci --no-audit --no-fund >&2
fi
# Debian packages for the lab (network-namespace hosts with sshd, squid, iptables; python3 for
# the interception probe's origin and client).
need=()
for pair in sshd:openssh-server ssh:openssh-client squid:squid iptables:iptables ebtables:ebtables ip:iproute2 curl:curl sudo:sudo sysctl:procps base64:coreutils nft:nftables python3:python3 shellcheck:shellcheck chromium:chromium; do
  cmd=${pair%%:*} pkg=${pair#*:}
  command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    echo "ensure-deps: apt-get install ${need[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    # policy-rc.d keeps the package scripts from starting squid/sshd outside the lab.
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
    rm -f /usr/sbin/policy-rc.d
  else
    echo "ensure-deps: missing Debian packages ${need[*]} (install them as root); lab tests will be skipped" >&2
  fi
fi
# The namespace lab's intercepted-TLS test (test/lab/squid.test.ts) binds Debian's OpenSSL build of
# the installed squid over /usr/sbin/squid on one lab host only: Debian 12's squid is the GnuTLS
# flavour, which has no ssl-bump. The package is unpacked here, never installed (it would replace
# this machine's squid); without it that one test is skipped with the reason.
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null && command -v dpkg-query >/dev/null &&
  v=$(dpkg-query -W -f '${Version}' squid 2>/dev/null) && [ -n "$v" ] &&
  ! /usr/sbin/squid -v 2>/dev/null | grep -q -- --with-openssl; then
  d=/var/cache/tprun-lab/squid-openssl-$v
  if [ ! -x "$d/usr/sbin/squid" ]; then
    echo "ensure-deps: squid-openssl $v, unpacked in $d (not installed)" >&2
    t=$(mktemp -d)
    if (cd "$t" && apt-get download -qq "squid-openssl=$v" 2>/dev/null) && dpkg -x "$t"/squid-openssl_*.deb "$t/root"; then
      mkdir -p "$(dirname "$d")" && rm -rf "$d" && mv "$t/root" "$d"
    else
      echo "ensure-deps: squid-openssl $v could not be fetched; the lab's intercepted-TLS test will be skipped" >&2
    fi
    rm -rf "$t"
  fi
fi
