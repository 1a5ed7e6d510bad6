/** Exit codes and output of check/apply over scripted fleets (issue #16, item 1). */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runFleetCommand, type FleetOptions, type FleetCommand } from '../src/cli/views/fleet.ts';
import type { ReportTarget } from '../src/report/write.ts';
import { parseSavedPlan, planMoved, settingsMoved, showLines, type SavedPlan } from '../src/plan/reviewed.ts';
import type { Host } from '../src/inventory/types.ts';
import { colorFor, painter } from '../src/report/color.ts';
import { resultLine } from '../src/report/human.ts';
import type { Mode } from '../src/run/fleet.ts';
import { spawnSync } from 'node:child_process';
import { rootGuard } from '../src/ssh/connection.ts';
import { batchSizes, parseAmount, parseSerial } from '../src/run/rollout.ts';
import { ROLES } from '../roles/registry.ts';
import { assertValidJson, parseJunit } from './report-check.ts';
import { fileEdit } from './facts.ts';
import { capture, contextOf, hostsNamed, scriptedFleet, type Behaviour, type Fleet } from './scripted.ts';

const tmp = mkdtempSync(join(tmpdir(), 'tprun-ops-'));
mkdirSync(join(tmp, 'plans'));
const base: FleetOptions = { forks: 5, diff: false, verbose: false, quiet: false, acceptNewHostKeys: false };
/** The view's options, and what the command's context owns (reports, colour). */
type Opts = Partial<FleetOptions> & { reports?: ReportTarget[]; noColor?: boolean };

async function run(
  mode: Mode,
  plan: Record<string, Behaviour>,
  opts: Opts = {},
  delays: Record<string, number> = {},
  given?: { fleet: Fleet; approve?: FleetCommand['approve']; hosts?: Host[]; secrets?: string[]; refused?: FleetCommand['refused'] },
) {
  const hosts: Host[] = given?.hosts ?? hostsNamed(...Object.keys(plan));
  const fleet = given?.fleet ?? scriptedFleet(plan, delays);
  const out = capture();
  const err = capture();
  const { reports, noColor, ...view } = opts;
  const code = await runFleetCommand(contextOf(out, err, { reports, noColor }), {
    mode,
    inventory: { path: 'inv.yml', sha256: '0'.repeat(64), hosts, peers: [], secrets: given?.secrets ?? [] },
    hosts,
    roles: [...ROLES],
    options: { ...base, ...view },
    connect: fleet.connect,
    approve: given?.approve,
    refused: given?.refused,
  });
  return { code, out: out.text(), err: err.text(), fleet };
}

test('apply exits 0 when it succeeded, changes or not; with --detailed-exitcodes 2 when it changed something', async () => {
  assert.is((await run('apply', { a: 'drifted', b: 'compliant' })).code, 0);
  assert.is((await run('apply', { a: 'compliant', b: 'compliant' })).code, 0);
  assert.is((await run('apply', { a: 'drifted', b: 'compliant' }, { detailedExitCodes: true })).code, 2);
  assert.is((await run('apply', { a: 'compliant' }, { detailedExitCodes: true })).code, 0);
  assert.is((await run('apply', { a: 'drifted', b: 'broken' })).code, 4);
  assert.is((await run('apply', { a: 'drifted', b: 'broken' }, { detailedExitCodes: true })).code, 6);
  assert.is((await run('apply', { a: 'broken' }, { detailedExitCodes: true })).code, 4);
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
  assert.is(r.code, 4);
  const lines = r.err.trim().split('\n');
  assert.is(lines.length, 1, r.err);
  assert.match(lines[0]!, /^tprun: cannot write the json report \S+r\.json: (ENOTDIR|EEXIST)/);
  assert.not.match(r.err, /\n\s+at /);
});

