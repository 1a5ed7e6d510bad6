/**
 * Squid as an interception proxy on the namespace lab (h1 between the client and the origin):
 * the access rules Squid 6 ships by default, and a probe that judges by what squid.conf says.
 */
import { spawnSync } from 'node:child_process';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as lab from './lab.ts';

const skip = lab.preflight();
const t = skip ? test.skip : test;
if (skip) console.log(`squid lab tests skipped: ${skip}`);

const tprun = (...args: string[]) => lab.tprunInCtl(args);
const out = (r: { out: string; err: string }) => r.out + r.err;
const withExtra = (name: string, extra: string[]) => lab.writeInventory(name, { routers: [1], extra: { 1: `squid: { extra: ${JSON.stringify(extra)} }` } });

test.before(() => {
  if (skip) return;
  lab.up({ hosts: 1, proof: true });
  const a = tprun('apply', lab.writeInventory('plain', { routers: [1] }));
  if (a.code !== 2) throw new Error(`apply failed: ${out(a)}`);
});
test.after(() => {
  if (!skip) lab.down();
});

t('an intercepted request for a link-local address (cloud metadata) is denied by squid, never forwarded', () => {
  const r = spawnSync('ip', ['netns', 'exec', lab.CLIENT, 'curl', '-sS', '-i', '--max-time', '5', 'http://169.254.169.254/latest/meta-data/'], {
    encoding: 'utf8',
  });
  const res = lab.curlResponse(r.stdout, r.stderr);
  assert.is(res.status, 403, res.raw);
  assert.match(res.via ?? '', /\bh1 \(squid\/\d/, res.raw);
  assert.match(lab.onHost(1, 'tail -n 5 /var/log/squid/access.log').out, /TCP_DENIED\/403 .*169\.254\.169\.254/);
});

for (const [directive, evidence] of [
  ['via off', 'no Via header'],
  ['client_dst_passthru off', 'HIER_DIRECT instead of ORIGINAL_DST'],
] as const) {
  t(`apply --probe with "${directive}" in squid.extra (${evidence}) keeps the working host: changed, then compliant`, () => {
    const inv = withExtra(directive.split(' ')[0]!, [directive]);
    const a = tprun('apply', inv, '--probe');
    assert.is(a.code, 2, out(a));
    assert.match(a.out, /^h1: changed/m);
    assert.match(lab.onHost(1, 'cat /etc/squid/squid.conf').out, new RegExp(`^${directive}$`, 'm'));
    const c = tprun('check', inv, '--probe');
    assert.is(c.code, 0, out(c));
  });
}

test.run();
