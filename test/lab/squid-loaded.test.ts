/**
 * Squid running another configuration than the one on disk (issue 22), on the namespace lab: a
 * hand edit of squid.conf denying everything, a hand `squid -k reconfigure`, then the file put
 * back byte for byte. tprun's own record (pid, sha256 of the file it loaded) still matches, but
 * squid runs the edit: the client gets 403. check must call it drift (squid's cache.log says it
 * last read a configuration before squid.conf's mtime), and apply must reconfigure it back.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as lab from './lab.ts';

const skip = lab.preflight();
const t = skip ? test.skip : test;
if (skip) console.log(`squid-loaded lab tests skipped: ${skip}`);

const tprun = (...args: string[]) => lab.tprunInCtl(args);
const out = (r: { out: string; err: string }) => r.out + r.err;
let inv = '';

test.before(() => {
  if (skip) return;
  lab.up({ hosts: 1, proof: true });
  inv = lab.writeInventory('plain', { routers: [1] });
  const a = tprun('apply', inv);
  if (a.code !== 2) throw new Error(`apply failed: ${out(a)}`);
});
test.after(() => {
  if (!skip) lab.down();
});

t('compliant and intercepting to begin with', () => {
  assert.is(tprun('check', inv).code, 0);
  lab.proveInterception(4);
});

t('an edit squid was reconfigured with, then the file put back: check says drifted, apply reconfigures, intercepting again', () => {
  const conf = lab.onHost(1, 'cat /etc/squid/squid.conf').out;
  // The hand edit, and squid rereads it: until the client is refused by squid itself.
  const edit = lab.onHost(
    1,
    "cp -p /etc/squid/squid.conf /root/squid.conf.saved && sed -i '1i http_access deny all' /etc/squid/squid.conf && squid -k reconfigure -f /etc/squid/squid.conf",
  );
  assert.is(edit.code, 0, edit.out);
  let r = lab.clientGet(4);
  for (let i = 0; i < 50 && r.status !== 403; i++) {
    lab.onHost(1, 'sleep 0.2');
    r = lab.clientGet(4);
  }
  assert.is(r.status, 403, r.raw);
  // Put back byte for byte (a later second than squid's Reconfiguring line: the signal has
  // squid's log resolution, one second; a put-back within the same second goes unseen).
  const back = lab.onHost(
    1,
    'l=$(grep \'Reconfiguring Squid Cache\' /var/log/squid/cache.log | tail -1 | cut -c1-19); while [ "$(date \'+%Y/%m/%d %H:%M:%S\')" = "$l" ]; do sleep 0.1; done; cat /root/squid.conf.saved > /etc/squid/squid.conf',
  );
  assert.is(back.code, 0, back.out);
  assert.is(lab.onHost(1, 'cat /etc/squid/squid.conf').out, conf, 'the file is tprun’s again');
  assert.is(lab.clientGet(4).status, 403, 'squid still runs the edit');
  const c = tprun('check', inv, '--diff');
  assert.is(c.code, 2, out(c));
  assert.match(c.out, /service squid running/);
  assert.match(out(c), /running an older squid\.conf/);
  const a = tprun('apply', inv);
  assert.is(a.code, 2, out(a));
  lab.proveInterception(4);
  lab.proveInterception(6);
  assert.is(tprun('check', inv).code, 0);
});

t('a hand edit without a reconfigure: drifted, and apply puts the file back and squid rereads it', () => {
  lab.onHost(1, "sed -i '1i # a hand edit' /etc/squid/squid.conf");
  const c = tprun('check', inv);
  assert.is(c.code, 2, out(c));
  assert.is(tprun('apply', inv).code, 2);
  assert.is(tprun('check', inv).code, 0);
  lab.proveInterception(4);
});

test.run();
