import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { load, messages, MINIMAL } from './helpers.ts';
import { loadInventory } from '../src/inventory/load.ts';
import { selectHosts } from '../src/inventory/select.ts';

test('example inventory loads with no diagnostics', () => {
  const r = loadInventory('inventories/example.yml');
  assert.equal(r.diagnostics, []);
  assert.equal(
    r.inventory!.hosts.map((h) => `${h.kind}:${h.name}`),
    ['router:cache1', 'router:cache2', 'bridge:cache3'],
  );
});

test('defaults merge deeply; a host override replaces lists and keeps sibling keys', () => {
  const r = loadInventory('inventories/example.yml');
  const [c1, c2] = r.inventory!.hosts;
  assert.equal(c1!.vars.tproxy.interfaces, ['eth0']);
  assert.equal(c2!.vars.tproxy.interfaces, ['lo']);
  assert.is(c2!.vars.tproxy.table, 100); // from defaults, next to the override
  assert.is(c2!.vars.ssh.identity, '~/.ssh/id_ed25519');
  assert.is(c2!.vars.squid.config, '/etc/squid/squid.conf'); // built-in role default
});

test('WCCP membership is attached to the caches a peer lists', () => {
  const r = loadInventory('inventories/example.yml');
  const byName = Object.fromEntries(r.inventory!.hosts.map((h) => [h.name, h.wccp.map((p) => p.name)]));
  assert.equal(byName, { cache1: ['gw1'], cache2: ['gw1'], cache3: [] });
});

test('YAML syntax errors and duplicate keys point at line and column', () => {
  const m = messages('routers:\n  c1: { address: 198.51.100.10 }\n  c1: { address: 198.51.100.11 }\n');
  assert.equal(m, ['inv.yml:3:3: duplicate key "c1": a key may appear once in a mapping']);
  // An unclosed [ is pointed at, with its line quoted and a caret under it.
  const s = messages('routers:\n  c1: [\n');
  assert.equal(s[0]!.split('\n'), [
    'inv.yml:2:7: this [ is never closed: a flow list ends with ] on its last line or on a line indented deeper than its key',
    '    2 |   c1: [',
    '      |       ^',
  ]);
});

test('unknown keys get a did-you-mean at the key', () => {
  const m = messages('defaults:\n  tproxy: { prots: [80] }\n' + MINIMAL);
  assert.equal(m, ['inv.yml:2:13: unknown key "prots" (did you mean "ports"?)']);
  const top = messages('router:\n  c1: { address: 198.51.100.10 }\n');
  assert.ok(
    top.some((x) => x.startsWith('inv.yml:1:1: unknown key "router" (did you mean "routers"?)')),
    top.join('\n'),
  );
});

test('every schema error is reported at once, each with its position', () => {
  const m = messages(`defaults:
  tproxy: { ports: [80, 70000], interfaces: ["eth0/x", "averyveryverylongname", "a b"] }
  squid: { clients: [198.51.100.0/33, "zz", 2001:db8::/64] }
  ssh: { port: "22" }
routers:
  c1: { address: 1.2.3 }
  c2: { address: 198.51.100.11 }
bridges: {}
`);
  assert.equal(m, [
    'inv.yml:2:25: defaults.tproxy.ports.1: a port is a whole number from 1 to 65535',
    "inv.yml:2:46: defaults.tproxy.interfaces.0: invalid Linux interface name: 1-15 characters, no '/', whitespace or shell metacharacters",
    "inv.yml:2:56: defaults.tproxy.interfaces.1: invalid Linux interface name: 1-15 characters, no '/', whitespace or shell metacharacters",
    "inv.yml:2:81: defaults.tproxy.interfaces.2: invalid Linux interface name: 1-15 characters, no '/', whitespace or shell metacharacters",
    'inv.yml:3:22: defaults.squid.clients.0: not an IPv4/IPv6 address or CIDR network',
    'inv.yml:3:39: defaults.squid.clients.1: not an IPv4/IPv6 address or CIDR network',
    'inv.yml:4:16: defaults.ssh.port: a port is a whole number from 1 to 65535',
    'inv.yml:6:18: routers.c1.address: not an IP address or host name',
    'inv.yml:8:10: bridges: the bridges group is empty: list at least one host or remove the key',
  ]);
});

test('an inventory with no hosts, and a bridge missing an interface', () => {
  assert.equal(messages('defaults: {}\n'), ['inv.yml:1:1: the inventory has no hosts: add a routers or bridges group']);
  const m = messages('bridges:\n  b1: { address: 198.51.100.12, bridge: { client_interface: eth0 } }\n');
  assert.equal(m, ['inv.yml:2:41: bridges.b1.bridge: a bridge needs both client_interface and internet_interface']);
});

test('domain: tproxy port equal to http port, and intercept on the tproxy port', () => {
  const m = messages(
    `defaults:\n  squid: { http_port: 3129, tproxy_port: 3129, tproxy_port_options: [intercept], clients: [198.51.100.0/24], dns_nameservers: [198.51.100.53] }\n${MINIMAL}`,
  );
  assert.equal(m, [
    'inv.yml:2:42: squid.tproxy_port 3129 equals squid.http_port: "A dedicated squid port for tproxy is REQUIRED"',
    'inv.yml:2:70: "intercept" on the tproxy port: "The intercept, accel and related flags cannot be set on the same http_port with tproxy flag"',
  ]);
});

