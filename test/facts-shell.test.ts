/**
 * Facts whose commands read files with shell builtins and one awk instead of a process per file:
 * run on a scratch tree (the command's absolute paths moved under it), under each POSIX shell
 * here, they print what the earlier commands printed (the expected text below is theirs).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseSysctlFiles } from '../src/facts/parsers.ts';
import { sysctlFiles } from '../roles/sysctl/facts.ts';

const root = mkdtempSync(join(tmpdir(), 'tprun-facts-shell-'));
const put = (p: string, text: string) => {
  mkdirSync(join(root, p, '..'), { recursive: true });
  writeFileSync(join(root, p), text);
};
put('etc/sysctl.d/10-a.conf', 'a=1\n');
put('etc/sysctl.d/20-empty.conf', '');
put('usr/lib/sysctl.d/10-a.conf', 'hidden=1\n');
put('usr/lib/sysctl.d/30-b.conf', '# comment\nb = 2\n');
put('lib/sysctl.d/99-last-empty.conf', '');
put('sysctl.conf', 'c=3\n');
symlinkSync('../../sysctl.conf', join(root, 'etc/sysctl.d/99-sysctl.conf'));

const moved = sysctlFiles.command.text
  .replaceAll('/etc/sysctl.conf', `${root}/sysctl.conf`)
  .replace(/(\/etc|\/run|\/usr\/local\/lib|\/usr\/lib|\/lib)\/sysctl\.d/g, `${root}$1/sysctl.d`);

const head = (p: string, target = p) => `==> ${root}/${p} ${root}/${target}`;
const expected = [
  head('etc/sysctl.d/10-a.conf'),
  'a=1',
  '',
  head('etc/sysctl.d/20-empty.conf'),
  '',
  head('usr/lib/sysctl.d/30-b.conf'),
  '# comment',
  'b = 2',
  '',
  head('lib/sysctl.d/99-last-empty.conf'),
  '',
  head('etc/sysctl.d/99-sysctl.conf', 'sysctl.conf'),
  'c=3',
  '',
  head('sysctl.conf'),
  'c=3',
  '',
].join('\n');

for (const shell of ['dash', 'bash', 'sh']) {
  const have = spawnSync('sh', ['-c', `command -v ${shell}`]).status === 0;
  (have ? test : test.skip)(`sysctl.files under ${shell}: every file once, by name, an empty one too, then sysctl.conf`, () => {
    const r = spawnSync(shell, ['-c', moved], { encoding: 'utf8', env: { PATH: process.env.PATH, LC_ALL: 'C' } });
    assert.is(r.status, 0, r.stderr);
    assert.is(r.stdout, expected);
    assert.equal(
      parseSysctlFiles(r.stdout).map((f) => [f.path.slice(root.length), f.assignments.map((a) => `${a.key}=${a.value}`)]),
      [
        ['/etc/sysctl.d/10-a.conf', ['a=1']],
        ['/etc/sysctl.d/20-empty.conf', []],
        ['/usr/lib/sysctl.d/30-b.conf', ['b=2']],
        ['/lib/sysctl.d/99-last-empty.conf', []],
        ['/etc/sysctl.d/99-sysctl.conf', ['c=3']],
        ['/sysctl.conf', ['c=3']],
      ],
    );
  });
}

test('sysctl.files with no file at all prints nothing', () => {
  const empty = mkdtempSync(join(tmpdir(), 'tprun-facts-none-'));
  const cmd = sysctlFiles.command.text
    .replaceAll('/etc/sysctl.conf', `${empty}/sysctl.conf`)
    .replace(/(\/etc|\/run|\/usr\/local\/lib|\/usr\/lib|\/lib)\/sysctl\.d/g, `${empty}$1/sysctl.d`);
  const r = spawnSync('sh', ['-c', cmd], { encoding: 'utf8' });
  rmSync(empty, { recursive: true, force: true });
  assert.is(r.status, 0, r.stderr);
  assert.is(r.stdout, '');
});

test.after(() => rmSync(root, { recursive: true, force: true }));
test.run();
