#!/usr/bin/env bash
# `npm test`: install what is missing; type check, lint and format check (each counts as a test);
# then every uvu suite under test/. Ends with "N passed, N failed" (after "N skipped"); fails on any
# failure, a type error, a lint error, and when no test ran.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
# No config file of this machine's (./tprun.config.yml, ~/.config/tprun/config.yml) changes what
# the tests run; the tests of the config file name their own.
export TPRUN_CONFIG=
# Nor do the operator's TPRUN_* option variables: the tests of those set their own.
unset TPRUN_FORKS TPRUN_LOCK_TIMEOUT TPRUN_DETAILED_EXITCODES
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
vmout=$(mktemp)
vmstatus=0
uvu() { node --import tsx node_modules/uvu/bin.js test "$@"; }
if [ $# -eq 0 ] && [ "${TPRUN_VMLAB:-1}" != 0 ] && [ "${TPRUN_TEST_SERIAL:-0}" != 1 ]; then
  # The VM suites (emulated CPUs, mostly waiting for boots and guests) run beside the others:
  # the run takes the longer of the two, not their sum. Their output follows the others'.
  uvu '^vm/.*\.test\.ts$' >"$vmout" 2>&1 &
  vmpid=$!
  uvu '\.test\.ts$' -i '^vm' 2>&1 | tee "$out"
  status=${PIPESTATUS[0]}
  wait "$vmpid"
  vmstatus=$?
  echo "--- the VM suites (run beside the others) ---"
  cat "$vmout"
else
  uvu '\.test\.ts$' "$@" 2>&1 | tee "$out"
  status=${PIPESTATUS[0]}
fi
sum() {
  local v
  # uvu colours its counts: the escape codes go before the number is read.
  v=$(sed 's/\x1b\[[0-9;]*m//g' "$2" | sed -n "s/^ *$1: *\([0-9]*\).*/\1/p" | tail -1)
  echo "${v:-0}"
}
total=$(($(sum Total "$out") + $(sum Total "$vmout")))
passed=$(($(sum Passed "$out") + $(sum Passed "$vmout")))
skipped=$(($(sum Skipped "$out") + $(sum Skipped "$vmout")))
# A VM run that ended without its summary (it crashed) counts as a failure.
[ "$vmstatus" -ne 0 ] && [ "$(sum Total "$vmout")" -eq 0 ] && total=$((total + 1))
rm -f "$out" "$vmout"
# uvu's Total counts the tests that ran: skipped ones are apart from it.
failed=$((total - passed))
none=""
if [ "$total" -eq 0 ] || [ "$passed" -eq 0 ]; then none=1; echo "no test ran" >&2; fi
echo "${skipped} skipped"
# The last line, as CI reads it.
echo "$((passed + static_passed)) passed, $((failed + static_failed)) failed"
[ -z "$none" ] || exit 1
[ "$status" -eq 0 ] && [ "$vmstatus" -eq 0 ] && [ "$failed" -eq 0 ] && [ "$static_failed" -eq 0 ]
