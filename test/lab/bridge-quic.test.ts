/**
 * tproxy.block_quic on a bridge, on the namespace lab: h2 bridges (br0: eth1 + eth2, no address)
 * between the client and the router h1, which intercepts port 80 (block_quic off there). Bridged
 * frames never reach the IP forward hook (tprun sets br_netfilter's net.bridge.* to 0), so the
 * block is bridge-family: ebtables-nft's filter TPRUN_FORWARD (iptables backend) or
 * `table bridge tprun_quic` (nftables backend). Proves, on both backends, IPv4 and IPv6: UDP/443
 * from the client dropped at the bridge (nothing at the origin, the bridge's counter moved), port
 * 80 still intercepted by h1's squid through the bridge (a live request), check compliant, the
 * rules back after boot.sh, moving between backends, and off leaves the bridge as before.
 *
 * This kernel has no broute (test/lab/e2e.test.ts 7: the ebtables role fails its requirement), so
 * the bridge is applied without the ebtables role (`--roles`): what this suite shows is the QUIC
 * block; the bridge's own interception is the VM lab's (test/vm/bridge-suite.ts).
 */
import { spawnSync } from 'node:child_process';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as lab from './lab.ts';

const skip =
  lab.preflight() ??
  (spawnSync('nft', ['--version']).status !== 0 || spawnSync('ebtables-nft', ['--version']).status !== 0
    ? 'nft or ebtables-nft is missing (run scripts/ensure-deps.sh as root)'
    : undefined);
const t = skip ? test.skip : test;
if (skip) console.log(`bridge block_quic lab tests skipped: ${skip}`);

const B = 2;
const ROLES = ['--roles', 'sysctl,iptables,nftables'];
const tprun = (...args: string[]) => lab.tprunInCtl(args);
const out = (r: { out: string; err: string }) => r.out + r.err;
let router = '';
const inv = (backend: string, quic: boolean) =>
  lab.writeInventory(`bridge-${backend}-${quic}`, { bridges: [B], extra: { [B]: `tproxy: { backend: ${backend}, block_quic: ${quic} }` } });

/** The bridge's bridge-family rules as the kernel has them: ebtables-nft's view, and every nft bridge table but ebtables-nft's own `bridge filter`. */
const bridgeState = () =>
  lab.onHost(B, "ebtables-nft -t filter -L; nft list tables bridge | grep -v '^table bridge filter$'; nft list table bridge tprun_quic 2>&1 | head -1").out;
const quicCounter = () => Number(/packets (\d+)/.exec(lab.onHost(B, 'nft list counter bridge tprun_quic quic').out)?.[1] ?? -1);
/** Packets TPRUN_FORWARD's DROP rules counted (ebtables-nft -L --Lc), both families. */
const ebDrops = () =>
  lab
    .onHost(B, 'ebtables-nft -t filter -L TPRUN_FORWARD --Lc')
    .out.split('\n')
    .filter((l) => /-j DROP/.test(l))
    .map((l) => Number(/pcnt = (\d+)/.exec(l)?.[1] ?? -1));
const routerForward = () => lab.onHost(1, 'iptables-save -t filter; ip6tables-save -t filter').out;

function intercepted(): void {
  lab.proveInterception(4);
  lab.proveInterception(6);
}

let baseline = '';
test.before(() => {
  if (skip) return;
  lab.up({ hosts: 2, proof: true, bridge: B });
  router = lab.writeInventory('router', { routers: [1] });
  const r = tprun('apply', router);
  if (r.code !== 2) throw new Error(`h1 did not apply: ${out(r)}`);
  baseline = bridgeState();
});
test.after(() => {
  if (!skip) lab.down();
});

t('before: UDP/443 and port 80 cross the bridge (h1 intercepts port 80, blocks nothing)', () => {
  lab.assertUdp443('passes');
  intercepted();
  assert.not.match(routerForward(), /TPRUN_FORWARD/);
});

