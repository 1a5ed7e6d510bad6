import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const DIR = 'docs/compliance';
const haveAnalyze = spawnSync('sh', ['-c', 'command -v systemd-analyze']).status === 0;
const tmp = mkdtempSync(join(tmpdir(), 'tprun-compliance-'));

/** Minimal unit-file reader: sections and keys, for the checks that hold without systemd-analyze. */
function units(text: string): Map<string, Map<string, string>> {
  const out = new Map<string, Map<string, string>>();
  let cur: Map<string, string> | undefined;
  for (const line of text.split('\n')) {
    if (!line.trim() || line.startsWith('#')) continue;
    const sec = /^\[(\w+)\]$/.exec(line);
    if (sec) out.set(sec[1]!, (cur = new Map()));
    else {
      const kv = /^(\w+)=(.*)$/.exec(line);
      assert.ok(kv && cur, `not a unit-file line: ${line}`);
      cur!.set(kv![1]!, kv![2]!);
    }
  }
  return out;
}

test('the service and timer are valid units (systemd-analyze verify where available)', () => {
  const svc = units(readFileSync(`${DIR}/tprun-check.service`, 'utf8'));
  const tim = units(readFileSync(`${DIR}/tprun-check.timer`, 'utf8'));
  assert.is(svc.get('Service')!.get('Type'), 'oneshot');
  assert.match(svc.get('Service')!.get('ExecStart')!, /^\/bin\/sh \S+tprun-check\.sh$/);
  assert.is(tim.get('Install')!.get('WantedBy'), 'timers.target');
  if (!haveAnalyze) return;
  const r = spawnSync('systemd-analyze', ['verify', `${DIR}/tprun-check.service`, `${DIR}/tprun-check.timer`], { encoding: 'utf8' });
  assert.is(r.status, 0, r.stderr);
  assert.is(r.stderr.trim(), '', 'no warnings (an unknown key is only a warning)');
  // The check can fail: a unit whose ExecStart does not exist is rejected.
  const bad = join(tmp, 'bad.service');
  writeFileSync(bad, readFileSync(`${DIR}/tprun-check.service`, 'utf8').replace('ExecStart=/bin/sh', 'ExecStart=/nonexistent/sh'));
  assert.is.not(spawnSync('systemd-analyze', ['verify', bad], { encoding: 'utf8' }).status, 0);
});

test("the wrapper: reports kept and linked, old ones pruned, tprun's exit code passed on, no overlap", async () => {
  // A stand-in for tprun that writes the reports it is asked for and exits 2 (drift).
  const fake = join(tmp, 'fake-tprun.mjs');
  writeFileSync(
    fake,
    `import { writeFileSync } from 'node:fs';\nfor (const a of process.argv) { const m = /^(json|junit|prom):(.*)$/.exec(a); if (m) writeFileSync(m[2], m[1]); }\nprocess.exit(2);\n`,
  );
  const reports = join(tmp, 'reports');
  const prom = join(tmp, 'tprun.prom');
  const env = { ...process.env, TPRUN: fake, INVENTORY: 'inv.yml', REPORTS: reports, KEEP: '2', LOCK: join(tmp, 'lock'), PROM: prom };
  const run = () => spawnSync('sh', [`${DIR}/tprun-check.sh`], { env, encoding: 'utf8' });
  for (let i = 0; i < 3; i++) {
    assert.is(run().status, 2);
    await new Promise((r) => setTimeout(r, 1100)); // the stamp has one-second resolution
  }
  const files = readdirSync(reports).sort();
  assert.is(files.filter((f) => f.endsWith('.json') && f.startsWith('check-')).length, 2);
  assert.is(files.filter((f) => f.endsWith('.xml') && f.startsWith('check-')).length, 2);
  assert.ok(existsSync(join(reports, readlinkSync(join(reports, 'last.json')))));
  assert.is(readFileSync(prom, 'utf8'), 'prom', 'PROM= asks for the Prometheus textfile');
  // While another run holds the lock, a second one does not start.
  const holder = spawn('flock', [join(tmp, 'lock'), 'sleep', '3']);
  await new Promise((r) => setTimeout(r, 300));
  const r = run();
  holder.kill();
  assert.is(r.status, 75);
  assert.match(r.stderr, /another check is still running/);
});

test('the crontab line runs the same wrapper', () => {
  const cron = readFileSync(`${DIR}/tprun-check.cron`, 'utf8')
    .split('\n')
    .filter((l) => l && !l.startsWith('#'));
  assert.is(cron.length, 1);
  assert.match(cron[0]!, /^\*\/15 \* \* \* \* root .*\/bin\/sh \S+tprun-check\.sh/);
});

test.after(() => rmSync(tmp, { recursive: true, force: true }));
test.run();
