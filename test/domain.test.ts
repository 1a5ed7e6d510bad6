/**
 * Issue #13, "compliant means intercepting": configurations that validate but cannot intercept,
 * and checks that called a broken host compliant. Planner tests on recorded facts (edited where
 * a probe's answer is changed) and validate tests; the live proofs are in test/lab/domain.test.ts.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseSysctlFiles, sysctlPath } from '../src/facts/parsers.ts';
import type { Host } from '../src/inventory/types.ts';
import { blockedReason, changesOf, type HostPlan } from '../src/plan/types.ts';
import type { ChainState } from '../src/resources/change.ts';
import { ROLES } from '../roles/registry.ts';
import { h1, withVars, plan, changed } from './planning.ts';
import { edited, recorded } from './facts.ts';
import { load, messages } from './helpers.ts';

const errors = (p: HostPlan) => p.diagnostics.filter((d) => d.severity === 'error').map((d) => d.message);
const rulesOf = (p: HostPlan, id: string) => ((changesOf(p).find((i) => i.id === id)?.after ?? null) as ChainState | null)?.rules ?? [];
const HEAD = `defaults:\n  ssh: { identity: /tmp/k, known_hosts: /tmp/kh }\n  squid: { clients: [198.51.100.0/24], dns_nameservers: [198.51.100.53] }\n`;

// ── 4. host firewall ────────────────────────────────────────────────────────────────────────

test('4. a fresh host gets TPRUN_INPUT (filter, both families) accepting the marked packets, jumped to first from INPUT', () => {
  const p = plan(recorded('router-fresh'));
  assert.ok(changed(p).includes('create iptables filter TPRUN_INPUT'));
  assert.ok(changed(p).includes('create ip6tables filter TPRUN_INPUT'));
  assert.equal(rulesOf(p, 'iptables filter TPRUN_INPUT'), ['-A TPRUN_INPUT -p tcp -m mark --mark 0x1/0x1 -j ACCEPT']);
  const it = changesOf(p).find((i) => i.id === 'ip6tables filter TPRUN_INPUT')!;
  assert.match(
    it.commands[1]!.text,
    /^ip6tables-restore --noflush <<'TPRUN_EOF'\n\*filter\n:TPRUN_INPUT - \[0:0\]\n-A TPRUN_INPUT -p tcp -m mark --mark 0x1\/0x1 -j ACCEPT\n-I INPUT 1 -j TPRUN_INPUT\nCOMMIT/,
  );
});

test("4. INPUT policy DROP with tprun's chain first is compliant; without the jump, check reports the drift", () => {
  const drop = (s: string) => s.replace(':INPUT ACCEPT', ':INPUT DROP');
  assert.equal(changed(plan(edited('router-compliant', { 'iptables.filter': drop, 'ip6tables.filter': drop }))), []);
  const noJump = (s: string) => drop(s).replace('-A INPUT -j TPRUN_INPUT\n', '');
  const p = plan(edited('router-compliant', { 'iptables.filter': noJump }));
  assert.equal(changed(p), ['update iptables filter TPRUN_INPUT']);
  assert.is((changesOf(p)[0]!.before as ChainState).hook, 'missing');
  // A DROP rule of the host's own before tprun's jump: the jump goes back to first place.
  const late = plan(
    edited('router-compliant', { 'ip6tables.filter': (s) => s.replace('-A INPUT -j TPRUN_INPUT', '-A INPUT -p tcp -j DROP\n-A INPUT -j TPRUN_INPUT') }),
  );
  assert.equal((changesOf(late)[0]!.before as ChainState).hook, 'not-first');
});

test('4. on a WCCP cache TPRUN_INPUT also accepts GRE and WCCP (UDP 2048) from the router and its router ID', () => {
  const inv = load(
    `${HEAD}routers:\n  c1: { address: 198.18.1.1 }\nwccp_peers:\n  wr1: { address: 198.18.0.250, router_id: 198.18.9.1, caches: [c1], customer_interfaces: [Gi0/1] }\n`,
  ).inventory!;
  const p = plan(
    edited('router-fresh', {
      'wccp.rp_filter': 'net/ipv4/conf/wccp0/rp_filter\n',
      'link:wccp0': { stdout: '', code: 1 },
      'file:/etc/tprun/boot.d/10-wccp.sh': { stdout: '', code: 3 },
    }),
    inv.hosts[0]!,
  );
  assert.equal(rulesOf(p, 'iptables filter TPRUN_INPUT'), [
    '-A TPRUN_INPUT -p tcp -m mark --mark 0x1/0x1 -j ACCEPT',
    '-A TPRUN_INPUT -s 198.18.9.1/32 -p gre -j ACCEPT',
    '-A TPRUN_INPUT -s 198.18.9.1/32 -p udp --dport 2048 -j ACCEPT',
    '-A TPRUN_INPUT -s 198.18.0.250/32 -p gre -j ACCEPT',
    '-A TPRUN_INPUT -s 198.18.0.250/32 -p udp --dport 2048 -j ACCEPT',
  ]);
  // IPv4 routers: nothing of theirs in the IPv6 chain.
  assert.equal(rulesOf(p, 'ip6tables filter TPRUN_INPUT'), ['-A TPRUN_INPUT -p tcp -m mark --mark 0x1/0x1 -j ACCEPT']);
});

test('4. a firewall in an nftables table of its own (input hook, policy drop) is reported: TPRUN_INPUT cannot override it', () => {
  const chain = (family: string, table: string, name: string, policy: string) =>
    `{"chain": {"family": "${family}", "table": "${table}", "name": "${name}", "handle": 9, "type": "filter", "hook": "input", "prio": 0, "policy": "${policy}"}}`;
  const withChain = (c: string) => ({ 'nft.chains': (s: string) => s.replace(/\]\}\s*$/, `, ${c}]}\n`) });
  const warned = (p: HostPlan) => p.diagnostics.filter((d) => d.severity === 'warning' && /filters input on its own/.test(d.message)).map((d) => d.message);
  assert.equal(warned(plan(recorded('router-compliant'))), []);
  assert.equal(warned(plan(edited('router-compliant', withChain(chain('inet', 'fw', 'input', 'drop'))))), [
    'nftables chain inet fw input filters input on its own (policy drop): tprun\'s accept in iptables\' TPRUN_INPUT does not override it; it must accept the intercepted packets itself (e.g. "meta mark & 0x1 == 0x1 accept")',
  ]);
  // iptables-nft's own filter table is where TPRUN_INPUT lives; an accepting chain elsewhere is fine.
  assert.equal(warned(plan(edited('router-compliant', withChain(chain('ip', 'filter', 'INPUT', 'drop'))))), []);
  assert.equal(warned(plan(edited('router-compliant', withChain(chain('inet', 'fw', 'input', 'accept'))))), []);
  assert.equal(warned(plan(edited('router-compliant', { 'nft.chains': { stdout: '', code: 127 } }))), []);
});

// ── 2 and 16. bypass order, --transparent ───────────────────────────────────────────────────

test("2/16. the socket match (--transparent) comes before the bypass RETURNs and the host's own addresses, which come before TPROXY", () => {
  const h = withVars(h1, (x) => (x.vars.tproxy.bypass = [{ interface: 'eth2' }, { source: '198.51.100.7' }]));
  assert.equal(rulesOf(plan(recorded('router-fresh'), h), 'iptables mangle TPRUN_PREROUTING'), [
    '-A TPRUN_DIVERT -j MARK --set-xmark 0x1/0x1',
    '-A TPRUN_DIVERT -j ACCEPT',
    '-A TPRUN_PREROUTING -p tcp -m socket --transparent -j TPRUN_DIVERT',
    '-A TPRUN_PREROUTING -i eth2 -j RETURN',
    '-A TPRUN_PREROUTING -s 198.51.100.7/32 -j RETURN',
    '-A TPRUN_PREROUTING -m addrtype --dst-type LOCAL -j RETURN',
    '-A TPRUN_PREROUTING -p tcp --dport 80 -j TPROXY --on-port 3129 --tproxy-mark 0x1/0x1',
  ]);
});

test('2/16. a host with the old order (bypass before the socket match, no --transparent) is drift', () => {
  const h = withVars(h1, (x) => (x.vars.tproxy.bypass = [{ interface: 'eth2' }]));
  const old = (s: string) =>
    s.replace(
      '-A TPRUN_PREROUTING -p tcp -m socket --transparent -j TPRUN_DIVERT',
      '-A TPRUN_PREROUTING -i eth2 -j RETURN\n-A TPRUN_PREROUTING -p tcp -m socket -j TPRUN_DIVERT',
    );
  assert.ok(changed(plan(edited('router-compliant', { 'iptables.mangle': old }), h)).includes('update iptables mangle TPRUN_PREROUTING'));
});

// ── 1. per-interface tables ─────────────────────────────────────────────────────────────────

test('1. per_interface_tables with lo (the default) or with only the client interface is a validate error', () => {
  const lo = messages(`${HEAD}  tproxy: { per_interface_tables: true }\nrouters:\n  c1: { address: 198.51.100.10 }\n`);
  assert.equal(lo.length, 1);
  assert.match(lo[0]!, /^inv\.yml:6:3: tproxy\.per_interface_tables with lo: the rule "fwmark \.\.\. iif lo" never matches forwarded traffic/);
  const one = messages(`${HEAD}  tproxy: { per_interface_tables: true, interfaces: [eth1] }\nrouters:\n  c1: { address: 198.51.100.10 }\n`);
  assert.equal(one.length, 1);
  assert.match(one[0]!, /^inv\.yml:4:53: tproxy\.per_interface_tables with only eth1: replies from servers arrive on the server-side interface/);
  assert.equal(messages(`${HEAD}  tproxy: { per_interface_tables: true, interfaces: [eth1, eth2] }\nrouters:\n  c1: { address: 198.51.100.10 }\n`), []);
});

/** A recorded router planned with per-interface tables on eth1 and eth2 (their rp_filter off, table 101 empty). */
function perInterfacePlan(recording: string) {
  const h = withVars(h1, (x) => {
    x.vars.tproxy.per_interface_tables = true;
    x.vars.tproxy.interfaces = ['eth1', 'eth2'];
  });
  return plan(
    edited(recording, {
      'sysctl.live': (s) => s + 'net/ipv4/conf/eth1/rp_filter=0\nnet/ipv4/conf/eth2/rp_filter=0\n',
      'ip-4.routes.101': '',
      'ip-6.routes.101': '',
    }),
    h,
  );
}

