/**
 * tproxy.block_quic: UDP/443 forwarded from the clients is rejected (QUIC bypasses TPROXY, which
 * intercepts TCP only), on both firewall backends, bypasses excepted; the default follows
 * https_ports; off with https_ports validate warns. On a bridge: bridge-family rules (a drop).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { formatDiagnostic } from '../src/diagnostics.ts';
import { changesOf, type HostPlan } from '../src/plan/types.ts';
import type { ChainState } from '../src/resources/change.ts';
import { ROLES, selectRoles } from '../roles/registry.ts';
import type { RawFacts } from '../src/facts/fact.ts';
import type { Host } from '../src/inventory/types.ts';
import { planHost } from '../src/plan/planner.ts';
import { bridgeQuicTable, tableLines, wantedTable } from '../roles/nftables/model.ts';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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

const BRIDGE_BYPASS = `${HEAD}  tproxy: { https_ports: [443], families: [ipv4, ipv6], bypass: ${BYPASS} }\n${BRIDGE}`;
const bridgeOn = (backend: string) => load(BRIDGE_BYPASS.replace('tproxy: {', `tproxy: { backend: ${backend},`)).inventory!.hosts[0]!;
// The bridge VM's recording (Debian 12, before tprun), with the filter tables a fresh host has
// (not in that recording); planned with the two backend roles.
const FRESH_FILTER = { code: 0, stdout: '*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n' };
const FRESH = {
  'iptables.filter': FRESH_FILTER,
  'ip6tables.filter': FRESH_FILTER,
  'nft.chains': { code: 0, stdout: '{"nftables": []}' },
  'file:/etc/tprun/ebtables-forward.rules': { code: 3, stdout: '' },
};
const bridgeEdited = (more: Parameters<typeof edited>[1] = {}) => edited('bridge-debian12-fresh', { ...FRESH, ...more });
const bridgeFacts = bridgeEdited();
const bplan = (facts: RawFacts, host: Host) => planHost(host, selectRoles(['iptables', 'nftables']), facts);

test('a bridge: no warning; no IP forward rule (bridged frames never reach it), a bridge-family one instead', () => {
  const r = inv('{ https_ports: [443] }', BRIDGE);
  assert.equal(warnings(r), []);
  const b = bridgeOn('iptables');
  assert.not.ok(wantedTable(b).chains.some((c) => c.name === 'forward'));
  const p = bplan(bridgeFacts, b);
  assert.is(rulesOf(p, 'iptables filter TPRUN_FORWARD'), null);
  assert.is(rulesOf(p, 'ip6tables filter TPRUN_FORWARD'), null);
});

test('bridge, iptables backend: ebtables-nft filter TPRUN_FORWARD, bypass RETURNs then UDP/443 DROP per family, jumped first from FORWARD', () => {
  const b = bridgeOn('iptables');
  const p = bplan(bridgeFacts, b);
  assert.ok(changed(p).includes('create ebtables-nft filter TPRUN_FORWARD'), changed(p).join('\n'));
  // As ebtables-nft lists them: options sorted pairwise (normaliseEbRule).
  assert.equal(rulesOf(p, 'ebtables-nft filter TPRUN_FORWARD'), [
    '-A TPRUN_FORWARD --ip-src 198.51.100.7 -p ipv4 -j RETURN',
    '-A TPRUN_FORWARD --ip6-dst 2001:db8:5::9 -p ipv6 -j RETURN',
    '-A TPRUN_FORWARD -i eth9 -j RETURN',
    '-A TPRUN_FORWARD --ip-src 10.1.0.0/16 -i eth3 -p ipv4 -j RETURN',
    '-A TPRUN_FORWARD --ip-dport 443 --ip-proto udp -p ipv4 -j DROP',
    '-A TPRUN_FORWARD --ip6-dport 443 --ip6-proto udp -p ipv6 -j DROP',
  ]);
  const it = changesOf(p).find((i) => i.id === 'ebtables-nft filter TPRUN_FORWARD')!;
  assert.match(it.commands[1]!.text, /ebtables-nft-restore --noflush[^]*\*filter\n:TPRUN_FORWARD RETURN\n-F TPRUN_FORWARD\n[^]*-I FORWARD 1 -j TPRUN_FORWARD/);
  assert.equal(it.undo.map(String), [`[ ! -e "$TPRUN_TX/ebtables-nft.filter" ] || ebtables-nft-restore < "$TPRUN_TX/ebtables-nft.filter"`]);
  // Nothing of the nftables backend.
  assert.not.ok(changed(p).some((c) => /nft table/.test(c)));
  // Persisted: its own rules file, restored at boot with the jump.
  const iptables = ROLES.find((x) => x.name === 'iptables')!;
  const file = iptables.artifacts(b).find((a) => a.path === '/etc/tprun/ebtables-forward.rules')!;
  assert.match(
    file.content,
    /\*filter\n:TPRUN_FORWARD RETURN\n-F TPRUN_FORWARD\n-A TPRUN_FORWARD -p IPv4 --ip-src 198\.51\.100\.7 -j RETURN\n[^]*-A TPRUN_FORWARD -p IPv6 --ip6-proto udp --ip6-dport 443 -j DROP\n$/,
  );
  assert.match(
    iptables.boot(b)[0]!.content,
    /ebtables-nft-restore --noflush < \/etc\/tprun\/ebtables-forward\.rules\n.*ebtables-nft -t filter -I FORWARD 1 -j TPRUN_FORWARD/,
  );
  assert.not.match(iptables.boot(b)[0]!.content, /iptables -t filter -C FORWARD/);
});

test('bridge, iptables backend: the chain as wanted is compliant; block_quic off removes it and its jump; only IPv4 families, only IPv4 rules', () => {
  const b = bridgeOn('iptables');
  const live = bridgeEdited({
    'ebtables-nft.filter': `*filter\n:INPUT ACCEPT\n:FORWARD ACCEPT\n:OUTPUT ACCEPT\n:TPRUN_FORWARD RETURN\n-A FORWARD -j TPRUN_FORWARD\n-A TPRUN_FORWARD -p IPv4 --ip-src 198.51.100.7 -j RETURN\n-A TPRUN_FORWARD -p IPv6 --ip6-dst 2001:db8:5::9 -j RETURN\n-A TPRUN_FORWARD -i eth9 -j RETURN\n-A TPRUN_FORWARD -p IPv4 -i eth3 --ip-src 10.1.0.0/16 -j RETURN\n-A TPRUN_FORWARD -p IPv4 --ip-proto udp --ip-dport 443 -j DROP\n-A TPRUN_FORWARD -p IPv6 --ip6-proto udp --ip6-dport 443 -j DROP\n`,
  });
  assert.not.ok(changed(bplan(live, b)).some((c) => /TPRUN_FORWARD/.test(c)));
  const off = bplan(
    live,
    withVars(b, (h) => (h.vars.tproxy.block_quic = false)),
  );
  assert.ok(changed(off).includes('delete ebtables-nft filter TPRUN_FORWARD'), changed(off).join('\n'));
  assert.match(
    changesOf(off).find((i) => i.id === 'ebtables-nft filter TPRUN_FORWARD')!.commands[1]!.text,
    /-D FORWARD -j TPRUN_FORWARD\n-F TPRUN_FORWARD\n-X TPRUN_FORWARD/,
  );
  const v4 = bplan(
    bridgeFacts,
    withVars(b, (h) => (h.vars.tproxy.families = ['ipv4'])),
  );
  assert.not.ok((rulesOf(v4, 'ebtables-nft filter TPRUN_FORWARD') ?? []).some((r) => /ipv6|ip6/i.test(r)));
});

test('block_quic off on a bridge: its rules file goes too (left behind, boot would find it and nothing would own it); the undo brings it back', () => {
  const b = bridgeOn('iptables');
  const content = '*filter\n:TPRUN_FORWARD RETURN\n-F TPRUN_FORWARD\n';
  const live = bridgeEdited({ 'file:/etc/tprun/ebtables-forward.rules': { code: 0, stdout: Buffer.from(content).toString('base64') } });
  const off = bplan(
    live,
    withVars(b, (h) => (h.vars.tproxy.block_quic = false)),
  );
  assert.ok(changed(off).includes('delete file /etc/tprun/ebtables-forward.rules'), changed(off).join('\n'));
  // Absent already: nothing to do; on: the file is wanted, not removed.
  assert.not.ok(
    changed(
      bplan(
        bridgeFacts,
        withVars(b, (h) => (h.vars.tproxy.block_quic = false)),
      ),
    ).some((c) => /ebtables-forward/.test(c)),
  );
  assert.not.ok(changed(bplan(live, b)).includes('delete file /etc/tprun/ebtables-forward.rules'));
  // The commands and their undo, run for real in a scratch directory.
  const gone = changesOf(off).find((i) => i.id === 'file /etc/tprun/ebtables-forward.rules')!;
  const dir = mkdtempSync(join(tmpdir(), 'tprun-rm-'));
  try {
    const at = (t: string) => t.replaceAll('/etc/tprun/', `${dir}/`);
    writeFileSync(join(dir, 'ebtables-forward.rules'), content);
    const sh = (lines: { text: string }[]) =>
      spawnSync('sh', ['-ec', lines.map((l) => at(l.text)).join('\n')], { env: { TPRUN_RUN: 'r1', PATH: process.env.PATH } });
    assert.is(sh(gone.commands).status, 0);
    assert.not.ok(existsSync(join(dir, 'ebtables-forward.rules')));
    assert.is(sh(gone.undo).status, 0);
    assert.is(readFileSync(join(dir, 'ebtables-forward.rules'), 'utf8'), content);
    assert.is(sh(gone.commands).status, 0);
    assert.is(sh(gone.commit ?? []).status, 0);
    assert.equal(readdirSync(dir), [], 'no backup left after the commit');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('bridge, nftables backend: table bridge tprun_quic, forward hook, bypass returns then UDP/443 drop per family; file and undo', () => {
  const b = bridgeOn('nftables');
  const t = bridgeQuicTable(b)!;
  assert.equal(tableLines(t), [
    'counter quic',
    'chain forward (filter hook forward priority 0; policy accept)',
    '  ip saddr 198.51.100.7 return',
    '  ip6 daddr 2001:db8:5::9 return',
    '  iifname "eth9" return',
    '  iifname "eth3" ip saddr 10.1.0.0/16 return',
    '  ip protocol udp udp dport 443 counter name "quic" drop',
    '  ip6 nexthdr udp udp dport 443 counter name "quic" drop',
  ]);
  const p = bplan(bridgeFacts, b);
  assert.ok(changed(p).includes('create nft table bridge tprun_quic'), changed(p).join('\n'));
  assert.not.ok(changed(p).some((c) => /ebtables-nft filter TPRUN_FORWARD/.test(c)));
  const it = changesOf(p).find((i) => i.id === 'nft table bridge tprun_quic')!;
  assert.match(it.commands[2]!.text, /table bridge tprun_quic \{\}\ndelete table bridge tprun_quic\ntable bridge tprun_quic \{/);
  assert.match(String(it.undo[0]), /"\$TPRUN_TX\/nft\.bridge\.tprun_quic"/);
  // Loaded at boot with the interception table, from the one file.
  const nftFile = changesOf(p).find((i) => i.id === 'file /etc/tprun/nftables.nft' || i.id.endsWith('/etc/tprun/nftables.nft'))!;
  assert.match(JSON.stringify(nftFile.after), /delete table bridge tprun_quic/);
  assert.is(bridgeQuicTable(withVars(b, (h) => (h.vars.tproxy.block_quic = false))), null);
});

test('bridge, nftables backend: the live table as wanted is compliant (parsed from nft -j); off deletes it; moving to iptables swaps it for the ebtables chain', () => {
  const b = bridgeOn('nftables');
  const json = readFileSync('test/fixtures/nft/bridge-tprun_quic.json', 'utf8');
  const live = bridgeEdited({ 'nft.table.bridge.tprun_quic': { code: 0, stdout: json } });
  assert.not.ok(
    changed(bplan(live, b)).some((c) => /tprun_quic/.test(c)),
    changed(bplan(live, b)).join('\n'),
  );
  const off = bplan(
    live,
    withVars(b, (h) => (h.vars.tproxy.block_quic = false)),
  );
  assert.ok(changed(off).includes('delete nft table bridge tprun_quic'));
  const moved = changed(bplan(live, bridgeOn('iptables')));
  assert.ok(moved.includes('delete nft table bridge tprun_quic') && moved.includes('create ebtables-nft filter TPRUN_FORWARD'), moved.join('\n'));
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
