/**
 * The commands share one context (src/cli/context.ts): the same secrets hidden, the same place for
 * human output when a report takes stdout, the same exit codes, and options read by their own
 * declarations. Run in this process through main(), with the test's own streams.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readOptions, UsageError } from '../src/cli/args.ts';
import { COMMANDS } from '../src/cli/commands/index.ts';
import apply from '../src/cli/commands/apply.ts';
import check from '../src/cli/commands/check.ts';
import { main } from '../src/cli/main.ts';
import { DEFAULT_FORKS } from '../src/run/options.ts';
import { capture } from './scripted.ts';

const tmp = mkdtempSync(join(tmpdir(), 'tprun-commands-'));
spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(tmp, 'id')]);
const SECRET = 'pw-k7q2-secret';
const PASS = 'op-m3x9-pass';
// Nothing listens on port 1: every command contacts the host and fails at once, naming the
// user it connected as, which is the inventory's secret on r1 and the passphrase on r2.
const inv = join(tmp, 'inv.yml');
writeFileSync(
  inv,
  `defaults:
  squid: { clients: [198.51.100.0/24], dns_nameservers: [198.51.100.53] }
routers:
  r1: { address: 127.0.0.1, ssh: { port: 1, identity: ${join(tmp, 'id')}, user: !secret "${SECRET}" } }
  r2: { address: 127.0.0.2, ssh: { port: 1, identity: ${join(tmp, 'id')}, user: ${PASS}, passphrase_env: TPRUN_TEST_PASS } }
`,
);
// TPRUN_CONFIG empty: no config file of the machine's is read, unless a test names one.
const env = { ...process.env, TPRUN_TEST_PASS: PASS, NO_COLOR: '1', TPRUN_CONFIG: '' };

async function tprun(args: string[], environment: NodeJS.ProcessEnv = env, cwd?: string) {
  const out = capture();
  const err = capture();
  const code = await main(args, { out, err, env: environment, cwd });
  return { code, out: out.text(), err: err.text() };
}

for (const command of ['check', 'apply', 'doctor', 'facts']) {
  test(`${command}: the inventory's secrets and the identities' passphrases are never shown`, async () => {
    const r = await tprun([command, inv]);
    assert.is(r.code, 4, r.out + r.err);
    assert.match(r.out, /^r1: .*\[redacted\]@127\.0\.0\.1:1/m);
    assert.match(r.out, /^r2: .*\[redacted\]@127\.0\.0\.2:1/m);
    for (const s of [SECRET, PASS]) assert.not.ok((r.out + r.err).includes(s), `${command} showed ${s}`);
  });
}

for (const command of ['check', 'apply', 'doctor']) {
  test(`${command} --report json:- : stdout is the report alone, the people's lines go to stderr, secrets hidden in both`, async () => {
    const r = await tprun([command, inv, '--report', 'json:-']);
    assert.is(r.code, 4, r.err);
    const report = JSON.parse(r.out) as { exitCode: number; hosts: { name: string; status: string; error?: { message: string } }[] };
    assert.is(report.exitCode, 4);
    assert.equal(
      report.hosts.map((h) => [h.name, h.status]),
      [
        ['r1', 'unreachable'],
        ['r2', 'unreachable'],
      ],
    );
    assert.match(r.err, /^r1: UNREACHABLE/m);
    for (const s of [SECRET, PASS]) assert.not.ok((r.out + r.err).includes(s), `${command} showed ${s}`);
  });
}

test('an option is read by its declaration: the command line, else its environment variable, else its default', () => {
  assert.is(readOptions(check, {}, {}).forks, DEFAULT_FORKS);
  assert.is(readOptions(check, {}, { TPRUN_FORKS: '7' }).forks, 7);
  assert.is(readOptions(check, { forks: '3' }, { TPRUN_FORKS: 'x' }).forks, 3, 'the command line wins, and a bad variable it hides is not read');
  assert.is(readOptions(check, {}, { TPRUN_LOCK_TIMEOUT: '2.5' }).lockTimeout, 2.5);
  assert.equal(readOptions(check, { report: ['json:a', 'prom:b'] }, {}).report, [
    { format: 'json', file: 'a' },
    { format: 'prom', file: 'b' },
  ]);
  assert.throws(
    () => readOptions(check, {}, { TPRUN_FORKS: '0' }),
    (e: unknown) => e instanceof UsageError && /^TPRUN_FORKS \(environment\) takes a whole number of at least 1, not "0"$/.test(e.message),
  );
  // A flag from its variable: yes or no in words a shell script writes, anything else refused.
  assert.is(readOptions(apply, {}, {}).detailedExitcodes, false);
  assert.is(readOptions(apply, {}, { TPRUN_DETAILED_EXITCODES: '1' }).detailedExitcodes, true);
  assert.is(readOptions(apply, {}, { TPRUN_DETAILED_EXITCODES: 'no' }).detailedExitcodes, false);
  assert.is(readOptions(apply, { 'detailed-exitcodes': true }, { TPRUN_DETAILED_EXITCODES: '0' }).detailedExitcodes, true);
  assert.throws(
    () => readOptions(apply, {}, { TPRUN_DETAILED_EXITCODES: 'sure' }),
    (e: unknown) => e instanceof UsageError && /^TPRUN_DETAILED_EXITCODES \(environment\) is 1, true or yes \(or 0, false or no\), not "sure"$/.test(e.message),
  );
  assert.throws(
    () => readOptions(check, { roles: 'squid,nope' }, {}),
    (e: unknown) => e instanceof UsageError && /unknown role "nope"/.test(e.message),
  );
});

test('a bad value from the environment is refused before any host is contacted, naming the variable', async () => {
  const r = await tprun(['check', inv], { ...env, TPRUN_FORKS: 'many' });
  assert.is(r.code, 1);
  assert.is(r.out, '');
  assert.match(r.err, /^tprun: TPRUN_FORKS \(environment\) takes a whole number of at least 1, not "many" \(see "tprun help check"\)$/m);
  assert.not.match(r.err, /r1/);
  // What the variable held reaches the terminal with its control characters made visible.
  const hostile = await tprun(['check', inv], { ...env, TPRUN_FORKS: '\x1b]0;owned\x07' });
  assert.is(hostile.code, 1);
  assert.not.match(hostile.err, /[\x1b\x07]/);
});

test('a config file: the command line wins, then the environment, then the file, then the default', () => {
  const from = 'tprun.config.yml:1:8: forks';
  const config = new Map([['forks', { raw: '3', from }]]);
  assert.is(readOptions(check, {}, {}, config).forks, 3);
  assert.is(readOptions(check, {}, { TPRUN_FORKS: '7' }, config).forks, 7);
  assert.is(readOptions(check, { forks: '9' }, { TPRUN_FORKS: '7' }, config).forks, 9);
  assert.is(readOptions(check, {}, {}, new Map()).forks, DEFAULT_FORKS);
});

test('a config file in the working directory sets reports for check; --report on the command line replaces them', async () => {
  const dir = mkdtempSync(join(tmp, 'cfg-'));
  const report = join(dir, 'from-config.json');
  writeFileSync(join(dir, 'tprun.config.yml'), `# a habit, as ansible.cfg\nforks: 2\nreport: [json:${report}]\n`);
  const noConfigVar = { ...env, TPRUN_CONFIG: undefined };
  const r = await tprun(['check', inv], noConfigVar, dir);
  assert.is(r.code, 4, r.out + r.err);
  assert.equal(
    (JSON.parse(readFileSync(report, 'utf8')) as { hosts: { name: string }[] }).hosts.map((h) => h.name),
    ['r1', 'r2'],
  );
  rmSync(report);
  const cli = await tprun(['check', inv, '--report', 'json:-'], noConfigVar, dir);
  assert.is(cli.code, 4, cli.err);
  assert.ok(JSON.parse(cli.out), 'the command line report');
  assert.not.ok(existsSync(report), "the config file's report is replaced, not added");
  // TPRUN_CONFIG= (empty): no file is read.
  await tprun(['check', inv], { ...env, TPRUN_CONFIG: '' }, dir);
  assert.not.ok(existsSync(report));
});

test('a bad config file: every problem as FILE:LINE:COL before any host is contacted, exit 1', async () => {
  const dir = mkdtempSync(join(tmp, 'cfg-'));
  const file = join(dir, 'ops.yml');
  writeFileSync(file, 'forks: 0\nlimit: r1\nforsk: 3\nquiet: yes\nreport: [yaml:x]\nlock-timeout: 5\n');
  const r = await tprun(['check', inv], { ...env, TPRUN_CONFIG: file }, dir);
  assert.is(r.code, 1);
  assert.is(r.out, '');
  assert.equal(r.err.trim().split('\n'), [
    `${file}:1:8: forks takes a whole number of at least 1, not "0"`,
    `${file}:2:1: limit is chosen per run, not in a config file: give --limit on the command line`,
    `${file}:3:1: unknown setting "forsk" (did you mean "forks"?); settings: probe, lock-timeout, forks, report, diff, quiet, verbose, serial, max-fail, detailed-exitcodes`,
    `${file}:4:8: quiet is true or false`,
    `${file}:5:9: report takes json:FILE, junit:FILE, prom:FILE or html:FILE, not "yaml:x"`,
  ]);
  // A syntax error is quoted with a caret; a file named that is not there is said so.
  writeFileSync(file, 'forks: 2\n  quiet: true\n');
  const y = await tprun(['check', inv], { ...env, TPRUN_CONFIG: file }, dir);
  assert.is(y.code, 1);
  assert.match(y.err, new RegExp(`^${file}:2:\\d+: .*\\n\\s+2 \\|   quiet: true\\n\\s+\\|\\s+\\^`, 'm'));
  const gone = await tprun(['validate', inv], { ...env, TPRUN_CONFIG: join(dir, 'nope.yml') }, dir);
  assert.is(gone.code, 1);
  assert.match(gone.err, /nope\.yml: cannot read the config file \(ENOENT\)/);
});

test('every option a command declares is in its help, and only those are accepted', async () => {
  for (const c of COMMANDS) {
    const help = (await tprun([c.name, '--help'])).out;
    for (const o of c.options) {
      assert.ok(help.includes(`--${o.name}`), `${c.name} --${o.name}`);
      if (o.env) assert.ok(help.replace(/\s+/g, ' ').includes(`${o.env} in the environment`), `${c.name} names ${o.env}`);
    }
  }
});

test.after(() => rmSync(tmp, { recursive: true, force: true }));
test.run();
