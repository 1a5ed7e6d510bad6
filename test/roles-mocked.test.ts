/**
 * Roles whose real environment this machine cannot provide, on MOCKED facts (named as such):
 * SELinux enabled, a kernel with a GRE driver, an ebtables-legacy broute table. Each mock starts from a
 * real recording and changes only the probes the missing feature would answer differently.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ROLES } from '../roles/registry.ts';
import { blockedReason, changesOf } from '../src/plan/types.ts';
import { h1, withVars, plan, changed } from './planning.ts';
import { edited } from './facts.ts';
import { load } from './helpers.ts';

/** Probes the router recording lacks: files these roles install, absent on that host. */
const absent = (...paths: string[]) => Object.fromEntries(paths.map((p) => [`file:${p}`, { stdout: '', code: 3 }]));
const WCCP_FILES = absent('/etc/tprun/boot.d/10-wccp.sh');
/** The GRE interface's rp_filter as the probe prints it: absent (no interface), or a value. */
const greRp = (v?: string) => ({ 'wccp.rp_filter': v === undefined ? 'net/ipv4/conf/wccp0/rp_filter\n' : `net/ipv4/conf/wccp0/rp_filter=${v}\n` });
const EB_FILES = absent('/etc/tprun/ebtables.rules', '/etc/tprun/boot.d/40-ebtables.sh');

test('MOCK selinux Enforcing: both booleans turned on persistently', () => {
  const p = plan(
    edited('router-compliant', {
      'selinux.mode': { stdout: 'Enforcing\n', code: 0 },
      'selinux.booleans': { stdout: 'squid_connect_any --> off\nsquid_use_tproxy --> off\n', code: 0 },
    }),
  );
  assert.equal(changed(p), ['update selinux squid_connect_any', 'update selinux squid_use_tproxy']);
  assert.equal(changesOf(p)[1]!.commands.map(String), ['setsebool -P squid_use_tproxy on']);
  assert.equal(changesOf(p)[1]!.undo.map(String), ['setsebool -P squid_use_tproxy off']);
});

test('MOCK selinux policy without squid_use_tproxy: says so and points at the policy module', () => {
  const p = plan(
    edited('router-compliant', {
      'selinux.mode': { stdout: 'Permissive\n', code: 0 },
      'selinux.booleans': { stdout: 'squid_connect_any --> on\nError getting active value for squid_use_tproxy\n', code: 1 },
    }),
  );
  assert.equal(changed(p), []);
  assert.ok(p.diagnostics.some((d) => d.severity === 'warning' && /no squid_use_tproxy boolean/.test(d.message) && /squidtproxy.te/.test(d.message)));
});

test('selinux: auto skips cleanly when SELinux is absent (this machine), enforce fails, skip never looks', () => {
  assert.equal(
    plan(edited('router-compliant', {})).diagnostics.filter((d) => d.role === 'selinux'),
    [],
  );
  const enforce = withVars(h1, (h) => (h.vars.selinux = 'enforce'));
  const p = plan(edited('router-compliant', {}), enforce);
  assert.ok(p.diagnostics.some((d) => d.severity === 'error' && /enforce, but SELinux is not installed/.test(d.message)));
  const skip = withVars(h1, (h) => (h.vars.selinux = 'skip'));
  const role = ROLES.find((r) => r.name === 'selinux')!;
  assert.not.ok(role.applies(skip));
});

const wccpInv = load(`defaults:
  ssh: { identity: /tmp/k, known_hosts: /tmp/kh }
  tproxy: { interfaces: [lo] }
  squid: { clients: [198.51.100.0/24, 2001:db8:c::/64], dns_nameservers: [127.0.0.1] }
routers:
  h1: { address: 198.18.1.1 }
wccp_peers:
  wr1: { address: 198.18.0.250, caches: [h1], customer_interfaces: [Gi0/1], proxy_interfaces: [Gi0/2] }
`).inventory!;
const wh1 = wccpInv.hosts[0]!;

test('wccp on this kernel (no GRE driver): the GRE interface is an error, squid.conf still gets wccp2_router', () => {
  const p = plan(edited('router-compliant', { ...WCCP_FILES, ...greRp(), 'link:wccp0': { stdout: '', code: 1 } }), wh1);
  assert.ok(
    p.diagnostics.some(
      (d) => d.severity === 'error' && d.role === 'wccp' && /no GRE driver \(CONFIG_NET_IPGRE is not set in \/proc\/config.gz\)/.test(d.message),
    ),
  );
  const conf = changesOf(p).find((i) => i.id === 'file /etc/squid/squid.conf')!;
  assert.match(String(conf.after), /^wccp2_router 198\.18\.0\.250$/m);
  assert.not.ok(changesOf(p).some((i) => i.kind === 'link'));
});

