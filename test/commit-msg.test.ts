/** The commit-msg hook that `npm ci` installs: subjects of at most 72 characters, then a blank line. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const tmp = mkdtempSync(join(tmpdir(), 'tprun-hook-'));
const hook = (message: string) => {
  const f = join(tmp, 'MSG');
  writeFileSync(f, message);
  return spawnSync('sh', ['.githooks/commit-msg', f], { encoding: 'utf8', env: { ...process.env, LC_ALL: 'C', LANG: 'C' } });
};

test('a subject of 72 characters passes; 73 is refused with its length; a body needs the blank line', () => {
  assert.is(hook(`${'a'.repeat(72)}\n\nwhy\n`).status, 0);
  assert.is(hook(`${'é'.repeat(72)}\n`).status, 0, 'characters, not bytes');
  const long = hook(`${'a'.repeat(73)}\n\nwhy\n`);
  assert.is(long.status, 1);
  assert.match(long.stderr, /the subject is 73 characters/);
  assert.is(hook('subject\nbody right under it\n').status, 1);
  assert.is(hook(`# a comment git strips\n${'a'.repeat(40)}\n`).status, 0);
  assert.is(hook(`Merge branch '${'b'.repeat(80)}'\n`).status, 0, "git's own merge subjects");
});

test('npm ci installs it: package.json prepare points git at .githooks', () => {
  const pkg = JSON.parse(spawnSync('cat', ['package.json'], { encoding: 'utf8' }).stdout) as { scripts: Record<string, string> };
  assert.match(pkg.scripts.prepare!, /git config core\.hooksPath \.githooks/);
});

test.after(() => rmSync(tmp, { recursive: true, force: true }));
test.run();
