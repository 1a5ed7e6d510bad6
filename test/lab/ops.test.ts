/**
 * Operating a fleet on the namespace lab (issue #16): a non-root user without become, a canary
 * batch stopping a rollout, reviewed plans refused when a host moved, hosts reached through a
 * bastion. Run with TPRUN_LAB_PREFIX / TPRUN_LAB_STATE to keep it apart from other labs.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as lab from './lab.ts';

const skip = lab.preflight();
const t = skip ? test.skip : test;
if (skip) console.log(`lab tests skipped: ${skip}`);

const tprun = (...args: string[]) => lab.tprunInCtl(args);
const out = (r: { out: string; err: string }) => r.out + r.err;

test.before(() => {
  if (skip) return;
  lab.up({ hosts: 4, operators: 3 });
});
test.after(() => {
  if (!skip) lab.down();
});

t('a non-root user without become: "needs root or ssh.become" before any fact, no false drift', () => {
  const r = tprun('check', lab.writeInventory('notroot', { routers: [3], extra: { 3: 'ssh: { user: op }' } }));
  assert.is(r.code, 4, out(r));
  assert.match(r.out, /^h3: FAILED at become: needs root or ssh\.become: connected as op, not root/m);
  assert.not.match(r.out, /^h3: drifted/m);
});

t('a broken canary stops the rollout: --serial 1 leaves the other hosts untouched, and the recap names them', () => {
  const before = [lab.snapshot(2), lab.snapshot(4)];
  const inv = lab.writeInventory('canary', { routers: [1, 2, 4], extra: { 1: 'squid: { extra: ["bogus_directive_xyz on"] }' } });
  const r = tprun('apply', inv, '--serial', '1,100%');
  assert.is(r.code, 4, out(r));
  assert.match(r.out, /^h1: FAILED at file \/etc\/squid\/squid.conf/m);
  assert.match(r.out, /^h2: never touched/m);
  assert.match(r.out, /rollout stopped: batch 1 of 2 had 1 of 1 host failed, more than --max-fail 0; never touched: h2, h4/);
  assert.equal([lab.snapshot(2), lab.snapshot(4)], before, 'hosts after the canary were never touched');
  // A healthy canary lets the next batches go.
  const ok = tprun('apply', lab.writeInventory('rollout', { routers: [2, 4] }), '--serial', '1');
  assert.is(ok.code, 2, out(ok));
  assert.match(ok.out, /2 hosts: 0 compliant, 2 changed/);
});

t('a reviewed plan: apply --plan applies it where nothing moved and refuses the host edited since, saying what moved', () => {
  for (const i of [2, 4]) assert.is(lab.onHost(i, 'echo 1 > /proc/sys/net/ipv4/conf/all/rp_filter').code, 0);
  const inv = lab.writeInventory('reviewed', { routers: [2, 4] });
  const plan = `${lab.STATE}/plans/reviewed.json`;
  const c = tprun('check', inv, '--out', plan);
  assert.is(c.code, 2, out(c));
  const show = tprun('show', plan);
  assert.is(show.code, 0, out(show));
  assert.match(show.out, /^h2: 1 change planned\n {4}~ sysctl net\.ipv4\.conf\.all\.rp_filter: 1 → 0$/m);
  // After the review, someone edits squid.conf on h4.
  assert.is(lab.onHost(4, 'echo "# edited after the review" >> /etc/squid/squid.conf').code, 0);
  const a = tprun('apply', '--plan', plan);
  assert.is(a.code, 6, out(a));
  assert.match(a.out, /^h2: changed: 1 change applied/m);
  assert.match(a.out, /^h4: FAILED at plan: refused: the host changed since the plan \(1 planned, 2 now\): new change ~ file \/etc\/squid\/squid\.conf/m);
  assert.is(lab.onHost(4, 'cat /proc/sys/net/ipv4/conf/all/rp_filter').out.trim(), '1', 'nothing was applied on the refused host');
  assert.is(tprun('check', inv, '--limit', 'h2').code, 0);
});

test.run();