test('MOCK kernel with GRE: the tunnel is created, then compliant once it exists', () => {
  const gre = { 'kernel.config': (s: string) => s + 'CONFIG_NET_IPGRE=m\n' };
  const p = plan(edited('router-compliant', { ...WCCP_FILES, ...gre, ...greRp(), 'link:wccp0': { stdout: '', code: 1 } }), wh1);
  const link = changesOf(p).find((i) => i.kind === 'link')!;
  assert.equal(link.commands.map(String), [
    'ip tunnel add wccp0 mode gre remote 198.18.0.250 local 198.18.1.1',
    'ip link set wccp0 up',
    'echo 0 > /proc/sys/net/ipv4/conf/wccp0/rp_filter',
  ]);
  const shown =
    '7: wccp0@NONE: <NOARP,UP,LOWER_UP> mtu 1476 qdisc noqueue state UNKNOWN\n    link/gre 198.18.1.1 peer 198.18.0.250 promiscuity 0\n    gre remote 198.18.0.250 local 198.18.1.1 ttl inherit\n';
  const q = plan(edited('router-compliant', { ...WCCP_FILES, ...gre, ...greRp('0'), 'link:wccp0': { stdout: shown, code: 0 } }), wh1);
  assert.not.ok(changesOf(q).some((i) => i.kind === 'link' || i.id === 'sysctl net.ipv4.conf.wccp0.rp_filter'));
});

test('MOCK kernel with GRE: a tunnel with other ends is replaced, and the undo restores the old one', () => {
  const gre = { 'kernel.config': (s: string) => s + 'CONFIG_NET_IPGRE=m\n' };
  const shown = '7: wccp0@NONE: <NOARP,UP,LOWER_UP> mtu 1476\n    gre remote 198.18.0.9 local 198.18.1.1 ttl inherit\n';
  const link = changesOf(plan(edited('router-compliant', { ...WCCP_FILES, ...gre, ...greRp('0'), 'link:wccp0': { stdout: shown, code: 0 } }), wh1)).find(
    (i) => i.kind === 'link',
  )!;
  assert.equal([link.action, link.before], ['update', { remote: '198.18.0.9', local: '198.18.1.1' }]);
  assert.equal(link.undo.map(String), [
    'ip tunnel del wccp0 2>/dev/null || true',
    'ip tunnel add wccp0 mode gre remote 198.18.0.9 local 198.18.1.1',
    'ip link set wccp0 up',
  ]);
});

const bridgeInv = load(`defaults:
  ssh: { identity: /tmp/k, known_hosts: /tmp/kh }
  tproxy: { interfaces: [lo], bypass: [{ source: 198.51.100.7 }] }
  squid: { clients: [198.51.100.0/24, 2001:db8:c::/64] }
bridges:
  b1: { address: 198.18.1.3, bridge: { client_interface: eth0, internet_interface: eth1 } }
`).inventory!;
const b1 = bridgeInv.hosts[0]!;
/** The bridge's two ports (eth0, eth1), as the probe prints their rp_filter. */
const bridgePorts = 'net/ipv4/conf/eth0/rp_filter=0\nnet/ipv4/conf/eth1/rp_filter=0\n';
const bridgeKeys =
  'net/bridge/bridge-nf-call-arptables=1\nnet/bridge/bridge-nf-call-ip6tables=1\nnet/bridge/bridge-nf-call-iptables=1\nnet/bridge/bridge-nf-filter-pppoe-tagged=0\nnet/bridge/bridge-nf-filter-vlan-tagged=0\nnet/bridge/bridge-nf-pass-vlan-input-dev=0\n';

/** bridge.broute as the probe prints it (test/broute.test.ts has the recorded hosts). */
const brouteProbe = (legacy: string, nft = 'nft=absent\nnft_broute=absent') =>
  `kernel=6.1.0-28-amd64\nos=debian\nlegacy=${legacy}\nebtables=ebtables 1.8.9 (nf_tables)\n${nft}\n`;
const noNftTable = { 'ebtables-nft.save': { stdout: '', code: 3 }, 'nft.bridge-tprun': { stdout: '', code: 127 } };