test('-q: compliant hosts are quiet; a changed or drifted host is one line, each failed host is named with the reason', async () => {
  const r = await run('apply', { a: 'compliant', b: 'broken', c: 'down', d: 'drifted' }, { quiet: true });
  assert.is(r.code, 4);
  assert.not.match(r.out, /^a: /m);
  assert.match(r.out, /^d: changed: \d+ changes applied/m);
  assert.is(r.out.match(/^d: /gm)?.length, 1);
  const c = await run('check', { a: 'compliant', d: 'drifted' }, { quiet: true });
  assert.match(c.out, /^d: drifted: \d+ changes pending/m, 'the scheduled check (-q) names the drifted host');
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
    resultLine(
      {
        host: 'h',
        messages: [],
        notes: [],
        roundTrips: 1,
        durationMs: 0,
        ...(status === 'failed' ? { status, error: { step: 'apply', message: 'x' } } : { status, factsDigest: '' }),
      },
      { paint: painter(true) },
    );
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

test('--serial: batch sizes (a canary, then percentages of the fleet, the last size repeating)', () => {
  assert.equal(batchSizes(20, parseSerial('1,10%,100%')), [1, 2, 17]);
  assert.equal(batchSizes(7, parseSerial('2')), [2, 2, 2, 1]);
  assert.equal(batchSizes(3, parseSerial('50%')), [1, 1, 1]);
  assert.equal(batchSizes(4, undefined), [4]);
  assert.is(parseSerial('0'), undefined);
  assert.is(parseSerial('1,x'), undefined);
  assert.is(parseAmount('101%'), undefined);
});

test('a broken canary stops the rollout: no further batch starts, the recap names the hosts never touched', async () => {
  const reports = [
    { format: 'json' as const, file: join(tmp, 'canary.json') },
    { format: 'junit' as const, file: join(tmp, 'canary.xml') },
  ];
  const r = await run('apply', { c1: 'broken', c2: 'drifted', c3: 'drifted', c4: 'drifted' }, { serial: parseSerial('1,100%'), reports });
  assert.equal(r.fleet.contacted, ['c1']);
  assert.equal(r.fleet.changed, ['c1']);
  assert.is(r.code, 4);
  assert.match(r.out, /^c1: FAILED/m);
  assert.match(r.out, /^c2: never touched/m);
  assert.match(r.out, /rollout stopped: batch 1 of 2 had 1 of 1 host failed, more than --max-fail 0; never touched: c2, c3, c4/);
  assert.match(r.out, /4 hosts: 0 compliant, 0 changed, 0 drifted, 1 failed, 0 unreachable, 3 never touched/);
  const json = assertValidJson(readFileSync(reports[0]!.file, 'utf8'));
  assert.equal(
    json.hosts.map((h: { status: string }) => h.status),
    ['failed', 'skipped', 'skipped', 'skipped'],
  );
  assert.is(json.summary.skipped, 3);
  assert.equal(
    parseJunit(readFileSync(reports[1]!.file, 'utf8')).suites.map((x) => x['@_skipped']),
    ['0', '1', '1', '1'],
  );
});

test('--max-fail lets a batch absorb failures up to the limit; a healthy canary lets the rollout go on', async () => {
  const ok = await run(
    'apply',
    { c1: 'drifted', c2: 'broken', c3: 'drifted', c4: 'drifted' },
    { serial: parseSerial('1,1'), maxFail: parseAmount('50%'), forks: 1 },
  );
  // c2's batch (of 1) failed 100% > 50%: c3 and c4 never start.
  assert.equal(ok.fleet.contacted, ['c1', 'c2']);
  const wide = await run(
    'apply',
    { c1: 'drifted', c2: 'broken', c3: 'drifted', c4: 'drifted' },
    { serial: parseSerial('1,100%'), maxFail: parseAmount('1'), forks: 1 },
  );
  assert.equal(wide.fleet.contacted, ['c1', 'c2', 'c3', 'c4']);
  assert.is(wide.code, 4);
  // Without --serial there is no limit unless one is given.
  assert.equal((await run('apply', { c1: 'broken', c2: 'drifted' }, { forks: 1 })).fleet.contacted, ['c1', 'c2']);
  assert.equal((await run('apply', { c1: 'broken', c2: 'drifted' }, { forks: 1, maxFail: parseAmount('0') })).fleet.contacted, ['c1']);
});

test('every remote script starts with a root check: a non-root user stops with exit 97 and its name, before any fact', () => {
  const asRoot = spawnSync('sh', ['-s'], { input: rootGuard + 'echo facts', encoding: 'utf8' });
  if (process.getuid?.() === 0) assert.is(asRoot.stdout, 'facts\n');
  const runuser = spawnSync('sh', ['-c', 'command -v runuser']).status === 0;
  if (process.getuid?.() !== 0 || !runuser) return;
  const r = spawnSync('runuser', ['-u', 'nobody', '--', 'sh', '-s'], { input: rootGuard + 'echo facts', encoding: 'utf8' });
  assert.is(r.status, 97);
  assert.is(r.stdout, '');
  assert.match(r.stderr, /^@@tprun-notroot nobody$/m);
});

test('reviewed plans: check --out saves them; apply --plan applies the unchanged hosts and refuses the one that moved, saying what', async () => {
  const file = join(tmp, 'plans/p.json');
  const plan = { p1: 'drifted', p2: 'drifted', p3: 'drifted' } as const;
  const fleet = scriptedFleet(plan);
  const hosts = hostsNamed('p1', 'p2', 'p3');
  const checked = await run('check', plan, { planOut: file }, {}, { fleet, hosts });
  assert.is(checked.code, 2);
  const saved = parseSavedPlan(readFileSync(file, 'utf8'), file) as SavedPlan;
  assert.is(saved.planVersion, 2);
  assert.is(statSync(file).mode & 0o777, 0o600);
  const n = saved.hosts[0]!.changes.length;
  assert.ok(n > 10);
  assert.equal(
    saved.hosts.map((h) => h.changes.length),
    [n, n, n],
  );
  assert.ok(saved.hosts.every((h) => h.factsDigest && /^sha256:/.test(h.fingerprint)));
  const shown = showLines(saved);
  assert.match(shown.join('\n'), new RegExp(`^p1: ${n} changes planned$`, 'm'));
  assert.match(shown.join('\n'), /\+ file \/etc\/squid\/squid\.conf\n {8}/);
  // Someone writes a squid.conf on p2 after the review.
  fleet.tamper('p2', (raw) => ({ ...raw, 'file:/etc/squid/squid.conf': { code: 0, stdout: fileEdit(() => 'http_port 3128\n')('') } }));
  const byName = new Map(saved.hosts.map((h) => [h.name, h]));
  const seal = { secrets: [], salt: saved.salt };
  const approve: FleetCommand['approve'] = (host, p) => settingsMoved(byName.get(host.name)!, host) ?? planMoved(byName.get(host.name)!, host, p, seal);
  const applied = await run('apply', plan, {}, {}, { fleet, hosts, approve });
  assert.is(applied.code, 4);
  assert.equal(fleet.changed, ['p1', 'p3']);
  assert.match(applied.out, /^p2: FAILED at plan: refused: the host changed since the plan \(\d+ planned, \d+ now\): file \/etc\/squid\/squid\.conf differs/m);
  assert.match(applied.out, /^p1: changed/m);
  // A host whose settings changed in the inventory is refused before anything is applied, naming the keys.
  const moved = { ...hosts[0]!, vars: { ...hosts[0]!.vars, tproxy: { ...hosts[0]!.vars.tproxy, ports: [8080] } } };
  assert.match(settingsMoved(byName.get('p1')!, moved)!, /the inventory differs for p1 since the plan: tproxy\.ports changed/);
  assert.is(settingsMoved(byName.get('p1')!, hosts[0]!), undefined);
});

/** A fleet of one host whose squid.extra holds a secret, planned and saved to a file. */
async function secretPlan(secret: string) {
  const file = join(tmp, `plans/secret-${secret}.json`);
  const plan = { s1: 'drifted' } as const;
  const fleet = scriptedFleet(plan);
  const [h] = hostsNamed('s1');
  const host: Host = { ...h!, vars: { ...h!.vars, squid: { ...h!.vars.squid, extra: [`acl partner req_header X-Key ${secret}`] } } };
  const checked = await run('check', plan, { planOut: file }, {}, { fleet, hosts: [host], secrets: [secret] });
  assert.is(checked.code, 2, checked.out + checked.err);
  return { file, fleet, host, text: readFileSync(file, 'utf8') };
}

test('reviewed plans hold no secret: the file, show and the error lines redact it; the file is 0600', async () => {
  const { file, text } = await secretPlan('Tr0ub4dor-and-3');
  assert.not.match(text, /Tr0ub4dor/);
  // Nor encoded: file contents travel base64-encoded in the commands.
  for (const b64 of text.match(/[A-Za-z0-9+/]{40,}={0,2}/g) ?? []) assert.not.match(Buffer.from(b64, 'base64').toString('latin1'), /Tr0ub4dor/);
  assert.match(text, /X-Key \[redacted\]/);
  // No content digest a secret could be guessed from, beyond the plan's own fields.
  const bare = JSON.parse(text) as SavedPlan;
  bare.inventory.sha256 = '';
  for (const h of bare.hosts) [h.fingerprint, h.factsDigest] = ['', ''];
  assert.not.match(JSON.stringify(bare), /[0-9a-f]{64}/);
  assert.is(statSync(file).mode & 0o777, 0o600);
  const saved = parseSavedPlan(text, file) as SavedPlan;
  assert.match(saved.hosts[0]!.fingerprint, /^scrypt:/, 'a host with a secret is fingerprinted with scrypt');
  assert.not.match(showLines(saved).join('\n'), /Tr0ub4dor/);
});

test('reviewed plans: a diff line removed from the file (digest kept) is refused, as is a secret changed since the plan', async () => {
  const { file, fleet, host, text } = await secretPlan('first-secret-1');
  const saved = parseSavedPlan(text, file) as SavedPlan;
  const approveWith =
    (p: SavedPlan, secrets: string[]): FleetCommand['approve'] =>
    (h, fresh) =>
      settingsMoved(p.hosts[0]!, h, secrets) ?? planMoved(p.hosts[0]!, h, fresh, { secrets, salt: p.salt });
  // Untouched, the plan is approved and its transaction runs (the scripted host's verify is not the point here).
  const ok = await run(
    'apply',
    { s1: 'drifted' },
    {},
    {},
    { fleet, hosts: [host], secrets: ['first-secret-1'], approve: approveWith(saved, ['first-secret-1']) },
  );
  assert.not.match(ok.out, /refused/, ok.out);
  assert.equal(fleet.changed, ['s1']);
  // Someone drops the line that would show an open proxy from what `show` prints.
  const edited = JSON.parse(text) as SavedPlan;
  const squid = edited.hosts[0]!.changes.find((c) => c.id === 'file /etc/squid/squid.conf')!;
  const i = squid.diff.findIndex((l) => l.startsWith('+http_access'));
  assert.ok(i >= 0, 'the squid.conf diff shows its http_access lines');
  squid.diff.splice(i, 1);
  const tampered = await run(
    'apply',
    { s1: 'drifted' },
    {},
    {},
    { fleet: scriptedFleet({ s1: 'drifted' }), hosts: [host], secrets: ['first-secret-1'], approve: approveWith(edited, ['first-secret-1']) },
  );
  assert.is(tampered.code, 4, tampered.out);
  assert.match(tampered.out, /s1: FAILED at plan: refused: the host changed since the plan .*file \/etc\/squid\/squid\.conf differs in diff/);
  // The secret rotated in the inventory: the plan shows the same text, but it is not what runs.
  const rotated: Host = { ...host, vars: { ...host.vars, squid: { ...host.vars.squid, extra: ['acl partner req_header X-Key second-secret-2'] } } };
  const moved = await run(
    'apply',
    { s1: 'drifted' },
    {},
    {},
    { fleet: scriptedFleet({ s1: 'drifted' }), hosts: [rotated], secrets: ['second-secret-2'], approve: approveWith(saved, ['second-secret-2']) },
  );
  assert.is(moved.code, 4, moved.out);
  assert.match(moved.out, /a value the plan does not show \(a secret\) differs/, moved.out);
  assert.not.match(moved.out, /second-secret-2|first-secret-1/);
});

test('reviewed plans: a malformed plan is one sentence; show makes host-supplied control characters visible', () => {
  assert.match(parseSavedPlan('{"planVersion": 2, "hosts": [{}]}', 'p.json') as string, /^p\.json: not a tprun plan \(/);
  assert.match(parseSavedPlan('{"planVersion": 1}', 'p.json') as string, /plan version 1; this tprun reads version 2/);
  assert.match(parseSavedPlan('[1,', 'p.json') as string, /not JSON/);
  const plan: SavedPlan = {
    planVersion: 2,
    tprun: '0',
    created: 'now',
    salt: '0'.repeat(32),
    inventory: { path: 'inv.yml', files: ['inv.yml'], sha256: '0'.repeat(64) },
    selection: { roles: ['squid'] },
    hosts: [
      {
        name: 'h1',
        address: '198.18.0.1',
        status: 'failed',
        settings: {},
        fingerprint: `sha256:${'0'.repeat(64)}`,
        changes: [],
        error: 'facts: \x1b]0;owned\x07\u009b2J\u202e',
      },
    ],
  };
  assert.type(parseSavedPlan(JSON.stringify(plan), 'p.json'), 'object');
  const shown = showLines(parseSavedPlan(JSON.stringify(plan), 'p.json') as SavedPlan).join('\n');
  assert.not.match(shown, /[\x1b\x07\u009b\u202e]/);
  assert.match(shown, /h1: FAILED: facts: \\x1b\]0;owned\\x07/);
});

test('apply --plan: a host of the plan that is no longer in the inventory is failed, in the recap and the report', async () => {
  const report = join(tmp, 'refused.json');
  const [ghost] = hostsNamed('gone1');
  const r = await run(
    'apply',
    { k1: 'compliant' },
    { reports: [{ format: 'json', file: report }] },
    {},
    {
      fleet: scriptedFleet({ k1: 'compliant' }),
      refused: [{ host: ghost!, reason: 'in the plan but no longer in inv.yml: not applied' }],
    },
  );
  assert.is(r.code, 4, r.out);
  assert.match(r.out, /^gone1: FAILED at plan: in the plan but no longer in inv\.yml/m, r.out);
  const json = JSON.parse(readFileSync(report, 'utf8')) as { hosts: { name: string; status: string }[] };
  assert.equal(
    json.hosts.map((h) => [h.name, h.status]),
    [
      ['k1', 'compliant'],
      ['gone1', 'failed'],
    ],
  );
});

test.after(() => rmSync(tmp, { recursive: true, force: true }));
test.run();
