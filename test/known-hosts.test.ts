import { createHmac, generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { fingerprint, keyTypeOf, verifyHostKey } from '../src/ssh/known-hosts.ts';

/** An ssh-ed25519 public key blob as sshd offers it. */
function edBlob(): Buffer {
  const raw = generateKeyPairSync('ed25519').publicKey.export({ format: 'der', type: 'spki' }).subarray(-32);
  const str = (b: Buffer) => Buffer.concat([Buffer.from([0, 0, 0, b.length]), b]);
  return Buffer.concat([str(Buffer.from('ssh-ed25519')), str(raw)]);
}
const dir = mkdtempSync(join(tmpdir(), 'tprun-kh-'));
const file = join(dir, 'known_hosts');
const key = edBlob();
const other = edBlob();
const line = (host: string, k: Buffer) => `${host} ssh-ed25519 ${k.toString('base64')}`;
const check = (host: string, port: number, k: Buffer, acceptNew = false) => verifyHostKey({ file, host, port, key: k, acceptNew });

test('plain entries, comma lists and [host]:port', () => {
  writeFileSync(file, `# comment\n${line('198.18.1.1,cache1', key)}\n${line('[198.18.1.2]:2222', key)}\n`);
  assert.equal(check('198.18.1.1', 22, key), { ok: true });
  assert.equal(check('198.18.1.2', 2222, key), { ok: true });
  assert.is(check('198.18.1.2', 22, key).ok, false); // the port is part of the name
});

test('hashed entries (|1|salt|hash)', () => {
  const salt = randomBytes(20);
  const hash = createHmac('sha1', salt).update('198.18.1.9').digest('base64');
  writeFileSync(file, `|1|${salt.toString('base64')}|${hash} ssh-ed25519 ${key.toString('base64')}\n`);
  assert.equal(check('198.18.1.9', 22, key), { ok: true });
  assert.is(check('198.18.1.8', 22, key).ok, false);
});

test('a changed key fails with the fingerprint and the ssh-keygen -R hint; @revoked fails', () => {
  writeFileSync(file, line('198.18.1.1', key) + '\n');
  const v = check('198.18.1.1', 22, other);
  assert.is(v.ok, false);
  if (!v.ok) {
    assert.match(v.reason, /HOST KEY CHANGED for 198\.18\.1\.1/);
    assert.ok(v.reason.includes(fingerprint(other)));
    assert.match(v.reason, /ssh-keygen -R/);
  }
  writeFileSync(file, `@revoked * ssh-ed25519 ${key.toString('base64')}\n${line('198.18.1.1', key)}\n`);
  const r = check('198.18.1.1', 22, key);
  assert.ok(!r.ok && /@revoked/.test(r.reason));
});

test('an unknown key fails unless new keys may be recorded; a recorded key is then trusted', () => {
  writeFileSync(file, '');
  const v = check('198.18.1.5', 22, key);
  assert.ok(!v.ok && /unknown host key .*--accept-new-host-keys/.test(v.reason));
  assert.equal(check('198.18.1.5', 22, key, true), { ok: true, recorded: true });
  assert.is(readFileSync(file, 'utf8'), `198.18.1.5 ssh-ed25519 ${key.toString('base64')}\n`);
  assert.equal(check('198.18.1.5', 22, key), { ok: true });
  assert.is(check('198.18.1.5', 22, other, true).ok, false); // accept-new never accepts a changed key
  assert.is(keyTypeOf(key), 'ssh-ed25519');
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();
