#!/bin/sh
# tprun iptables: load tprun's mangle and filter chains, then jump to them first from PREROUTING and INPUT.
# Not when tprun last applied another firewall backend (/etc/tprun/firewall-backend).
[ "$(cat /etc/tprun/firewall-backend 2>/dev/null || echo iptables)" = iptables ] || exit 0
iptables-restore --noflush < /etc/tprun/iptables.rules
iptables -t mangle -C PREROUTING -j TPRUN_PREROUTING 2>/dev/null || iptables -t mangle -I PREROUTING 1 -j TPRUN_PREROUTING
iptables -t filter -C INPUT -j TPRUN_INPUT 2>/dev/null || iptables -t filter -I INPUT 1 -j TPRUN_INPUT
ip6tables-restore --noflush < /etc/tprun/ip6tables.rules
ip6tables -t mangle -C PREROUTING -j TPRUN_PREROUTING 2>/dev/null || ip6tables -t mangle -I PREROUTING 1 -j TPRUN_PREROUTING
ip6tables -t filter -C INPUT -j TPRUN_INPUT 2>/dev/null || ip6tables -t filter -I INPUT 1 -j TPRUN_INPUT
