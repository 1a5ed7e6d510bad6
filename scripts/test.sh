#!/usr/bin/env bash
# `npm test`: install what is missing, run every uvu suite under test/, end with "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-deps.sh || exit 1
# The VM lab's QEMU, mmdebstrap, zstd (never fatal: test/vm skips with a one-line reason).
bash scripts/ensure-vm-deps.sh
out=$(mktemp)
node --import tsx node_modules/uvu/bin.js test '\.test\.ts$' "$@" 2>&1 | tee "$out"
status=${PIPESTATUS[0]}
total=$(sed -n 's/^ *Total: *\([0-9]*\).*/\1/p' "$out" | tail -1)
passed=$(sed -n 's/^ *Passed: *\([0-9]*\).*/\1/p' "$out" | tail -1)
skipped=$(sed -n 's/^ *Skipped: *\([0-9]*\).*/\1/p' "$out" | tail -1)
rm -f "$out"
total=${total:-0} passed=${passed:-0} skipped=${skipped:-0}
failed=$((total - passed - skipped))
echo "${passed} passed, ${failed} failed, ${skipped} skipped"
if [ "$total" -eq 0 ] || [ "$passed" -eq 0 ]; then echo "no test ran" >&2; exit 1; fi
[ "$status" -eq 0 ] && [ "$failed" -eq 0 ]