test('bridge on this kernel: the broute requirement blocks (no broute table, nft too old), before anything changes', () => {
  const p = plan(
    edited('router-fresh', {
      ...noNftTable,
      'bridge.broute': brouteProbe(
        'fails: ebtables v2.0.11 (legacy): Table does not exist',
        'nft=nftables v1.0.6 (Lester Gooch #5)\nnft_broute=fails: /dev/stdin:1:68-84: Error: syntax error, unexpected broute',
      ),
      'ebtables.save': { stdout: '', code: 3 },
    }),
    b1,
  );
  assert.match(
    blockedReason(p)!,
    /bridge broute .*ebtables-legacy has no broute table \(ebtables v2\.0\.11 \(legacy\): Table does not exist\); nft 1\.0\.6 cannot set meta broute \(kernel 6\.1\.0-28-amd64 < 6\.4/,
  );
  assert.equal(changed(p), []);
});

const brouteOk = (save: string) => ({
  ...EB_FILES,
  ...noNftTable,
  'file:/etc/tprun/broute.nft': { stdout: '', code: 3 },
  'bridge.broute': brouteProbe('ok'),
  'ebtables.save': { stdout: save, code: 0 },
  'sysctl.live': (s: string) => s + bridgeKeys + bridgePorts,
});

test('MOCK bridge with a broute table: the four DROP rules per port after the bypass, bridge keys to 0', () => {
  const p = plan(edited('router-fresh', brouteOk('*filter\n:INPUT ACCEPT\n:FORWARD ACCEPT\n:OUTPUT ACCEPT\n*broute\n:BROUTING ACCEPT\n')), b1);
  assert.is(blockedReason(p), undefined);
  const eb = changesOf(p).find((i) => i.id === 'ebtables broute TPRUN_BROUTING')!;
  assert.is(eb.action, 'create');
  const payload = eb.commands[1]!.text.split('\n');
  assert.equal(payload.slice(1, -1), [
    '*broute',
    ':TPRUN_BROUTING RETURN',
    '-F TPRUN_BROUTING',
    '-A TPRUN_BROUTING -p IPv4 --ip-src 198.51.100.7 -j ACCEPT',
    '-A TPRUN_BROUTING -p IPv4 --ip-dst 198.51.100.7 -j ACCEPT',
    '-A TPRUN_BROUTING -p IPv6 -i eth0 --ip6-proto tcp --ip6-dport 80 -j redirect --redirect-target DROP',
    '-A TPRUN_BROUTING -p IPv4 -i eth0 --ip-proto tcp --ip-dport 80 -j redirect --redirect-target DROP',
    '-A TPRUN_BROUTING -p IPv6 -i eth1 --ip6-proto tcp --ip6-sport 80 -j redirect --redirect-target DROP',
    '-A TPRUN_BROUTING -p IPv4 -i eth1 --ip-proto tcp --ip-sport 80 -j redirect --redirect-target DROP',
    '-I BROUTING 1 -j TPRUN_BROUTING',
  ]);
  const c = changed(p);
  assert.ok(c.includes('update sysctl net.bridge.bridge-nf-call-iptables'));
  assert.not.ok(c.includes('update sysctl net.bridge.bridge-nf-filter-vlan-tagged'));
  // Bridges also get every router step.
  assert.ok(c.includes('create iptables mangle TPRUN_PREROUTING'));
});

test('MOCK bridge: ebtables-save output in its own option order and case is compliant', () => {
  const save = `*broute
:BROUTING ACCEPT
:TPRUN_BROUTING RETURN
-A BROUTING -j TPRUN_BROUTING
-A TPRUN_BROUTING -p IPv4 --ip-src 198.51.100.7 -j ACCEPT
-A TPRUN_BROUTING -p IPv4 --ip-dst 198.51.100.7 -j ACCEPT
-A TPRUN_BROUTING -p IPv6 -i eth0 --ip6-proto tcp --ip6-dport 80 -j redirect --redirect-target DROP
-A TPRUN_BROUTING -p IPv4 -i eth0 --ip-proto tcp --ip-dport 80 -j redirect --redirect-target DROP
-A TPRUN_BROUTING -i eth1 -p IPv6 --ip6-proto TCP --ip6-sport 80 -j redirect --redirect-target DROP
-A TPRUN_BROUTING -p ipv4 -i eth1 --ip-proto tcp --ip-sport 80 -j redirect --redirect-target DROP
`;
  const p = plan(edited('router-fresh', brouteOk(save)), b1);
  assert.is(
    changesOf(p).find((i) => i.id === 'ebtables broute TPRUN_BROUTING'),
    undefined,
  );
  const swapped = save.replace(/(-A TPRUN_BROUTING -p IPv4 --ip-src.*\n)(.*\n)/, '$2$1');
  assert.is(changesOf(plan(edited('router-fresh', brouteOk(swapped)), b1)).find((i) => i.id === 'ebtables broute TPRUN_BROUTING')?.action, 'update');
});

test('MOCK bridge without br_netfilter: fine (nothing to zero), no error; the keys are persisted for when it loads', () => {
  const p = plan(
    edited('router-fresh', { ...brouteOk('*broute\n:BROUTING ACCEPT\n'), 'sysctl.live': (s: string) => s + bridgeKeys.replace(/=\d/g, '') + bridgePorts }),
    b1,
  );
  assert.equal(
    p.diagnostics.filter((d) => d.severity === 'error'),
    [],
  );
  assert.ok(p.diagnostics.some((d) => d.severity === 'info' && /br_netfilter is not loaded/.test(d.message)));
  assert.not.ok(changed(p).some((c) => c.includes('net.bridge')));
  const file = changesOf(p).find((i) => i.id === 'file /etc/sysctl.d/90-tprun.conf')!;
  // "-key": systemd-sysctl skips it while the module is not loaded, and applies it when it is.
  assert.match(String(file.after), /^-net\.bridge\.bridge-nf-call-iptables = 0$/m);
});

test('MOCK bridge with br_netfilter loaded: its keys are zeroed live and persisted', () => {
  const p = plan(edited('router-fresh', brouteOk('*broute\n:BROUTING ACCEPT\n')), b1);
  assert.ok(changed(p).includes('update sysctl net.bridge.bridge-nf-call-iptables'));
  assert.ok(changed(p).includes('update sysctl net.bridge.bridge-nf-call-ip6tables'));
});

test('MOCK bridge: rp_filter 0 on both bridge ports, a source bypass kept bridged in both directions', () => {
  const ports = 'net/ipv4/conf/eth0/rp_filter=1\nnet/ipv4/conf/eth1/rp_filter=1\n';
  const p = plan(edited('router-fresh', { ...brouteOk('*broute\n:BROUTING ACCEPT\n'), 'sysctl.live': (s: string) => s + bridgeKeys + ports }), b1);
  assert.ok(changed(p).includes('update sysctl net.ipv4.conf.eth0.rp_filter'));
  assert.ok(changed(p).includes('update sysctl net.ipv4.conf.eth1.rp_filter'));
  const eb = changesOf(p).find((i) => i.id === 'ebtables broute TPRUN_BROUTING')!;
  const lines = eb.commands[1]!.text.split('\n');
  const at = (l: string) => lines.indexOf(l);
  assert.ok(at('-A TPRUN_BROUTING -p IPv4 --ip-src 198.51.100.7 -j ACCEPT') > 0);
  // The reply (to 198.51.100.7, from port 80) stays bridged: it is accepted before the sport DROP.
  assert.ok(at('-A TPRUN_BROUTING -p IPv4 --ip-dst 198.51.100.7 -j ACCEPT') > 0);
  assert.ok(
    at('-A TPRUN_BROUTING -p IPv4 --ip-dst 198.51.100.7 -j ACCEPT') <
      at('-A TPRUN_BROUTING -p IPv4 -i eth1 --ip-proto tcp --ip-sport 80 -j redirect --redirect-target DROP'),
  );
});

test('sysctl: strict rp_filter on other interfaces, the set keyword style, per-interface tables', () => {
  const h = withVars(h1, (x) => {
    x.vars.sysctl.strict_rp_filter = { value: 2, interfaces: ['mgmt0'] };
    x.vars.sysctl.set_keyword = true;
  });
  const p = plan(edited('router-compliant', { 'sysctl.live': (s) => s + 'net/ipv4/conf/mgmt0/rp_filter=0\n' }), h);
  const file = changesOf(p).find((i) => i.id === 'file /etc/sysctl.d/90-tprun.conf')!;
  assert.match(String(file.after), /^set net\.ipv4\.conf\.mgmt0\.rp_filter = 2$/m);
  assert.ok(changed(p).includes('update sysctl net.ipv4.conf.mgmt0.rp_filter'));
  const per = withVars(h1, (x) => {
    x.vars.tproxy.per_interface_tables = true;
    x.vars.tproxy.interfaces = ['lo', 'eth1'];
  });
  const q = plan(
    edited('router-fresh', {
      'sysctl.live': (s) => s + 'net/ipv4/conf/eth1/rp_filter=0\n',
      'ip-4.routes.101': { stdout: '', code: 2 },
      'ip-6.routes.101': { stdout: '', code: 2 },
    }),
    per,
  );
  assert.ok(changed(q).includes('create ip -4 rule fwmark 0x1/0x1 iif eth1 lookup 101'));
  assert.ok(changed(q).includes('create ip -4 route table 101 local default dev eth1'));
});

test('sysctl: a tproxy interface that does not exist is an error naming it', () => {
  const h = withVars(h1, (x) => (x.vars.tproxy.interfaces = ['eth7']));
  const p = plan(edited('router-compliant', { 'sysctl.live': (s) => s + 'net/ipv4/conf/eth7/rp_filter\n' }), h);
  assert.ok(p.diagnostics.some((d) => /interface eth7 does not exist/.test(d.message)));
});

test.run();