test('domain: the tproxy port declared again in squid.extra', () => {
  const m = messages(
    `routers:\n  c1: { address: 198.51.100.10, squid: { clients: [198.51.100.0/24], extra: ["http_port 3129 intercept"], dns_nameservers: [198.51.100.53] } }\n`,
  );
  assert.equal(m.length, 1);
  assert.match(m[0]!, /^inv\.yml:2:78: squid\.extra declares the tproxy port again/);
});

test('domain: a mark that does not fit its mask', () => {
  const m = messages(`defaults:\n  tproxy: { mark: 3, mask: 1 }\n  squid: { clients: [198.51.100.0/24], dns_nameservers: [198.51.100.53] }\n${MINIMAL}`);
  assert.equal(m, ['inv.yml:2:19: tproxy.mark 0x3 does not fit mask 0x1: TPROXY --tproxy-mark 0x3/0x1 would not set the mark the fwmark rule looks up']);
  assert.equal(
    messages(`defaults:\n  tproxy: { mark: 2, mask: 6 }\n  squid: { clients: [198.51.100.0/24], dns_nameservers: [198.51.100.53] }\n${MINIMAL}`),
    [],
  );
});

test('domain: the same address on two hosts; a bridge with one interface twice', () => {
  const m = messages(`defaults: { squid: { clients: [198.51.100.0/24], dns_nameservers: [198.51.100.53] } }
routers:
  c1: { address: 198.51.100.10 }
bridges:
  b1: { address: 198.51.100.10, bridge: { client_interface: eth0, internet_interface: eth0 } }
`);
  assert.equal(m, [
    "inv.yml:5:18: address 198.51.100.10 is also c1's: each host needs its own address",
    "inv.yml:5:87: the bridge's client_interface and internet_interface are both eth0: the broute rules need the client side and the internet side",
  ]);
});

test('a schema error in one host does not hide the domain errors of another', () => {
  const m = messages(`defaults: { squid: { clients: [198.51.100.0/24], dns_nameservers: [198.51.100.53] } }
routers:
  c1: { address: 198.51.100.10, ssh: { port: 0 } }
  c2: { address: 198.51.100.11, squid: { http_port: 3129 } }
wccp_peers:
  gw1: { address: 203.0.113.1, caches: [c1, c2], customer_interfaces: [Gi0/1] }
`);
  assert.equal(m, [
    'inv.yml:3:46: routers.c1.ssh.port: a port is a whole number from 1 to 65535',
    'inv.yml:4:53: squid.tproxy_port 3129 equals squid.http_port: "A dedicated squid port for tproxy is REQUIRED"',
  ]);
});

test('domain: WCCP caches must exist and hash src_ip on 80, dst_ip on 90', () => {
  const m = messages(`defaults: { squid: { clients: [198.51.100.0/24], dns_nameservers: [198.51.100.53] } }
routers:
  cache1: { address: 198.51.100.10 }
wccp_peers:
  gw1:
    address: 203.0.113.1
    caches: [cache1, cahce2]
    customer_interfaces: [Gi0/1]
    services: { "80": { flags: [dst_ip_hash] }, "90": { flags: [src_ip_hash] } }
`);
  assert.equal(m, [
    'inv.yml:7:22: wccp_peers.gw1: cache "cahce2" is not a router or bridge of this inventory (did you mean "cache1"?)',
    'inv.yml:9:15: wccp_peers.gw1: with TPROXY, service 80 must hash src_ip_hash and service 90 dst_ip_hash ("When using TPROXY the second method must be used", else replies reach the wrong cache)',
  ]);
});

test('domain: a WCCP cache needs an IP address (the local end of its GRE tunnel)', () => {
  const m = messages(`defaults: { squid: { clients: [198.51.100.0/24], dns_nameservers: [198.51.100.53] } }
routers:
  cache1: { address: cache1.example.net }
wccp_peers:
  gw1: { address: 203.0.113.1, caches: [cache1], customer_interfaces: [Gi0/1] }
`);
  assert.equal(m, ['inv.yml:3:22: cache1 is a WCCP cache: its address is the local end of the GRE tunnel and must be an IP address, not "cache1.example.net"']);
});

test('domain warnings do not fail the load; a value from defaults is reported once', () => {
  const r = load(
    `defaults:\n  squid: { clients: [], dns_nameservers: [198.51.100.53] }\nrouters:\n  a: { address: 198.51.100.10 }\n  b: { address: 198.51.100.11 }\n`,
  );
  assert.ok(r.inventory);
  assert.equal(r.diagnostics.length, 1);
  assert.is(r.diagnostics[0]!.severity, 'warning');
  assert.equal(r.diagnostics[0]!.at, { file: 'inv.yml', line: 2, col: 21 });
});

test('--limit selects by name, glob and group', () => {
  const hosts = loadInventory('inventories/example.yml').inventory!.hosts;
  const names = (p: string) => selectHosts(hosts, p).map((h) => h.name);
  assert.equal(names('cache1'), ['cache1']);
  assert.equal(names('cache*'), ['cache1', 'cache2', 'cache3']);
  assert.equal(names('bridges'), ['cache3']);
  assert.equal(names('routers,cache3'), ['cache1', 'cache2', 'cache3']);
  assert.equal(names('nope'), []);
});

test.run();
