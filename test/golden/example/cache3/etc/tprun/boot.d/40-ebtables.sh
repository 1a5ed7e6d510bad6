#!/bin/sh
# tprun ebtables: load tprun's broute chain, then jump to it first from BROUTING.
ebtables-restore --noflush < /etc/tprun/ebtables.rules
ebtables -t broute -L BROUTING | grep -q -- '-j TPRUN_BROUTING' || ebtables -t broute -I BROUTING 1 -j TPRUN_BROUTING
