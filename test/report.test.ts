import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runFleetCommand } from '../src/cli/views/fleet.ts';
import { loadInventory } from '../src/inventory/load.ts';
import { ROLES } from '../roles/registry.ts';
import { HostError, type Connection, type RunResult } from '../src/ssh/connection.ts';
import { capture, contextOf } from './scripted.ts';
import { framed, recorded } from './facts.ts';
import { assertValidJson, parseJunit } from './report-check.ts';

const inv = loadInventory('inventories/lab.yml').inventory!;
const dir = mkdtempSync(join(tmpdir(), 'tprun-report-'));

/** h1 answers with fresh facts (drifted), h2 is unreachable: a scripted fleet. */
const connect = async (h: { name: string }): Promise<Connection> => {
  if (h.name === 'h2') throw new HostError('connect', 'cannot connect to root@198.18.1.2:22: connect ECONNREFUSED', { unreachable: true });
  return { roundTrips: 0, run: async (): Promise<RunResult> => ({ stdout: framed(recorded('router-fresh')), stderr: '', code: 0 }), close: async () => {} };
};

test('check with JSON and JUnit reports: drifted and unreachable hosts, exit 6, stable output', async () => {
  const sink = capture();
  const run = (n: string) =>
    runFleetCommand(
      contextOf(sink, capture(), {
        reports: [
          { format: 'json', file: join(dir, `${n}.json`) },
          { format: 'junit', file: join(dir, `${n}.xml`) },
        ],
      }),
      {
        mode: 'check',
        inventory: inv,
        hosts: inv.hosts,
        roles: [...ROLES],
        connect,
        options: { forks: 4, diff: false, verbose: false, quiet: false, acceptNewHostKeys: false },
      },
    );
  assert.is(await run('a'), 6);
  const json = assertValidJson(readFileSync(join(dir, 'a.json'), 'utf8'));
  assert.equal(json.summary, { compliant: 0, drifted: 1, changed: 0, failed: 0, unreachable: 1 });
  const h1 = json.hosts[0];
  assert.is(h1.status, 'drifted');
  const fwd = h1.resources.find((r: any) => r.id === 'sysctl net.ipv4.ip_forward');
  assert.equal([fwd.expected, fwd.actual, fwd.inSync], ['1', '0', false]);
  assert.ok(h1.checks.some((c: any) => c.id === 'require squid >= 3.2' && c.ok));
  assert.not.ok(h1.resources.some((r: any) => r.kind === 'requirement'));
  assert.is(json.hosts[1].error.step, 'connect');

  const { suites } = parseJunit(readFileSync(join(dir, 'a.xml'), 'utf8'));
  assert.equal(
    suites.map((s) => s['@_name']),
    ['h1', 'h2'],
  );
  const drift = suites[0].testcase.find((c: any) => c['@_name'] === 'iptables mangle TPRUN_PREROUTING');
  assert.is(drift.failure['@_message'], 'drifted: iptables mangle TPRUN_PREROUTING');
  assert.match(drift.failure['#text'], /\+ -A TPRUN_PREROUTING -p tcp -m socket --transparent -j TPRUN_DIVERT/);
  assert.ok(suites[1].testcase[0].error['@_message'].includes('ECONNREFUSED'));

  // Two runs of the same state differ only in times.
  await run('b');
  const strip = (s: string) => s.replace(/"(started|durationSeconds)": [^,\n]+/g, '').replace(/"phaseSeconds": \{[^}]*\}/g, '');
  assert.match(readFileSync(join(dir, 'a.json'), 'utf8'), /"phaseSeconds": \{\s*"connect": [\d.]+,\s*"facts": [\d.]+/);
  assert.is(strip(readFileSync(join(dir, 'b.json'), 'utf8')), strip(readFileSync(join(dir, 'a.json'), 'utf8')));
  assert.match(sink.text(), /^h1: drifted: \d+ changes pending/m);
});

/** "name{a="x",b="y"} 1" lines → value by "name{labels}". */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-z_]+)(\{[^}]*\})? (\S+)$/.exec(line);
    assert.ok(m, `not a sample line: ${line}`);
    out.set(m[1]! + (m[2] ?? ''), Number(m[3]));
  }
  return out;
}

test('a Prometheus textfile: each host one-hot by status, what is wrong counted, the run timed', async () => {
  const run = (file: string, mode: 'check' | 'apply', c: typeof connect) =>
    runFleetCommand(contextOf(capture(), capture(), { reports: [{ format: 'prom', file }] }), {
      mode,
      inventory: inv,
      hosts: inv.hosts,
      roles: [...ROLES],
      connect: c,
      options: { forks: 4, diff: false, verbose: false, quiet: false, acceptNewHostKeys: false },
    });
  const file = join(dir, 'tprun.prom');
  assert.is(await run(file, 'check', connect), 6);
  const text = readFileSync(file, 'utf8');
  assert.match(text, /^# TYPE tprun_host_status gauge$/m);
  const s = samples(text);
  assert.is(s.get('tprun_host_status{command="check",host="h1",status="drifted"}'), 1);
  assert.is(s.get('tprun_host_status{command="check",host="h1",status="compliant"}'), 0);
  assert.is(s.get('tprun_host_status{command="check",host="h2",status="unreachable"}'), 1);
  assert.ok(s.get('tprun_host_drifted_resources{command="check",host="h1"}')! > 3);
  assert.is(s.get('tprun_host_drifted_resources{command="check",host="h2"}'), undefined, 'an unreachable host has no plan to count');
  assert.is(s.get('tprun_run_hosts{command="check",status="drifted"}'), 1);
  assert.is(s.get('tprun_run_exit_code{command="check"}'), 6);
  const ended = s.get('tprun_run_timestamp_seconds{command="check"}')!;
  assert.ok(Math.abs(ended - Date.now() / 1000) < 120, `run ended at ${ended}`);

  // The same hosts compliant: the drifted series goes to 0, so an alert on it clears.
  const compliant = async (): Promise<Connection> => ({
    roundTrips: 0,
    run: async () => ({ stdout: framed(recorded('router-compliant')), stderr: '', code: 0 }),
    close: async () => {},
  });
  const h1 = inv.hosts.filter((h) => h.name === 'h1');
  await runFleetCommand(contextOf(capture(), capture(), { reports: [{ format: 'prom', file }] }), {
    mode: 'check',
    inventory: inv,
    hosts: h1,
    roles: [...ROLES],
    connect: compliant,
    options: { forks: 1, diff: false, verbose: false, quiet: false, acceptNewHostKeys: false },
  });
  const again = samples(readFileSync(file, 'utf8'));
  assert.is(again.get('tprun_host_status{command="check",host="h1",status="compliant"}'), 1);
  assert.is(again.get('tprun_host_status{command="check",host="h1",status="drifted"}'), 0);
  assert.is(again.get('tprun_host_unmet_requirements{command="check",host="h1",severity="blocking"}'), 0);
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();
