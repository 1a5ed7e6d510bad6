import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { changeScript, parseChangeOutput, planSteps, remaining, verdictText, type ScriptStep } from '../src/apply/script.ts';
import { guarded, movedDuring, preamble, settledCheck, TX_ROOT } from '../src/apply/tx.ts';
import { Fact, factsScript, parseFactsOutput } from '../src/facts/fact.ts';
import { loadInventory } from '../src/inventory/load.ts';
import { fileChange, writeFileCommands } from '../src/resources/file.ts';
import { raw, sh as sh_ } from '../src/shell.ts';
import { ROLES } from '../roles/registry.ts';
import { exitCode } from '../src/run/fleet.ts';
import { runHost } from '../src/run/host.ts';
import { framed, recorded } from './facts.ts';
import { ScriptedConnection } from './scripted.ts';

const sh = (script: string) => {
  const r = spawnSync('sh', ['-s'], { input: script, encoding: 'utf8' });
  return { stdout: r.stdout, stderr: r.stderr, code: r.status ?? -1 };
};

test('facts script frames every probe; output without a trailing newline and exit codes survive', () => {
  const f = (id: string, cmd: string) => new Fact(id, raw(cmd), (r) => r);
  const out = sh(factsScript([f('a', 'printf "x\\ny"'), f('b', 'echo hi; exit 3'), f('a', 'echo dup'), f('c', 'true')]));
  assert.equal(parseFactsOutput(out.stdout), { a: { stdout: 'x\ny', code: 0 }, b: { stdout: 'hi\n', code: 3 }, c: { stdout: '', code: 0 } });
});

const tmp = mkdtempSync(join(tmpdir(), 'tprun-engine-'));
let txn = 0;
/** A fresh transaction directory (on a host: /var/lib/tprun/tx/RUN). */
const tx = () => {
  const dir = join(tmp, `tx${++txn}`);
  mkdirSync(dir);
  return { dir, run: `r${txn}` };
};
const step = (id: string, commands: string[], undo: string[]): ScriptStep => ({ id, commands: commands.map(raw), undo: undo.map(raw) });

test('change script: all steps succeed, stdout kept, verify facts follow', () => {
  const f = join(tmp, 'ok');
  const out = sh(
    changeScript(
      [step('one', [`echo 1 > ${f}`, 'echo hello'], [`rm -f ${f}`]), step('two', [`echo 2 >> ${f}`], [])],
      [new Fact('v', raw(`cat ${f}`), (r) => r)],
      tx(),
    ),
  );
  assert.is(out.code, 0, out.stderr);
  const r = parseChangeOutput(out.stdout);
  assert.is(r.failed, undefined);
  assert.is(r.verdict, 'committed');
  assert.equal(r.stdout.get(0), ['hello']);
  assert.equal(parseFactsOutput(r.verifyOutput!), { v: { stdout: '1\n2\n', code: 0 } });
});

test('change script: a failure mid-way undoes that step and every earlier one, in reverse, and exits 1', () => {
  const log = join(tmp, 'log');
  writeFileSync(log, '');
  const steps = [
    step('a', [`echo do-a >> ${log}`], [`echo undo-a >> ${log}`]),
    step('b', [`echo do-b >> ${log}`], [`echo undo-b >> ${log}`]),
    step('c', [`echo do-c >> ${log}`, 'echo "boom: no such thing" >&2', 'false', `echo never >> ${log}`], [`echo undo-c >> ${log}`]),
    step('d', [`echo do-d >> ${log}`], [`echo undo-d >> ${log}`]),
  ];
  const out = sh(changeScript(steps, [], tx()));
  assert.is(out.code, 1);
  const r = parseChangeOutput(out.stdout);
  assert.is(r.failed, 2);
  assert.is(r.stderr, 'boom: no such thing');
  assert.equal(r.undone, [2, 1, 0]);
  assert.is(r.verdict, 'rolled-back');
  assert.is(r.verifyOutput, undefined);
  assert.equal(readFileSync(log, 'utf8').trim().split('\n'), ['do-a', 'do-b', 'do-c', 'undo-c', 'undo-b', 'undo-a']);
});