test("1. per-interface rules cover the client side, the server side, a bridge's ports and a WCCP cache's GRE interface", () => {
  const p = perInterfacePlan('router-fresh');
  const c = changed(p);
  for (const want of [
    'create ip -4 rule fwmark 0x1/0x1 iif eth1 lookup 100',
    'create ip -4 rule fwmark 0x1/0x1 iif eth2 lookup 101',
    'create ip -6 rule fwmark 0x1/0x1 iif eth2 lookup 101',
    'create ip -4 route table 101 local default dev eth2',
  ])
    assert.ok(c.includes(want), `${want} in\n${c.join('\n')}`);
  const bridge = load(
    `${HEAD}  tproxy: { per_interface_tables: true, interfaces: [br0] }\nbridges:\n  b1: { address: 198.51.100.12, bridge: { client_interface: eth0, internet_interface: eth1 } }\n`,
  );
  assert.equal(bridge.diagnostics, []);
  const wccp = load(
    `${HEAD}  tproxy: { per_interface_tables: true, interfaces: [eth0] }\nrouters:\n  c1: { address: 198.18.1.1 }\nwccp_peers:\n  wr1: { address: 198.18.0.250, caches: [c1], customer_interfaces: [Gi0/1] }\n`,
  );
  assert.equal(wccp.diagnostics, []);
  const routing = ROLES.find((r) => r.name === 'routing')!;
  const boot = (host: Host) => routing.boot(host)[0]!.content;
  assert.match(boot(bridge.inventory!.hosts[0]!), /rule add fwmark 0x1\/0x1 iif eth0 lookup 101\n[^]*iif eth1 lookup 102/);
  assert.match(boot(wccp.inventory!.hosts[0]!), /rule add fwmark 0x1\/0x1 iif wccp0 lookup 101/);
});

