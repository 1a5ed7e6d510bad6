/**
 * Every finding `tprun doctor` can report, by its stable id. docs/doctor.md documents each id
 * (a test keeps the two in step). `cause` is what the finding means, in our words; `fix` is the
 * tprun setting or the command that removes it. A diagnoser may give a more precise cause or fix.
 */
export interface CatalogEntry {
  title: string;
  /** What a healthy host shows: the check's `wanted`. */
  healthy: string;
  cause: string;
  fix: string;
  /** false: a warning (the host still counts as healthy for exit codes). */
  blocks: boolean;
}

export const CATALOG = {
  TP001: {
    title: 'squid could not enable its capabilities',
    healthy: 'no "Stopping full transparency: Error enabling needed capabilities" in cache.log',
    cause:
      'squid failed to keep CAP_NET_ADMIN when it dropped root privileges, so it stopped spoofing client addresses: it connects from its own address. Usually squid was not started as root, or its service unit or container takes the capability away (CapabilityBoundingSet, NoNewPrivileges, a container without NET_ADMIN); the OS log (journal, /var/log/messages) may say which.',
    fix: 'start squid as root (squid drops to cache_effective_user itself) with CAP_NET_ADMIN allowed by its unit or container, then restart it',
    blocks: true,
  },
  TP002: {
    title: 'squid lacks libcap support',
    healthy: 'squid linked with libcap, libcap.so.2 on the host, no "Missing needed capability support" in cache.log',
    cause:
      'squid was built without libcap, or the library is missing at run time, so it cannot keep the capability it needs to bind to client addresses: it stops full transparency. The warning can be printed before cache.log opens, so the library is checked directly too.',
    fix: 'install libcap (apt-get install libcap2 / dnf install libcap); if squid is not linked with it, install squid built with libcap (Debian/RHEL packages are) or rebuild with libcap-dev installed',
    blocks: true,
  },
  TP003: {
    title: 'the tproxy port receives traffic that was not TPROXY-intercepted',
    healthy: 'only TPROXY traffic reaches the http_port with the tproxy flag; a separate plain http_port for everything else',
    cause:
      'a port with the tproxy flag accepted a connection that did not arrive through TPROXY (a NAT REDIRECT/DNAT, a browser configured to use it, squid\'s own manager requests), so squid tried to bind the client\'s address for a connection the kernel cannot spoof: "commBind: cannot bind socket … (99) cannot assign requested address". Ports with the tproxy flag must not receive any other kind of traffic.',
    fix: 'keep a plain http_port (tprun: squid.http_port) for explicit clients and manager requests, point no NAT rule at the tproxy port (squid.tproxy_port), and remove the REDIRECT/DNAT rule',
    blocks: true,
  },
  TP004: {
    title: 'TPROXY traffic reaches a squid port without the tproxy flag',
    healthy: 'every TPROXY --on-port is an http_port with the tproxy flag',
    cause:
      'the TPROXY rule hands packets to a squid port that is not marked tproxy, so squid treats them as ordinary requests and cannot bind the original addresses.',
    fix: 'make the TPROXY --on-port and the tproxy http_port the same port: tprun apply renders both from squid.tproxy_port',
    blocks: true,
  },
  TP005: {
    title: 'the kernel cannot bind foreign addresses for squid',
    healthy: 'no repeated commBind (99) errors for client addresses',
    cause:
      'squid keeps failing to bind client addresses ("(99) cannot assign requested address") although the rules and ports are right: the kernel lacks TPROXY support (NETFILTER_TPROXY / NF_TPROXY_*) or squid lacks the capability to bind any address (see TP001, TP002).',
    fix: 'run a kernel with CONFIG_NETFILTER_TPROXY, CONFIG_NF_TPROXY_IPV4/IPV6, CONFIG_NETFILTER_XT_TARGET_TPROXY and CONFIG_NETFILTER_XT_MATCH_SOCKET (tprun check reports them under kernel-check), and start squid as root with libcap',
    blocks: true,
  },
  TP007: {
    title: 'a squid port is already in use by another program',
    healthy: 'every squid.conf port is free for squid',
    cause: 'another program holds a port squid.conf asks for, so squid cannot open it at startup ("(98) Address already in use").',
    fix: 'stop the other program or move it, or give squid another port (tprun: squid.http_port / squid.tproxy_port), then start squid',
    blocks: true,
  },
  TP008: {
    title: 'a squid port names an address the host does not have',
    healthy: 'every http_port address is assigned to an interface of the host',
    cause:
      'squid.conf binds a port to an address no interface of the host carries, so squid cannot open it at startup ("(99) Cannot assign requested address").',
    fix: 'assign the address to an interface, or use a port without an address (tprun renders http_port PORT), then restart squid',
    blocks: true,
  },
  TP009: {
    title: 'squid saw Host header forgery on intercepted requests (a warning)',
    healthy: 'no "SECURITY ALERT: Host header forgery detected" in cache.log since squid last started',
    cause:
      "for an intercepted request squid checks that the address the client connected to is among squid's own DNS answers for the Host header. When it is not (the clients use another resolver than squid, a CDN or geo-DNS answers differently, or a client really forges Host) squid does not cache the response, never sends the request to a cache_peer (the no-tproxy siblings tprun configures), and answers intercepted TLS with 409 (ERR_CONFLICT_HOST). Squid logs intercepted HTTP alerts only at debug level (debug_options 85,3); intercepted TLS ones always.",
    fix: "make squid resolve as the clients do: set squid.dns_nameservers to the clients' resolvers and tprun apply, or make the resolvers answer consistently; keep host_verify_strict off (tprun refuses it for interception)",
    blocks: false,
  },
  TP010: {
    title: 'the fwmark policy rule is missing',
    healthy: 'ip rule: fwmark MARK/MASK lookup TABLE',
    cause:
      'without the fwmark rule marked packets are routed like any other: they are forwarded to the origin (or dropped) instead of being delivered to squid, so intercepted connections time out.',
    fix: 'tprun apply (routing role), or by hand: ip rule add fwmark MARK/MASK lookup TABLE',
    blocks: true,
  },
  TP011: {
    title: 'the local route of the TPROXY table is missing',
    healthy: 'ip route show table TABLE: local default dev lo',
    cause:
      'marked packets look up the TPROXY table, which must deliver them locally; without "local default dev lo" there they are not delivered to squid and intercepted connections time out.',
    fix: 'tprun apply (routing role), or by hand: ip route add local default dev lo table TABLE',
    blocks: true,
  },
  TP012: {
    title: 'DIVERT does not come before TPROXY',
    healthy: 'in mangle PREROUTING the socket match (DIVERT) comes before every TPROXY rule',
    cause:
      "packets of connections squid already holds must be marked by DIVERT before TPROXY sees them; when TPROXY comes first (or DIVERT is missing) the return packets of squid's connections are re-intercepted and connections hang.",
    fix: 'tprun apply (iptables role, which owns TPRUN_PREROUTING in that order), or put "-p tcp -m socket -j DIVERT" before the TPROXY rules',
    blocks: true,
  },
  TP013: {
    title: 'rp_filter is strict where intercepted packets arrive',
    healthy: 'rp_filter is 0 or loose (2) on every interface packets arrive on (the larger of "all" and the interface\'s value)',
    cause:
      'strict reverse-path filtering (1) silently drops intercepted packets that arrive on an interface other than the one the route back to their source leaves by (a bridge port, a GRE tunnel, an asymmetric path): the kernel uses the larger of "all" and the interface\'s value. Loose mode (2) passes them.',
    fix: 'tprun apply (sysctl role), or sysctl -w net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.IFACE.rp_filter=0',
    blocks: true,
  },
  TP014: {
    title: 'INPUT drops marked packets',
    healthy: 'the filter INPUT chain accepts the marked, intercepted packets',
    cause:
      'intercepted packets are delivered locally, so they pass the filter INPUT chain with their original destination port: a rule (or the DROP policy) there drops them before squid sees them, and connections time out.',
    fix: 'accept the marked packets before the rule that drops them, e.g. iptables -I INPUT -m mark --mark MARK/MASK -j ACCEPT',
    blocks: true,
  },
  TP015: {
    title: 'squid runs an older configuration than squid.conf',
    healthy: 'squid started or reconfigured after squid.conf last changed',
    cause: 'squid.conf changed after squid last read it: the running squid does not have the ports or rules the file says.',
    fix: 'squid -k reconfigure (or systemctl reload squid); tprun apply reconfigures squid whenever it changes squid.conf',
    blocks: true,
  },
  TP016: {
    title: 'squid does not listen on the tproxy port',
    healthy: 'squid listens on every TPROXY --on-port',
    cause:
      'the TPROXY rule hands connections to a port where squid is not listening (squid stopped, or started without that port), so intercepted connections are refused or time out.',
    fix: 'start squid (tprun apply starts it), and check that squid.conf has http_port TPROXY_PORT tproxy',
    blocks: true,
  },
  TP017: {
    title: 'no traffic has been intercepted',
    healthy: 'TPROXY rules in mangle PREROUTING with packets counted',
    cause:
      'nothing has matched the TPROXY rules since they were loaded: either no client traffic for the intercepted ports passes this host, or the rules are missing.',
    fix: 'send a request from a client through this host (or run tprun doctor --probe); if there is no TPROXY rule, tprun apply',
    blocks: false,
  },
  TP018: {
    title: 'no recent intercepted request in access.log',
    healthy: 'access.log has ORIGINAL_DST lines from the last 24 hours',
    cause:
      'packets are intercepted (TPROXY counters grow) but squid has logged no intercepted request recently: connections do not reach squid, or logging is off.',
    fix: 'look at the other findings; run tprun doctor --probe to prove the path; check access_log in squid.conf',
    blocks: false,
  },
  TP019: {
    title: 'a host firewall tprun does not own drops intercepted packets',
    healthy: 'every chain at prerouting and input (nft tables, iptables raw/mangle/nat/filter of either backend) lets the intercepted packets through',
    cause:
      "a chain of another firewall (firewalld, a hand-written nft table, an iptables rule in raw or mangle) drops or rejects the intercepted packets before squid sees them: tprun's accept in its own chains does not override another table's drop. firewalld's IPv6 reverse-path rule (fib saddr . mark . iif oif missing drop, and its loose form too) drops every marked packet: the lookup by the mark finds tprun's local route, which fib counts as no route; a zone's input chain rejects the ports it does not allow.",
    fix: 'the firewall\'s own way: firewalld: IPv6_rpfilter=strict-forward (firewalld 2.2 and later, else no) in /etc/firewalld/firewalld.conf, and the intercepted ports added to the zone of each receiving interface (firewall-cmd --permanent --zone=ZONE --add-port=80/tcp; firewall-cmd --reload), or the inventory setting firewalld: manage (tprun does both and takes back only its own); nft: insert "meta mark & MASK == MARK accept" before the rule; iptables: remove the rule or narrow it',
    blocks: true,
  },
  TP020: {
    title: 'squid behind the capturing router has no exception for its own traffic',
    healthy: "the capturing router excludes the proxy's own traffic before its capture rules",
    cause:
      "squid sits behind the router that captures the traffic, so squid's own outbound requests (and the replies to them) pass that router again and are captured again unless an exception comes first: connections loop and time out.",
    fix: 'list the router\'s interfaces facing the proxies under wccp_peers.NAME.proxy_interfaces (tprun render writes "ip wccp redirect exclude in" on them) and apply the router configuration',
    blocks: true,
  },
  TP021: {
    title: 'more than one default route',
    healthy: 'one default route per family',
    cause:
      "with several default routes the kernel may send squid's outbound or return traffic through a path that does not reach the Internet (or does not come back through this host), so connections time out.",
    fix: 'keep one default route towards the Internet (remove the others, or give the spare ones a higher metric in a separate table)',
    blocks: true,
  },
  TP022: {
    title: 'the default route uses the administration interface',
    healthy: 'the default route leaves through an interface that reaches the Internet',
    cause:
      "the OS set the default route through the interface used only to administer the host (a confirmed case on bridges): squid's outbound traffic goes into a dead end.",
    fix: "route default through the Internet-facing interface and keep only the administration network's own route on the administration interface",
    blocks: true,
  },
  TP023: {
    title: 'the bridge has no IP address of its own',
    healthy: 'the bridge device holding the two ports has an address of each intercepted family',
    cause:
      "the guide: a bridge needs its own IP addresses, because squid's DNS queries, ICMP and its answers for failed requests leave from them; without one they take another interface (the administration one) or fail.",
    fix: 'give the bridge device an address of each family in tproxy.families (e.g. in /etc/network/interfaces or a systemd-networkd .network file)',
    blocks: false,
  },
  TP030: {
    title: 'WCCP service 80 hashes on the destination (dst_ip_hash)',
    healthy: 'wccp2_service_info 80 … flags=src_ip_hash; 90 … flags=dst_ip_hash,ports_source',
    cause:
      "with TPROXY the client must be tied to one cache: dst_ip_hash on service 80 sends a client's return traffic to another cache than its requests, and packets loop.",
    fix: "tprun renders the guide's services (80 src_ip_hash, 90 dst_ip_hash,ports_source); set wccp_peers.NAME.services accordingly and tprun apply",
    blocks: true,
  },
  TP031: {
    title: 'WCCP services 80 and 90 are not both configured',
    healthy: 'wccp2_service dynamic 80 and wccp2_service dynamic 90',
    cause:
      'traffic to and from the clients must both be redirected: service 80 for requests, 90 for replies. With one of them missing the replies bypass squid and connections hang.',
    fix: 'configure both services (tprun does by default) in squid.conf and on the router (ip wccp 80 redirect in, ip wccp 90 redirect out)',
    blocks: true,
  },
  TP032: {
    title: 'the WCCP GRE interface is down or filtered',
    healthy: 'the GRE interface exists, is up, and INPUT accepts GRE',
    cause: 'the router sends redirected packets in GRE: without an up GRE interface, or with GRE dropped by INPUT, they never reach squid.',
    fix: 'tprun apply (wccp role creates the interface; the kernel needs CONFIG_NET_IPGRE), ip link set IFACE up, and accept GRE: iptables -I INPUT -p gre -j ACCEPT',
    blocks: true,
  },
  TP033: {
    title: 'no WCCP "Here I Am" leaves for UDP 2048',
    healthy: 'squid holds its WCCP socket on UDP 2048 and OUTPUT lets UDP 2048 out',
    cause: 'the router redirects to a cache only while it hears the cache\'s "Here I Am" messages on UDP 2048; without them it stops redirecting.',
    fix: 'make sure squid runs with wccp2_router set, and accept UDP 2048 in OUTPUT (iptables -I OUTPUT -p udp --dport 2048 -j ACCEPT) and on the path to the router',
    blocks: true,
  },
  TP040: {
    title: 'SELinux denies squid',
    healthy: 'no AVC denials for squid in the audit log',
    cause: 'SELinux blocked an operation squid needs for TPROXY (binding foreign addresses, connecting to any port).',
    fix: 'turn on squid_connect_any and squid_use_tproxy (tprun apply, selinux role), or load the rendered squidtproxy.te module when the policy lacks them',
    blocks: true,
  },
  TP041: {
    title: 'SELinux booleans for squid are off',
    healthy: 'squid_connect_any and squid_use_tproxy on',
    cause: 'the stock squid policy denies what TPROXY needs unless squid_connect_any and squid_use_tproxy are on.',
    fix: 'tprun apply (selinux role), or setsebool -P squid_connect_any=1 squid_use_tproxy=1',
    blocks: true,
  },
  TP042: {
    title: 'SELinux booleans for squid are on only until reboot',
    healthy: 'squid_connect_any and squid_use_tproxy on in the persistent policy',
    cause: 'the booleans were set without -P: they are on now and will be off after the next reboot.',
    fix: 'setsebool -P squid_connect_any=1 squid_use_tproxy=1 (tprun apply does)',
    blocks: true,
  },
  TP050: {
    title: 'the interception probe failed',
    healthy: "a request from a probe client reaches a probe origin through this host's squid with the client's own address",
    cause: 'tprun sent a request through this host from a throwaway client namespace and it did not arrive as intercepted traffic should.',
    fix: 'see the hop that failed and the other findings',
    blocks: true,
  },
} satisfies Record<string, CatalogEntry>;

export type Code = keyof typeof CATALOG;
export const CODES = Object.keys(CATALOG) as Code[];
