#!/bin/sh
# Installs the compliance kit from an installed tprun (npm install -g tprun-VERSION.tgz):
#   sh "$(npm root -g)/tprun/docs/compliance/install.sh" [systemd|cron]
# The wrapper goes to $PREFIX/libexec/tprun/ (PREFIX=/usr/local); systemd: the service and timer
# to /etc/systemd/system (then enable the timer); cron: /etc/cron.d/tprun-check. DESTDIR stages
# the files under another root (packaging, tests). tprun itself is found on PATH.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
PREFIX=${PREFIX:-/usr/local}
DESTDIR=${DESTDIR:-}
wrapper=$PREFIX/libexec/tprun/tprun-check.sh
mkdir -p "$DESTDIR$PREFIX/libexec/tprun"
cp "$here/tprun-check.sh" "$DESTDIR$wrapper"
chmod 0755 "$DESTDIR$wrapper"
case "${1:-systemd}" in
  systemd)
    mkdir -p "$DESTDIR/etc/systemd/system"
    for f in tprun-check.service tprun-check.timer; do
      sed "s|/usr/local/libexec/tprun/tprun-check.sh|$wrapper|" "$here/$f" > "$DESTDIR/etc/systemd/system/$f"
    done
    echo "installed $wrapper and tprun-check.service/.timer; now: systemctl daemon-reload && systemctl enable --now tprun-check.timer"
    ;;
  cron)
    mkdir -p "$DESTDIR/etc/cron.d"
    sed "s|/usr/local/libexec/tprun/tprun-check.sh|$wrapper|" "$here/tprun-check.cron" > "$DESTDIR/etc/cron.d/tprun-check"
    echo "installed $wrapper and /etc/cron.d/tprun-check"
    ;;
  *) echo "usage: install.sh [systemd|cron]" >&2; exit 64 ;;
esac
