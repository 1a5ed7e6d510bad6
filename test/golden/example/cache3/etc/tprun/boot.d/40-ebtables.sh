#!/bin/sh
# tprun broute: load tprun's broute rules with the implementation tprun's apply chose, decided
# here the same way: ebtables-legacy where its broute table works (never the `ebtables`
# alternative: on Debian 13 that is ebtables-nft, where the redirect target drops), else
# nftables' bridge meta broute.
impl=$(if command -v ebtables-legacy >/dev/null 2>&1 && ebtables-legacy -t broute -L >/dev/null 2>&1; then echo legacy
elif command -v nft >/dev/null 2>&1 && echo 'table bridge tprun_probe { chain p { type filter hook prerouting priority 0; meta broute set 1; }; }' | nft -c -f - >/dev/null 2>&1; then echo nft
fi)
case "$impl" in
legacy)
  ebtables-legacy-restore --noflush < /etc/tprun/ebtables.rules || exit 1
  ebtables-legacy -t broute -L BROUTING | grep -q -- '-j TPRUN_BROUTING' || ebtables-legacy -t broute -I BROUTING 1 -j TPRUN_BROUTING ;;
nft)
  nft -f /etc/tprun/broute.nft ;;
*)
  echo "tprun: no broute implementation (ebtables-legacy, nft meta broute): the bridge cannot intercept" >&2; exit 1 ;;
esac
