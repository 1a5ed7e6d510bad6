#!/usr/bin/env bash
# `npm run bench -- --hosts N`: installs what the benchmark needs (GNU time, ansible), then runs it.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then echo "bench: the lab needs root" >&2; exit 1; fi
bash scripts/ensure-deps.sh
need=()
[ -x /usr/bin/time ] || need+=(time)
case " $* " in *" --no-ansible "*) ;; *) command -v ansible-playbook >/dev/null || need+=(ansible) ;; esac
if [ ${#need[@]} -gt 0 ]; then DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >&2; fi
exec node --import tsx bench/run.ts "$@"
