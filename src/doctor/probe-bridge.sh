# The interception probe through a bridge's two sides (src/doctor/probe.ts prepends this to
# probe.sh on a bridge host, with TP_CIF and TP_IIF: the bridge's client and internet ports).
# The probe's client veth (host end $v_c) and origin veth ($v_o) become ports of the bridge that
# holds TP_CIF; a probe broute chain holds a copy of the host's own TPRUN_BROUTING rules as they
# are now, with "-i TP_CIF" renamed to "-i $v_c" and "-i TP_IIF" to "-i $v_o", jumped to first
# from BROUTING for those two ports only. Nothing may leave the host through the real ports:
# no link-local addresses, static neighbours and FDB entries, and ebtables FORWARD drops for
# anything bridged to or from a probe port. Every name carries the pid (the chain, the veths,
# the MACs fe:7b:PID:0N, the host routes' metric, with proto 123), so the next run removes a killed run's leftovers.
# shellcheck shell=sh disable=SC2154,SC2034 # a fragment: probe.sh names what it reads, and reads TP_BRIDGE
TP_BRIDGE=1
EB=""; br=""
# The probe's MAC N (01: client port, 02: client, 03: origin port, 04: origin) of the run with pid $1.
eb_mac() { printf 'fe:7b:%s:%s' "$(printf '%06x' "$1" | sed 's/\(..\)\(..\)\(..\)/\1:\2:\3/')" "$2"; }
bridge_ebtables() {
  # The ebtables whose broute table lists tprun's chain (Debian 12: ebtables-legacy, the default
  # ebtables-nft has no broute table); else the first whose broute table works.
  for t in ebtables ebtables-legacy; do
    command -v $t >/dev/null 2>&1 && $t -t broute -L TPRUN_BROUTING >/dev/null 2>&1 && { echo $t; return; }
  done
  for t in ebtables ebtables-legacy; do
    command -v $t >/dev/null 2>&1 && $t -t broute -L >/dev/null 2>&1 && { echo $t; return; }
  done
}
# The probe's ebtables entries of one run (a pid), or of every run whose pid is gone ("dead").
eb_mine() { [ "$1" = dead ] && [ ! -d "/proc/$2" ] || [ "$1" = "$2" ]; }
bridge_eb_del() {
  $EB -t broute -L BROUTING 2>/dev/null | sed -n 's/^\(-i tp[co]\([0-9][0-9]*\) -j TPRUN_PROBE_[0-9]*\) *$/\2 \1/p' | while read -r p rule; do
    eb_mine "$1" "$p" && $EB -t broute -D BROUTING $rule 2>/dev/null
  done
  $EB -t broute -L 2>/dev/null | sed -n 's/^Bridge chain: TPRUN_PROBE_\([0-9][0-9]*\),.*/\1/p' | while read -r p; do
    eb_mine "$1" "$p" && $EB -t broute -X "TPRUN_PROBE_$p" 2>/dev/null
  done
  $EB -t filter -L FORWARD 2>/dev/null | sed -n 's/^\(.*-[io] tp[co]\([0-9][0-9]*\) .*-j DROP\) *$/\2 \1/p' | while read -r p rule; do
    eb_mine "$1" "$p" && $EB -t filter -D FORWARD $rule 2>/dev/null
  done
  return 0
}
# Leftovers of probe runs killed before their trap ran (their pid is gone): ebtables entries,
# and the host's static neighbours (MAC fe:7b:PID:..) and routes (proto 123, metric PID).
bridge_stale() {
  bridge_eb_del dead
  # Its ports: named tp[co]PID and with the MAC fe:7b:PID:01/03, so no other interface is taken for one.
  ip -o link show 2>/dev/null | sed -n 's/^[0-9]*: \(tp[co]\([0-9][0-9]*\)\)[@:].* link\/ether \(fe:7b:[0-9a-f:]*\) .*/\1 \2 \3/p' | while read -r l p m; do
    case $l in tpc*) k=01 ;; *) k=03 ;; esac
    [ "$m" = "$(eb_mac "$p" $k)" ] || continue
    [ -d "/proc/$p" ] || ip link del "$l" 2>/dev/null
  done
  ip neigh show nud permanent 2>/dev/null | sed -n 's/^\([^ ]*\) dev \([^ ]*\) lladdr fe:7b:\(..\):\(..\):\(..\):0[1-4].*/\1 \2 \3\4\5/p' | while read -r a d p; do
    [ -d "/proc/$((0x$p))" ] || ip neigh del "$a" dev "$d" 2>/dev/null
  done
  for f in 4 6; do
    ip -$f route show proto 123 2>/dev/null | sed -n 's/^\([^ ]*\) dev \([^ ]*\) .*metric \([0-9][0-9]*\).*/\1 \2 \3/p' | while read -r a d p; do
      [ -d "/proc/$p" ] || ip -$f route del "$a" dev "$d" proto 123 metric "$p" 2>/dev/null
    done
  done
  return 0
}
bridge_prepare() {
  [ -e "/sys/class/net/$TP_CIF" ] || fail "setup: the bridge's client interface $TP_CIF does not exist"
  [ -e "/sys/class/net/$TP_IIF" ] || fail "setup: the bridge's internet interface $TP_IIF does not exist"
  br=$(basename "$(readlink "/sys/class/net/$TP_CIF/master" 2>/dev/null)" 2>/dev/null)
  [ -n "$br" ] && [ -d "/sys/class/net/$br/bridge" ] || fail "setup: $TP_CIF is not a port of a bridge"
  [ "$(basename "$(readlink "/sys/class/net/$TP_IIF/master" 2>/dev/null)" 2>/dev/null)" = "$br" ] || fail "setup: $TP_IIF is not a port of $TP_CIF's bridge $br"
  # A new port on an STP bridge waits in listening/learning and makes topology-change BPDUs
  # leave through the real ports; on a VLAN-filtering bridge its VLANs would have to be copied.
  [ "$(cat "/sys/class/net/$br/bridge/stp_state" 2>/dev/null)" = 0 ] || fail "setup: not run on $br: it runs STP, and a probe port joining it would send topology changes out of the real ports"
  [ "$(cat "/sys/class/net/$br/bridge/vlan_filtering" 2>/dev/null)" = 1 ] && fail "setup: not run on $br: VLAN filtering is on (the probe does not copy the ports' VLANs)"
  eb_chain=TPRUN_PROBE_$id
  # Locally administered MACs above any real NIC's: the bridge's own MAC (the lowest of its ports
  # unless set) cannot change when the probe's ports join it.
  mac_a=$(eb_mac "$id" 01); mac_c=$(eb_mac "$id" 02); mac_b=$(eb_mac "$id" 03); mac_o=$(eb_mac "$id" 04)
  if [ "$TP_FAMILY" = 6 ]; then eb_plen=128; eb_ip=ip6; else eb_plen=32; eb_ip=ip; fi
  EB=$(bridge_ebtables)
  [ -n "$EB" ] || fail "setup: no ebtables with a usable broute table (ebtables, ebtables-legacy)"
  bridge_stale
  say "probe.bridge=$br ($TP_CIF → $v_c, $TP_IIF → $v_o, $EB)"
}
bridge_cleanup() {
  [ -n "$EB" ] && bridge_eb_del "$id"
  [ -n "$br" ] || return 0
  ip neigh del "$client" dev "$br" 2>/dev/null; ip neigh del "$origin" dev "$br" 2>/dev/null
  ip -$TP_FAMILY route del "$client" dev "$br" proto 123 metric "$id" 2>/dev/null; ip -$TP_FAMILY route del "$origin" dev "$br" proto 123 metric "$id" 2>/dev/null
  return 0
}
# The host's own TPRUN_BROUTING rules as they are now (when BROUTING jumps to it), each port renamed.
bridge_rules() {
  $EB -t broute -L BROUTING 2>/dev/null | grep -q -- '-j TPRUN_BROUTING' || { echo "probe.broute_jump=no" >"$dir/jump"; return 0; }
  $EB -t broute -L TPRUN_BROUTING 2>/dev/null | grep '^-' | awk -v c="$TP_CIF" -v i="$TP_IIF" -v a="$v_c" -v b="$v_o" '{
    for (k = 2; k <= NF; k++) if ($(k - 1) == "-i" || ($(k - 1) == "!" && $(k - 2) == "-i")) { if ($k == c) $k = a; else if ($k == i) $k = b }
    print }'
}
bridge_setup() {
  mtu=$(cat "/sys/class/net/$br/mtu")
  ip netns add "$ns_c" && ip netns add "$ns_o" &&
  ip link add "$v_c" mtu "$mtu" address "$mac_a" type veth peer name eth0 netns "$ns_c" mtu "$mtu" address "$mac_c" &&
  ip link add "$v_o" mtu "$mtu" address "$mac_b" type veth peer name eth0 netns "$ns_o" mtu "$mtu" address "$mac_o" &&
  ip link set "$v_c" addrgenmode none && ip link set "$v_o" addrgenmode none || return 1
  # The per-port settings that decide whether a brouted packet is routed, from the port each stands for.
  for pair in "$TP_CIF $v_c" "$TP_IIF $v_o"; do
    set -- $pair
    for k in ipv4/conf/X/rp_filter ipv6/conf/X/disable_ipv6; do
      f=/proc/sys/net/$(printf '%s' "$k" | sed "s/X/$1/"); t=/proc/sys/net/$(printf '%s' "$k" | sed "s/X/$2/")
      [ -f "$f" ] && [ -f "$t" ] && cat "$f" > "$t"
    done
  done
  # Nothing bridged between a probe port and any other port: the probe's frames stay on the host.
  # The first two only count what the generic drops would stop: the request, the origin's answer.
  for r in "-i $v_c" "-i $v_o" "-o $v_c" "-o $v_o" "-i $v_c -p IPv$TP_FAMILY --$eb_ip-proto tcp --$eb_ip-dport $TP_PORT" "-i $v_o -p IPv$TP_FAMILY --$eb_ip-proto tcp --$eb_ip-sport $TP_PORT"; do
    $EB -t filter -I FORWARD 1 $r -j DROP || return 1
  done
  $EB -t broute -N "$eb_chain" -P ACCEPT || return 1
  bridge_rules > "$dir/rules" || return 1
  while read -r rule; do $EB -t broute -A "$eb_chain" $rule || return 1; done < "$dir/rules"
  $EB -t broute -I BROUTING 1 -i "$v_o" -j "$eb_chain" && $EB -t broute -I BROUTING 1 -i "$v_c" -j "$eb_chain" &&
  ip link set "$v_c" master "$br" && ip link set "$v_o" master "$br" &&
  bridge fdb replace "$mac_c" dev "$v_c" master static && bridge fdb replace "$mac_o" dev "$v_o" master static &&
  ip link set "$v_c" up && ip link set "$v_o" up &&
  ip netns exec "$ns_c" sh -c "ip link set lo up && ip link set eth0 addrgenmode none && ip link set eth0 up && ip -$TP_FAMILY addr add $client/$eb_plen dev eth0 $nodad && ip -$TP_FAMILY route add $origin/$eb_plen dev eth0 && ip -$TP_FAMILY neigh replace $origin lladdr $mac_o dev eth0 nud permanent" &&
  ip netns exec "$ns_o" sh -c "ip link set lo up && ip link set eth0 addrgenmode none && ip link set eth0 up && ip -$TP_FAMILY addr add $origin/$eb_plen dev eth0 $nodad && ip -$TP_FAMILY route add $client/$eb_plen dev eth0 && ip -$TP_FAMILY neigh replace $client lladdr $mac_c dev eth0 nud permanent" &&
  ip -$TP_FAMILY route add "$client/$eb_plen" dev "$br" proto 123 metric "$id" && ip -$TP_FAMILY route add "$origin/$eb_plen" dev "$br" proto 123 metric "$id" &&
  ip -$TP_FAMILY neigh replace "$client" lladdr "$mac_c" dev "$br" nud permanent && ip -$TP_FAMILY neigh replace "$origin" lladdr "$mac_o" dev "$br" nud permanent
}
# The probe chain's counters: its DROP (into routing) rules for each side, its ACCEPT (keep
# bridging) rules, and what the FORWARD drops stopped from each probe port.
bridge_counters() {
  $EB -t broute -L "$eb_chain" --Lc 2>/dev/null | awk -v a="$v_c" -v b="$v_o" '
    /-i / && /redirect-target DROP/ { split($0, x, "pcnt = "); n = x[2] + 0; if ($0 ~ "-i " a " ") ca += n; else if ($0 ~ "-i " b " ") cb += n }
    /-j ACCEPT/ { split($0, x, "pcnt = "); acc += x[2] + 0 }
    END { print ca + 0, cb + 0, acc + 0 }'
  $EB -t filter -L FORWARD --Lc 2>/dev/null | awk -v a="$v_c" -v b="$v_o" '
    $0 ~ "-i " a " .*--ip6?-dport" { split($0, x, "pcnt = "); fa += x[2] + 0 }
    $0 ~ "-i " b " .*--ip6?-sport" { split($0, x, "pcnt = "); fb += x[2] + 0 }
    END { print fa + 0, fb + 0 }'
}
bridge_evidence() {
  # shellcheck disable=SC2046 # five counters, one word each
  set -- $(bridge_counters)
  eb_client=$1; eb_origin=$2; eb_accept=$3; eb_fwd_c=$4; eb_fwd_o=$5
  say "probe.broute_client=$eb_client"; say "probe.broute_origin=$eb_origin"
  say "probe.bridged_dropped=$eb_fwd_c requests from the client side, $eb_fwd_o answers from the origin side"
  [ -s "$dir/jump" ] && cat "$dir/jump"
}
# The bridge's own hops, named from the probe chain's counters (probe.sh calls these when the request failed).
bridge_hop() {
  case "$1" in
    client)
      [ -s "$dir/jump" ] && fail "client side → bridge: BROUTING does not jump to TPRUN_BROUTING, so no broute rule moved the request into routing ($2)"
      [ -s "$dir/rules" ] || fail "client side → bridge: $br has no TPRUN_BROUTING rules, so the request was bridged, not routed to squid ($2)"
      if [ "$eb_client" -eq 0 ]; then
        [ "$eb_accept" -gt 0 ] && fail "client side → bridge: an ACCEPT rule of TPRUN_BROUTING kept the request bridged (a bypass matched the probe client $client) ($2)"
        fail "client side → bridge: the broute rules did not move the request into routing (no TPRUN_BROUTING rule for $TP_CIF matched port $TP_PORT) ($2)"
      fi
      ;;
    origin)
      [ "$eb_origin" -eq 0 ] && [ "$eb_fwd_o" -gt 0 ] && fail "origin side → bridge: the origin's answer was bridged, not routed back to squid (no TPRUN_BROUTING rule for $TP_IIF matched source port $TP_PORT) ($2)"
      ;;
  esac
  return 0
}