test("1. switching to per-interface tables replaces table 100's local route in place (one update, undone by the old route)", () => {
  const p = perInterfacePlan('router-compliant');
  const route = changesOf(p).find((i) => i.id === 'ip -4 route table 100 local default dev eth1')!;
  assert.equal(
    [route.action, route.before, route.commands.map(String), route.undo.map(String)],
    ['update', 'local default dev lo', ['ip -4 route replace local default dev eth1 table 100'], ['ip -4 route replace local default dev lo table 100']],
  );
  assert.not.ok(changed(p).some((c) => c.startsWith('delete ip -4 route table 100')));
});

// ── 5. Safe_ports ───────────────────────────────────────────────────────────────────────────

test("5. intercepted ports outside squid's Safe_ports are added to it; the stock ones are not repeated", () => {
  const conf = (ports: string) => {
    const inv = load(`${HEAD}  tproxy: { ports: ${ports} }\nrouters:\n  c1: { address: 198.51.100.10 }\n`).inventory!;
    const p = plan(recorded('router-fresh'), inv.hosts[0]!);
    return String(changesOf(p).find((i) => i.id === 'file /etc/squid/squid.conf')!.after);
  };
  const c = conf('[80, 81, 800, 8080]');
  assert.match(c, /^acl Safe_ports port 81 800$/m);
  assert.ok(c.indexOf('acl Safe_ports port 81 800') < c.indexOf('http_access deny !Safe_ports'));
  assert.not.match(conf('[80]'), /^acl Safe_ports port 81/m);
  assert.equal(conf('[80]').match(/^acl Safe_ports/gm)!.length, 1);
});

