#!/bin/sh
# tprun boot: replays what tprun set live (GRE links, policy routing, firewall chains).
# sysctls come back through /etc/sysctl.d; this runs the role scripts in order.
status=0
# First, a transaction whose runner died (power loss, SIGKILL) before its journal's end is finished
# from its journal and backups, as its runner would have (rolled back, or its commits completed),
# so the rules below are restored from files that are entirely old or entirely new. The runner
# decides under the host's lock and does nothing if a newer apply holds it or the runner lives.
R=/var/lib/tprun
id=$(cat $R/last 2>/dev/null) || id=
T=$R/tx/$id
if [ -n "$id" ] && [ -f "$T/runner.sh" ] && [ -f "$T/journal" ] && ! grep -q '^@@tprun-end ' "$T/journal"; then
  # Root runs it only from a directory no one else can write (and not through a link).
  safe=1
  for d in $R $R/tx "$T"; do
    { [ ! -L "$d" ] && [ "$(stat -c %u "$d")" = 0 ] && [ $((0$(stat -c %a "$d") & 022)) -eq 0 ]; } || safe=
  done
  if [ -n "$safe" ]; then
    (cd / && TPRUN_TX="$T" sh "$T/runner.sh" heal boot </dev/null >>"$T/journal" 2>>"$T/runner.err")
    grep -q '^@@tprun-end ' "$T/journal" || { echo "tprun-boot: the unfinished transaction $id could not be finished (see $T/journal)" >&2; status=1; }
  else
    echo "tprun-boot: $T is not root's alone: its unfinished transaction is not run" >&2; status=1
  fi
fi
for f in /etc/tprun/boot.d/*.sh; do
  [ -e "$f" ] || continue
  sh "$f" || { echo "tprun-boot: $f failed" >&2; status=1; }
done
exit $status
