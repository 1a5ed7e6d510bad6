/**
 * The --probe hooks in the engine, over scripted connections: check runs the probe after the
 * plan on the same connection and a failed probe fails the host; apply puts the probe last in the
 * transaction, so its failure is the host's rolled-back failure, with the probe's reason.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { probeLastSteps } from '../src/doctor/probe.ts';
import type { Check } from '../src/plan/types.ts';
import { STEP } from '../src/protocol.ts';
import { ROLES } from '../roles/registry.ts';
import { runHost } from '../src/run/host.ts';
import { recorded } from './facts.ts';
import { labHost, ScriptedConnection } from './scripted.ts';

const probeCheck = (ok: boolean): Check => ({
  role: 'doctor',
  id: 'TP050 the interception probe failed',
  name: 'TP050 the interception probe failed',
  found: ok ? 'passed' : 'host → squid: …',
  wanted: 'a request through squid',
  ok,
  blocks: true,
});

test('check --probe: the probe runs after the plan on the same connection; a failed probe fails a compliant host', async () => {
  for (const ok of [true, false]) {
    const conn = new ScriptedConnection(
      () => recorded('router-compliant'),
      () => {
        throw new Error('check sends no change');
      },
    );
    let seen: unknown;
    const r = await runHost(labHost(), { mode: 'check', roles: ROLES, connect: async () => conn, after: async (_h, c) => ((seen = c), [probeCheck(ok)]) });
    assert.is(seen, conn);
    assert.is(r.status, ok ? 'compliant' : 'failed');
    assert.ok(r.plan!.checks.some((c) => c.id.startsWith('TP050')));
    if (!ok) assert.match(r.error!.message, /TP050 the interception probe failed/);
  }
});

test('apply --probe: the probe is the last step of the transaction; when it fails the host is rolled back and fails with its reason', async () => {
  let body = '';
  const conn = new ScriptedConnection(
    () => recorded('router-fresh'),
    (script) => {
      body = script;
      const n = Math.max(...[...script.matchAll(/^do_(\d+)\(\)/gm)].map((m) => Number(m[1])));
      const started = Array.from({ length: n + 1 }, (_, i) => `${STEP.step}${i}`);
      const undone = Array.from({ length: n + 1 }, (_, i) => n - i).flatMap((i) => [`${STEP.undo}${i}`, `${STEP.undone}${i}`]);
      const lines = [
        ...started,
        `${STEP.fail}${n}`,
        `${STEP.stderr}interception probe failed: host → squid: no fwmark 0x1 rule`,
        ...undone,
        `${STEP.end}rolled-back`,
      ];
      return { stdout: lines.join('\n') + '\n', stderr: '', code: 1 };
    },
  );
  const host = labHost();
  const r = await runHost(host, { mode: 'apply', roles: ROLES, connect: async () => conn, lastSteps: probeLastSteps });
  const last = Math.max(...[...body.matchAll(/^do_(\d+)\(\)/gm)].map((m) => Number(m[1])));
  assert.match(
    body.slice(body.indexOf(`do_${last}()`)),
    /^do_\d+\(\) \{\nTP_FAMILY=6; TP_SAVE=ip6tables-save; [^\n]*\nTP_PORT=80; TP_TPORT=3129; TP_MARK=0x1; TP_TABLE=100;/,
  );
  assert.is(r.status, 'failed');
  assert.is(r.error!.step, 'interception probe (IPv6)');
  assert.match(r.error!.message, /interception probe \(IPv6\) failed; the host was rolled back/);
  assert.match(r.error!.stderr ?? '', /no fwmark 0x1 rule/);
});

test.run();
