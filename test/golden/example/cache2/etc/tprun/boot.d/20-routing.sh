#!/bin/sh
# tprun routing: packets marked 0x1 are delivered locally, so TPROXY can hand them to squid.
ip -4 rule del fwmark 0x1/0x1 lookup 100 2>/dev/null
ip -4 rule add fwmark 0x1/0x1 lookup 100
ip -6 rule del fwmark 0x1/0x1 lookup 100 2>/dev/null
ip -6 rule add fwmark 0x1/0x1 lookup 100
ip -4 route replace local default dev lo table 100
ip -6 route replace local default dev lo table 100
