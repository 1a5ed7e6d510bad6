#!/usr/bin/env bash
# `npm test`: install what is missing; type check, lint and format check (each counts as a test);
# then every uvu suite under test/. Ends with "N passed, N failed" (after "N skipped"); fails on any
# failure, a type error, a lint error, and when no test ran.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-deps.sh || exit 1
# The VM lab's QEMU, mmdebstrap, zstd (never fatal: test/vm skips with a one-line reason).
bash scripts/ensure-vm-deps.sh
static_passed=0 static_failed=0
check() {
  local name=$1; shift
  if "$@" >/tmp/tprun-check.$$ 2>&1; then
    echo "$name: ok"; static_passed=$((static_passed + 1))
  else
    echo "$name: FAILED"; sed 's/^/  /' /tmp/tprun-check.$$ | head -n 60; static_failed=$((static_failed + 1))
  fi
  rm -f /tmp/tprun-check.$$
}
check "typecheck (tsc --noEmit)" npx --no-install tsc --noEmit -p .
check "lint (eslint)" npx --no-install eslint .
check "format (prettier --check)" npx --no-install prettier --check .
out=$(mktemp)
node --import tsx node_modules/uvu/bin.js test '\.test\.ts$' "$@" 2>&1 | tee "$out"
status=${PIPESTATUS[0]}
total=$(sed -n 's/^ *Total: *\([0-9]*\).*/\1/p' "$out" | tail -1)
passed=$(sed -n 's/^ *Passed: *\([0-9]*\).*/\1/p' "$out" | tail -1)
skipped=$(sed -n 's/^ *Skipped: *\([0-9]*\).*/\1/p' "$out" | tail -1)
rm -f "$out"
total=${total:-0} passed=${passed:-0} skipped=${skipped:-0}
failed=$((total - passed - skipped))
none=""
if [ "$total" -eq 0 ] || [ "$passed" -eq 0 ]; then none=1; echo "no test ran" >&2; fi
echo "${skipped} skipped"
# The last line, as CI reads it.
echo "$((passed + static_passed)) passed, $((failed + static_failed)) failed"
[ -z "$none" ] || exit 1
[ "$status" -eq 0 ] && [ "$failed" -eq 0 ] && [ "$static_failed" -eq 0 ]
