# The interception probe (src/doctor/probe.ts sets TP_* and runs this on the host as one script,
# once per address family: TP_FAMILY is 4 or 6). POSIX sh; every name it creates carries its pid, so a leftover of a killed run is recognised and removed.
# shellcheck shell=sh
set +e  # errors are handled one by one; inside apply's transaction this runs under set -e
id=$$
ns_c=tprun-probe-c-$id; ns_o=tprun-probe-o-$id; v_c=tpc$id; v_o=tpo$id
dir=$(mktemp -d "/tmp/tprun-probe.$id.XXXXXX") || { echo "probe.result=fail"; echo "probe.reason=setup: cannot create a directory in /tmp"; exit 1; }
origin_pid=""
# Every command may fail (deleting a namespace takes its veth with it): inside apply's
# transaction this runs under set -e, so nothing here may stop the rest of the cleanup.
cleanup() {
  set +e
  [ -z "$TP_BRIDGE" ] || bridge_cleanup
  [ -z "$origin_pid" ] || kill "$origin_pid" 2>/dev/null || true
  ip netns del "$ns_c" 2>/dev/null || true; ip netns del "$ns_o" 2>/dev/null || true
  ip link del "$v_c" 2>/dev/null || true; ip link del "$v_o" 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP
say() { printf '%s\n' "$*"; }
fail() {
  say "probe.result=fail"; say "probe.reason=$1"
  [ "$TP_TX" = 1 ] && printf 'interception probe failed: %s\n' "$1" >&2
  exit 1
}
# Leftovers of a run that was killed before its trap could run (its pid is gone).
for d in /tmp/tprun-probe.[0-9]*.*; do
  p=${d#/tmp/tprun-probe.}; p=${p%%.*}; [ -d "$d" ] && [ ! -d "/proc/$p" ] && rm -rf "$d"
done
for n in $(ip netns list 2>/dev/null | awk '{print $1}' | grep '^tprun-probe-[co]-[0-9]*$'); do
  # Its origin may still run in it (and keep it and its veth alive): stop it first, by pid.
  p=${n##*-}; [ -d "/proc/$p" ] || { for q in $(ip netns pids "$n" 2>/dev/null); do kill "$q" 2>/dev/null; done; ip netns del "$n" 2>/dev/null; }
done
[ -z "$TP_BRIDGE" ] || bridge_prepare  # probe-bridge.sh, on a bridge host
command -v python3 >/dev/null || fail "setup: python3 is needed on the host for the probe's origin and client"
F=$TP_FAMILY
# The first candidate pair of subnets none of whose addresses the host uses (an address or a
# route); each candidate is "client-net,host,client,origin-net,host,origin" (probe.ts).
used=$( (ip -o -$F addr show; ip -$F route show table all) 2>/dev/null)
if [ "$F" = 6 ]; then chars='0-9a-f:'; else chars='0-9.'; fi
pick=""
for cand in $TP_CANDIDATES; do
  clash=""
  for a in $(printf '%s' "$cand" | tr ',' ' '); do
    re=$(printf '%s' "$a" | sed 's/[.]/\\./g')
    printf '%s\n' "$used" | grep -Eiq "(^|[^$chars])$re([^$chars]|$)" && clash=1
  done
  [ -z "$clash" ] && { pick=$cand; break; }
done
[ -n "$pick" ] || fail "setup: every probe subnet ($TP_RANGES) is in use on this host"
IFS=, read -r _ host_c client _ host_o origin <<PICK
$pick
PICK
if [ "$F" = 6 ]; then at="[$origin]:$TP_PORT"; nodad=nodad; else at="$origin:$TP_PORT"; nodad=""; fi
say "probe.client=$client"; say "probe.origin=$at"
setup() {
  ip netns add "$ns_c" && ip netns add "$ns_o" &&
  ip link add "$v_c" type veth peer name eth0 netns "$ns_c" &&
  ip link add "$v_o" type veth peer name eth0 netns "$ns_o" &&
  ip -$F addr add "$host_c/$TP_PLEN" dev "$v_c" $nodad && ip -$F addr add "$host_o/$TP_PLEN" dev "$v_o" $nodad &&
  ip link set "$v_c" up && ip link set "$v_o" up &&
  ip netns exec "$ns_c" sh -c "ip link set lo up && ip link set eth0 up && ip -$F addr add $client/$TP_PLEN dev eth0 $nodad && ip -$F route add default via $host_c" &&
  ip netns exec "$ns_o" sh -c "ip link set lo up && ip link set eth0 up && ip -$F addr add $origin/$TP_PLEN dev eth0 $nodad && ip -$F route add default via $host_o"
}
${TP_BRIDGE:+bridge_}setup 2>"$dir/setup.err" || fail "setup: $(tr '\n' ' ' < "$dir/setup.err")"
printf '%s' "$TP_ORIGIN_PY" > "$dir/origin.py"; printf '%s' "$TP_CLIENT_PY" > "$dir/client.py"; : > "$dir/origin.log"
ip netns exec "$ns_o" python3 "$dir/origin.py" "$origin" "$TP_PORT" "$dir/origin.log" >/dev/null 2>"$dir/origin.err" &
origin_pid=$!
i=0; until ip netns exec "$ns_o" python3 -c "import socket; socket.create_connection(('$origin', $TP_PORT), 1)" 2>/dev/null; do
  i=$((i + 1)); [ $i -gt 50 ] && fail "setup: the probe origin did not start: $(tr '\n' ' ' < "$dir/origin.err")"; sleep 0.1
done
: > "$dir/origin.log"
# Right after a start or reconfigure squid may not have bound the tproxy port yet.
i=0; until ss -ltn 2>/dev/null | awk '{print $4}' | grep -q ":$TP_TPORT\$"; do i=$((i + 1)); [ $i -gt 30 ] && break; sleep 0.1; done
counters() {
  $TP_SAVE -c -t mangle 2>/dev/null | awk '/-j TPROXY/ { gsub(/[][]/, "", $1); split($1, a, ":"); n += a[1] } END { print n + 0 }'
  $TP_SAVE -c -t filter 2>/dev/null | awk '/^\[[0-9]+:[0-9]+\] -A INPUT .*-j (DROP|REJECT)/ { gsub(/[][]/, "", $1); split($1, a, ":"); n += a[1] } END { print n + 0 }'
}
# shellcheck disable=SC2046 # counters prints two numbers
set -- $(counters); tp0=$1; in0=$2
path=/tprun-probe-$id-$(date +%s)
ip netns exec "$ns_c" python3 "$dir/client.py" "$origin" "$TP_PORT" "$path" > "$dir/answer" 2>&1
# shellcheck disable=SC2046 # counters prints two numbers
set -- $(counters); tp1=$1; in1=$2
alog=$(sed -n 's/^[[:space:]]*access_log[[:space:]]\{1,\}\([^[:space:]]*\).*/\1/p' "$TP_CONF" 2>/dev/null | tail -n 1); alog=${alog#stdio:}; alog=${alog#daemon:}; alog=${alog:-/var/log/squid/access.log}
logged=""; i=0
while [ $i -lt 20 ]; do logged=$(grep -F "$path" "$alog" 2>/dev/null | tail -n 1); [ -n "$logged" ] && break; i=$((i + 1)); sleep 0.1; done
saw=$(tail -n 1 "$dir/origin.log")
status=$(head -n 1 "$dir/answer" | tr -d '\r')
via=$(grep -i '^via:' "$dir/answer" | head -n 1 | tr -d '\r' | sed 's/^[Vv][Ii][Aa]:[[:space:]]*//')
body=$(tail -n 1 "$dir/answer" | tr -d '\r')
say "probe.answer=$status"; [ -n "$via" ] && say "probe.via=$via"; say "probe.body=$body"
say "probe.origin_saw=${saw:-nothing}"; say "probe.tproxy_packets=$((tp1 - tp0))"; say "probe.input_drops=$((in1 - in0))"
[ -n "$logged" ] && say "probe.access_log=$logged"
[ -z "$TP_BRIDGE" ] || bridge_evidence
if [ "${status#error=}" != "$status" ]; then
  err=${status#error=}
  [ -z "$TP_BRIDGE" ] || bridge_hop client "$err"
  [ "$tp1" -gt "$tp0" ] || fail "client → host: the request ($err) was not intercepted: no TPROXY rule in mangle PREROUTING matched it"
  ss -ltn 2>/dev/null | awk '{print $4}' | grep -q ":$TP_TPORT\$" || fail "host → squid: TPROXY matched $((tp1 - tp0)) packets but nothing listens on the tproxy port $TP_TPORT (squid is stopped, or runs without http_port $TP_TPORT tproxy)"
  [ "$in1" -gt "$in0" ] && fail "host → squid: the INPUT chain dropped the intercepted packets ($((in1 - in0)) counted by its DROP/REJECT rules): $($TP_SAVE -t filter 2>/dev/null | grep -E -- '-A INPUT .*-j (DROP|REJECT)' | head -n 1)"
  ip -$F rule show | grep -q "fwmark $TP_MARK" || fail "host → squid: TPROXY matched $((tp1 - tp0)) packets but no fwmark $TP_MARK rule sends them to table $TP_TABLE, so they are not delivered to squid ($err)"
  ip -$F route show table "$TP_TABLE" | grep -q '^local default' || fail "host → squid: no local default route in table $TP_TABLE, so marked packets are not delivered to squid ($err)"
  [ "$F" = 4 ] && why="; check rp_filter on $v_c" || why=""
  [ -z "$TP_BRIDGE" ] || bridge_hop origin "$err"
  [ -z "$logged" ] && fail "host → squid: TPROXY matched $((tp1 - tp0)) packets and squid listens, but the connection never reached squid ($err$why)"
  [ -z "$saw" ] && fail "squid → origin: squid logged the request but the origin never saw it ($err): $logged"
  fail "origin → client: the origin answered $saw but the answer never came back ($err; DIVERT/socket rule?)"
fi
# Judge by what squid.conf says: with `via off` squid sends no Via header (its access.log line for
# the probe's unique path is the evidence), with `client_dst_passthru off` it logs HIER_DIRECT.
conf_says() { grep -Eiq "^[[:space:]]*$1[[:space:]]+off([[:space:]]|\$)" "$TP_CONF" 2>/dev/null; }
if conf_says via; then
  [ -n "$via$logged" ] || fail "the answer did not come through squid (no access.log line for the probe; origin saw ${saw:-nothing}): the request was not intercepted"
  via=${via:-access.log, via off}
else
  [ -n "$via" ] || fail "the answer did not come through squid (no Via header; origin saw ${saw:-nothing}): the request was not intercepted"
fi
case "$status" in *" 200"*) ;; *)
  case "$status" in *" 403"*) fail "squid refused the probe request from $client ($status): its http_access rules deny it (tprun's squid.conf allows tprun_probe_client to tprun_probe_origin; an http_access deny in squid.extra comes before that allow)";; esac
  fail "squid answered $status (Via $via; origin saw ${saw:-nothing})";;
esac
[ "$saw" = "$client" ] || fail "squid → origin: the origin saw ${saw:-nothing} instead of the client's $client: squid does not spoof the client address (see TP001, TP002)"
hier=ORIGINAL_DST; conf_says client_dst_passthru && hier=HIER_DIRECT
printf '%s\n' "$logged" | grep -qF "$hier/$origin" || fail "squid's access.log has no $hier line for the probe (${logged:-no line for $path})"
say "probe.result=pass"
say "probe.reason=the origin saw the client's own address $client through squid ($via)"
exit 0
