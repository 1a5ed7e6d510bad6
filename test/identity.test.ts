import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { identityFor, isEncrypted, prepareIdentities } from '../src/ssh/identity.ts';
import { load } from './helpers.ts';

const dir = mkdtempSync(join(tmpdir(), 'tprun-id-'));
const keygen = (file: string, pass: string) => spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', pass, '-f', file]).status;
const haveKeygen = keygen(join(dir, 'plain'), '') === 0 && keygen(join(dir, 'locked'), 'sesame') === 0;

const hostWith = (identity: string, env?: string) =>
  load(
    `routers:\n  c1: { address: 198.51.100.10, ssh: { identity: ${identity}${env ? `, passphrase_env: ${env}` : ''}, known_hosts: /dev/null }, squid: { clients: [198.51.100.0/24] } }\n`,
  ).inventory!.hosts[0]!;

(haveKeygen ? test : test.skip)('encrypted keys are recognised; the passphrase comes from the named variable, never guessed', async () => {
  const { readFileSync } = await import('node:fs');
  assert.is(isEncrypted(readFileSync(join(dir, 'plain'), 'utf8')), false);
  assert.is(isEncrypted(readFileSync(join(dir, 'locked'), 'utf8')), true);
  process.env.TPRUN_TEST_PASS = 'sesame';
  const ok = hostWith(join(dir, 'locked'), 'TPRUN_TEST_PASS');
  assert.equal([...(await prepareIdentities([ok]))], []);
  assert.is(identityFor(ok)!.key.type, 'ssh-ed25519');
  process.env.TPRUN_TEST_PASS = 'wrong';
  const { copyFileSync } = await import('node:fs');
  copyFileSync(join(dir, 'locked'), join(dir, 'locked2'));
  const bad = await prepareIdentities([hostWith(join(dir, 'locked2'), 'TPRUN_TEST_PASS')]);
  assert.match(bad.get('c1')!.message, /the passphrase in TPRUN_TEST_PASS does not decrypt identity/);
});

(haveKeygen ? test : test.skip)('without a passphrase and without a terminal: a per-host error that says what to do', async () => {
  const { mkdirSync, copyFileSync } = await import('node:fs');
  mkdirSync(join(dir, 'other'));
  copyFileSync(join(dir, 'locked'), join(dir, 'other/locked'));
  const h = hostWith(join(dir, 'other/locked'));
  const problems = await prepareIdentities([h]);
  assert.match(problems.get('c1')!.message, /is encrypted: set ssh.passphrase_env/);
  const missing = await prepareIdentities([hostWith(join(dir, 'nope'))]);
  assert.match(missing.get('c1')!.message, /cannot read identity .*ENOENT/);
});

(haveKeygen ? test : test.skip)("a key readable by group or others is refused with OpenSSH's reason; a FIFO is not read", async () => {
  const { chmodSync, copyFileSync } = await import('node:fs');
  for (const mode of [0o640, 0o604, 0o660]) {
    const file = join(dir, `open-${mode.toString(8)}`);
    copyFileSync(join(dir, 'plain'), file);
    chmodSync(file, mode);
    const problems = await prepareIdentities([hostWith(file)]);
    assert.match(problems.get('c1')!.message, new RegExp(`UNPROTECTED PRIVATE KEY FILE: permissions 0${mode.toString(8)} are too open`));
    assert.match(problems.get('c1')!.message, /NOT accessible by others/);
  }
  const fine = join(dir, 'closed');
  copyFileSync(join(dir, 'plain'), fine);
  chmodSync(fine, 0o600);
  assert.equal([...(await prepareIdentities([hostWith(fine)]))], []);
  if (spawnSync('mkfifo', [join(dir, 'fifo')]).status === 0) {
    const fifo = await prepareIdentities([hostWith(join(dir, 'fifo'))]);
    assert.match(fifo.get('c1')!.message, /is not a regular file/);
  }
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();
