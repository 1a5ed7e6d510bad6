#!/bin/sh
# tprun boot: replays what tprun set live (GRE links, policy routing, firewall chains).
# sysctls come back through /etc/sysctl.d; this runs the role scripts in order.
status=0
for f in /etc/tprun/boot.d/*.sh; do
  [ -e "$f" ] || continue
  sh "$f" || { echo "tprun-boot: $f failed" >&2; status=1; }
done
exit $status
