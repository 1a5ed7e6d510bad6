/**
 * tprun doctor's findings engine on recorded facts: test/fixtures/doctor/healthy.json was
 * recorded from a compliant lab router (scripts/record-doctor.ts); each case edits it with the
 * log excerpt or command output a broken host shows, and expects exactly one finding id.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CATALOG, CODES, type Code } from '../src/doctor/catalog.ts';
import { diagnose } from '../src/doctor/diagnose.ts';
import { doctorFacts, forgeryAlerts } from '../src/doctor/facts.ts';
import { parseSaveTables } from '../src/facts/parsers.ts';
import { forgeryHost, parseLinks, parseSelinux, parseSockets, parseSquidConf, parseSquidState } from '../src/doctor/parse.ts';
import { doctorChecks, doctorRole, isFinding } from '../src/doctor/role.ts';
import { parseTree, type RawFact, type RawFacts } from '../src/facts/fact.ts';
import type { Host } from '../src/inventory/types.ts';
import { planHost } from '../src/plan/planner.ts';
import { load } from './helpers.ts';

const healthy = (): RawFacts => JSON.parse(readFileSync('test/fixtures/doctor/healthy.json', 'utf8')) as RawFacts;
const CONF = 'file:/etc/squid/squid.conf';
const b64 = (s: string) => Buffer.from(s).toString('base64');
const unb64 = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'base64').toString('utf8');

const BASE = `defaults:
  tproxy: { interfaces: [lo], ports: [80], families: [ipv4, ipv6] }
  squid: { clients: [198.51.100.0/24], dns_nameservers: [127.0.0.1] }
`;
function hostOf(yaml: string, name = 'h1'): Host {
  const r = load(BASE + yaml);
  assert.ok(r.inventory, JSON.stringify(r.diagnostics));
  return r.inventory!.hosts.find((h) => h.name === name)!;
}
const router = hostOf('routers:\n  h1: { address: 198.18.1.1 }\n');
const bridge = hostOf('bridges:\n  h1: { address: 198.18.1.1, bridge: { client_interface: eth1, internet_interface: eth2 } }\n');
const wccpNoExclude = hostOf(`routers:
  h1: { address: 198.18.1.1 }
wccp_peers:
  wr1: { address: 198.18.0.250, caches: [h1], customer_interfaces: [Gi0/1], proxy_interfaces: [] }
`);
const wccpCache = hostOf(`routers:
  h1: { address: 198.18.1.1 }
wccp_peers:
  wr1: { address: 198.18.0.250, caches: [h1], customer_interfaces: [Gi0/1], proxy_interfaces: [Gi0/2] }
`);
const selinuxHost = router;
/** The top bit as the mark: signed 32-bit arithmetic reads it as -2147483648. */
const highMark = hostOf('routers:\n  h1: { address: 198.18.1.1, tproxy: { mark: 0x80000000 } }\n');

type Edit = (raw: RawFacts) => void;
const set =
  (id: string, stdout: string, code = 0): Edit =>
  (raw) =>
    void (raw[id] = { stdout, code });
const edit =
  (id: string, fn: (s: string) => string): Edit =>
  (raw) =>
    void (raw[id] = { ...raw[id]!, stdout: fn(raw[id]!.stdout) });
const editConf = (fn: (s: string) => string): Edit => edit(CONF, (s) => b64(fn(unb64(s))));
const appendLog = (...lines: string[]): Edit => edit('doctor.cache.log', (s) => s + lines.join('\n') + '\n');
const mangle4 = (fn: (s: string) => string): Edit =>
  edit('doctor.firewall', (s) => s.replace(/(@@section iptables\.mangle\n)([\s\S]*?)(?=@@section)/, (_m, h: string, body: string) => h + fn(body)));
const filter4 = (fn: (s: string) => string): Edit =>
  edit('doctor.firewall', (s) => s.replace(/(@@section iptables\.filter\n)([\s\S]*?)(?=@@section)/, (_m, h: string, body: string) => h + fn(body)));
const nat4 = (text: string): Edit =>
  edit('doctor.firewall', (s) => s.replace(/@@section iptables\.nat\n[\s\S]*?(?=@@section)/, `@@section iptables.nat\n${text}\n`));
const squidKv = (k: string, v: string): Edit =>
  edit('doctor.squid', (s) => (new RegExp(`^${k}=`, 'm').test(s) ? s.replace(new RegExp(`^${k}=.*$`, 'm'), `${k}=${v}`) : `${s}${k}=${v}\n`));

