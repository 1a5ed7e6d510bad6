#!/bin/sh
# tprun wccp: GRE interfaces that receive packets redirected by the WCCP routers.
ip link show wccp0 >/dev/null 2>&1 || ip tunnel add wccp0 mode gre remote 203.0.113.1 local 198.51.100.10
ip link set wccp0 up
echo 0 > /proc/sys/net/ipv4/conf/wccp0/rp_filter
