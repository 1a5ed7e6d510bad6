/** Exit codes and output of check/apply over scripted fleets (issue #16, item 1). */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runCommand, type CommandOptions } from '../src/cli/run.ts';
import type { Host } from '../src/inventory/types.ts';
import { colorFor, painter } from '../src/report/color.ts';
import { resultLine } from '../src/report/human.ts';
import type { Mode } from '../src/run/fleet.ts';
import { ROLES } from '../roles/registry.ts';
import { capture, hostsNamed, scriptedFleet, type Behaviour } from './scripted.ts';

const tmp = mkdtempSync(join(tmpdir(), 'tprun-ops-'));
const base: CommandOptions = { forks: 5, reports: [], diff: false, verbose: false, quiet: false, acceptNewHostKeys: false };

async function run(mode: Mode, plan: Record<string, Behaviour>, opts: Partial<CommandOptions> = {}, delays: Record<string, number> = {}) {
  const hosts: Host[] = hostsNamed(...Object.keys(plan));
  const fleet = scriptedFleet(plan, delays);
  const out = capture();
  const err = capture();
  const code = await runCommand({
    mode,
    inventory: { path: 'inv.yml', sha256: 'x', hosts, peers: [] },
    hosts,
    roles: [...ROLES],
    options: { ...base, ...opts },
    connect: fleet.connect,
    out,
    err,
  });
  return { code, out: out.text(), err: err.text(), fleet };
}

test('apply exits 2 when it changed something, 0 when nothing changed, 0 with --no-detailed-exitcodes', async () => {
  assert.is((await run('apply', { a: 'drifted', b: 'compliant' })).code, 2);
  assert.is((await run('apply', { a: 'compliant', b: 'compliant' })).code, 0);
  assert.is((await run('apply', { a: 'drifted' }, { detailedExitCodes: false })).code, 0);
  assert.is((await run('apply', { a: 'drifted', b: 'broken' })).code, 6);
  assert.is((await run('apply', { a: 'broken' }, { detailedExitCodes: false })).code, 4);
  assert.is((await run('check', { a: 'drifted', b: 'down' })).code, 6);
});

test('a report that cannot be written: one line, the other reports still written, exit 4 bit added, never 1', async () => {
  const blocker = join(tmp, 'file');
  writeFileSync(blocker, '');
  const good = join(tmp, 'good.json');
  const r = await run(
    'apply',
    { a: 'drifted' },
    {
      reports: [
        { format: 'json', file: join(blocker, 'r.json') },
        { format: 'junit', file: good.replace('.json', '.xml') },
      ],
    },
  );
  assert.is(r.code, 6);
  const lines = r.err.trim().split('\n');
  assert.is(lines.length, 1, r.err);
  assert.match(lines[0]!, /^tprun: cannot write the json report \S+r\.json: (ENOTDIR|EEXIST)/);
  assert.not.match(r.err, /\n\s+at /);
});

test('-q: no per-host lines, but each failed host is named with the reason', async () => {
  const r = await run('apply', { a: 'compliant', b: 'broken', c: 'down', d: 'drifted' }, { quiet: true });
  assert.is(r.code, 6);
  assert.not.match(r.out, /^a: /m);
  assert.not.match(r.out, /^d: /m);
  assert.match(r.out, /^b: FAILED at .*rolled back/m);
  assert.not.match(r.out, /\+ file \/etc\/squid/, 'the plan is not repeated');
  assert.match(r.out, /\| boom: no such table/);
  assert.match(r.out, /^c: UNREACHABLE: cannot connect to \S+: ECONNREFUSED/m);
  assert.match(r.out, /4 hosts: 1 compliant, 1 changed, 0 drifted, 1 failed, 1 unreachable/);
});

test('plain lines come in inventory order, whatever order the hosts finish in', async () => {
  const r = await run('check', { h1: 'drifted', h2: 'compliant', h3: 'compliant' }, { forks: 3 }, { h1: 120, h2: 60, h3: 0 });
  const names = r.out
    .split('\n')
    .filter((l) => /^h\d: /.test(l))
    .map((l) => l.slice(0, 2));
  assert.equal(names, ['h1', 'h2', 'h3']);
});

test('colours say the truth: drifted and changed are yellow, failed red, compliant green; none off a terminal or with NO_COLOR', async () => {
  const r = (status: 'drifted' | 'changed' | 'failed' | 'compliant') =>
    resultLine({ host: 'h', status, messages: [], roundTrips: 1, durationMs: 0 }, painter(true));
  assert.match(r('drifted'), /\x1b\[33mdrifted/);
  assert.match(r('changed'), /\x1b\[33mchanged/);
  assert.match(r('failed'), /\x1b\[31mFAILED/);
  assert.match(r('compliant'), /\x1b\[32mcompliant/);
  const tty = capture(true);
  assert.ok(colorFor(tty, false, {}));
  assert.not.ok(colorFor(tty, true, {}), '--no-color');
  assert.not.ok(colorFor(tty, false, { NO_COLOR: '1' }), 'NO_COLOR');
  assert.not.ok(colorFor(capture(false), false, {}), 'not a terminal');
  // A run's output to a pipe has no escape codes.
  assert.not.match((await run('check', { a: 'drifted' })).out, /\x1b\[/);
});

test.after(() => rmSync(tmp, { recursive: true, force: true }));
test.run();
