/**
 * Issue #24, streaming: a fleet run holds only the plans of the hosts under way, and its reports
 * and plan file are written as hosts finish (to a spool), then whole by rename. Memory is counted,
 * not timed: WeakRefs to each finished host's plan, after a forced garbage collection.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ROLES } from '../roles/registry.ts';
import type { Host, Inventory } from '../src/inventory/types.ts';
import type { HostPlan } from '../src/plan/types.ts';
import { summaryRecorder } from '../src/report/human.ts';
import { jsonReport } from '../src/report/json.ts';
import { junitReport } from '../src/report/junit.ts';
import { plainView } from '../src/report/live.ts';
import { openPlanFile } from '../src/report/plan-file.ts';
import { prometheusReport } from '../src/report/prometheus.ts';
import type { HostResult } from '../src/run/host.ts';
import type { RunSummary } from '../src/report/summary.ts';
import { openReports, writeReports, type ReportTarget } from '../src/report/write.ts';
import { Interrupt, runFleet, type ResultSink } from '../src/run/fleet.ts';
import { parseSavedPlan } from '../src/plan/reviewed.ts';
import { assertValidJson, parseJunit } from './report-check.ts';
import { hostsNamed, scriptedFleet, type Behaviour } from './scripted.ts';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const dir = mkdtempSync(join(tmpdir(), 'tprun-stream-'));
const N = 40;
const FORKS = 4;
const names = Array.from({ length: N }, (_, i) => `s${i + 1}`);
const hosts: Host[] = hostsNamed(...names);
const inventory: Inventory = { path: 'inv.yml', sha256: '0'.repeat(64), hosts, peers: [], secrets: [] };
// Every host drifted (its plan carries squid.conf and the rules before and after); a few fail.
const behaviour: Record<string, Behaviour> = Object.fromEntries(names.map((n, i) => [n, i % 13 === 5 ? 'down' : 'drifted']));
// Hosts finish out of inventory order.
const delays = Object.fromEntries(names.map((n, i) => [n, (i * 7) % 5]));
const head = { version: '0.0.0-test', mode: 'check' as const, inventory, hosts, roles: ROLES.map((r) => r.name) };

/** A sink that counts how many earlier hosts' plans are still alive each time a host finishes. */
function planCounter(): ResultSink & { maxAlive: number; seen: number } {
  const refs: WeakRef<HostPlan>[] = [];
  const c = {
    maxAlive: 0,
    seen: 0,
    hostDone(_h: Host, r: { plan?: HostPlan }) {
      c.seen++;
      gc();
      c.maxAlive = Math.max(c.maxAlive, refs.filter((w) => w.deref() !== undefined).length);
      if (r.plan) refs.push(new WeakRef(r.plan));
    },
  };
  return c;
}

/** The CLI's composition (src/cli/run.ts): plain view, summary, reports, plan file, then the counter. */
async function run(releasePlans: boolean, extra: { interrupt?: Interrupt; during?: ResultSink } = {}) {
  const targets: ReportTarget[] = [
    { format: 'json', file: join(dir, 'r.json') },
    { format: 'junit', file: join(dir, 'r.xml') },
    { format: 'prom', file: join(dir, 'r.prom') },
  ];
  const lines: string[] = [];
  const summary = summaryRecorder({ diff: true, verbose: false });
  const reports = await openReports(targets, head);
  const planFile = openPlanFile(join(dir, 'plan.json'), { inventory, hosts, roles: head.roles });
  const counter = planCounter();
  const outcome = await runFleet({
    mode: 'check',
    hosts,
    roles: [...ROLES],
    forks: FORKS,
    connect: scriptedFleet(behaviour, delays).connect,
    observer: plainView(hosts, (l) => lines.push(l)),
    sinks: [summary, reports, planFile, counter, ...(extra.during ? [extra.during] : [])],
    releasePlans,
    interrupt: extra.interrupt,
  });
  const errors = [...(await reports.finish(outcome)), ...[planFile.finish()].filter((e): e is string => !!e)];
  return { outcome, counter, errors, lines, summary: summary.lines(outcome.results, outcome.seconds) };
}

test('a released run holds at most the plans of the hosts under way; without release it holds them all', async () => {
  const kept = await run(false);
  assert.is(kept.counter.seen, N);
  // The control: the measure sees retained plans (every earlier drifted host's).
  assert.ok(kept.counter.maxAlive > N / 2, `kept: ${kept.counter.maxAlive}`);
  const released = await run(true);
  assert.ok(released.counter.maxAlive <= FORKS, `at most --forks plans alive at once, saw ${released.counter.maxAlive}`);
  assert.ok(
    released.outcome.results.every((r) => r.plan === undefined),
    'the outcome keeps no plan',
  );
  // Views and summary say the same either way: they took their text when each host finished.
  const times = (ls: string[]) => ls.map((l) => l.replace(/\(\d+\.\d+s\)| in \d+\.\d+s/g, ''));
  assert.equal(times(released.lines), times(kept.lines));
  assert.equal(times(released.summary), times(kept.summary));
  assert.match(released.summary.join('\n'), /^s1 \(drifted, \d+ change\(s\)\):/m);
  assert.match(released.summary.join('\n'), /\+\s*-A TPRUN_PREROUTING/, '--diff details survive the release');
});

