#!/bin/sh
# Scheduled compliance check: one run at a time (a lock), timestamped JSON and JUnit reports,
# the newest also as last.json / last.xml, the 96 most recent kept. Exit code is tprun's:
# 0 compliant, 2 drift, 4 failed or unreachable, 6 both; 75 when a run is already going.
# PROM=/var/lib/node_exporter/textfile_collector/tprun.prom also writes the Prometheus textfile
# (written by rename, so node_exporter never reads half of it).
set -u
# tprun as installed (npm install -g puts it on PATH), or TPRUN=/path/to/bin/tprun.js.
TPRUN=${TPRUN:-$(command -v tprun || echo /usr/local/bin/tprun)}
INVENTORY=${INVENTORY:-/etc/tprun/inventory.yml}
REPORTS=${REPORTS:-/var/lib/tprun/reports}
KEEP=${KEEP:-96}
LOCK=${LOCK:-/run/lock/tprun-check.lock}
PROM=${PROM:-}

mkdir -p "$REPORTS"
exec 9>"$LOCK"
if ! flock -n 9; then echo "tprun-check: another check is still running" >&2; exit 75; fi
stamp=$(date -u +%Y%m%dT%H%M%SZ)
set -- --report "json:$REPORTS/check-$stamp.json" --report "junit:$REPORTS/check-$stamp.xml"
[ -n "$PROM" ] && set -- "$@" --report "prom:$PROM"
node "$TPRUN" check "$INVENTORY" --quiet "$@"
rc=$?
if [ -f "$REPORTS/check-$stamp.json" ]; then
  ln -sfn "check-$stamp.json" "$REPORTS/last.json"
  ln -sfn "check-$stamp.xml" "$REPORTS/last.xml"
fi
# Keep the newest $KEEP runs (two files each).
ls -1t "$REPORTS"/check-*.json 2>/dev/null | tail -n +$((KEEP + 1)) | while read -r f; do rm -f "$f" "${f%.json}.xml"; done
exit $rc
