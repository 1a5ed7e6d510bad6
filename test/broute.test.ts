/**
 * Bridges' broute implementation, chosen from facts (roles/ebtables/facts.ts chooseBroute), and
 * what the plan does with each: ebtables-legacy, native nftables, or a blocking requirement.
 * Facts: the probe output recorded on the VM lab's Debian 12 and 13 bridges
 * (test/facts/bridge.broute/), and constructed from documented versions where no host here runs
 * them (RHEL: no ebtables-legacy; named as such).
 */
import { readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { chooseBroute, parseBrouteFacts } from '../roles/ebtables/facts.ts';
import { blockedReason, changesOf } from '../src/plan/types.ts';
import { edited } from './facts.ts';
import { load } from './helpers.ts';
import { changed, plan } from './planning.ts';

const rec = (name: string) => (JSON.parse(readFileSync(`test/facts/bridge.broute/${name}.json`, 'utf8')) as { stdout: string }).stdout;
const probe = (o: { kernel?: string; os?: string; legacy?: string; ebtables?: string; nft?: string; nftBroute?: string }) =>
  `kernel=${o.kernel ?? '6.12.57+deb13-amd64'}\nos=${o.os ?? 'debian'}\nlegacy=${o.legacy ?? 'absent'}\nebtables=${o.ebtables ?? 'ebtables 1.8.11 (nf_tables)'}\nnft=${o.nft ?? 'nftables v1.1.3 (Commodore Bullmoose #4)'}\nnft_broute=${o.nftBroute ?? 'ok'}\n`;

test('Debian 12 (recorded): ebtables-legacy, never the default ebtables-nft', () => {
  assert.equal(chooseBroute(parseBrouteFacts(rec('debian12'))).impl, 'legacy');
});

test('Debian 13 with the ebtables package (recorded): ebtables-legacy, though the ebtables alternative is ebtables-nft', () => {
  const f = parseBrouteFacts(rec('debian13'));
  assert.match(f.ebtables ?? '', /nf_tables/);
  assert.equal(chooseBroute(f).impl, 'legacy');
});

test('Debian 13 without ebtables-legacy (recorded): native nftables meta broute', () => {
  assert.equal(chooseBroute(parseBrouteFacts(rec('debian13-no-legacy'))).impl, 'nft');
});

test('no implementation: a Debian host is told to install ebtables, RHEL that it has no ebtables-legacy', () => {
  const deb = chooseBroute(parseBrouteFacts(probe({ kernel: '6.1.0-28-amd64', nft: 'absent', nftBroute: 'absent' })));
  assert.is(deb.impl, null);
  assert.match(deb.found, /ebtables-legacy not installed; nft not installed; the default ebtables is ebtables 1\.8\.11 \(nf_tables\), never used/);
  assert.match('hint' in deb ? deb.hint : '', /^apt-get install ebtables/);
  // Constructed from RHEL 9's documented versions (kernel 5.14, nftables 1.0.9, no ebtables-legacy).
  const rhel = chooseBroute(
    parseBrouteFacts(
      probe({
        kernel: '5.14.0-427.13.1.el9_4.x86_64',
        os: 'rhel centos fedora',
        nft: 'nftables v1.0.9 (Old Doc Yak #3)',
        nftBroute: 'fails: Error: Could not process rule: Operation not supported',
      }),
    ),
  );
  assert.is(rhel.impl, null);
  assert.match(rhel.found, /nft 1\.0\.9 cannot set meta broute \(kernel 5\.14\.0-427\.13\.1\.el9_4\.x86_64 < 6\.4, no NFT_BRIDGE_META\)/);
  assert.match('hint' in rhel ? rhel.hint : '', /no ebtables-legacy/);
  assert.not.match('hint' in rhel ? rhel.hint : '', /apt-get/);
});

const inv = load(`defaults:
  ssh: { identity: /tmp/k, known_hosts: /tmp/kh }
  tproxy: { interfaces: [lo], families: [ipv4, ipv6], bypass: [{ source: 198.51.100.7 }, { source: 2001:db8:c::7 }] }
  squid: { clients: [198.51.100.0/24, 2001:db8:c::/64] }
bridges:
  b1: { address: 198.18.1.3, bridge: { client_interface: eth1, internet_interface: eth2 } }
`).inventory!;
const b1 = inv.hosts[0]!;
const absent = (...paths: string[]) => Object.fromEntries(paths.map((p) => [`file:${p}`, { stdout: '', code: 3 }]));
const base = {
  ...absent('/etc/tprun/ebtables.rules', '/etc/tprun/broute.nft', '/etc/tprun/boot.d/40-ebtables.sh'),
  'ebtables.save': { stdout: '', code: 127 },
  'ebtables-nft.save': { stdout: '*broute\n:BROUTING ACCEPT\n', code: 0 },
  'nft.bridge-tprun': { stdout: '', code: 3 },
};
/** The rules as nft 1.1.3 lists them (recorded on the Debian 13 VM: test/vm/bridge13.test.ts). */
const nftListing = readFileSync('test/fixtures/nft-bridge-tprun.txt', 'utf8');

test('nft implementation: tprun table bridge tprun created whole, with pkttype host and meta broute', () => {
  const p = plan(edited('router-fresh', { ...base, 'bridge.broute': rec('debian13-no-legacy') }), b1);
  assert.is(blockedReason(p), undefined);
  const c = changesOf(p).find((x) => x.id === 'nft bridge tprun')!;
  assert.is(c.action, 'create');
  // The same text is checked by nft -c in a throwaway network namespace, then loaded.
  assert.match(c.commands[1]!.text, /^if unshare -n true .* nft -c -f \/dev\/stdin; fi <</);
  assert.is(c.commands[1]!.text.split('\n').slice(1).join('\n'), c.commands[2]!.text.split('\n').slice(1).join('\n'));
  const script = c.commands[2]!.text;
  assert.match(script, /^table bridge tprun\ndelete table bridge tprun\ntable bridge tprun \{$/m);
  assert.match(script, /iifname "eth1" ip protocol tcp tcp dport 80 counter meta pkttype set host meta broute set 1 accept/);
  assert.match(script, /iifname "eth2" ip6 nexthdr tcp tcp sport 80 counter meta pkttype set host meta broute set 1 accept/);
  assert.ok(script.indexOf('ip daddr 198.51.100.7 counter accept') < script.indexOf('tcp sport 80'), 'the bypass reply is accepted before the sport broute');
  assert.not.ok(
    changed(p).some((x) => /TPRUN_BROUTING/.test(x)),
    'no ebtables chain on an nft host',
  );
  // nft's own listing of those rules (counters counting) is compliant.
  const q = plan(edited('router-fresh', { ...base, 'bridge.broute': rec('debian13-no-legacy'), 'nft.bridge-tprun': { stdout: nftListing, code: 0 } }), b1);
  assert.is(
    changesOf(q).find((x) => x.id === 'nft bridge tprun'),
    undefined,
  );
});

test('the black-hole form in ebtables-nft (redirect target) is never compliant: removed, whichever implementation is chosen', () => {
  const broken = `*broute
:BROUTING ACCEPT
:TPRUN_BROUTING RETURN
-A BROUTING -j TPRUN_BROUTING
-A TPRUN_BROUTING -p IPv4 -i eth1 --ip-proto tcp --ip-dport 80 -j redirect --redirect-target DROP
`;
  for (const r of ['debian13', 'debian13-no-legacy']) {
    const p = plan(edited('router-fresh', { ...base, 'bridge.broute': rec(r), 'ebtables-nft.save': { stdout: broken, code: 0 } }), b1);
    const c = changesOf(p).find((x) => x.id === 'ebtables-nft broute TPRUN_BROUTING')!;
    assert.is(c?.action, 'delete', r);
    assert.match(c.commands[1]!.text, /^ebtables-nft-restore --noflush/);
    assert.match(c.commands[1]!.text, /^-D BROUTING -j TPRUN_BROUTING$/m);
  }
});

test('legacy implementation: called as ebtables-legacy, never through the ebtables alternative; a stale nft table removed', () => {
  const p = plan(edited('router-fresh', { ...base, 'bridge.broute': rec('debian13'), 'nft.bridge-tprun': { stdout: nftListing, code: 0 } }), b1);
  const eb = changesOf(p).find((x) => x.id === 'ebtables broute TPRUN_BROUTING')!;
  assert.is(eb.action, 'create');
  assert.match(eb.commands[0]!.text, /^ebtables-legacy -t broute -L/);
  assert.match(eb.commands[1]!.text, /^ebtables-legacy-restore --noflush/);
  assert.is(changesOf(p).find((x) => x.id === 'nft bridge tprun')?.action, 'delete');
});

test.run();