test('file steps: candidate validated before the swap; a rejected candidate leaves the live file, a failure later restores it', () => {
  const live = join(tmp, 'squid.conf');
  writeFileSync(live, 'old\n');
  const good = writeFileCommands({ role: 'squid', path: live, mode: '0644', content: 'new\n', install: true, validate: (c) => sh_`grep -q new ${c}` });
  const later = step('later', ['false'], []);
  let out = sh(changeScript([{ id: 'file', ...good }, later], [], tx()));
  assert.is(parseChangeOutput(out.stdout).failed, 1);
  assert.is(readFileSync(live, 'utf8'), 'old\n'); // swapped, then rolled back
  const bad = writeFileCommands({
    role: 'squid',
    path: live,
    mode: '0644',
    content: 'broken\n',
    install: true,
    validate: () => raw('echo "FATAL: Bungled" >&2; false'),
  });
  out = sh(changeScript([{ id: 'file', ...bad }], [], tx()));
  const r = parseChangeOutput(out.stdout);
  assert.is(r.failed, 0);
  assert.match(r.stderr, /FATAL: Bungled/);
  assert.is(readFileSync(live, 'utf8'), 'old\n');
  assert.not.ok(existsSync(live + '.tprun-new'));
  out = sh(changeScript([{ id: 'file', ...good }], [], tx()));
  assert.is(out.code, 0);
  assert.is(readFileSync(live, 'utf8'), 'new\n');
  assert.is(readFileSync(live + '.tprun-prev', 'utf8'), 'old\n'); // the previous version is kept
  const fresh = join(tmp, 'sub/new.conf');
  sh(changeScript([{ id: 'f', ...writeFileCommands({ role: 'sysctl', path: fresh, mode: '0600', content: 'x\n', install: true }) }, later], [], tx()));
  assert.not.ok(existsSync(fresh)); // did not exist before: removed on rollback
});

const h1 = loadInventory('inventories/lab.yml').inventory!.hosts[0]!;

test('runHost check: one round trip, drifted, nothing sent that changes the host', async () => {
  const conn = new ScriptedConnection(
    () => recorded('router-fresh'),
    () => assert.unreachable('check must not apply') as never,
  );
  const r = await runHost(h1, { mode: 'check', roles: ROLES, connect: async () => conn });
  assert.is(r.status, 'drifted');
  assert.is(r.roundTrips, 1);
});

