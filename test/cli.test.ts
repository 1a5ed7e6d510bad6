import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const tprun = (...args: string[]) => {
  const r = spawnSync(process.execPath, ['bin/tprun.js', ...args], { encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
};
const tmp = mkdtempSync(join(tmpdir(), 'tprun-cli-'));

test('validate: example is valid, exit 0', () => {
  const r = tprun('validate', 'inventories/example.yml');
  assert.is(r.code, 0, r.err);
  assert.match(r.out, /valid \(2 routers, 1 bridges, 1 WCCP peers\)/);
});

test('validate: broken inventory gets FILE:LINE:COL lines, exit 1, no stack trace', () => {
  const f = join(tmp, 'bad.yml');
  writeFileSync(f, 'routers:\n  c1: { address: 198.51.100.300, ssh: { prot: 22 } }\n');
  const r = tprun('validate', f);
  assert.is(r.code, 1);
  const lines = r.err.trim().split('\n');
  assert.match(lines[0]!, new RegExp(`^${f}:2:18: routers.c1.address: not an IP address or host name$`));
  assert.match(lines[1]!, new RegExp(`^${f}:2:41: unknown key "prot" \\(did you mean "port"\\?\\)$`));
  assert.match(lines.at(-1)!, /2 errors; no host was contacted/);
  assert.not.match(r.err, /\n\s+at /);
});

test('validate: missing file and bad options exit 1 with a sentence', () => {
  const r = tprun('validate', join(tmp, 'nope.yml'));
  assert.is(r.code, 1);
  assert.match(r.err, /cannot read the inventory \(ENOENT\)/);
  assert.is(tprun('check', 'inventories/example.yml', '--forks', 'x').code, 1);
  assert.is(tprun('check', 'inventories/example.yml', '--roles', 'squid,nope').code, 1);
  assert.is(tprun('check', 'inventories/example.yml', '--report', 'xml:f').code, 1);
  assert.is(tprun('bogus', 'x').code, 1);
  assert.match(tprun('validate', 'inventories/example.yml', '--limit', 'zzz').err, /matches no host/);
});

test('render --out writes per-host artifacts and the WCCP router config', () => {
  const out = join(tmp, 'render');
  const r = tprun('render', 'inventories/example.yml', '--out', out, '--limit', 'cache1');
  assert.is(r.code, 0, r.err);
  assert.ok(existsSync(join(out, 'cache1/etc/squid/squid.conf')));
  assert.ok(existsSync(join(out, 'wccp/gw1.ios')));
  assert.not.ok(existsSync(join(out, 'cache2')));
});

test('--help and --version', () => {
  assert.match(
    tprun('--help').out.replace(/\s+/g, ' '),
    /Exit codes: 0 compliant\/success, .* 2 changes pending \(check\) or applied \(apply with --detailed-exitcodes\)/,
  );
  assert.match(tprun('--version').out, /^tprun \d+\.\d+\.\d+/);
});

test('per-command help: COMMAND --help and tprun help COMMAND agree, and commands differ', () => {
  const check = tprun('check', '--help');
  assert.is(check.code, 0);
  assert.match(check.out, /^Usage: tprun check INVENTORY/);
  assert.is(tprun('help', 'check').out, check.out);
  const validate = tprun('validate', '--help').out;
  assert.match(validate, /^Usage: tprun validate INVENTORY/);
  assert.not.match(validate, /--forks/);
  assert.match(tprun('apply', '-h').out, /--detailed-exitcodes/);
  assert.is(tprun('help').code, 0);
  const nope = tprun('help', 'nope');
  assert.is(nope.code, 1);
  assert.match(nope.err, /^tprun: no help for "nope"/);
});

test('unknown flags, commands and misplaced options: one line with a suggestion, exit 1', () => {
  const one = (r: { code: number | null; err: string }, re: RegExp) => {
    assert.is(r.code, 1);
    assert.is(r.err.trim().split('\n').length, 1, r.err);
    assert.match(r.err.trim(), re, r.err);
  };
  one(tprun('check', 'inventories/example.yml', '--lmit', 'h1'), /^tprun: check: unknown option --lmit; did you mean --limit\? \(see "tprun help check"\)$/);
  one(tprun('apply', 'inventories/example.yml', '--dif'), /did you mean --diff\?/);
  one(tprun('chek', 'inventories/example.yml'), /^tprun: unknown command "chek"; did you mean "check"\?/);
  // Two neighbours swapped is one typo.
  one(tprun('chekc', 'inventories/example.yml'), /^tprun: unknown command "chekc"; did you mean "check"\?/);
  one(tprun('validate', 'inventories/example.yml', '--forks', '2'), /--forks is not an option of validate/);
  one(tprun('check', 'inventories/example.yml', '--limit'), /--limit needs a value/);
  one(tprun('check', 'inventories/example.yml', '--diff=yes'), /--diff takes no value/);
  one(tprun('check', 'inventories/example.yml', '--zzzzzz'), /^tprun: check: unknown option --zzzzzz \(see/);
  // Ansible's habits: the way tprun says it, and a second --limit is refused instead of winning.
  one(tprun('check', 'inventories/example.yml', '-u', 'admin'), /unknown option -u: the SSH user is the inventory's ssh\.user/);
  one(tprun('check', 'inventories/example.yml', '--tags', 'squid'), /unknown option --tags: tprun selects roles, not tags: --roles a,b/);
  one(tprun('check', 'inventories/example.yml', '-i', 'hosts'), /the inventory is an argument/);
  one(
    tprun('check', 'inventories/example.yml', '-l', 'cache1', '--limit', 'cache2'),
    /^tprun: --limit is given twice; give it once and combine patterns in it: a:b/,
  );
});

test('init writes the example with an absolute $schema, never over a file; - prints it', () => {
  const file = join(tmp, 'starter.yml');
  const r = tprun('init', file);
  assert.is(r.code, 0, r.err);
  const text = readFileSync(file, 'utf8');
  const schema = /^# yaml-language-server: \$schema=(\/.+)$/m.exec(text)?.[1];
  assert.ok(schema && existsSync(schema), `no absolute schema path in ${text.slice(0, 200)}`);
  assert.is(tprun('validate', file).code, 0);
  writeFileSync(file, 'mine\n');
  const again = tprun('init', file);
  assert.is(again.code, 1);
  assert.match(again.err, /exists: init never overwrites a file/);
  assert.is(readFileSync(file, 'utf8'), 'mine\n');
  assert.is(tprun('init', '-').out, text);
  assert.match(tprun('init', join(tmp, 'no/such/dir/x.yml')).err, /does not exist/);
});

test("Ansible's short options: -l, -f, -C, -D", () => {
  assert.is(tprun('validate', 'inventories/example.yml', '--list-hosts', '-l', 'cache2').out, 'cache2\n');
  const r = tprun('apply', 'inventories/example.yml', '-C', '-D', '-f', '3', '-l', 'cache[12]', '--list-hosts');
  assert.is(r.code, 0, r.err);
  assert.is(r.out, 'cache1\ncache2\n');
  assert.match(tprun('apply', '-f', 'x', 'inventories/example.yml').err, /--forks takes a whole number/);
});

test('--list-hosts with pattern forms; a name that matches nothing is an error', () => {
  const list = (...limit: string[]) => tprun('validate', 'inventories/example.yml', '--list-hosts', ...limit);
  assert.equal(list().out.trim().split('\n'), ['cache1', 'cache2', 'cache3']);
  assert.equal(list('--limit', 'cache1:cache3').out.trim().split('\n'), ['cache1', 'cache3']);
  assert.equal(list('--limit', '!cache1').out.trim().split('\n'), ['cache2', 'cache3']);
  assert.equal(list('--limit', 'cache[12]').out.trim().split('\n'), ['cache1', 'cache2']);
  assert.equal(list('--limit', 'cache[2:3]').out.trim().split('\n'), ['cache2', 'cache3']);
  assert.equal(list('--limit', 'all:&routers').out.trim().split('\n'), ['cache1', 'cache2']);
  const bad = list('--limit', 'cache1,nosuch');
  assert.is(bad.code, 1);
  assert.match(bad.err, /^tprun: --limit: "nosuch" matches no host or group of inventories\/example\.yml/);
  assert.is(tprun('check', 'inventories/example.yml', '--limit', 'cache1', '--list-hosts').out, 'cache1\n');
});

test("plans: show and apply --plan read a saved plan; a bad one is one line; check --out is check's, not validate's", () => {
  const plan = join(tmp, 'plan.json');
  writeFileSync(
    plan,
    JSON.stringify({
      planVersion: 2,
      tprun: '0.1.0',
      created: '2026-01-01T00:00:00.000Z',
      salt: '0'.repeat(32),
      inventory: { path: 'inventories/example.yml', files: ['inventories/example.yml'], sha256: '0'.repeat(64) },
      selection: { roles: ['sysctl'] },
      hosts: [
        {
          name: 'cache1',
          address: '198.51.100.10',
          status: 'drifted',
          settings: {},
          fingerprint: `sha256:${'0'.repeat(64)}`,
          changes: [
            {
              role: 'sysctl',
              id: 'sysctl net.ipv4.ip_forward',
              action: 'update',
              line: '~ sysctl net.ipv4.ip_forward: 0 → 1',
              diff: ['0 → 1'],
              commands: [],
            },
          ],
        },
      ],
    }),
  );
  const shown = tprun('show', plan);
  assert.is(shown.code, 0, shown.err);
  assert.match(shown.out, /^cache1: 1 change planned\n {4}~ sysctl net\.ipv4\.ip_forward: 0 → 1$/m);
  writeFileSync(join(tmp, 'junk.json'), '{"x": 1}');
  const bad = tprun('apply', '--plan', join(tmp, 'junk.json'));
  assert.is(bad.code, 1);
  assert.match(bad.err, /^tprun: \S+junk\.json: not a tprun plan/);
  assert.match(tprun('validate', 'inventories/example.yml', '--out', 'x').err, /--out is not an option of validate/);
  // The plan names the inventory; a file other than the one it was made from is refused unread.
  const shadow = join(tmp, 'shadow');
  writeFileSync(shadow, 'root:$6$not-for-your-eyes:19000:0:99999:7:::\n');
  const doc = JSON.parse(readFileSync(plan, 'utf8')) as { inventory: { path: string; files: string[] } };
  doc.inventory = { ...doc.inventory, path: shadow, files: [shadow] };
  writeFileSync(plan, JSON.stringify(doc));
  const moved = tprun('apply', '--plan', plan);
  assert.is(moved.code, 1);
  assert.match(moved.err, /was made from \S+shadow \(sha256 000000000000…\), which now has sha256 [0-9a-f]{12}…: name the inventory/);
  assert.not.match(moved.err, /not-for-your-eyes/);
});

test.after(() => rmSync(tmp, { recursive: true, force: true }));
test.run();
