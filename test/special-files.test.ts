/**
 * Files the operator names that are not regular files (a FIFO, /dev/zero) or are endless: one
 * sentence and an exit, never a hang or an out-of-memory kill (#21). Each run has a timeout: a
 * hang fails the test instead of the suite.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const tmp = mkdtempSync(join(tmpdir(), 'tprun-special-'));
const fifo = join(tmp, 'fifo');
spawnSync('mkfifo', [fifo]);
const tprun = (args: string[], input?: string) => {
  const r = spawnSync(process.execPath, ['bin/tprun.js', ...args], { encoding: 'utf8', timeout: 60_000, input, maxBuffer: 1 << 20 });
  return { code: r.status, signal: r.signal, out: r.stdout, err: r.stderr };
};

for (const [name, file] of [
  ['a FIFO', fifo],
  ['/dev/zero', '/dev/zero'],
] as const) {
  test(`a plan that is ${name}: one sentence, exit 1, no hang`, () => {
    const r = tprun(['show', file]);
    assert.is(r.signal, null, 'tprun hung or was killed');
    assert.is(r.code, 1, r.err);
    assert.match(r.err, /cannot read the plan \(not a regular file: a FIFO, socket or device\)/);
  });

  test(`known_hosts or an SSH config that is ${name}: the host fails with the reason, the run ends with a recap`, () => {
    for (const key of ['known_hosts', 'config_file']) {
      const inv = join(tmp, `${key}.yml`);
      writeFileSync(inv, `routers:\n  r1: { address: 127.0.0.1, ssh: { port: 1, identity: ${join(tmp, 'id')}, ${key}: ${file} } }\n`);
      spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(tmp, 'id')], { input: 'n\n' });
      const r = tprun(['check', inv]);
      assert.is(r.signal, null, `${key}: tprun hung or was killed`);
      assert.is(r.code, 4, `${key}: ${r.out}${r.err}`);
      assert.match(
        r.out,
        new RegExp(`^r1: (FAILED|UNREACHABLE).*${key === 'known_hosts' ? 'known_hosts' : 'SSH config'} ${file}: not a regular file`, 'm'),
        r.out,
      );
      assert.match(r.out, /^1 host: /m);
    }
  });
}

test('an endless inventory on standard input is refused at the size limit', () => {
  const r = spawnSync('sh', ['-c', `head -c 40000000 /dev/zero | tr '\\0' 'a' | ${process.execPath} bin/tprun.js validate -`], {
    encoding: 'utf8',
    timeout: 120_000,
  });
  assert.is(r.signal, null);
  assert.is(r.status, 1, r.stderr);
  assert.match(r.stderr, /-: cannot read the inventory from standard input \(larger than the 32 MiB limit\)/);
});

test.after(() => rmSync(tmp, { recursive: true, force: true }));
test.run();
