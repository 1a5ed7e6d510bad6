/**
 * The nftables backend on recorded facts: the backend choice from recorded firewall facts, the
 * typed table parsed from `nft -j` output recorded on this kernel's nft (test/fixtures/nft/,
 * loaded from the very text tprun renders), drift, and a host moving between backends.
 */
import { readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { chooseBackend, parseFirewallFacts } from '../src/firewall/backend.ts';
import { parseTable, replaceScript, tableLines, wantedTable, type NftTable } from '../roles/nftables/model.ts';
import { NFT_CHECK } from '../src/firewall/nft.ts';
import { tableChange } from '../roles/nftables/index.ts';
import { edited, recorded } from './facts.ts';
import { changed, h1, plan, withVars } from './planning.ts';
import { load } from './helpers.ts';

// ---- the backend choice ----

/** As recorded on this machine (Debian 12 with iptables-nft, nothing enabled). */
const LAB = recorded('router-fresh')['firewall.backend']!.stdout;
const facts = (edits: Record<string, string>) => parseFirewallFacts(LAB.replace(/^(\w+)=.*$/gm, (l, k: string) => (k in edits ? `${k}=${edits[k]}` : l)));

test('backend: auto is iptables on a host with iptables-nft and no nftables service', () => {
  const c = chooseBackend('auto', parseFirewallFacts(LAB));
  assert.is(c.backend, 'iptables');
  assert.match(c.reason, /iptables \(nf_tables\) installed/);
});
test('backend: auto is nftables when nftables.service is enabled', () => {
  assert.equal(chooseBackend('auto', facts({ nftables_service: 'yes' })), { backend: 'nftables', reason: 'auto: nftables.service is enabled' });
});
test('backend: auto follows firewalld: nftables by default, iptables when configured so', () => {
  assert.is(chooseBackend('auto', facts({ firewalld: 'yes' })).backend, 'nftables');
  const c = chooseBackend('auto', facts({ firewalld: 'yes', firewalld_backend: 'iptables' }));
  assert.is(c.backend, 'iptables');
  assert.match(c.reason, /firewalld on its iptables backend/);
});
test('backend: auto is nftables where no iptables is installed', () => {
  assert.is(chooseBackend('auto', facts({ iptables: 'no', iptables_variant: '' })).backend, 'nftables');
});
test('backend: the parsed facts carry what auto picks and why (tprun facts prints it)', () => {
  assert.equal(facts({ nftables_service: 'yes' }).auto, { backend: 'nftables', reason: 'auto: nftables.service is enabled' });
});
test('backend: an explicit setting wins', () => {
  assert.equal(chooseBackend('iptables', facts({ nftables_service: 'yes' })), { backend: 'iptables', reason: 'tproxy.backend: iptables' });
});

// ---- the typed table ----

const full = () => {
  const r = load(`defaults:
  tproxy: { interfaces: [lo], ports: [80, 8080], https_ports: [443], families: [ipv4, ipv6], mark: 0x80000000, bypass: [{destination: 203.0.113.10}, {destination: 198.51.100.128/25}, {source: "2001:db8:c::5/128"}, {interface: eth9}, {interface: eth3, source: 10.1.0.0/16}] }
  squid: { clients: [198.51.100.0/24], dns_nameservers: [127.0.0.1], https_tproxy_port: 3130, https_tproxy_port_options: ["cert=/etc/squid/ca.pem"] }
routers:
  h1: { address: 198.18.1.1 }
`);
  assert.ok(r.inventory, JSON.stringify(r.diagnostics));
  return r.inventory!.hosts[0]!;
};
const recordedJson = readFileSync('test/fixtures/nft/router-full.json', 'utf8');

test('nft -j of the loaded table parses to exactly the wanted table (mark 0x80000000, sets, TLS)', () => {
  assert.equal(parseTable(recordedJson), wantedTable(full()));
});

test('the recipe: divert first, bypasses before any tproxy, fail-closed drop last', () => {
  const lines = tableLines(wantedTable(full()));
  // In the prerouting chain (the forward chain, with block_quic, repeats the bypasses).
  const pre = lines.findIndex((l) => l.startsWith('chain prerouting'));
  const at = (re: RegExp) => lines.findIndex((l, i) => i > pre && re.test(l));
  assert.ok(at(/socket transparent 1 counter name "divert" meta mark set .* accept/) < at(/@bypass_if return/));
  assert.ok(at(/ip6 daddr @bypass_dst6 return/) < at(/tproxy ip to :3129/));
  // The host's own addresses are never sent to squid (it would loop through itself).
  assert.ok(at(/^\s*fib daddr type local return$/) > at(/@bypass_if return/) && at(/fib daddr type local return/) < at(/tproxy ip to :3129/));
  assert.ok(at(/tproxy ip6 to :3130 .*intercepted_tls/) < at(/counter name "failclosed" drop$/));
  assert.is(at(/counter name "failclosed" drop$/), lines.length - 1);
  assert.match(replaceScript(wantedTable(full())), /^table inet tprun \{\}\ndelete table inet tprun\ntable inet tprun \{/);
});

test('a deleted rule, a changed set or a hand-added rule is a difference', () => {
  const base = parseTable(recordedJson)!;
  const doc = JSON.parse(recordedJson) as { nftables: Record<string, { expr?: unknown[]; elem?: unknown[]; name?: string }>[] };
  const noDrop = { nftables: doc.nftables.filter((o) => !JSON.stringify(o.rule ?? {}).includes('"failclosed"')) };
  assert.not.equal(parseTable(JSON.stringify(noDrop)), base);
  const moreElems = structuredClone(doc);
  moreElems.nftables.find((o) => o.set?.name === 'bypass_if')!.set!.elem!.push('eth7');
  assert.not.equal(parseTable(JSON.stringify(moreElems)), base);
  const unknown = structuredClone(doc);
  const r = unknown.nftables.find((o) => o.rule)!.rule!;
  r.expr = [{ log: { prefix: 'x' } }, ...r.expr!];
  const t = parseTable(JSON.stringify(unknown)) as NftTable;
  assert.match(tableLines(t).join('\n'), /# \{"log":\{"prefix":"x"\}\}/);
});

// ---- planning on recorded facts ----

const nftHost = withVars(h1, (h) => (h.vars.tproxy.backend = 'nftables'));
/** h1's table as nft -j lists it, recorded after loading the text tprun renders for h1 on the nftables backend. */
const tableOf = () => ({ stdout: readFileSync('test/fixtures/nft/lab-h1.json', 'utf8'), code: 0 });

test('iptables → nftables: the table is created and the iptables chains go, in one plan', () => {
  const c = changed(plan(recorded('router-compliant'), nftHost));
  assert.ok(c.includes('create nft table inet tprun'), c.join('\n'));
  for (const id of ['iptables mangle TPRUN_PREROUTING', 'ip6tables mangle TPRUN_PREROUTING', 'iptables filter TPRUN_INPUT', 'ip6tables filter TPRUN_INPUT'])
    assert.ok(c.includes(`delete ${id}`), c.join('\n'));
  assert.ok(c.includes('create file /etc/tprun/firewall-backend'));
});

test('a kernel without NFT_TPROXY blocks the nftables backend, with the reason', () => {
  const raw = edited('router-compliant', { 'kernel.config': (s) => s.replace('CONFIG_NFT_TPROXY=y\n', '') });
  const p = plan(raw, nftHost);
  assert.equal(changed(p), []);
  const chk = p.checks.find((x) => x.id === 'require kernel NFT_SOCKET and NFT_TPROXY')!;
  assert.is(chk.ok, false);
  assert.match(chk.found, /CONFIG_NFT_TPROXY not set/);
  assert.ok(plan(recorded('router-compliant'), nftHost).checks.find((x) => x.id === 'require kernel NFT_SOCKET and NFT_TPROXY')!.ok);
});

test('auto on a host with nftables.service enabled picks nftables, and check says why', () => {
  const raw = edited('router-compliant', { 'firewall.backend': (s) => s.replace('nftables_service=no', 'nftables_service=yes') });
  const p = plan(raw);
  assert.ok(changed(p).includes('create nft table inet tprun'));
  const chk = p.checks.find((x) => x.id === 'require firewall backend')!;
  assert.is(chk.found, 'nftables (auto: nftables.service is enabled)');
});

test('an nftables host whose table is as wanted has nothing to change; a flushed chain is drift', () => {
  const raw = edited('router-compliant', {
    'nft.table.inet.tprun': tableOf(),
    'file:/etc/tprun/firewall-backend': { stdout: Buffer.from('nftables\n').toString('base64'), code: 0 },
  });
  const files = ['/etc/tprun/nftables.nft', '/etc/tprun/boot.d/31-nftables.sh'];
  const p0 = plan(raw, nftHost);
  const rendered = p0.resources.filter((r) => r.kind === 'file' && files.includes(r.path!));
  for (const r of rendered) raw[`file:${r.path}`] = { stdout: Buffer.from(r.after as string).toString('base64'), code: 0 };
  for (const k of ['iptables.mangle', 'ip6tables.mangle', 'iptables.filter', 'ip6tables.filter']) raw[k] = recorded('router-fresh')[k]!;
  assert.equal(changed(plan(raw, nftHost)), []);
  const doc = JSON.parse(raw['nft.table.inet.tprun']!.stdout) as { nftables: { rule?: unknown }[] };
  raw['nft.table.inet.tprun'] = { stdout: JSON.stringify({ nftables: doc.nftables.filter((o) => !o.rule) }), code: 0 };
  assert.equal(changed(plan(raw, nftHost)), ['update nft table inet tprun']);
});

test('nftables → iptables: the table is deleted and the record says iptables', () => {
  const raw = edited('router-compliant', {
    'nft.table.inet.tprun': tableOf(),
    'file:/etc/tprun/firewall-backend': { stdout: Buffer.from('nftables\n').toString('base64'), code: 0 },
  });
  const c = changed(
    plan(
      raw,
      withVars(h1, (h) => (h.vars.tproxy.backend = 'iptables')),
    ),
  );
  assert.equal(c, ['update file /etc/tprun/firewall-backend', 'delete nft table inet tprun']);
});

test('the candidate is checked by nft -c in a throwaway network namespace, before the swap', () => {
  const want = wantedTable(h1);
  const cmds = tableChange(null, want).commands.map((c) => c.text);
  const check = cmds.findIndex((c) => c.includes('nft -c'));
  assert.ok(check > 0 && check < cmds.findIndex((c) => c.startsWith('nft -f /dev/stdin')), cmds.join('\n'));
  assert.ok(cmds[check]!.startsWith(`${NFT_CHECK.text} <<'TPRUN_EOF'\n${replaceScript(want)}`), cmds[check]);
  // In a namespace of its own when one can be made; else against the live ruleset, saying so.
  assert.match(
    NFT_CHECK.text,
    /^if unshare -n true 2>\/dev\/null; then unshare -n nft -c -f \/dev\/stdin; else echo '[^']*live ruleset' >&2; nft -c -f \/dev\/stdin; fi$/,
  );
});

test.run();