test('runHost apply: two round trips (facts, then changes with verify); verified by re-planning', async () => {
  let sent = '';
  const conn = new ScriptedConnection(
    () => recorded('router-fresh'),
    (script) => {
      sent = script;
      return { stdout: `@@tprun-step 0\n@@tprun-verify\n${framed(recorded('router-compliant'))}@@tprun-end committed\n`, stderr: '', code: 0 };
    },
  );
  const r = await runHost(h1, { mode: 'apply', roles: ROLES, connect: async () => conn });
  assert.is(r.status, 'changed', JSON.stringify(r.error));
  assert.is(r.roundTrips, 2);
  assert.match(sent, /iptables-restore --noflush/);
  assert.is(planSteps(r.plan!).length, (sent.match(/^do_\d+\(\) \{$/gm) ?? []).length);
  assert.not.match(sent, /\/tmp\//, 'nothing of the transaction lives in /tmp');
  // Where its time went (issue #24): every phase it reached, and they add up to its duration.
  assert.equal(Object.keys(r.phases ?? {}), ['connect', 'facts', 'plan', 'apply', 'verify']);
  const sum = Object.values(r.phases!).reduce((a, b) => a + b, 0);
  assert.ok(Math.abs(sum - r.durationMs) < 5, `${sum} vs ${r.durationMs}`);
});

test('runHost: a slow handshake and a slow facts script are timed in their own phases', async () => {
  const conn = new ScriptedConnection(
    () => recorded('router-compliant'),
    () => assert.unreachable('check must not apply') as never,
  );
  const slowRun = conn.run.bind(conn);
  conn.run = async (...args) => {
    await new Promise((resolve) => setTimeout(resolve, 120));
    return slowRun(...args);
  };
  const connect = async () => {
    await new Promise((resolve) => setTimeout(resolve, 60));
    return conn;
  };
  const r = await runHost(h1, { mode: 'check', roles: ROLES, connect });
  assert.is(r.status, 'compliant', JSON.stringify(r.error));
  assert.equal(Object.keys(r.phases ?? {}), ['connect', 'facts', 'plan']);
  assert.ok(r.phases!.connect! >= 55 && r.phases!.connect! < 115, String(r.phases!.connect));
  assert.ok(r.phases!.facts! >= 115, String(r.phases!.facts));
});

test('runHost apply: verify catches what is still wrong after the script', async () => {
  const conn = new ScriptedConnection(
    () => recorded('router-fresh'),
    () => ({ stdout: `@@tprun-verify\n${framed(recorded('router-fresh'))}@@tprun-end committed\n`, stderr: '', code: 0 }),
  );
  const r = await runHost(h1, { mode: 'apply', roles: ROLES, connect: async () => conn });
  assert.is(r.status, 'failed');
  assert.is(r.error!.step, 'verify');
  assert.match(r.error!.message, /still differs after apply: .*sysctl net.ipv4.ip_forward/);
});

test('runHost apply: a failed step reports its name, the remote stderr and the rollback', async () => {
  const conn = new ScriptedConnection(
    () => recorded('router-fresh'),
    (script) => {
      // Run the real script's framing with every command replaced: step 3 fails.
      const n = (script.match(/^do_\d+\(\) \{$/gm) ?? []).length;
      const undo = [3, 2, 1, 0].flatMap((i) => [`@@tprun-undo ${i}`, `@@tprun-undone ${i}`]);
      const lines = [
        '@@tprun-step 0',
        '@@tprun-step 1',
        '@@tprun-step 2',
        '@@tprun-step 3',
        '@@tprun-fail 3',
        '@@tprun-stderr RTNETLINK answers: Operation not permitted',
        ...undo,
        '@@tprun-end rolled-back',
      ];
      assert.ok(n > 4);
      return { stdout: lines.join('\n') + '\n', stderr: '', code: 1 };
    },
  );
  const r = await runHost(h1, { mode: 'apply', roles: ROLES, connect: async () => conn });
  assert.is(r.status, 'failed');
  assert.is(r.error!.step, planSteps(r.plan!)[3]!.id);
  assert.is(r.error!.stderr, 'RTNETLINK answers: Operation not permitted');
  assert.is(r.error!.rolledBack, 'rolled back: 4 steps undone');
  assert.match(r.error!.message, /the host was rolled back/);
});

test('runHost: a connection failure is unreachable, a compliant host needs one round trip and no apply', async () => {
  const { HostError } = await import('../src/ssh/connection.ts');
  const down = await runHost(h1, {
    mode: 'apply',
    roles: ROLES,
    connect: async () => Promise.reject(new HostError('connect', 'cannot connect: ECONNREFUSED', { unreachable: true })),
  });
  assert.equal([down.status, down.error!.step], ['unreachable', 'connect']);
  const conn = new ScriptedConnection(
    () => recorded('router-compliant'),
    () => assert.unreachable('nothing to apply') as never,
  );
  const ok = await runHost(h1, { mode: 'apply', roles: ROLES, connect: async () => conn });
  assert.equal([ok.status, ok.roundTrips], ['compliant', 1]);
});

test('exact undo: a backup that cannot be taken stops the step before the live file changes', () => {
  const live = join(tmp, 'boot.sh');
  writeFileSync(live, 'old\n');
  const w = writeFileCommands({ role: 'routing', path: live, mode: '0644', content: 'new\n', install: true });
  // ln fails as it would on a full or read-only file system.
  const broken = raw('ln() { echo "ln: No space left on device" >&2; return 1; }');
  const out = sh(changeScript([{ id: 'file', ...w, commands: [broken, ...w.commands] }], [], tx()));
  const r = parseChangeOutput(out.stdout);
  assert.equal([r.failed, r.verdict], [0, 'rolled-back']);
  assert.match(r.stderr, /cannot keep a backup of .*nothing was changed/);
  assert.is(readFileSync(live, 'utf8'), 'old\n');
  assert.not.ok(existsSync(live + '.tprun-new'));
});

test('backups left by killed transactions (FILE.tprun-tx-OTHER) are removed when a transaction commits the file', () => {
  const live = join(tmp, 'stale.conf');
  writeFileSync(live, 'v1\n');
  writeFileSync(live + '.tprun-tx-killed-run-1', 'v0\n');
  const w = writeFileCommands({ role: 'sysctl', path: live, mode: '0644', content: 'v2\n', install: true });
  const out = sh(changeScript([{ id: 'file', ...w }], [], tx()));
  assert.is(out.code, 0, out.stdout);
  assert.equal(
    readdirSync(tmp)
      .filter((f) => f.startsWith('stale.conf'))
      .sort(),
    ['stale.conf', 'stale.conf.tprun-prev'],
  );
  assert.is(readFileSync(live + '.tprun-prev', 'utf8'), 'v1\n');
});

test('a previous version holding credentials is not kept: no .tprun-prev after commit, an older one removed', () => {
  const live = join(tmp, 'peer.conf');
  const before = 'cache_peer parent.example parent 3128 0 login=ops:old-pass-1\n';
  writeFileSync(live, before);
  writeFileSync(live + '.tprun-prev', 'cache_peer parent.example parent 3128 0 login=ops:older-pass-0\n');
  const c = fileChange({ role: 'squid', path: live, mode: '0600', content: 'cache_peer parent.example parent 3128 0\n', install: true }, before);
  const out = sh(changeScript([{ id: 'file', commands: c.commands, undo: c.undo, commit: c.commit }], [], tx()));
  assert.is(out.code, 0, out.stdout);
  assert.is(readFileSync(live, 'utf8'), 'cache_peer parent.example parent 3128 0\n');
  assert.equal(
    readdirSync(tmp).filter((f) => f.startsWith('peer.conf')),
    ['peer.conf'],
  );
});

test('exact undo: the live file is restored by rename (same bytes, no copy); .tprun-prev only changes at commit', () => {
  const live = join(tmp, 'keep.conf');
  writeFileSync(live, 'v1\n');
  writeFileSync(live + '.tprun-prev', 'v0\n');
  const w = writeFileCommands({ role: 'squid', path: live, mode: '0644', content: 'v2\n', install: true });
  let out = sh(changeScript([{ id: 'file', ...w }, step('later', ['false'], [])], [], tx()));
  assert.is(parseChangeOutput(out.stdout).verdict, 'rolled-back');
  assert.equal([readFileSync(live, 'utf8'), readFileSync(live + '.tprun-prev', 'utf8')], ['v1\n', 'v0\n']);
  assert.equal(
    readdirSync(tmp)
      .filter((f) => f.startsWith('keep.conf'))
      .sort(),
    ['keep.conf', 'keep.conf.tprun-prev'],
  );
  out = sh(changeScript([{ id: 'file', ...w }], [], tx()));
  assert.is(parseChangeOutput(out.stdout).verdict, 'committed');
  assert.equal([readFileSync(live, 'utf8'), readFileSync(live + '.tprun-prev', 'utf8')], ['v2\n', 'v1\n']);
});

test('verdicts are true: an undo that fails makes "rollback incomplete" and names what is left', () => {
  const steps = [step('a', ['true'], ['true']), step('b', ['true'], ['echo "cannot put it back" >&2; false']), step('c', ['false'], ['true'])];
  const out = sh(changeScript(steps, [], tx()));
  const r = parseChangeOutput(out.stdout);
  assert.is(r.verdict, 'rollback-incomplete');
  assert.equal(remaining(r), [1]);
  assert.match(
    verdictText(r, (i) => steps[i]!.id),
    /rollback INCOMPLETE: not undone: b; undone: c, a/,
  );
  // A journal that stops short has no verdict: its outcome is unknown, never "rolled back".
  const cut = parseChangeOutput('@@tprun-step 0\n@@tprun-ok 0\n@@tprun-step 1\n');
  assert.is(cut.verdict, undefined);
  assert.match(
    verdictText(cut, (i) => steps[i]!.id),
    /outcome unknown/,
  );
});

test('free space is checked before any step: too little means nothing runs', () => {
  const f = join(tmp, 'never');
  const steps: ScriptStep[] = [{ ...step('file', [`echo x > ${f}`], [`rm -f ${f}`]), space: { dir: join(tmp, 'a/b'), bytes: 2 ** 50 } }];
  const out = sh(changeScript(steps, [], tx()));
  const r = parseChangeOutput(out.stdout);
  assert.is(r.verdict, 'preflight-failed');
  assert.match(r.preflight!, /not enough free space for .*a\/b: \d+ KiB free, \d+ KiB needed; nothing was changed/);
  assert.equal(r.started, []);
  assert.not.ok(existsSync(f));
});

test('the runner stops between steps when told to (SIGTERM) and rolls back', () => {
  const log = join(tmp, 'sig');
  writeFileSync(log, '');
  const steps = [step('a', [`echo do-a >> ${log}`, 'kill -TERM $$'], [`echo undo-a >> ${log}`]), step('b', [`echo do-b >> ${log}`], [`echo undo-b >> ${log}`])];
  const r = parseChangeOutput(sh(changeScript(steps, [], tx())).stdout);
  assert.is(r.verdict, 'rolled-back');
  assert.equal(readFileSync(log, 'utf8').trim().split('\n'), ['do-a', 'undo-a']);
});

test('runHost apply: a connection lost while following the journal is "outcome unknown", never "rolled back"', async () => {
  const { HostError } = await import('../src/ssh/connection.ts');
  const conn = new ScriptedConnection(
    () => recorded('router-fresh'),
    () => {
      throw new HostError('connection', 'connection lost: Keepalive timeout', { lost: true });
    },
  );
  const r = await runHost(h1, { mode: 'apply', roles: ROLES, connect: async () => conn });
  assert.is(r.status, 'failed');
  assert.ok(r.outcomeUnknown);
  // What is known: the link died; the runner's liveness was not observed since (not "it continues").
  assert.match(
    r.error!.message,
    /^outcome unknown: connection lost: Keepalive timeout; the runner was not seen to end and its liveness is not observed any more: .*dead, the host rolls the transaction back by itself/,
  );
  assert.not.match(r.error!.message, /continues on the host/);
  assert.is(r.error!.rolledBack, undefined);
  // A journal that stops short (the runner still going) is unknown too.
  const cut = new ScriptedConnection(
    () => recorded('router-fresh'),
    () => ({ stdout: '@@tprun-step 0\n@@tprun-ok 0\n@@tprun-step 1\n', stderr: '', code: 0 }),
  );
  const c = await runHost(h1, { mode: 'apply', roles: ROLES, connect: async () => cut });
  assert.ok(c.outcomeUnknown);
  assert.match(c.error!.message, /outcome unknown: the journal was followed to .*, not to its end; the runner was not seen to end/);
  assert.not.match(c.error!.message, /continues on the host/);
});

test('runHost apply: a runner that died mid-step and was rolled back by the host is reported as such, from the journal', async () => {
  const healed = [
    '@@tprun-step 0',
    '@@tprun-ok 0',
    '@@tprun-step 1',
    '@@tprun-heal watcher',
    '@@tprun-undo 1',
    '@@tprun-undone 1',
    '@@tprun-undo 0',
    '@@tprun-undone 0',
    '@@tprun-end rolled-back',
  ];
  const conn = new ScriptedConnection(
    () => recorded('router-fresh'),
    () => ({ stdout: ['@@tprun-step 0', '@@tprun-ok 0', '@@tprun-step 1', '@@tprun-no-end', ...healed].join('\n') + '\n', stderr: '', code: 0 }),
  );
  const r = await runHost(h1, { mode: 'apply', roles: ROLES, connect: async () => conn });
  assert.is(r.status, 'failed');
  assert.not.ok(r.outcomeUnknown);
  assert.match(r.error!.message, /^the transaction's runner died on the host during .+; the host rolled it back by itself \(its watcher\): 2 steps undone$/);
  assert.match(r.error!.rolledBack!, /^rolled back by the host itself after its runner died \(by its watcher\): 2 steps undone$/);
  // The runner ended, and nothing finished the journal within the wait: unknown, and says what is known.
  const stuck = new ScriptedConnection(
    () => recorded('router-fresh'),
    () => ({ stdout: '@@tprun-step 0\n@@tprun-no-end\n@@tprun-step 0\n', stderr: '', code: 0 }),
  );
  const u = await runHost(h1, { mode: 'apply', roles: ROLES, connect: async () => stuck });
  assert.ok(u.outcomeUnknown);
  assert.match(
    u.error!.message,
    /^outcome unknown: the transaction's runner ended on the host after .+ without finishing it, and the host had not finished it itself when tprun stopped waiting/,
  );
});

test('a transaction whose every step ran is committed, even when its journal has no end (full /var/lib/tprun): never "cut short"', async () => {
  const full = new (class extends ScriptedConnection {
    override async run(script: string) {
      const r = await super.run(script);
      // What the preamble prints for it: no end line, but phase-commit (a rename) says the commits began.
      const last = [
        '@@tprun-last r2 dead r2 bob ctl2 2026-01-01',
        ...['step 0', 'ok 0', 'step 1', 'ok 1', 'commit'].map((l) => `@@tprun-last-line @@tprun-${l}`),
      ];
      return { ...r, stdout: last.join('\n') + '\n' + r.stdout };
    }
  })(
    () => recorded('router-compliant'),
    () => assert.unreachable() as never,
  );
  const d = await runHost(h1, { mode: 'check', roles: ROLES, connect: async () => full });
  assert.match(
    d.notes.join('\n'),
    /the earlier transaction r2 \(bob on ctl2\) ended on the host: committed \(every step ran and its commits began; its journal's end was not written/,
  );
  assert.not.match(d.notes.join('\n'), /cut short/);
});

test('change script heal mode: the undo of every step started and not undone, newest first, as the runner would have run it (real sh)', () => {
  const log = join(tmp, 'heal-log');
  writeFileSync(log, '');
  const steps = [0, 1, 2, 3].map((k) => step(`s${k}`, [`echo do-${k} >> ${log}`], [`echo undo-${k} >> ${log}`]));
  const t = tx();
  // The runner died during step 2; step 3 never started.
  writeFileSync(join(t.dir, 'journal'), ['@@tprun-step 0', '@@tprun-ok 0', '@@tprun-step 1', '@@tprun-ok 1', '@@tprun-step 2', ''].join('\n'));
  const run = (args: string[]) => spawnSync('sh', ['-s', ...args], { input: changeScript(steps, [], t), encoding: 'utf8' });
  const h = run(['heal', 'boot']);
  assert.is(h.status, 1, h.stderr);
  assert.equal(readFileSync(log, 'utf8').trim().split('\n'), ['undo-2', 'undo-1', 'undo-0']);
  const r = parseChangeOutput(readFileSync(join(t.dir, 'journal'), 'utf8') + h.stdout);
  assert.is(r.verdict, 'rolled-back');
  assert.is(r.healed, 'boot');
  assert.equal(r.undone, [2, 1, 0]);
  // A journal whose rollback had begun: what was undone is not undone twice.
  writeFileSync(log, '');
  writeFileSync(
    join(t.dir, 'journal'),
    ['@@tprun-step 0', '@@tprun-ok 0', '@@tprun-step 1', '@@tprun-fail 1', '@@tprun-undo 1', '@@tprun-undone 1', ''].join('\n'),
  );
  run(['heal', 'watcher']);
  assert.equal(readFileSync(log, 'utf8').trim().split('\n'), ['undo-0']);
  // Every step ran (phase-commit): the host finishes the commits, it never undoes a committed transaction.
  writeFileSync(log, '');
  writeFileSync(join(t.dir, 'phase-commit'), '');
  const c = run(['heal', 'watcher']);
  assert.is(c.status, 0, c.stderr);
  assert.is(readFileSync(log, 'utf8'), '');
  assert.is(parseChangeOutput(c.stdout).verdict, 'committed');
  // An ordinary run records phase-commit before its commits (a rename: no free space needed).
  const t2 = tx();
  writeFileSync(join(t2.dir, 'phase-steps'), '');
  const ok = spawnSync('sh', ['-s'], { input: changeScript(steps.slice(0, 1), [], t2), encoding: 'utf8' });
  assert.is(ok.status, 0, ok.stderr);
  assert.ok(existsSync(join(t2.dir, 'phase-commit')) && !existsSync(join(t2.dir, 'phase-steps')));
  assert.ok(parseChangeOutput(ok.stdout).committing);
});

test('check takes no lock and gives no verdict while a transaction runs: it waits up to --lock-timeout, and says so when one ran during its facts (real sh)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tprun-lock-'));
  try {
    const st = (pid: number) => readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/.*\) /s, '').split(' ')[19];
    const holder = { run: 'r1', user: 'alice', controller: 'ctl' };
    const inDir = (text: string) => text.replaceAll(`R=${TX_ROOT}`, `R=${dir}`);
    const script = (timeout: number, facts = 'echo FACTS\n') => inDir(preamble('check', holder, timeout) + facts + settledCheck('check'));
    const sh = (text: string) => spawnSync('sh', ['-c', text], { encoding: 'utf8' });
    const head = 'run r1\nuser alice\ncontroller ctl\nsince 2026-11-22T00:00:00Z\n';
    const lock = (text: string) => writeFileSync(join(dir, 'lock'), head + text);
    // No lock: facts, no line of the lock's.
    assert.equal([sh(script(0)).stdout, sh(script(0)).status], ['FACTS\n', 0]);
    // An apply reading its facts (its session holds the lock, no runner yet) changes nothing: check goes on.
    lock(`conn ${process.pid} ${st(process.pid)}\n`);
    assert.equal([sh(script(0)).stdout, sh(script(0)).status], ['FACTS\n', 0]);
    // A live transaction runner: busy at once, no fact read, the lock untouched.
    lock(`conn ${process.pid} ${st(process.pid)}\ntx ${process.pid} ${st(process.pid)}\n`);
    const before = readFileSync(join(dir, 'lock'), 'utf8');
    const busy = sh(script(0));
    assert.is(busy.status, 75);
    assert.is(busy.stdout, '@@tprun-lock busy run=r1 user=alice controller=ctl since=2026-11-22T00:00:00Z\n');
    assert.is(readFileSync(join(dir, 'lock'), 'utf8'), before);
    // With a timeout it waits for the runner to end (a sleep that exits), then reads the facts.
    const sleeper = spawn('sleep', ['1.5'], { stdio: 'ignore' });
    lock(`tx ${sleeper.pid} ${st(sleeper.pid!)}\n`);
    assert.is(sh(script(0)).status, 75, 'busy while the runner lives');
    const waited = sh(script(5));
    assert.equal([waited.stdout, waited.status], ['FACTS\n', 0]);
    // Node reaps the sleeper only after this synchronous test: ended, it is a zombie (or gone).
    const state = (() => {
      try {
        return readFileSync(`/proc/${sleeper.pid}/stat`, 'utf8').replace(/.*\) /s, '')[0];
      } catch {
        return 'gone';
      }
    })();
    assert.ok(state === 'Z' || state === 'gone', `check read the facts only once the runner had ended (its state: ${state})`);
    rmSync(join(dir, 'lock'));
    // A transaction that started and ended while the facts were read: the last line names it.
    const txRan = `echo FACTS\nmkdir -p $R/tx/r2 && echo "r2 bob ctl2 2026-11-22T01:00:00Z" > $R/tx/r2/info && echo '@@tprun-end committed' > $R/tx/r2/journal && echo r2 > $R/last\n`;
    const m = sh(script(0, txRan));
    assert.is(m.stdout, 'FACTS\n@@tprun-lock moved run=r2 user=bob controller=ctl2 since=2026-11-22T01:00:00Z\n');
    assert.is(movedDuring(m.stdout), 'run=r2 user=bob controller=ctl2 since=2026-11-22T01:00:00Z');
    // The same transaction, ended before check began: settled, no line.
    const settled = sh(script(0)).stdout;
    assert.ok(settled.endsWith('\nFACTS\n') && !settled.includes('moved'), settled);
    // One still running at the end of the facts (started, not ended): moved.
    const started = `echo FACTS\nmkdir -p $R/tx/r3 && : > $R/tx/r3/journal && echo r3 > $R/last\n`;
    assert.match(sh(script(0, started)).stdout, /\nFACTS\n@@tprun-lock moved run= user= controller= since=\n$/);
    assert.is(movedDuring('FACTS\n'), undefined);
    assert.is(settledCheck('apply'), '');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('runHost check: no verdict on a host an apply is changing, or one a transaction changed during the facts', async () => {
  for (const [stdout, want] of [
    [
      '@@tprun-lock busy run=r0 user=alice controller=ctl9 since=2026-01-01T00:00:00Z\n',
      /^an apply is changing the host \(run=r0 user=alice .*\), its transaction under way; no verdict until it ends \(--lock-timeout S waits for it\)$/,
    ],
    [null, /^a transaction ran on the host while its facts were read \(run=r0 user=alice\); no verdict: check again$/],
  ] as const) {
    const conn = new (class extends ScriptedConnection {
      override async run(script: string) {
        const r = await super.run(script);
        return stdout === null ? { ...r, stdout: r.stdout + '@@tprun-lock moved run=r0 user=alice\n' } : { ...r, stdout, code: 75 };
      }
    })(
      () => recorded('router-compliant'),
      () => assert.unreachable('check changes nothing') as never,
    );
    const r = await runHost(h1, { mode: 'check', roles: ROLES, connect: async () => conn });
    assert.equal([r.status, r.error?.step], ['failed', 'lock']);
    assert.match(r.error!.message, want);
  }
});

test('runHost: a busy lock fails the host at once with its holder; an earlier transaction is reported before planning', async () => {
  const busy = new (class extends ScriptedConnection {
    override async run(script: string) {
      const r = await super.run(script);
      return { ...r, stdout: '@@tprun-lock busy run=r0 user=alice controller=ctl9 since=2026-01-01T00:00:00Z\n', code: 75 };
    }
  })(
    () => recorded('router-fresh'),
    () => assert.unreachable('locked: nothing applied') as never,
  );
  const r = await runHost(h1, { mode: 'apply', roles: ROLES, connect: async () => busy });
  assert.equal([r.status, r.error!.step], ['failed', 'lock']);
  assert.match(r.error!.message, /locked by another apply \(run=r0 user=alice controller=ctl9 since=2026-01-01T00:00:00Z\)/);
  const earlier = new (class extends ScriptedConnection {
    override async run(script: string) {
      const r = await super.run(script);
      const last = [
        '@@tprun-last r0 ended r0 alice ctl9 2026-01-01',
        '@@tprun-last-line @@tprun-step 0',
        '@@tprun-last-line @@tprun-fail 0',
        '@@tprun-last-line @@tprun-undo-fail 0',
        '@@tprun-last-line @@tprun-end rollback-incomplete',
      ];
      return { ...r, stdout: last.join('\n') + '\n' + r.stdout };
    }
  })(
    () => recorded('router-compliant'),
    () => assert.unreachable() as never,
  );
  const e = await runHost(h1, { mode: 'check', roles: ROLES, connect: async () => earlier });
  assert.is(e.status, 'compliant');
  assert.match(e.notes.join('\n'), /the earlier transaction r0 \(alice on ctl9\) ended on the host: rollback INCOMPLETE: not undone: step 0/);
  // A runner that died during its rollback: never "no rollback ran" when the journal shows undo lines.
  const died = new (class extends ScriptedConnection {
    override async run(script: string) {
      const r = await super.run(script);
      const last = [
        '@@tprun-last r1 dead r1 bob ctl2 2026-01-01',
        ...['step 0', 'ok 0', 'step 1', 'fail 1', 'undo 1', 'undone 1', 'undo 0'].map((l) => `@@tprun-last-line @@tprun-${l}`),
      ];
      return { ...r, stdout: last.join('\n') + '\n' + r.stdout };
    }
  })(
    () => recorded('router-compliant'),
    () => assert.unreachable() as never,
  );
  const d = await runHost(h1, { mode: 'check', roles: ROLES, connect: async () => died });
  assert.match(
    d.notes.join('\n'),
    /the earlier transaction r1 \(bob on ctl2\) was cut short on the host \(its runner died after step 1, step 1 failed, its rollback had begun: undone step 1; not undone step 0\)/,
  );
  assert.not.match(d.notes.join('\n'), /no rollback ran/);
});

test('signals: after the first, no new host starts and a host between facts and apply does not start its transaction; exit is not 0', async () => {
  const { runFleet, Interrupt } = await import('../src/run/fleet.ts');
  const interrupt = new Interrupt();
  const hosts = loadInventory('inventories/lab.yml').inventory!.hosts;
  const many = [0, 1, 2].map((k) => ({ ...hosts[0]!, name: `h${k + 1}` }));
  let applied = 0;
  const out = await runFleet({
    mode: 'apply',
    hosts: many,
    roles: [...ROLES],
    forks: 1,
    interrupt,
    connect: async () => {
      interrupt.signal();
      return new ScriptedConnection(
        () => recorded('router-fresh'),
        () => (applied++, { stdout: '', stderr: '', code: 0 }),
      );
    },
  });
  assert.is(applied, 0);
  assert.equal(
    out.results.map((r) => r.error?.step),
    ['interrupted', 'interrupted', 'interrupted'],
  );
  assert.match(out.results[0]!.error!.message, /before its transaction started: nothing was changed/);
  assert.equal(out.interrupted!.notStarted, ['h2', 'h3']);
  assert.is(out.exitCode, 4);
});

test('exit codes: 0, 2 (check with drift, apply with changes and --detailed-exitcodes), 4 (failure), 6 (both)', () => {
  const r = (status: string) => ({ status }) as never;
  assert.is(exitCode([r('compliant')], 'check'), 0);
  assert.is(exitCode([r('compliant'), r('drifted')], 'check'), 2);
  assert.is(exitCode([r('changed'), r('unreachable')], 'apply', true), 6);
  assert.is(exitCode([r('changed'), r('unreachable')], 'apply'), 4);
  assert.is(exitCode([r('changed'), r('compliant')], 'apply', true), 2);
  assert.is(exitCode([r('changed')], 'apply'), 0);
  assert.is(exitCode([r('compliant'), r('unreachable')], 'apply'), 4);
  assert.is(exitCode([r('drifted'), r('failed')], 'check'), 6);
});

test.after(() => rmSync(tmp, { recursive: true, force: true }));
test('a lock that its runner removes while a newer apply takes over is a free host, not "processes of a dead transaction do not end" (real sh)', () => {
  // Seen in CI: the first run's runner ended (its exit removes the lock) while the second run's
  // reap was between its two reads of the lock file; the reap failed on the vanished file and the
  // host was refused with every field of the holder empty. Here the second read removes it.
  const dir = mkdtempSync(join(tmpdir(), 'tprun-reap-'));
  try {
    const inDir = (text: string) => text.replaceAll(`R=${TX_ROOT}`, `R=${dir}`);
    const gone = spawnSync('sh', ['-c', 'echo $$']).stdout.toString().trim();
    writeFileSync(join(dir, 'lock'), `run r1\nuser u\ncontroller c\nsince s\ntx ${gone} 0\n`);
    const script = inDir(
      guarded(`tprun_field() { rm -f "$R/lock"; sed -n "s/^$1 //p" "$R/lock" 2>/dev/null | head -n 1; }
tprun_reap && echo REAPED || echo REFUSED; tprun_held && echo HELD || echo FREE`),
    );
    const r = spawnSync('sh', ['-c', script], { encoding: 'utf8' });
    assert.is(r.stdout.trim(), 'REAPED\nFREE', r.stderr);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a lock naming PID 1 is never held, and a session whose parent died names itself, not the dead parent (real sh)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tprun-conn-'));
  try {
    const st = (pid: number) => readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/.*\) /s, '').split(' ')[19];
    const inDir = (text: string) => text.replaceAll(`R=${TX_ROOT}`, `R=${dir}`);
    const held = () => spawnSync('sh', ['-c', inDir(guarded('tprun_held && echo HELD || echo FREE'))], { encoding: 'utf8' }).stdout.trim();
    writeFileSync(join(dir, 'lock'), `run r1\nconn ${process.pid} ${st(process.pid)}\n`);
    assert.is(held(), 'HELD');
    // Seen in the soak: tprun killed while a host read its facts left "conn 1", and init never ends.
    writeFileSync(join(dir, 'lock'), `run r1\nconn 1 ${st(1)}\n`);
    assert.is(held(), 'FREE');
    // A shell whose parent exited before it asked (its sshd gone): its $PPID names a dead process.
    const inner = join(dir, 'inner.sh');
    const out = join(dir, 'conn');
    writeFileSync(
      inner,
      inDir(guarded(`sleep 0.5; c=$(tprun_conn); tprun_alive "$c" "$(tprun_st "$c")" && echo "$c alive" > ${out} || echo "$c dead" > ${out}`)),
    );
    spawnSync('sh', ['-c', `sh ${inner} >/dev/null 2>&1 & exit 0`]);
    for (let i = 0; i < 100 && !existsSync(out); i++) await new Promise((r) => setTimeout(r, 100));
    const [pid, state] = readFileSync(out, 'utf8').trim().split(' ');
    assert.is(state, 'alive', `tprun_conn named ${pid}, which is not alive`);
    assert.is.not(pid, '1');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