// ── 15. mask defaults to the mark ───────────────────────────────────────────────────────────

test('15. mark: 2 validates, and the mask defaults to the mark: 0x2/0x2 in DIVERT, TPROXY and the fwmark rule', () => {
  const text = `${HEAD}  tproxy: { mark: 2 }\nrouters:\n  c1: { address: 198.51.100.10 }\n`;
  assert.equal(messages(text), []);
  const host = load(text).inventory!.hosts[0]!;
  assert.is(host.vars.tproxy.mask, 2);
  const p = plan(recorded('router-fresh'), host);
  assert.ok(changed(p).includes('create ip -4 rule fwmark 0x2/0x2 lookup 100'));
  const rules = rulesOf(p, 'iptables mangle TPRUN_PREROUTING');
  assert.ok(rules.includes('-A TPRUN_DIVERT -j MARK --set-xmark 0x2/0x2'));
  assert.ok(rules.includes('-A TPRUN_PREROUTING -p tcp --dport 80 -j TPROXY --on-port 3129 --tproxy-mark 0x2/0x2'));
  assert.equal(rulesOf(p, 'iptables filter TPRUN_INPUT'), ['-A TPRUN_INPUT -p tcp -m mark --mark 0x2/0x2 -j ACCEPT']);
  // An explicit mask still applies and is still checked.
  assert.is(load(`${HEAD}  tproxy: { mark: 2, mask: 6 }\nrouters:\n  c1: { address: 198.51.100.10 }\n`).inventory!.hosts[0]!.vars.tproxy.mask, 6);
  assert.match(messages(`${HEAD}  tproxy: { mark: 3, mask: 1 }\nrouters:\n  c1: { address: 198.51.100.10 }\n`)[0]!, /does not fit mask 0x1/);
});

// ── 3. HTTPS ────────────────────────────────────────────────────────────────────────────────

test('3. 443 in tproxy.ports (sent to the HTTP tproxy port) is an error at its FILE:LINE:COL', () => {
  const m = messages(`${HEAD}  tproxy: { ports: [80, 443] }\nrouters:\n  c1: { address: 198.51.100.10 }\n`);
  assert.equal(m.length, 1);
  assert.match(m[0]!, /^inv\.yml:4:25: tproxy\.ports has 443, a TLS port: TPROXY would send it to the HTTP tproxy port 3129/);
});

test('3. tproxy.https_ports without squid.https_tproxy_port, or an https port without cert=, is an error', () => {
  const noPort = messages(`${HEAD}  tproxy: { https_ports: [443] }\nrouters:\n  c1: { address: 198.51.100.10 }\n`);
  assert.match(noPort.join('\n'), /tproxy\.https_ports needs squid\.https_tproxy_port/);
  const noCert = messages(`${HEAD}  tproxy: { https_ports: [443] }\nrouters:\n  c1: { address: 198.51.100.10, squid: { https_tproxy_port: 3130 } }\n`);
  assert.match(noCert.join('\n'), /^inv\.yml:6:61: squid\.https_tproxy_port needs a certificate/m);
  // Squid 4's spelling of the option counts too.
  assert.equal(
    messages(
      `${HEAD}  tproxy: { https_ports: [443] }\nrouters:\n  c1: { address: 198.51.100.10, squid: { https_tproxy_port: 3130, https_tproxy_port_options: [tls-cert=/etc/squid/ca.pem] } }\n`,
    ),
    [],
  );
});

