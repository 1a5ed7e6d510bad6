/**
 * tproxy.block_quic: UDP/443 forwarded from the clients is rejected (QUIC bypasses TPROXY, which
 * intercepts TCP only), on both firewall backends, bypasses excepted; the default follows
 * https_ports; off with https_ports, and on a bridge, validate warns.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { formatDiagnostic } from '../src/diagnostics.ts';
import { changesOf, type HostPlan } from '../src/plan/types.ts';
import type { ChainState } from '../src/resources/change.ts';
import { ROLES } from '../roles/registry.ts';
import { tableLines, wantedTable } from '../roles/nftables/model.ts';
import { edited, recorded } from './facts.ts';
import { load } from './helpers.ts';
import { changed, h1, plan, withVars } from './planning.ts';

const HEAD = `defaults:\n  ssh: { identity: /tmp/k, known_hosts: /tmp/kh }\n  squid: { clients: [198.51.100.0/24], dns_nameservers: [198.51.100.53], https_tproxy_port: 3130, https_tproxy_port_options: ["cert=/etc/squid/ca.pem"] }\n`;
const ROUTER = 'routers:\n  r1: { address: 198.18.1.1 }\n';
const BRIDGE = 'bridges:\n  b1: { address: 198.18.1.2, bridge: { client_interface: eth0, internet_interface: eth1 } }\n';
const inv = (tproxy: string, hosts = ROUTER) => load(`${HEAD}  tproxy: ${tproxy}\n${hosts}`);
const warnings = (r: ReturnType<typeof load>) => r.diagnostics.filter((d) => d.severity === 'warning' && /block_quic/.test(d.message)).map(formatDiagnostic);
const rulesOf = (p: HostPlan, id: string) => ((changesOf(p).find((i) => i.id === id)?.after ?? null) as ChainState | null)?.rules ?? null;

const BYPASS = '[{source: 198.51.100.7}, {destination: "2001:db8:5::9"}, {interface: eth9}, {interface: eth3, source: 10.1.0.0/16}]';
const quicHost = withVars(h1, (h) => {
  h.vars.tproxy.block_quic = true;
  h.vars.tproxy.bypass = [{ source: '198.51.100.7' }, { destination: '2001:db8:5::9' }, { interface: 'eth9' }, { interface: 'eth3', source: '10.1.0.0/16' }];
});

test('block_quic defaults to on with https_ports and off without; an explicit value wins', () => {
  const on = inv('{ https_ports: [443] }');
  assert.is(on.inventory!.hosts[0]!.vars.tproxy.block_quic, true);
  assert.equal(warnings(on), []);
  assert.is(inv('{ ports: [80] }').inventory!.hosts[0]!.vars.tproxy.block_quic, false);
  assert.equal(warnings(inv('{ ports: [80] }')), []);
  assert.is(inv('{ block_quic: true }').inventory!.hosts[0]!.vars.tproxy.block_quic, true);
  assert.is(inv('{ https_ports: [443], block_quic: false }').inventory!.hosts[0]!.vars.tproxy.block_quic, false);
});

test('off while https_ports is set: a warning naming the hole, at the block_quic line', () => {
  const w = warnings(inv('{ https_ports: [443], block_quic: false }'));
  assert.is(w.length, 1, w.join('\n'));
  assert.match(
    w[0]!,
    /inv\.yml:4:\d+: warning: tproxy\.https_ports is set but tproxy\..*block_quic is off: browsers send HTTPS over QUIC \(UDP\/443\), which TPROXY does not intercept/,
  );
});

test('a bridge: block_quic is refused with a warning and no rule is planned on either backend', () => {
  const r = inv('{ https_ports: [443] }', BRIDGE);
  const w = warnings(r);
  assert.ok(
    w.some((m) => /block_quic is not applied on bridge hosts yet/.test(m)),
    w.join('\n'),
  );
  const b = r.inventory!.hosts[0]!;
  assert.is(b.vars.tproxy.block_quic, true);
  assert.not.ok(wantedTable(b).chains.some((c) => c.name === 'forward'));
  const iptables = ROLES.find((x) => x.name === 'iptables')!;
  assert.not.match(iptables.boot(b)[0]!.content, /FORWARD/);
  assert.not.match(iptables.artifacts(b)[0]!.content, /TPRUN_FORWARD/);
});

test('iptables: TPRUN_FORWARD rejects UDP/443 after the bypass RETURNs, per family, jumped to first from FORWARD', () => {
  const p = plan(recorded('router-fresh'), quicHost);
  assert.equal(rulesOf(p, 'iptables filter TPRUN_FORWARD'), [
    '-A TPRUN_FORWARD -s 198.51.100.7/32 -j RETURN',
    '-A TPRUN_FORWARD -i eth9 -j RETURN',
    '-A TPRUN_FORWARD -i eth3 -s 10.1.0.0/16 -j RETURN',
    '-A TPRUN_FORWARD -p udp --dport 443 -j REJECT --reject-with icmp-port-unreachable',
  ]);
  assert.equal(rulesOf(p, 'ip6tables filter TPRUN_FORWARD'), [
    '-A TPRUN_FORWARD -d 2001:db8:5::9/128 -j RETURN',
    '-A TPRUN_FORWARD -i eth9 -j RETURN',
    '-A TPRUN_FORWARD -p udp --dport 443 -j REJECT --reject-with icmp6-port-unreachable',
  ]);
  const it = changesOf(p).find((i) => i.id === 'iptables filter TPRUN_FORWARD')!;
  assert.match(it.commands[1]!.text, /\*filter\n:TPRUN_FORWARD - \[0:0\]\n[^]*-I FORWARD 1 -j TPRUN_FORWARD\nCOMMIT/);
  // Its own snapshot: TPRUN_INPUT's change in the same table keeps its own for its undo.
  assert.equal(it.undo.map(String), [`[ ! -e "$TPRUN_TX/iptables.filter.forward" ] || iptables-restore < "$TPRUN_TX/iptables.filter.forward"`]);
  assert.match(String(changesOf(p).find((i) => i.id === 'iptables filter TPRUN_INPUT')!.undo[0]), /"\$TPRUN_TX\/iptables\.filter"/);
  // Persisted: the rules file holds the chain, the boot script jumps to it.
  const iptables = ROLES.find((x) => x.name === 'iptables')!;
  assert.match(
    iptables.artifacts(quicHost)[0]!.content,
    /\*filter\n:TPRUN_INPUT - \[0:0\]\n:TPRUN_FORWARD - \[0:0\]\n[^]*\n-A TPRUN_FORWARD -s 198\.51\.100\.7 -j RETURN\n[^]*-A TPRUN_FORWARD -p udp -m udp --dport 443 -j REJECT --reject-with icmp-port-unreachable\nCOMMIT/,
  );
  assert.match(
    iptables.boot(quicHost)[0]!.content,
    /iptables -t filter -C FORWARD -j TPRUN_FORWARD 2>\/dev\/null \|\| iptables -t filter -I FORWARD 1 -j TPRUN_FORWARD/,
  );
});

test('iptables: without block_quic nothing is planned on a compliant router; a TPRUN_FORWARD left over is removed with its jump', () => {
  assert.equal(changed(plan(recorded('router-compliant'))), []);
  assert.ok(changed(plan(recorded('router-compliant'), quicHost)).includes('create iptables filter TPRUN_FORWARD'));
  const left = edited('router-compliant', {
    'iptables.filter': (s) =>
      s.replace(
        ':TPRUN_INPUT - [0:0]\n',
        ':TPRUN_INPUT - [0:0]\n:TPRUN_FORWARD - [0:0]\n-A FORWARD -j TPRUN_FORWARD\n-A TPRUN_FORWARD -p udp -m udp --dport 443 -j REJECT --reject-with icmp-port-unreachable\n',
      ),
  });
  const p = plan(left);
  assert.equal(changed(p), ['delete iptables filter TPRUN_FORWARD']);
  assert.match(changesOf(p)[0]!.commands[1]!.text, /-D FORWARD -j TPRUN_FORWARD\n-F TPRUN_FORWARD\n-X TPRUN_FORWARD/);
  // The same chain as wanted is compliant (the -m udp iptables-save adds is normalised).
  const c = changed(
    plan(
      left,
      withVars(h1, (h) => (h.vars.tproxy.block_quic = true)),
    ),
  );
  assert.not.ok(
    c.some((x) => / iptables filter TPRUN_FORWARD$/.test(x)),
    c.join('\n'),
  );
  assert.ok(c.includes('create ip6tables filter TPRUN_FORWARD'));
});

test('nftables: a forward chain with the same bypasses, then udp dport 443 reject; none without block_quic', () => {
  const host = load(`${HEAD}  tproxy: { https_ports: [443], bypass: ${BYPASS} }\n${ROUTER}`).inventory!.hosts[0]!;
  const t = wantedTable(host);
  assert.equal(tableLines({ ...t, counters: [], sets: [], chains: t.chains.filter((c) => c.name === 'forward') }), [
    'chain forward (filter hook forward priority 0; policy accept)',
    '  iifname @bypass_if return',
    '  ip saddr @bypass_src4 return',
    '  ip daddr @bypass_dst4 return',
    '  ip6 saddr @bypass_src6 return',
    '  ip6 daddr @bypass_dst6 return',
    '  iifname "eth3" ip saddr 10.1.0.0/16 return',
    '  udp dport 443 counter name "quic" reject',
  ]);
  assert.ok(t.counters.includes('quic'));
  assert.equal(t.sets.find((s) => s.name === 'bypass_src4')!.elements, ['198.51.100.7']);
  const off = wantedTable(withVars(host, (h) => (h.vars.tproxy.block_quic = false)));
  assert.equal(
    off.chains.map((c) => c.name),
    ['prerouting'],
  );
  assert.not.ok(off.counters.includes('quic'));
});

test.run();