test('the streamed reports are whole, schema-valid and in inventory order; the plan file lists every host', async () => {
  const { errors, outcome } = await run(true);
  assert.equal(errors, []);
  const json = assertValidJson(readFileSync(join(dir, 'r.json'), 'utf8'));
  assert.equal(
    json.hosts.map((h: { name: string }) => h.name),
    names,
  );
  assert.is(json.summary.unreachable, names.filter((n) => behaviour[n] === 'down').length);
  assert.is(json.summary.drifted, N - json.summary.unreachable);
  assert.is(json.exitCode, outcome.exitCode);
  assert.ok(json.hosts[0].resources.some((r: { inSync: boolean }) => !r.inSync));
  const { suites } = parseJunit(readFileSync(join(dir, 'r.xml'), 'utf8'));
  assert.equal(
    suites.map((s) => s['@_name']),
    names,
  );
  assert.match(readFileSync(join(dir, 'r.prom'), 'utf8'), /tprun_host_status\{command="check",host="s40",status="drifted"\} 1/);
  const plan = parseSavedPlan(readFileSync(join(dir, 'plan.json'), 'utf8'), 'plan.json');
  assert.type(plan, 'object');
  assert.equal(
    (plan as { hosts: { name: string }[] }).hosts.map((h) => h.name),
    names,
  );
  // Nothing but the reports is left in the directory: the spools were never visible.
  assert.equal(readdirSync(dir).sort(), ['plan.json', 'r.json', 'r.prom', 'r.xml']);
});

test('streamed text is byte for byte what the whole-object renderers write', async () => {
  const { outcome } = await run(false);
  // run(false) keeps every plan: its results are whole.
  const summary: RunSummary = {
    ...head,
    results: outcome.results as HostResult[],
    started: outcome.started,
    seconds: outcome.seconds,
    exitCode: outcome.exitCode,
  };
  const targets: ReportTarget[] = [
    { format: 'json', file: join(dir, 'w.json') },
    { format: 'junit', file: join(dir, 'w.xml') },
    { format: 'prom', file: join(dir, 'w.prom') },
  ];
  assert.equal(await writeReports(targets, summary), []);
  assert.is(readFileSync(join(dir, 'w.json'), 'utf8'), JSON.stringify(jsonReport(summary), null, 2) + '\n');
  assert.is(readFileSync(join(dir, 'w.xml'), 'utf8'), junitReport(summary));
  assert.is(readFileSync(join(dir, 'w.prom'), 'utf8'), await prometheusReport(summary));
  // And with no host at all.
  const none: RunSummary = { ...summary, hosts: [], results: [] };
  assert.equal(await writeReports(targets, none), []);
  assert.is(readFileSync(join(dir, 'w.json'), 'utf8'), JSON.stringify(jsonReport(none), null, 2) + '\n');
  assert.is(readFileSync(join(dir, 'w.xml'), 'utf8'), junitReport(none));
  for (const f of ['w.json', 'w.xml', 'w.prom']) rmSync(join(dir, f));
});

test('during the run the destination keeps the previous report whole; a run that never finishes leaves it so', async () => {
  const previous = '{"previous": true}\n';
  writeFileSync(join(dir, 'r.json'), previous);
  writeFileSync(join(dir, 'plan.json'), previous);
  const seen: string[][] = [];
  const during: ResultSink = {
    hostDone: () => {
      assert.is(readFileSync(join(dir, 'r.json'), 'utf8'), previous);
      assert.is(readFileSync(join(dir, 'plan.json'), 'utf8'), previous);
      seen.push(readdirSync(dir).sort());
    },
  };
  // A run killed before its end: its sinks never finish.
  const reports = await openReports([{ format: 'json', file: join(dir, 'r.json') }], head);
  await runFleet({
    mode: 'check',
    hosts,
    roles: [...ROLES],
    forks: FORKS,
    connect: scriptedFleet(behaviour, delays).connect,
    sinks: [reports, during],
    releasePlans: true,
  });
  assert.is(seen.length, N);
  assert.ok(
    seen.every((ls) => !ls.some((f) => f.includes('.tprun-'))),
    'no spool or temporary file is visible',
  );
  assert.is(readFileSync(join(dir, 'r.json'), 'utf8'), previous);
});

test('an interrupted run (Ctrl-C after a few hosts) still writes a whole report naming every host', async () => {
  const interrupt = new Interrupt();
  let done = 0;
  const r = await run(true, { interrupt, during: { hostDone: () => void (++done === 6 && interrupt.signal()) } });
  assert.equal(r.errors, []);
  const json = assertValidJson(readFileSync(join(dir, 'r.json'), 'utf8'));
  assert.is(json.hosts.length, N);
  assert.ok(json.hosts.some((h: { error?: { step: string } }) => h.error?.step === 'interrupted'));
  assert.is(json.exitCode & 4, 4);
  assert.ok(r.outcome.interrupted!.notStarted.length > 0);
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();
