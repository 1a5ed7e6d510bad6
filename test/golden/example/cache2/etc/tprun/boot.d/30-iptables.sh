#!/bin/sh
# tprun iptables: load tprun's mangle chains, then jump to them first from PREROUTING.
iptables-restore --noflush < /etc/tprun/iptables.rules
iptables -t mangle -C PREROUTING -j TPRUN_PREROUTING 2>/dev/null || iptables -t mangle -I PREROUTING 1 -j TPRUN_PREROUTING
ip6tables-restore --noflush < /etc/tprun/ip6tables.rules
ip6tables -t mangle -C PREROUTING -j TPRUN_PREROUTING 2>/dev/null || ip6tables -t mangle -I PREROUTING 1 -j TPRUN_PREROUTING
