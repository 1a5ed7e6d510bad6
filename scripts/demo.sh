#!/usr/bin/env bash
# `npm run demo`: the lab up, tprun apply with live progress, the proof, then a zero-drift check.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then echo "demo: the lab needs root (network namespaces, iptables, sshd); run it as root" >&2; exit 1; fi
bash scripts/ensure-deps.sh
exec node --import tsx scripts/demo.ts "$@"
