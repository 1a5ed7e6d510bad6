#!/usr/bin/env bash
# The VM lab's image recipe: Debian 12 (bookworm) or 13 (trixie) from the archive apt already
# uses, built with mmdebstrap. vmlab.ts keys the cache directory by a hash of this file and the
# release: any change here rebuilds the images.
# Usage: build-image.sh OUTDIR [12|13]   (writes OUTDIR/{disk.raw,vmlinuz,initrd.img,id_ed25519,...})
set -euo pipefail
out=$1
release=${2:-12}
case $release in 12) suite=bookworm ;; 13) suite=trixie ;; *) echo "build-image: release 12 or 13, not $release" >&2; exit 2 ;; esac
root=$out/root
rm -rf "$root"; mkdir -p "$out"
# The suite and mirror of this machine's own apt sources (deb.debian.org here), not a guessed one.
mirror=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)
mirror=${mirror:-http://deb.debian.org/debian}
pkgs=linux-image-amd64,initramfs-tools,systemd-sysv,udev,dbus,kmod,procps,iproute2,iputils-ping,openssh-server,squid,iptables,ebtables,curl,sudo,libnss-myhostname,selinux-policy-default,policycoreutils,selinux-utils,semodule-utils,checkpolicy,libcap2-bin,python3,tcpdump
# What a default Debian 13 install has beyond minbase (priority important): nftables (its
# service enabled below, stock /etc/nftables.conf) and linux-sysctl-defaults (rp_filter 2).
# firewalld too (Debian's own package, default zone and settings), disabled below: only the
# --firewalld variant (topology.ts) enables and starts it, so one image serves both.
[ "$release" = 13 ] && pkgs=$pkgs,nftables,linux-sysctl-defaults,firewalld
ssh-keygen -q -t ed25519 -N '' -C tprun-vmlab -f "$out/id_ed25519" <<<y >/dev/null
# A small initrd: only what mounting an ext4 root on virtio needs (written before the kernel's
# postinst builds it, so it is built small once).
hook_initrd='mkdir -p "$1/etc/initramfs-tools/conf.d" && echo MODULES=list > "$1/etc/initramfs-tools/conf.d/tprun-vmlab"'
mmdebstrap --variant=minbase --include="$pkgs" \
  --essential-hook="$hook_initrd" \
  --customize-hook='printf "virtio_pci\nvirtio_blk\nvirtio_net\next4\n" >> "$1/etc/initramfs-tools/modules"; chroot "$1" update-initramfs -u -k all' \
  "$suite" "$root" "deb $mirror $suite main" 2>&1 | tail -5
# Nothing of this machine leaks in: an empty resolv.conf (libnss-myhostname resolves the own name).
: > "$root/etc/resolv.conf"
echo tpv-template > "$root/etc/hostname"
printf '127.0.0.1 localhost\n::1 localhost\n' > "$root/etc/hosts"
echo 'root:*' | chroot "$root" chpasswd -e
mkdir -p "$root/root/.ssh" && cp "$out/id_ed25519.pub" "$root/root/.ssh/authorized_keys" && chmod 700 "$root/root/.ssh"
printf 'PermitRootLogin prohibit-password\nPasswordAuthentication no\nUseDNS no\nMaxStartups 50:30:100\n' > "$root/etc/ssh/sshd_config.d/tprun-vmlab.conf"
# The management NIC: systemd-networkd, static; each VM rewrites this file with its own address.
mkdir -p "$root/etc/systemd/network"
printf '[Match]\nName=eth0\n[Network]\nAddress=198.19.0.2/16\nLinkLocalAddressing=no\nIPv6AcceptRA=no\n' > "$root/etc/systemd/network/10-mgmt.network"
printf '[Match]\nName=eth1 eth2\n[Link]\nUnmanaged=yes\n' > "$root/etc/systemd/network/20-lab.network"
chroot "$root" systemctl enable systemd-networkd >/dev/null 2>&1
# What a lab VM never needs (slow on emulated CPUs). The second line: seen on a Debian 13 boot
# (systemd-analyze, 2026-12-07, load 5-7): kmod-static-nodes (14 s) on the critical chain to
# squid, modprobe@ and the debug/tracing/hugepages mounts 13-16 s each beside it; root's user
# manager (user@0, 12 s) holds the first SSH login after every boot (logind waits for it).
for u in apt-daily.timer apt-daily-upgrade.timer man-db.timer e2scrub_all.timer e2scrub_reap.service fstrim.timer dpkg-db-backup.timer \
  systemd-timesyncd.service getty@tty1.service systemd-networkd-wait-online.service logrotate.timer remote-fs.target \
  kmod-static-nodes.service modprobe@drm.service modprobe@efi_pstore.service modprobe@fuse.service modprobe@configfs.service \
  sys-kernel-config.mount sys-kernel-debug.mount sys-kernel-tracing.mount dev-hugepages.mount proc-sys-fs-binfmt_misc.automount \
  systemd-network-generator.service systemd-udev-load-credentials.service user@0.service; do
  chroot "$root" systemctl mask "$u" >/dev/null 2>&1 || true
done
# Drivers udev loaded at every boot for the emulated PC's devices and CPU features no lab test
# uses (floppy, parallel port, PC speaker, IDE CD-ROM, SMBus, PS/2 mouse, VMware, nested KVM, wifi
# regulatory, crypto accelerators): each module read, verified and initialised on the emulated
# CPU beside the boot's critical chain. blacklist stops udev's loads by alias only.
printf 'blacklist %s\n' floppy parport_pc ppdev pcspkr ata_piix ata_generic sr_mod sg i2c_piix4 psmouse serio_raw evdev \
  vmw_vmci vmw_vsock_vmci_transport vsock_loopback kvm_amd kvm_intel ccp cfg80211 \
  aesni_intel ghash_clmulni_intel crc32_pclmul crct10dif_pclmul sha1_ssse3 sha256_ssse3 sha512_ssse3 >"$root/etc/modprobe.d/tprun-vmlab.conf"
[ "$release" = 13 ] && chroot "$root" systemctl enable nftables.service >/dev/null 2>&1
# Debian's postinst enables firewalld; the lab's default VMs have no host firewall.
[ "$release" = 13 ] && chroot "$root" systemctl disable firewalld.service >/dev/null 2>&1
printf 'SELINUX=permissive\nSELINUXTYPE=default\n' > "$root/etc/selinux/config"
echo '/dev/vda / ext4 defaults 0 1' > "$root/etc/fstab"
cp "$root/etc/ssh/ssh_host_ed25519_key.pub" "$out/template_host_key.pub"
cp "$root"/boot/vmlinuz-* "$out/vmlinuz"
cp "$root"/boot/initrd.img-* "$out/initrd.img"
# SELinux labels at build time (mkfs.ext4 -d keeps xattrs): an SELinux VM needs no relabel boot.
# libselinux labels through /proc/self/fd: /proc must be mounted in the chroot.
mount -t proc proc "$root/proc"
chroot "$root" setfiles -F /etc/selinux/default/contexts/files/file_contexts / 2>&1 | tail -3 || true
umount "$root/proc"
# Debian 13's /usr/sbin/squid is an alternatives link (squid-openssl, squid-gnutls): check its target.
squid_bin=$(chroot "$root" readlink -f /usr/sbin/squid)
getfattr -n security.selinux "$root$squid_bin" | grep -q squid_exec_t || { echo "build-image: SELinux labels missing" >&2; exit 1; }
rm -f "$out/disk.raw"
mkfs.ext4 -q -L tpv-root -d "$root" "$out/disk.raw" 3G
rm -rf "$root"
ls -la "$out"
