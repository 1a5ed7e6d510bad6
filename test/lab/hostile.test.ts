/**
 * Lab (issue #12): a host whose tool prints escape sequences when it fails. h1's squid reads
 * an included file the host owns, with a window-title OSC and a screen clear in it; squid's
 * parse check fails and echoes them. The terminal, the JSON and the JUnit report must show them
 * as text (\x1b), stay valid, and the host must be rolled back.
 */
import { readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as lab from './lab.ts';
import { assertValidJson, parseJunit } from '../report-check.ts';

const skip = lab.preflight();
const t = skip ? test.skip : test;
if (skip) console.log(`lab tests skipped: ${skip}`);

test.before(() => {
  if (!skip) lab.up({ hosts: 1 });
});
test.after(() => {
  if (!skip) lab.down();
});

t("a host tool's escape sequences on failure reach the terminal and the reports as visible text", () => {
  const wrote = lab.onHost(1, String.raw`printf '\033]0;owned\007bogus_directive on\nacl x src \033[2J\n' > /etc/squid/evil.conf`);
  assert.is(wrote.code, 0, wrote.out);
  const inv = lab.writeInventory('hostile', { routers: [1], extra: { 1: 'squid: { extra: ["include /etc/squid/evil.conf"] }' } });
  const before = lab.snapshot(1);
  const r = lab.tprunInCtl(['apply', inv, '--report', `json:${lab.STATE}/hostile.json`, '--report', `junit:${lab.STATE}/hostile.xml`]);
  const all = r.out + r.err;
  assert.is(r.code, 4, all);
  assert.match(r.out, /^h1: FAILED at /m);
  assert.not.match(all, /[\x00-\x08\x0b-\x1f\x7f-\x9f]/, 'a raw control character reached the terminal');
  assert.match(all, /\\x1b\]0;owned\\x07bogus_directive/);
  assert.match(all, /acl x src \\x1b\[2J/);
  assert.match(r.out, /rolled back: /);

  const json = assertValidJson(readFileSync(`${lab.STATE}/hostile.json`, 'utf8'));
  assert.match(json.hosts[0].error.stderr, /\\x1b\]0;owned/);
  const { suites } = parseJunit(readFileSync(`${lab.STATE}/hostile.xml`, 'utf8'));
  const failed = suites[0].testcase.find((c: { error?: unknown }) => c.error);
  assert.match(failed.error['#text'], /\\x1b\]0;owned/);
  // Rolled back: apart from the file the test put there, the host is as it was.
  assert.is(lab.snapshot(1), before);
});

test.run();