t('iptables backend: ebtables-nft TPRUN_FORWARD drops bridged UDP/443 (IPv4, IPv6), port 80 still intercepted, compliant', () => {
  const r = tprun('apply', inv('iptables', true), ...ROLES);
  assert.is(r.code, 2, out(r));
  assert.not.match(out(r), /block_quic/, 'no warning about block_quic on a bridge');
  // The bridged frames are not seen by the IP layer: br_netfilter's calls are off.
  assert.match(lab.onHost(B, 'sysctl net.bridge.bridge-nf-call-iptables net.bridge.bridge-nf-call-ip6tables').out, /iptables = 0\n.*ip6tables = 0/);
  assert.match(lab.onHost(B, 'ebtables-nft -t filter -L FORWARD').out, /^-j TPRUN_FORWARD\s*$/m);
  assert.equal(ebDrops(), [0, 0]);
  lab.assertUdp443('dropped');
  assert.equal(ebDrops(), [1, 1], 'one datagram per family dropped by the bridge');
  intercepted();
  assert.not.match(routerForward(), /TPRUN_FORWARD/, 'the router blocks nothing: the drop is the bridge');
  const c = tprun('check', inv('iptables', true), ...ROLES);
  assert.is(c.code, 0, out(c));
});

t('iptables backend: after a power loss (the chain gone), boot.sh puts it back: check compliant, UDP/443 dropped', () => {
  lab.onHost(B, 'ebtables-nft -t filter -D FORWARD -j TPRUN_FORWARD; ebtables-nft -t filter -F TPRUN_FORWARD; ebtables-nft -t filter -X TPRUN_FORWARD');
  const drift = tprun('check', inv('iptables', true), ...ROLES);
  assert.is(drift.code, 2, out(drift));
  assert.match(drift.out, /ebtables-nft filter TPRUN_FORWARD/);
  const boot = lab.onHost(B, 'sh /etc/tprun/boot.sh 2>&1');
  assert.is(boot.code, 0, boot.out);
  assert.is(tprun('check', inv('iptables', true), ...ROLES).code, 0);
  lab.assertUdp443('dropped');
});

t('to nftables: table bridge tprun_quic drops bridged UDP/443, the ebtables chain is gone, port 80 still intercepted, compliant', () => {
  const r = tprun('apply', inv('nftables', true), ...ROLES);
  assert.is(r.code, 2, out(r));
  assert.not.match(lab.onHost(B, 'ebtables-nft -t filter -L').out, /TPRUN_FORWARD/);
  assert.is(quicCounter(), 0);
  lab.assertUdp443('dropped');
  assert.is(quicCounter(), 2, 'one datagram per family counted by the bridge table');
  intercepted();
  assert.is(tprun('check', inv('nftables', true), ...ROLES).code, 0);
  // boot: the table gone (as after a power loss), boot.sh loads it again from nftables.nft.
  lab.onHost(B, 'nft delete table bridge tprun_quic');
  assert.is(tprun('check', inv('nftables', true), ...ROLES).code, 2);
  const boot = lab.onHost(B, 'sh /etc/tprun/boot.sh 2>&1');
  assert.is(boot.code, 0, boot.out);
  assert.is(tprun('check', inv('nftables', true), ...ROLES).code, 0);
  lab.assertUdp443('dropped');
});

t('off (nftables): the table is removed, UDP/443 crosses again, the bridge rules are as before', () => {
  const r = tprun('apply', inv('nftables', false), ...ROLES);
  assert.is(r.code, 2, out(r));
  lab.assertUdp443('passes');
  intercepted();
  assert.is(bridgeState(), baseline);
  assert.is(tprun('check', inv('nftables', false), ...ROLES).code, 0);
});

t('off (iptables): on, then off removes the chain and its jump; UDP/443 crosses again, the bridge rules are as before', () => {
  assert.is(tprun('apply', inv('iptables', true), ...ROLES).code, 2);
  lab.assertUdp443('dropped');
  const file = () => lab.onHost(B, 'ls -A /etc/tprun').out;
  assert.match(file(), /^ebtables-forward\.rules$/m);
  const r = tprun('apply', inv('iptables', false), ...ROLES);
  assert.is(r.code, 2, out(r));
  // Its rules file goes with the chain: nothing of block_quic is left for boot or a person to find.
  assert.not.match(file(), /ebtables-forward/);
  lab.assertUdp443('passes');
  intercepted();
  assert.is(bridgeState(), baseline);
  assert.is(tprun('check', inv('iptables', false), ...ROLES).code, 0);
});

test.run();
