import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runCommand } from '../src/cli/run.ts';
import { loadInventory } from '../src/inventory/load.ts';
import { ROLES } from '../roles/registry.ts';
import { HostError, type Connection, type RunResult } from '../src/ssh/connection.ts';
import { capture } from './scripted.ts';
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
    runCommand({
      mode: 'check',
      inventory: inv,
      hosts: inv.hosts,
      roles: [...ROLES],
      connect,
      out: sink,
      options: {
        forks: 4,
        diff: false,
        verbose: false,
        quiet: false,
        acceptNewHostKeys: false,
        reports: [
          { format: 'json', file: join(dir, `${n}.json`) },
          { format: 'junit', file: join(dir, `${n}.xml`) },
        ],
      },
    });
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
  const strip = (s: string) => s.replace(/"(started|durationSeconds)": [^,\n]+/g, '');
  assert.is(strip(readFileSync(join(dir, 'b.json'), 'utf8')), strip(readFileSync(join(dir, 'a.json'), 'utf8')));
  assert.match(sink.text(), /^h1: drifted: \d+ changes pending/m);
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();