const highMarkFacts: Edit[] = [
  edit('ip-4.rules', (s) => s.replace('fwmark 0x1/0x1', 'fwmark 0x80000000/0x80000000')),
  edit('ip-6.rules', (s) => s.replace('fwmark 0x1/0x1', 'fwmark 0x80000000/0x80000000')),
];

/** h1 on the nftables backend: no iptables TPRUN rule, the recorded table inet tprun with its counters. */
const nftJson = (edit: (doc: { nftables: Record<string, Record<string, unknown>>[] }) => void = () => {}) => {
  const doc = JSON.parse(readFileSync('test/fixtures/nft/lab-h1.json', 'utf8')) as { nftables: Record<string, Record<string, unknown>>[] };
  edit(doc);
  return JSON.stringify(doc);
};
const counted = (name: string, packets: number) => (doc: { nftables: Record<string, Record<string, unknown>>[] }) =>
  void (doc.nftables.find((o) => o.counter?.name === name)!.counter!.packets = packets);
const nftBackend = (tableEdit?: Parameters<typeof nftJson>[0]): Edit[] => [
  edit('doctor.firewall', (s) => s.replace(/^.*TPRUN.*\n/gm, '')),
  set('doctor.nft', nftJson(tableEdit ?? ((d) => (counted('intercepted_http', 7)(d), counted('divert', 12)(d))))),
];

/** A WCCP cache as tprun sets it up: wccp lines in squid.conf, the GRE link up, squid's socket on UDP 2048. */
const WCCP_CONF = `wccp2_router 198.18.0.250
wccp2_forwarding_method gre
wccp2_return_method gre
wccp2_service dynamic 80
wccp2_service_info 80 protocol=tcp flags=src_ip_hash priority=240 ports=80
wccp2_service dynamic 90
wccp2_service_info 90 protocol=tcp flags=dst_ip_hash,ports_source priority=240 ports=80
`;
const GRE_LINK =
  '5: wccp0@NONE: <POINTOPOINT,NOARP,UP,LOWER_UP> mtu 1476 qdisc noqueue state UNKNOWN mode DEFAULT group default qlen 1000\\    link/gre 198.18.1.1 peer 198.18.0.250 promiscuity 0  allmulti 0 minmtu 0 maxmtu 0 \\    gre remote 198.18.0.250 local 198.18.1.1 ttl inherit erspan_dir ingress addrgenmode eui64 numtxqueues 1 numrxqueues 1';
const WCCP_UDP = 'UNCONN 0      0            0.0.0.0:2048      0.0.0.0:*     users:(("squid",pid=4860,fd=16))';
const wccpUp: Edit[] = [
  editConf((c) => c.replace('dns_nameservers 127.0.0.1\n', `dns_nameservers 127.0.0.1\n${WCCP_CONF}`)),
  edit('doctor.links', (s) => s.trimEnd() + '\n' + GRE_LINK + '\n'),
  edit('doctor.sockets', (s) => s.trimEnd() + '\n' + WCCP_UDP + '\n'),
];

const SELINUX_ON = `@@section mode
Enforcing
@@section runtime
squid_connect_any --> on
squid_use_tproxy --> on
@@section persistent
squid_connect_any              (on   ,   on)  Allow squid to connect any
squid_use_tproxy               (on   ,   on)  Allow squid to use tproxy
`;

const T = '2026/11/22 02:10:01 kid1|';
const BIND99 = (n: number) =>
  Array.from({ length: n }, (_, i) => `${T} commBind Cannot bind socket FD ${20 + i} to 198.51.100.2: (99) Cannot assign requested address`);

/** squid 5.7's Host header forgery alert at debug level 3, as the lab logged it. */
const FORGED = (hostAndPath: string) =>
  `2026/12/07 02:45:30.123 kid1| 85,3| client_side_request.cc(560) hostHeaderVerifyFailed: SECURITY ALERT: Host header forgery detected on conn25 local=203.0.113.2:80 remote=198.51.100.2:45438 FD 8 flags=17 (local IP does not match any domain IP) on URL: http://${hostAndPath}`;

interface Case {
  name: string;
  host?: Host;
  edits: Edit[];
  want: Code[];
  evidence?: RegExp;
}

