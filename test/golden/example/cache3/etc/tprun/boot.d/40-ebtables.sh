#!/bin/sh
# tprun ebtables: load tprun's broute chain, then jump to it first from BROUTING.
# The default ebtables, else ebtables-legacy (ebtables-nft 1.8.9 has no broute table).
eb=ebtables
for t in ebtables ebtables-legacy; do command -v $t >/dev/null 2>&1 && $t -t broute -L >/dev/null 2>&1 && { eb=$t; break; }; done
$eb-restore --noflush < /etc/tprun/ebtables.rules
$eb -t broute -L BROUTING | grep -q -- '-j TPRUN_BROUTING' || $eb -t broute -I BROUTING 1 -j TPRUN_BROUTING