test('3. an HTTPS tproxy port: its own https_port line, its own TPROXY rule, and a squid built with OpenSSL', () => {
  const text = `${HEAD}  tproxy: { https_ports: [443] }\nrouters:\n  c1: { address: 198.51.100.10, squid: { https_tproxy_port: 3130, https_tproxy_port_options: [cert=/etc/squid/bump.pem, generate-host-certificates=on] } }\n`;
  assert.equal(messages(text), []);
  const host = load(text).inventory!.hosts[0]!;
  const withSsl = (s: string) => s.replace("'--with-gnutls'", "'--with-openssl'");
  const p = plan(edited('router-fresh', { 'squid.version': withSsl }), host);
  assert.is(blockedReason(p), undefined);
  const conf = String(changesOf(p).find((i) => i.id === 'file /etc/squid/squid.conf')!.after);
  assert.match(conf, /^http_port 3129 tproxy$/m);
  assert.match(conf, /^https_port 3130 tproxy ssl-bump cert=\/etc\/squid\/bump\.pem generate-host-certificates=on$/m);
  const rules = rulesOf(p, 'iptables mangle TPRUN_PREROUTING');
  assert.ok(rules.includes('-A TPRUN_PREROUTING -p tcp --dport 80 -j TPROXY --on-port 3129 --tproxy-mark 0x1/0x1'));
  assert.ok(rules.includes('-A TPRUN_PREROUTING -p tcp --dport 443 -j TPROXY --on-port 3130 --tproxy-mark 0x1/0x1'));
  // Debian's squid (GnuTLS) has no ssl-bump: blocked, with the reason.
  assert.match(
    blockedReason(plan(recorded('router-fresh'), host))!,
    /squid built with OpenSSL \(for squid\.https_tproxy_port\) \(found not in squid -v configure options \(built with --with-gnutls, which has no ssl-bump\)\)/,
  );
});

