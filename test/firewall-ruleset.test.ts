/**
 * The host firewall reader and evaluator on recorded rulesets: test/fixtures/ruleset/NAME.txt is
 * the firewall.ruleset fact's output in a namespace holding one rule set each (recorded by
 * test/fixtures/ruleset/record.sh with nft 1.0.6 and iptables 1.8.9).
 */
import { readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseRuleset, iptablesRule } from '../src/firewall/ruleset/parse.ts';
import { ruleset } from '../src/firewall/ruleset/fact.ts';

const rec = (name: string) => readFileSync(`test/fixtures/ruleset/${name}.txt`, 'utf8');
const parsed = (name: string) => parseRuleset(rec(name));

test('parse: tables of every source, iptables-nft tables once (from *-nft-save, not again from nft -j)', () => {
  const rs = parsed('firewalld-rpfilter');
  assert.equal(
    rs.tables.map((t) => `${t.source} ${t.family} ${t.name}`),
    ['iptables-nft ip mangle', 'iptables-nft ip filter', 'iptables-nft ip6 mangle', 'iptables-nft ip6 filter', 'nft inet firewalld'],
  );
  assert.equal(rs.defaultBackend, { ip: 'nft', ip6: 'nft' });
  const fw = rs.tables.find((t) => t.name === 'firewalld')!;
  const pre = fw.chains.get('filter_PREROUTING')!;
  assert.equal(pre.base, { hook: 'prerouting', priority: 10, type: 'filter', policy: 'accept' });
  assert.equal(
    pre.rules.map((r) => r.text),
    ['icmpv6 type { nd-router-advert, nd-neighbor-solicit } accept', 'meta nfproto ipv6 fib saddr . mark . iif oif missing drop'],
  );
  assert.equal(pre.rules[1]!.exprs[1], { kind: 'match', key: { kind: 'fib', result: 'oif', flags: ['saddr', 'mark', 'iif'] }, op: '==', value: false });
});

test('parse: legacy tables are their own source; the fact object reads the same', () => {
  const rs = ruleset.parse({ stdout: rec('iptables-legacy-mangle-input'), code: 0 });
  assert.equal(
    rs.tables.map((t) => `${t.source} ${t.family} ${t.name}`),
    ['iptables-legacy ip mangle'],
  );
  assert.equal(rs.tables[0]!.chains.get('INPUT')!.base?.priority, -150);
});

test('parse: iptables rule words become typed matches; unknown ones stay undecided', () => {
  const r = iptablesRule(
    'INPUT',
    '-i eth+ -p tcp -m multiport --dports 80,8000:8080 -m conntrack --ctstate NEW -m recent --rcheck -j REJECT --reject-with x',
    new Set(),
    'ip',
  );
  assert.equal(r.exprs, [
    { kind: 'match', key: { kind: 'iifname' }, op: '==', value: 'eth*' },
    { kind: 'match', key: { kind: 'l4proto' }, op: '==', value: 'tcp' },
    { kind: 'match', key: { kind: 'payload', protocol: 'tcp', field: 'dport' }, op: '==', value: { set: [80, { range: [8000, 8080] }] } },
    { kind: 'match', key: { kind: 'ct', key: 'state' }, op: '==', value: { set: ['new'] } },
    { kind: 'opaque', text: '-m recent' },
    { kind: 'opaque', text: '--rcheck' },
    { kind: 'action', action: { kind: 'reject' } },
  ]);
  assert.equal(iptablesRule('X', '! -p udp -j LOG', new Set(), 'ip').exprs, [
    { kind: 'match', key: { kind: 'l4proto' }, op: '!=', value: 'udp' },
    { kind: 'effect', text: '-j LOG' },
  ]);
});

test('parse: nft without JSON is reported, not taken as an empty ruleset', () => {
  const rs = parseRuleset('@@section nft-json\nError: syntax error, unexpected -j\n@@section nft-text\n');
  assert.equal(rs.unreadable, ['nft -j list ruleset printed no JSON (Error: syntax error, unexpected -j)']);
});

test.run();