const CASES: Case[] = [
  { name: 'compliant router', edits: [], want: [] },
  {
    name: 'capabilities could not be enabled',
    edits: [appendLog(`${T} Stopping full transparency: Error enabling needed capabilities.`)],
    want: ['TP001'],
    evidence: /Error enabling needed capabilities/,
  },
  {
    name: 'missing capability support in the log',
    edits: [appendLog(`${T} Stopping full transparency: Missing needed capability support.`)],
    want: ['TP002'],
    evidence: /cache\.log: .*Missing needed capability support/,
  },
  {
    name: 'squid not linked with libcap (warning printed before cache.log opens)',
    edits: [squidKv('ldd', 'none')],
    want: ['TP002'],
    evidence: /not linked with libcap/,
  },
  {
    name: 'libcap missing on the host at run time',
    edits: [squidKv('ldd', '\tlibcap.so.2 => not found'), edit('doctor.squid', (s) => s.replace(/^ldconfig=.*\n/gm, ''))],
    want: ['TP002'],
    evidence: /not found.*; ldconfig -p: no libcap\.so\.2/,
  },
  {
    name: 'commBind 99: a NAT rule sends other traffic to the tproxy port',
    edits: [
      nat4('*nat\n:PREROUTING ACCEPT [0:0]\n[52:3120] -A PREROUTING -i eth1 -p tcp -m tcp --dport 8080 -j REDIRECT --to-ports 3129\nCOMMIT'),
      appendLog(...BIND99(5)),
    ],
    want: ['TP003'],
    evidence: /REDIRECT --to-ports 3129 \[52 packets\].*cache\.log \(5×\)/,
  },
  {
    name: "the tproxy port is squid's only port",
    edits: [editConf((c) => c.replace('http_port 3128\n', ''))],
    want: ['TP003'],
    evidence: /no plain http_port/,
  },
  {
    name: 'commBind 99: TPROXY traffic on a port without the tproxy flag',
    edits: [editConf((c) => c.replace('http_port 3129 tproxy', 'http_port 3129 intercept')), appendLog(...BIND99(3))],
    want: ['TP004'],
    evidence: /--on-port 3129 .*squid\.conf: http_port 3129 intercept \(no tproxy flag\)/,
  },
  {
    name: 'commBind 99 with right rules and ports: the kernel cannot bind foreign addresses',
    edits: [appendLog(...BIND99(4)), edit('kernel.config', (s) => s.replace('CONFIG_NF_TPROXY_IPV4=y\n', ''))],
    want: ['TP005'],
    evidence: /NF_TPROXY_IPV4=unset/,
  },
  {
    name: 'a commBind line from before the last reconfigure is history, not a finding',
    edits: [
      appendLog(
        ...BIND99(3),
        '2026/11/22 02:10:30 kid1| Reconfiguring Squid Cache (version 5.7)...',
        '2026/11/22 02:10:30 kid1| Accepting TPROXY intercepted HTTP Socket connections at conn26 local=[::]:3129 remote=[::] FD 12 flags=25',
      ),
    ],
    want: [],
  },
  {
    name: 'startup: the tproxy port already in use',
    edits: [
      appendLog(`${T} commBind Cannot bind socket FD 12 to [::]:3129: (98) Address already in use`),
      edit('doctor.sockets', (s) => s.replace('users:(("squid",pid=4860,fd=12))', 'users:(("python3",pid=5120,fd=3))')),
    ],
    want: ['TP007'],
    evidence: /held by python3.*\(98\) Address already in use/,
  },
  {
    name: 'startup: http_port on an address the host lacks',
    edits: [
      editConf((c) => c.replace('http_port 3128\n', 'http_port 3128\nhttp_port 198.51.100.99:3130\n')),
      appendLog(`${T} commBind Cannot bind socket FD 13 to 198.51.100.99:3130: (99) Cannot assign requested address`),
    ],
    want: ['TP008'],
    evidence: /198\.51\.100\.99 is on no interface.*cache\.log: .*198\.51\.100\.99:3130/,
  },
  {
    name: 'fwmark rule missing',
    edits: [edit('ip-4.rules', (s) => s.replace(/^32765:.*\n/m, ''))],
    want: ['TP010'],
    evidence: /ip -4 rule: no "fwmark 0x1\/0x1 lookup 100"/,
  },
  { name: 'local route missing (IPv6)', edits: [set('ip-6.routes.100', '')], want: ['TP011'], evidence: /ip -6 route show table 100: empty/ },
  {
    name: 'TPROXY before DIVERT',
    edits: [
      mangle4((m) => {
        const lines = m.split('\n');
        const s = lines.findIndex((l) => l.includes('-m socket'));
        const t = lines.findIndex((l) => l.includes('-j TPROXY'));
        [lines[s], lines[t]] = [lines[t]!, lines[s]!];
        return lines.join('\n');
      }),
    ],
    want: ['TP012'],
    evidence: /TPROXY .* comes before .*-m socket/,
  },
  {
    name: 'rp_filter on in all',
    edits: [edit('doctor.sysctl', (s) => s.replace('conf/all/rp_filter=0', 'conf/all/rp_filter=1'))],
    want: ['TP013'],
    evidence: /all\.rp_filter=1 \(applies to every interface: eth1, eth2/,
  },
  {
    name: 'rp_filter strict on one interface',
    edits: [edit('doctor.sysctl', (s) => s.replace('conf/eth1/rp_filter=0', 'conf/eth1/rp_filter=1'))],
    want: ['TP013'],
    evidence: /eth1\.rp_filter=1/,
  },
  {
    name: "Debian 13's linux-sysctl-defaults: loose rp_filter (2) in all and on every interface is no finding",
    edits: [edit('doctor.sysctl', (s) => s.replace(/(rp_filter)=0/g, '$1=2'))],
    want: [],
  },
  {
    name: 'strict on one interface among loose ones: only that one is named (a loose all would make it loose)',
    edits: [
      edit('doctor.sysctl', (s) =>
        s
          .replace(/(rp_filter)=0/g, '$1=2')
          .replace('conf/all/rp_filter=2', 'conf/all/rp_filter=0')
          .replace('conf/eth2/rp_filter=2', 'conf/eth2/rp_filter=1'),
      ),
    ],
    want: ['TP013'],
    evidence: /eth2\.rp_filter=1/,
  },
  {
    name: 'INPUT drops marked packets',
    edits: [
      filter4((f) => f.replace(':OUTPUT ACCEPT [0:0]\n', ':OUTPUT ACCEPT [0:0]\n[3:180] -A INPUT -p tcp -m tcp --dport 80 -m mark --mark 0x1/0x1 -j DROP\n')),
    ],
    want: ['TP014'],
    evidence: /--mark 0x1\/0x1 -j DROP \[3 packets\]/,
  },
  {
    name: 'INPUT drops packets marked 0x80000000 (unsigned 32-bit marks)',
    host: highMark,
    edits: [
      ...highMarkFacts,
      filter4((f) =>
        f.replace(':OUTPUT ACCEPT [0:0]\n', ':OUTPUT ACCEPT [0:0]\n[3:180] -A INPUT -p tcp -m tcp --dport 80 -m mark --mark 0x80000000/0x80000000 -j DROP\n'),
      ),
    ],
    want: ['TP014'],
    evidence: /--mark 0x80000000\/0x80000000 -j DROP/,
  },
  { name: 'a router on mark 0x80000000 with its fwmark rules', host: highMark, edits: highMarkFacts, want: [] },
  {
    name: 'an INPUT DROP rule for another port is not a finding',
    edits: [filter4((f) => f.replace(':OUTPUT ACCEPT [0:0]\n', ':OUTPUT ACCEPT [0:0]\n[0:0] -A INPUT -p tcp -m tcp --dport 25 -j DROP\n'))],
    want: [],
  },
  {
    name: "firewalld's IPv6 reverse-path rule in a table of its own (recorded in a namespace)",
    edits: [edit('firewall.ruleset', () => readFileSync('test/fixtures/ruleset/firewalld-rpfilter.txt', 'utf8'))],
    want: ['TP019'],
    evidence:
      /nft table inet firewalld chain filter_PREROUTING \(hook prerouting, priority 10\): rule "meta nfproto ipv6 fib saddr \. mark \. iif oif missing drop" drops IPv6 tcp\/80/,
  },
  {
    name: 'a foreign table that accepts everything is not a finding',
    edits: [edit('firewall.ruleset', () => readFileSync('test/fixtures/ruleset/accept-all.txt', 'utf8'))],
    want: [],
  },
  { name: 'INPUT policy DROP', edits: [filter4((f) => f.replace(':INPUT ACCEPT', ':INPUT DROP'))], want: ['TP014'], evidence: /:INPUT DROP/ },
  { name: 'a compliant router on the nftables backend (no iptables rule)', edits: nftBackend(), want: [] },
  {
    name: 'nftables backend: tproxy counters at zero',
    edits: nftBackend(() => {}),
    want: ['TP017'],
    evidence: /nft inet tprun prerouting: meta nfproto ipv4 tcp dport 80 tproxy ip to :3129 .*counter intercepted_http: 0 packets/,
  },
  {
    name: 'nftables backend: the socket rule after the tproxy rules',
    edits: nftBackend((d) => {
      counted('intercepted_http', 7)(d);
      const rules = d.nftables.filter((o) => o.rule);
      const first = d.nftables.indexOf(rules[0]!);
      d.nftables.splice(first, 1);
      d.nftables.push(rules[0]!);
    }),
    want: ['TP012'],
    evidence: /IPv4 nft inet tprun prerouting: .*tproxy ip to :3129 .* comes before .*socket transparent 1/,
  },
  {
    name: 'squid.conf newer than the running squid',
    edits: [squidKv('conf_mtime', '1795312800')],
    want: ['TP015'],
    evidence: /changed 2026-11-22T02:00:00Z.*last read it 2026-11-22T01:57:09Z \(started\)/,
  },
  {
    name: 'a reconfigure after the edit is not a finding',
    edits: [squidKv('conf_mtime', '1795312800'), appendLog('2026/11/22 02:00:05 kid1| Reconfiguring Squid Cache (version 5.7)...')],
    want: [],
  },
  {
    name: 'squid stopped',
    edits: [squidKv('running', 'no'), edit('doctor.sockets', (s) => s.replace(/^.*"squid".*$\n?/gm, ''))],
    want: ['TP016'],
    evidence: /nothing listens on port 3129.*squid is not running/,
  },
  {
    name: 'counters at zero: nothing intercepted yet (a warning)',
    edits: [mangle4((m) => m.replace(/^\[\d+:\d+\] (-A TPRUN_PREROUTING .*TPROXY)/m, '[0:0] $1'))],
    want: ['TP017'],
  },
  {
    // The alert line as the lab's squid 5.7 logs it with debug_options 85,3 (recorded); the path and query are not shown.
    name: 'Host header forgery on intercepted HTTP (debug_options 85,3): the count and the host alone (a warning)',
    edits: [set('doctor.cache.alerts', `count 2\nfirst ${FORGED('other.example')}\nlast ${FORGED('forged.example/login?token=s3cr3t')}\n`)],
    want: ['TP009'],
    evidence:
      /^cache\.log: 2 "Host header forgery detected" alerts since squid last started \(last 256 KB of the log\); the last: Host "forged\.example" connected to 203\.0\.113\.2:80 \(local IP does not match any domain IP\) at 2026\/12\/07 02:45:30$/,
  },
  {
    // Constructed from squid's source (hostHeaderVerifyFailed, DBG_IMPORTANT): intercepted TLS gets 409.
    name: 'Host header forgery on intercepted TLS: the alert, its URL line, and the 409s in access.log',
    edits: [
      set(
        'doctor.cache.alerts',
        `count 1\nfirst ${T} SECURITY ALERT: Host header forgery detected on conn9 local=203.0.113.2:443 remote=198.51.100.2:40950 FD 16 flags=33 (local IP does not match any domain IP)\nlast ${T} SECURITY ALERT: Host header forgery detected on conn9 local=203.0.113.2:443 remote=198.51.100.2:40950 FD 16 flags=33 (local IP does not match any domain IP)\nurl ${T} SECURITY ALERT: on URL: cdn.example:443\n`,
      ),
      edit('doctor.access.log', (l) => l + '1795312700.100      0 198.51.100.2 NONE_NONE/409 4100 CONNECT cdn.example:443 - HIER_NONE/- text/html\n'),
    ],
    want: ['TP009'],
    evidence:
      /1 "Host header forgery detected" alert since .*Host "cdn\.example" connected to 203\.0\.113\.2:443 .*; access\.log: 1 intercepted request answered 409/,
  },
  {
    name: 'a forged Host with control characters is shown with them written out',
    edits: [set('doctor.cache.alerts', `count 1\nlast ${FORGED('evil\x1b[2J.example/')}\n`)],
    want: ['TP009'],
    evidence: /Host "evil\\\\x1b\[2J\.example"/,
  },
  {
    name: 'an unreadable cache.log, or one without alerts since the last start: no TP009',
    edits: [set('doctor.cache.alerts', '', 3)],
    want: [],
  },
  {
    name: 'intercepted packets but no ORIGINAL_DST in access.log',
    edits: [set('doctor.access.log', '')],
    want: ['TP018'],
    evidence: /counted 1 packets.*no ORIGINAL_DST line/,
  },
  {
    name: 'client_dst_passthru off: intercepted requests are logged HIER_DIRECT, and that is no finding',
    edits: [editConf((c) => c + 'client_dst_passthru off\n'), edit('doctor.access.log', (l) => l.replaceAll('ORIGINAL_DST/', 'HIER_DIRECT/'))],
    want: [],
  },
  {
    name: 'HIER_DIRECT lines alone are not intercepted requests while client_dst_passthru is on',
    edits: [edit('doctor.access.log', (l) => l.replaceAll('ORIGINAL_DST/', 'HIER_DIRECT/'))],
    want: ['TP018'],
  },
  { name: 'behind a WCCP router without proxy-side exclusion', host: wccpNoExclude, edits: wccpUp, want: ['TP020'], evidence: /wr1 .*no proxy_interfaces/ },
  { name: 'WCCP cache set up as tprun does', host: wccpCache, edits: wccpUp, want: [] },
  {
    name: 'two default routes',
    edits: [set('doctor.default-routes', '@@section 4\ndefault via 203.0.113.2 dev eth2 \ndefault via 198.51.100.2 dev eth1 metric 200 \n@@section 6\n')],
    want: ['TP021'],
    evidence: /default via 203\.0\.113\.2 dev eth2 \| default via 198\.51\.100\.2/,
  },
  {
    name: 'a bridge whose default route uses the administration interface',
    host: bridge,
    edits: [set('doctor.default-routes', '@@section 4\ndefault via 198.18.0.1 dev mgmt0 \n@@section 6\n')],
    want: ['TP022'],
    evidence: /mgmt0 carries .*198\.18\.1\.1/,
  },
  {
    name: 'a bridge without an address of its own (eth1 and eth2 ports of br0, br0 bare): a warning per family',
    host: bridge,
    edits: [
      set('doctor.default-routes', '@@section 4\ndefault via 203.0.113.2 dev eth2 \n@@section 6\n'),
      edit(
        'doctor.links',
        (s) =>
          s.replace(/^(\d+: eth[12]@\S+ <[^>]*> mtu \d+ qdisc \S+) /gm, '$1 master br0 ') +
          '9: br0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP mode DEFAULT group default qlen 1000\\    link/ether 02:00:00:00:00:09 brd ff:ff:ff:ff:ff:ff \\    bridge forward_delay 1500\n',
      ),
    ],
    want: ['TP023'],
    evidence: /br0 \(the bridge of eth1\) has no IPv4 address.*br0 \(the bridge of eth1\) has no global IPv6 address/,
  },
  {
    name: 'a bridge with its own addresses: no TP023',
    host: bridge,
    edits: [
      set('doctor.default-routes', '@@section 4\ndefault via 203.0.113.2 dev eth2 \n@@section 6\n'),
      edit('doctor.links', (s) => s.replace(/^(\d+: eth[12]@\S+ <[^>]*> mtu \d+ qdisc \S+) /gm, '$1 master br0 ')),
      edit(
        'doctor.addrs',
        (s) =>
          s +
          '9: br0    inet 198.51.100.9/24 scope global br0\\       valid_lft forever preferred_lft forever\n9: br0    inet6 2001:db8:c::9/64 scope global \\       valid_lft forever preferred_lft forever\n',
      ),
    ],
    want: [],
  },
  {
    name: 'a bridge routed through its internet side',
    host: bridge,
    edits: [set('doctor.default-routes', '@@section 4\ndefault via 203.0.113.2 dev eth2 \n@@section 6\n')],
    want: [],
  },
  {
    name: 'WCCP: dst_ip_hash on service 80',
    host: wccpCache,
    edits: [...wccpUp, editConf((c) => c.replace('80 protocol=tcp flags=src_ip_hash', '80 protocol=tcp flags=dst_ip_hash'))],
    want: ['TP030'],
    evidence: /flags=dst_ip_hash/,
  },
  {
    name: 'WCCP: service 90 missing',
    host: wccpCache,
    edits: [...wccpUp, editConf((c) => c.replace(/^wccp2_service(_info)? (dynamic )?90.*\n/gm, ''))],
    want: ['TP031'],
    evidence: /missing 90/,
  },
  { name: 'WCCP: GRE interface missing', host: wccpCache, edits: [wccpUp[0]!, wccpUp[2]!], want: ['TP032'], evidence: /no interface wccp0/ },
  {
    name: 'WCCP: GRE interface down',
    host: wccpCache,
    edits: [
      ...wccpUp,
      edit('doctor.links', (s) =>
        s
          .replace('<POINTOPOINT,NOARP,UP,LOWER_UP>', '<POINTOPOINT,NOARP>')
          .replace('state UNKNOWN mode DEFAULT group default qlen 1000\\    link/gre', 'state DOWN mode DEFAULT group default qlen 1000\\    link/gre'),
      ),
    ],
    want: ['TP032'],
    evidence: /wccp0 is down/,
  },
  {
    name: 'WCCP: GRE dropped by INPUT',
    host: wccpCache,
    edits: [...wccpUp, filter4((f) => f.replace(':OUTPUT ACCEPT [0:0]\n', ':OUTPUT ACCEPT [0:0]\n[9:900] -A INPUT -p gre -j DROP\n'))],
    want: ['TP032'],
    evidence: /-p gre -j DROP \[9 packets\] drops GRE/,
  },
  { name: 'WCCP: no Here I Am socket', host: wccpCache, edits: [wccpUp[0]!, wccpUp[1]!], want: ['TP033'], evidence: /no WCCP socket on UDP 2048/ },
  {
    name: 'WCCP: UDP 2048 dropped on the way out',
    host: wccpCache,
    edits: [...wccpUp, filter4((f) => f.replace(':OUTPUT ACCEPT [0:0]\n', ':OUTPUT ACCEPT [0:0]\n[14:2800] -A OUTPUT -p udp -m udp --dport 2048 -j DROP\n'))],
    want: ['TP033'],
    evidence: /dport 2048 -j DROP \[14 packets\]/,
  },
  { name: 'SELinux enforcing with booleans on and persistent', host: selinuxHost, edits: [set('doctor.selinux', SELINUX_ON)], want: [] },
  {
    name: 'SELinux AVC denial for squid',
    host: selinuxHost,
    edits: [
      set('doctor.selinux', SELINUX_ON),
      set(
        'doctor.audit',
        'type=AVC msg=audit(1795312700.123:812): avc:  denied  { name_bind } for  pid=4860 comm="squid" src=3129 scontext=system_u:system_r:squid_t:s0 tcontext=system_u:object_r:unreserved_port_t:s0 tclass=tcp_socket permissive=0\n',
      ),
    ],
    want: ['TP040'],
    evidence: /avc: {2}denied {2}\{ name_bind \}/,
  },
  {
    name: 'SELinux boolean off at runtime',
    host: selinuxHost,
    edits: [set('doctor.selinux', SELINUX_ON.replace('squid_use_tproxy --> on', 'squid_use_tproxy --> off'))],
    want: ['TP041'],
    evidence: /squid_use_tproxy: off/,
  },
  {
    name: 'SELinux boolean missing from the policy',
    host: selinuxHost,
    edits: [set('doctor.selinux', SELINUX_ON.replace('squid_use_tproxy --> on', 'Error getting active value for squid_use_tproxy'))],
    want: ['TP041'],
    evidence: /squid_use_tproxy: missing/,
  },
  {
    name: 'SELinux boolean on only until reboot',
    host: selinuxHost,
    edits: [set('doctor.selinux', SELINUX_ON.replace('squid_use_tproxy               (on   ,   on)', 'squid_use_tproxy               (on   ,  off)'))],
    want: ['TP042'],
    evidence: /squid_use_tproxy \(on, off\)/,
  },
];

for (const c of CASES) {
  test(`diagnose: ${c.name} → ${c.want.join(', ') || 'no finding'}`, () => {
    const host = c.host ?? router;
    const raw = healthy();
    for (const e of c.edits) e(raw);
    const findings = diagnose(host, parseTree(doctorFacts(host), raw));
    assert.equal(
      findings.map((f) => f.code),
      c.want,
      JSON.stringify(findings, null, 1),
    );
    if (c.evidence) assert.match(findings.map((f) => f.evidence.join('; ')).join('\n'), c.evidence);
  });
}

test("every finding id but the probe's has a unit case, and docs/doctor.md documents every id", () => {
  const covered = new Set(CASES.flatMap((c) => c.want));
  assert.equal(
    CODES.filter((c) => !covered.has(c) && c !== 'TP050'),
    [],
  );
  const doc = readFileSync('docs/doctor.md', 'utf8');
  for (const code of CODES) assert.match(doc, new RegExp(`^### ${code} `, 'm'), `docs/doctor.md lacks ${code}`);
  for (const m of doc.matchAll(/^### (TP\d+) /gm)) assert.ok(m[1]! in CATALOG, `docs/doctor.md documents unknown ${m[1]}`);
});

test('the forgery fact runs its shell on a constructed cache.log: the last 256 KB only, counted from the last (re)start', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tprun-forgery-'));
  try {
    const log = join(dir, 'cache.log');
    writeFileSync(join(dir, 'squid.conf'), `cache_log ${log}\n`);
    const fact = forgeryAlerts(join(dir, 'squid.conf'));
    const run = () => fact.parse({ ...spawnSync('sh', ['-c', fact.command.text], { encoding: 'utf8' }), code: 0 } as RawFact);
    const filler = `${T} ${'x'.repeat(99)}\n`.repeat(3000); // 300 KB: pushes the first alert out of the window
    writeFileSync(log, `${FORGED('old.example/')}\n${filler}${FORGED('a.example/')}\n${FORGED('b.example/x')}\n`);
    const a = run()!;
    assert.is(a.count, 2);
    assert.match(a.first!, /a\.example/);
    assert.is(forgeryHost(a), 'b.example');
    writeFileSync(log, `${FORGED('a.example/')}\n${T} Reconfiguring Squid Cache (version 5.7)...\n${FORGED('c.example:8080/')}\n`, { flag: 'a' });
    assert.equal({ ...run(), first: undefined, last: undefined }, { count: 1, first: undefined, last: undefined });
    assert.is(forgeryHost(run()!), 'c.example');
    writeFileSync(log, `${T} Starting Squid Cache version 5.7 for x86_64-pc-linux-gnu...\n`, { flag: 'a' });
    assert.equal(run(), { count: 0 });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a finding is a failed check with its evidence in found, and the cause and fix in hint; every other id passes', () => {
  const raw = healthy();
  edit('ip-4.rules', (s) => s.replace(/^32765:.*\n/m, ''))(raw);
  const plan = planHost(router, [doctorRole], raw);
  const failed = plan.checks.filter((c) => !c.ok);
  assert.equal(
    failed.map((c) => c.id),
    ['TP010 the fwmark policy rule is missing'],
  );
  const f = failed[0]!;
  assert.ok(isFinding(f));
  assert.ok(f.blocks);
  assert.match(f.found, /no "fwmark 0x1\/0x1 lookup 100"/);
  assert.match(f.hint ?? '', /delivered to squid.*Fix: .*ip rule add fwmark 0x1\/0x1 lookup 100/);
  assert.is(plan.checks.length, CODES.length - 1);
  assert.is(plan.resources.length, 0, 'doctor plans no change');
  assert.match(plan.checks.find((c) => c.id.startsWith('TP017'))!.found, /IPv4: TPROXY 1 packets, DIVERT \d+ packets/);
});

test('one finding id with several pieces of evidence stays one check', () => {
  const checks = doctorChecks(
    router,
    [
      { code: 'TP013', evidence: ['a'] },
      { code: 'TP013', evidence: ['b'] },
    ],
    '',
  );
  const c = checks.filter((x) => !x.ok);
  assert.is(c.length, 1);
  assert.is(c[0]!.found, 'a; b');
});

test('parsers: counted save, sockets, links, squid.conf, squid state, SELinux', () => {
  const t = parseSaveTables('*mangle\n:PREROUTING ACCEPT [0:0]\n:DIVERT - [0:0]\n[7:420] -A PREROUTING -p tcp -m socket -j DIVERT\nCOMMIT\n').get('mangle')!;
  assert.equal(t.rules, [{ chain: 'PREROUTING', rule: '-p tcp -m socket -j DIVERT', packets: 7, bytes: 420 }]);
  assert.is(t.policies.get('DIVERT'), '-');
  const raw = healthy();
  const s = parseSockets(raw['doctor.sockets']!.stdout);
  assert.ok(s.some((x) => x.proto === 'tcp' && x.port === 3129 && x.state === 'LISTEN' && x.processes.includes('squid')));
  assert.equal(parseLinks(GRE_LINK.replace(/\\\\/g, '\\'))[0], { ifname: 'wccp0', up: true, state: 'UNKNOWN', kind: 'gre' });
  const conf = parseSquidConf('http_port 3128\nhttp_port [2001:db8::1]:3129 tproxy # spoof\n' + WCCP_CONF);
  assert.equal(conf.ports[1], { line: 'http_port [2001:db8::1]:3129 tproxy', address: '2001:db8::1', port: 3129, flags: ['tproxy'] });
  assert.equal(conf.wccpServices, [80, 90]);
  assert.equal(conf.wccpServiceFlags.get(90), ['dst_ip_hash', 'ports_source']);
  const st = parseSquidState(raw['doctor.squid']!.stdout + 'tz=-0130\n');
  assert.is(st.running, true);
  assert.match(st.libcapLinked ?? '', /libcap\.so\.2 => \/lib/);
  assert.is(parseSquidState('tz=-0130\n').tzOffset, -90);
  const se = parseSelinux(SELINUX_ON);
  assert.is(se.mode, 'enforcing');
  assert.equal(se.persistent?.get('squid_use_tproxy'), { current: 'on', persistent: 'on' });
  assert.is(parseSelinux(raw['doctor.selinux']!.stdout).mode, null);
});

test.run();