test('3. squid.extra declaring an HTTPS tproxy port points at squid.https_tproxy_port', () => {
  const m = messages(`${HEAD}routers:\n  c1: { address: 198.51.100.10, squid: { extra: ["https_port 3130 tproxy ssl-bump cert=/x.pem"] } }\n`);
  assert.match(m.join('\n'), /squid\.extra declares the tproxy port again \(an HTTPS tproxy port is squid\.https_tproxy_port/);
});

test('host_verify_strict on in squid.extra is refused for interception, at its line', () => {
  const m = messages(`${HEAD}routers:\n  c1: { address: 198.51.100.10, squid: { extra: ["via on", "host_verify_strict on"] } }\n`);
  assert.equal(m.length, 1, m.join('\n'));
  assert.match(m[0]!, /:5:60: host_verify_strict on answers 409 to every intercepted request/);
  assert.equal(messages(`${HEAD}routers:\n  c1: { address: 198.51.100.10, squid: { extra: ["host_verify_strict off"] } }\n`), []);
});

test("squid.dns_nameservers unset: a warning naming the clients' resolvers and TP009; with https_ports an error (409)", () => {
  const bare = HEAD.replace(', dns_nameservers: [198.51.100.53]', '');
  const r = load(`${bare}routers:\n  c1: { address: 198.51.100.10 }\n`);
  assert.ok(r.inventory, JSON.stringify(r.diagnostics));
  assert.equal(
    r.diagnostics.map((d) => d.severity),
    ['warning'],
  );
  assert.match(
    r.diagnostics[0]!.message,
    /squid\.dns_nameservers is empty: squid resolves with the host's \/etc\/resolv\.conf.*\(doctor TP009\); set it to the clients' resolvers/,
  );
  assert.not.match(r.diagnostics[0]!.message, /409/);
  const tls = messages(
    `${bare}routers:\n  c1: { address: 198.51.100.10, tproxy: { https_ports: [443] }, squid: { https_tproxy_port: 3130, https_tproxy_port_options: ["cert=/etc/squid/ca.pem"] } }\n`,
  );
  assert.match(tls.join('\n'), /dns_nameservers is empty: .*and intercepted TLS gets 409 and is cut \(required with tproxy\.https_ports\)/);
  const tlsLoad = load(
    `${bare}routers:\n  c1: { address: 198.51.100.10, tproxy: { https_ports: [443] }, squid: { https_tproxy_port: 3130, https_tproxy_port_options: ["cert=/etc/squid/ca.pem"] } }\n`,
  );
  assert.not.ok(tlsLoad.inventory, 'TLS interception without squid resolvers is refused');
  assert.ok(tlsLoad.diagnostics.some((d) => d.severity === 'error' && /dns_nameservers is empty/.test(d.message)));
  assert.equal(messages(`${HEAD}routers:\n  c1: { address: 198.51.100.10 }\n`), []);
});

// ── 12. overridden sysctls ──────────────────────────────────────────────────────────────────

/** Debian's layout: /etc/sysctl.conf, also linked as /etc/sysctl.d/99-sysctl.conf, holding `line`. */
const debianSysctlConf = (line: string) => (s: string) =>
  s.replace(
    /==> \/etc\/sysctl\.conf [^]*$/,
    `==> /etc/sysctl.d/99-sysctl.conf /etc/sysctl.conf\n# /etc/sysctl.conf\n${line}\n==> /etc/sysctl.conf /etc/sysctl.conf\n# /etc/sysctl.conf\n${line}\n`,
  );

test("12. Debian's 99-sysctl.conf (→ ../sysctl.conf), applied after 90-tprun.conf, overriding rp_filter is an error; live values are fine", () => {
  const p = plan(edited('router-compliant', { 'sysctl.files': debianSysctlConf('net.ipv4.conf.all.rp_filter=1') }));
  assert.equal(changed(p), []);
  assert.equal(errors(p), [
    "/etc/sysctl.d/99-sysctl.conf (→ /etc/sysctl.conf) sets net.ipv4.conf.all.rp_filter = 1 and is applied after /etc/sysctl.d/90-tprun.conf: at the next boot it overrides tprun's net.ipv4.conf.all.rp_filter = 0 (remove that line or set it to 0)",
  ]);
  // The same value, a comment, or a file applied before tprun's: fine.
  assert.equal(errors(plan(edited('router-compliant', { 'sysctl.files': debianSysctlConf('net.ipv4.conf.all.rp_filter = 0\n#net.ipv4.ip_forward=0') }))), []);
  const earlier = (s: string) => s + '==> /etc/sysctl.d/10-local.conf /etc/sysctl.d/10-local.conf\nnet.ipv4.ip_forward = 0\n';
  assert.equal(errors(plan(edited('router-compliant', { 'sysctl.files': earlier }))), []);
});

test('12. overrides in slash spelling, with "set", and by systemd glob are found; /etc/sysctl.conf counts once', () => {
  const files = (s: string) =>
    s +
    '==> /etc/sysctl.d/95-x.conf /etc/sysctl.d/95-x.conf\nset net/ipv4/ip_forward = 0\n==> /usr/lib/sysctl.d/99-glob.conf /usr/lib/sysctl.d/99-glob.conf\n-net.ipv4.conf.*.rp_filter = 2\n==> /etc/sysctl.conf /etc/sysctl.conf\n';
  const e = errors(plan(edited('router-compliant', { 'sysctl.files': files })));
  assert.ok(
    e.some((m) => m.startsWith('/etc/sysctl.d/95-x.conf sets net.ipv4.ip_forward = 0')),
    e.join('\n'),
  );
  assert.ok(
    e.some((m) => m.startsWith('/usr/lib/sysctl.d/99-glob.conf sets net.ipv4.conf.*.rp_filter = 2') && m.includes("tprun's net.ipv4.conf.lo.rp_filter = 0")),
    e.join('\n'),
  );
  assert.equal(sysctlPath('net.ipv4.conf.eth0/100.rp_filter'), 'net/ipv4/conf/eth0.100/rp_filter');
  assert.equal(parseSysctlFiles('==> /a /a\n; c\nkernel.x=1\n')[0]!.assignments, [{ key: 'kernel/x', value: '1' }]);
});

test('12. on systemd hosts /etc/sysctl.conf counts only through a sysctl.d link (systemd-sysctl reads no other); without systemd it is read last', () => {
  const bare = (s: string) => s.replace(/==> \/etc\/sysctl\.conf [^]*$/, '') + '==> /etc/sysctl.conf /etc/sysctl.conf\nnet.ipv4.conf.all.rp_filter=1\n';
  assert.equal(errors(plan(edited('router-compliant', { 'sysctl.files': bare, 'service.manager': 'systemd\n' }))), []);
  assert.match(
    errors(plan(edited('router-compliant', { 'sysctl.files': bare, 'service.manager': 'none\n' }))).join('\n'),
    /^\/etc\/sysctl\.conf sets net\.ipv4\.conf\.all\.rp_filter = 1/,
  );
  // Linked as 99-sysctl.conf (Debian 12), systemd applies it after tprun's file.
  const linked = plan(edited('router-compliant', { 'sysctl.files': debianSysctlConf('net.ipv4.conf.all.rp_filter=1'), 'service.manager': 'systemd\n' }));
  assert.match(errors(linked).join('\n'), /^\/etc\/sysctl\.d\/99-sysctl\.conf \(→ \/etc\/sysctl\.conf\) sets/);
});

test('12. set_keyword in a sysctl.d file is refused: systemd-sysctl skips "set" lines, the settings would revert at boot', () => {
  assert.match(
    messages(`${HEAD}  sysctl: { set_keyword: true }\nrouters:\n  c1: { address: 198.51.100.10 }\n`).join('\n'),
    /set_keyword writes "set key = value" lines, which systemd-sysctl ignores in \/etc\/sysctl\.d\/90-tprun\.conf/,
  );
  assert.equal(messages(`${HEAD}  sysctl: { set_keyword: true, file: /etc/sysctl.conf }\nrouters:\n  c1: { address: 198.51.100.10 }\n`), []);
});

// ── 13. SELinux persistent value ────────────────────────────────────────────────────────────

const enforcing = (booleans: string, persistent: string) => ({
  'selinux.mode': { stdout: 'Enforcing\n', code: 0 },
  'selinux.booleans': { stdout: booleans, code: 0 },
  'selinux.persistent': { stdout: persistent, code: 0 },
});

test('13. MOCK SELinux: a boolean on at run time but off at boot (set without -P) is drift, fixed with setsebool -P', () => {
  const on = 'squid_connect_any --> on\nsquid_use_tproxy --> on\n';
  const semanage =
    'source=semanage\nsquid_connect_any              (on   ,   on)  Allow squid to connect any\nsquid_use_tproxy               (on   ,  off)  Allow squid to use tproxy\n';
  const p = plan(edited('router-compliant', enforcing(on, semanage)));
  assert.equal(changed(p), ['update selinux squid_use_tproxy']);
  const it = changesOf(p)[0]!;
  assert.equal([it.before, it.after, it.commands.map(String)], ['on (off at boot)', 'on', ['setsebool -P squid_use_tproxy on']]);
  assert.equal(it.undo.map(String), ['setsebool -P squid_use_tproxy off', 'setsebool squid_use_tproxy on']);
  // Both persistent: compliant. Without semanage, booleans.local (what -P writes) is read.
  assert.equal(changed(plan(edited('router-compliant', enforcing(on, semanage.replace('(on   ,  off)', '(on   ,   on)'))))), []);
  assert.equal(changed(plan(edited('router-compliant', enforcing(on, 'source=booleans.local\nsquid_connect_any=1\nsquid_use_tproxy=0\n')))), [
    'update selinux squid_use_tproxy',
  ]);
  const unknown = plan(edited('router-compliant', enforcing(on, 'source=booleans.local\n')));
  assert.ok(unknown.diagnostics.some((d) => d.severity === 'warning' && /persistent \(boot-time\) value cannot be read/.test(d.message)));
});

// ── 17. router advertisements ───────────────────────────────────────────────────────────────

test('17. an interface whose IPv6 default route came from router advertisements (accept_ra=1) is warned about; sysctl.accept_ra sets 2', () => {
  const ra = 'accept_ra all 1\naccept_ra default 1\naccept_ra eth2 1\naccept_ra lo 1\nra_default eth2\n';
  const p = plan(edited('router-compliant', { 'ipv6.ra': ra }));
  assert.ok(
    p.diagnostics.some((d) => d.severity === 'warning' && /^eth2 has its IPv6 default route from router advertisements \(accept_ra=1\)/.test(d.message)),
  );
  const h = withVars(h1, (x) => (x.vars.sysctl.accept_ra = ['eth2']));
  const q = plan(edited('router-compliant', { 'ipv6.ra': ra, 'sysctl.live': (s) => s + 'net/ipv6/conf/eth2/accept_ra=1\n' }), h);
  assert.not.ok(q.diagnostics.some((d) => /router advertisements/.test(d.message)));
  assert.ok(changed(q).includes('update sysctl net.ipv6.conf.eth2.accept_ra'));
  assert.match(String(changesOf(q).find((i) => i.id === 'file /etc/sysctl.d/90-tprun.conf')!.after), /^net\.ipv6\.conf\.eth2\.accept_ra = 2$/m);
  // accept_ra=2 already: nothing to say.
  assert.not.ok(
    plan(edited('router-compliant', { 'ipv6.ra': ra.replace('eth2 1', 'eth2 2') })).diagnostics.some((d) => /router advertisements/.test(d.message)),
  );
});

// ── 7. WCCP GRE: router ID, rp_filter persisted and checked ─────────────────────────────────

const wccpText = (peer: string) =>
  `${HEAD}routers:\n  c1: { address: 198.18.1.1 }\nwccp_peers:\n  wr1: { address: 198.18.0.250, caches: [c1], customer_interfaces: [Gi0/1]${peer} }\n`;
const gre = { 'kernel.config': (s: string) => s + 'CONFIG_NET_IPGRE=m\n', 'file:/etc/tprun/boot.d/10-wccp.sh': { stdout: '', code: 3 } };

test("7. MOCK GRE: the tunnel's remote is the router ID (defaulting to the address)", () => {
  const withId = load(wccpText(', router_id: 10.255.0.1')).inventory!.hosts[0]!;
  const p = plan(edited('router-compliant', { ...gre, 'wccp.rp_filter': 'net/ipv4/conf/wccp0/rp_filter\n', 'link:wccp0': { stdout: '', code: 1 } }), withId);
  assert.equal(changesOf(p).find((i) => i.kind === 'link')!.commands[0]!.text, 'ip tunnel add wccp0 mode gre remote 10.255.0.1 local 198.18.1.1');
  const conf = String(changesOf(p).find((i) => i.id === 'file /etc/squid/squid.conf')!.after);
  assert.match(conf, /^wccp2_router 198\.18\.0\.250$/m);
  const plain = load(wccpText('')).inventory!.hosts[0]!;
  assert.is(plain.wccp[0]!.router_id, '198.18.0.250');
});

test('7. MOCK GRE: rp_filter of an existing tunnel reset by udev/systemd is drift; the key is persisted in sysctl.d', () => {
  const host = load(wccpText('')).inventory!.hosts[0]!;
  const shown = '7: wccp0@NONE: <NOARP,UP,LOWER_UP> mtu 1476\n    gre remote 198.18.0.250 local 198.18.1.1 ttl inherit\n';
  const p = plan(edited('router-compliant', { ...gre, 'wccp.rp_filter': 'net/ipv4/conf/wccp0/rp_filter=2\n', 'link:wccp0': { stdout: shown, code: 0 } }), host);
  assert.ok(changed(p).includes('update sysctl net.ipv4.conf.wccp0.rp_filter'));
  assert.not.ok(changesOf(p).some((i) => i.kind === 'link'));
  assert.match(String(changesOf(p).find((i) => i.id === 'file /etc/sysctl.d/90-tprun.conf')!.after), /^net\.ipv4\.conf\.wccp0\.rp_filter = 0$/m);
  const ok = plan(
    edited('router-compliant', { ...gre, 'wccp.rp_filter': 'net/ipv4/conf/wccp0/rp_filter=0\n', 'link:wccp0': { stdout: shown, code: 0 } }),
    host,
  );
  assert.not.ok(changed(ok).includes('update sysctl net.ipv4.conf.wccp0.rp_filter'));
});

// ── 18. systemd-networkd ────────────────────────────────────────────────────────────────────

test("18. a networkd drop-in keeps tprun's rule and route; tprun-boot runs after the network is up", () => {
  const p = plan(recorded('router-fresh'));
  const dropin = changesOf(p).find((i) => i.id === 'file /etc/systemd/networkd.conf.d/90-tprun.conf')!;
  assert.match(String(dropin.after), /^\[Network\]\nManageForeignRoutingPolicyRules=no\nManageForeignRoutes=no$/m);
  const unit = String(changesOf(p).find((i) => i.id === 'file /etc/systemd/system/tprun-boot.service')!.after);
  assert.match(unit, /^After=network-online\.target systemd-networkd\.service/m);
  assert.match(unit, /^Wants=network-online\.target$/m);
  assert.not.match(unit, /Before=network\.target/);
  assert.equal(changed(plan(recorded('router-compliant'))), []);
});

// ── 9 (bridges) and 6 are in test/roles-mocked.test.ts; 8, 14, 16 (versions) in test/roles.test.ts ──

test.run();
