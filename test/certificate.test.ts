/**
 * Host certificates against @cert-authority lines, with certificates made by the real
 * `ssh-keygen -s` in a temporary directory: every way OpenSSH refuses a host certificate.
 */
import { execFileSync } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { certificateProblem, parseCertificate } from '../src/ssh/certificate.ts';
import { fingerprint, trustsCertificates, verifyHostKey } from '../src/ssh/known-hosts.ts';

const dir = mkdtempSync(join(tmpdir(), 'tprun-cert-'));
const keygen = (...args: string[]) => execFileSync('ssh-keygen', ['-q', ...args], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
/** A key pair NAME (private) and NAME.pub in the temporary directory. */
const keyPair = (name: string, type = 'ed25519') => {
  keygen('-t', type, '-N', '', '-C', name, '-f', join(dir, name));
  return readFileSync(join(dir, `${name}.pub`), 'utf8')
    .trim()
    .split(/\s+/)
    .slice(0, 2)
    .join(' ');
};
const blobOf = (pubLine: string) => Buffer.from(pubLine.split(' ')[1]!, 'base64');

const ca = keyPair('ca');
const otherCa = keyPair('other-ca');
const ecdsaCa = keyPair('ecdsa-ca', 'ecdsa');
const rsaCa = keyPair('rsa-ca', 'rsa');
const hostKey = keyPair('host');
keyPair('rsa-host', 'rsa');

let n = 0;
/** `ssh-keygen -s CA` over a copy of the host's public key; returns the certificate blob. */
function sign(opts: { ca?: string; host?: string; principals?: string; validity?: string; user?: boolean; options?: string[]; hash?: string } = {}): Buffer {
  const name = `cert${n++}`;
  writeFileSync(join(dir, `${name}.pub`), readFileSync(join(dir, `${opts.host ?? 'host'}.pub`)));
  const args = ['-s', opts.ca ?? 'ca', '-I', `id-${name}`, '-z', String(n)];
  if (!opts.user) args.push('-h');
  if (opts.principals !== '') args.push('-n', opts.principals ?? '198.18.1.1,cache1.example.net');
  if (opts.validity) args.push('-V', opts.validity);
  if (opts.hash) args.push('-t', opts.hash);
  for (const o of opts.options ?? []) args.push('-O', o);
  keygen(...args, `${name}.pub`);
  return blobOf(readFileSync(join(dir, `${name}-cert.pub`), 'utf8'));
}

const file = join(dir, 'known_hosts');
const check = (key: Buffer, host = '198.18.1.1', port = 22, acceptNew = false) => verifyHostKey({ file, host, port, key, acceptNew });
const caLine = (patterns: string, pub = ca) => `@cert-authority ${patterns} ${pub}`;
const reasonOf = (key: Buffer, host?: string, port?: number) => {
  const v = check(key, host, port);
  assert.is(v.ok, false, 'the certificate must be refused');
  return v.ok ? '' : v.reason;
};

test('a valid host certificate signed by the trusted CA is accepted (ed25519, ecdsa and rsa CAs)', () => {
  writeFileSync(file, `${caLine('*.example.net,198.18.1.*')}\n${caLine('198.18.1.1', ecdsaCa)}\n${caLine('198.18.1.1', rsaCa)}\n`);
  assert.equal(check(sign()), { ok: true });
  assert.equal(check(sign({ ca: 'ecdsa-ca' })), { ok: true });
  assert.equal(check(sign({ ca: 'rsa-ca', hash: 'rsa-sha2-256' })), { ok: true });
  assert.equal(check(sign({ ca: 'rsa-ca', host: 'rsa-host' })), { ok: true });
  assert.equal(check(sign(), 'cache1.example.net'), { ok: true });
  const cert = parseCertificate(sign());
  assert.ok(!(cert instanceof Error));
  if (!(cert instanceof Error)) {
    assert.equal(cert.principals, ['198.18.1.1', 'cache1.example.net']);
    assert.is(cert.certType, 2);
    assert.ok(cert.publicKey.equals(blobOf(hostKey)), 'the certified key is the host key');
    assert.ok(cert.signatureKey.equals(blobOf(ca)));
  }
});

test('expired and not yet valid certificates name their dates', () => {
  writeFileSync(file, caLine('198.18.1.1') + '\n');
  const expired = reasonOf(sign({ validity: '20200101:20200102' }));
  assert.match(
    expired,
    /^host certificate of 198\.18\.1\.1 \(key ID "id-cert\d+", serial \d+, CA ssh-ed25519 SHA256:.*\) is not valid: it expired on 2020-01-02T\d\d:00:00Z$/,
  );
  assert.match(reasonOf(sign({ validity: '+1d:+2d' })), /is not valid: it is not valid before 20\d\d-/);
  // The boundaries, at a chosen now: valid from valid_after, expired at valid_before.
  const cert = parseCertificate(sign({ validity: '20300101000000Z:20300102000000Z' }));
  assert.ok(!(cert instanceof Error));
  if (cert instanceof Error) return;
  assert.is(certificateProblem(cert, '198.18.1.1', new Date('2030-01-01T00:00:00Z')), undefined);
  assert.match(certificateProblem(cert, '198.18.1.1', new Date('2029-12-31T23:59:59Z'))!, /not valid before 2030-01-01T00:00:00Z/);
  assert.match(certificateProblem(cert, '198.18.1.1', new Date('2030-01-02T00:00:00Z'))!, /expired on 2030-01-02T00:00:00Z/);
});

test('the host name must be among the principals; a certificate without principals is refused', () => {
  writeFileSync(file, caLine('*') + '\n');
  assert.match(
    reasonOf(sign({ principals: 'cache2.example.net,198.18.1.2' })),
    /is not valid: principal 198\.18\.1\.1 is not in \[cache2\.example\.net, 198\.18\.1\.2\]$/,
  );
  assert.match(reasonOf(sign({ principals: '' })), /names no principals/);
});

test('a user certificate is not a host certificate', () => {
  writeFileSync(file, caLine('198.18.1.1') + '\n');
  assert.match(reasonOf(sign({ user: true })), /is not valid: it is a user certificate, not a host certificate$/);
});

test('critical options are refused in a host certificate', () => {
  writeFileSync(file, caLine('198.18.1.1') + '\n');
  assert.match(reasonOf(sign({ options: ['force-command=ls'] })), /critical options not supported for host certificates: force-command$/);
});

test('signed by another CA: the untrusted CA fingerprint and the trusted ones', () => {
  writeFileSync(file, caLine('198.18.1.1') + '\n');
  const reason = reasonOf(sign({ ca: 'other-ca' }));
  assert.ok(reason.includes(`signed by an untrusted CA with fingerprint ${fingerprint(blobOf(otherCa))} (ssh-ed25519)`), reason);
  assert.ok(reason.includes(`trust ${fingerprint(blobOf(ca))}`), reason);
  // A trusted CA for other hosts only is no trust for this one.
  writeFileSync(file, caLine('*.example.org') + '\n');
  assert.match(reasonOf(sign()), /no @cert-authority line in .* matches 198\.18\.1\.1$/);
});

test('a revoked CA, or a revoked certified key, is refused even with a matching @cert-authority line', () => {
  writeFileSync(file, `${caLine('198.18.1.1')}\n@revoked * ${ca}\n`);
  assert.match(reasonOf(sign()), /is signed by the CA ssh-ed25519 SHA256:\S+, which is marked @revoked in /);
  writeFileSync(file, `${caLine('198.18.1.1')}\n@revoked 198.18.1.1 ${hostKey}\n`);
  assert.match(reasonOf(sign()), new RegExp(`certifies the key ${fingerprint(blobOf(hostKey)).replace(/[+/]/g, '\\$&')}, which is marked @revoked`));
});

test('a tampered certificate fails its CA signature', () => {
  writeFileSync(file, caLine('198.18.1.1') + '\n');
  const cert = sign();
  // Change one byte of the key ID ("id-certN"): the body no longer matches the CA's signature.
  const at = cert.indexOf(Buffer.from('id-cert'));
  const tampered = Buffer.from(cert);
  tampered[at] = 'X'.charCodeAt(0);
  assert.match(reasonOf(tampered), /is not valid: its CA signature is not valid/);
  const sig = Buffer.from(cert);
  sig[sig.length - 1]! ^= 1; // the last byte of the signature itself
  assert.match(reasonOf(sig), /its CA signature is not valid/);
  assert.match(reasonOf(cert.subarray(0, cert.length - 10)), /is unusable: malformed certificate/);
  for (const hash of ['ecdsa-ca', 'rsa-ca']) {
    writeFileSync(file, caLine('198.18.1.1', hash === 'rsa-ca' ? rsaCa : ecdsaCa) + '\n');
    const other = Buffer.from(sign({ ca: hash }));
    other[other.indexOf(Buffer.from('id-cert'))] = 'X'.charCodeAt(0);
    assert.match(reasonOf(other), /its CA signature is not valid/, hash);
  }
});

test('@cert-authority with a hashed name, [host]:port, and negated patterns', () => {
  const salt = randomBytes(20);
  const hashed = (token: string) => `|1|${salt.toString('base64')}|${createHmac('sha1', salt).update(token).digest('base64')}`;
  writeFileSync(file, caLine(hashed('cache1.example.net')) + '\n');
  assert.equal(check(sign(), 'cache1.example.net'), { ok: true });
  assert.match(reasonOf(sign(), '198.18.1.1'), /no @cert-authority line/);
  writeFileSync(file, caLine('[198.18.1.1]:2222') + '\n');
  assert.equal(check(sign(), '198.18.1.1', 2222), { ok: true });
  assert.match(reasonOf(sign(), '198.18.1.1', 22), /no @cert-authority line .* matches 198\.18\.1\.1$/);
  assert.match(reasonOf(sign(), '198.18.1.1', 2200), /matches \[198\.18\.1\.1\]:2200$/);
  assert.ok(trustsCertificates({ file, host: '198.18.1.1', port: 2222 }));
  assert.not.ok(trustsCertificates({ file, host: '198.18.1.1', port: 22 }));
  writeFileSync(file, caLine('*.example.net,!db.example.net') + '\n');
  assert.ok(trustsCertificates({ file, host: 'cache1.example.net', port: 22 }));
  assert.not.ok(trustsCertificates({ file, host: 'db.example.net', port: 22 }));
});

test('a plain key entry still works; a refused certificate passes only through its plain key; nothing is recorded', () => {
  writeFileSync(file, `${caLine('198.18.1.1')}\n198.18.1.1 ${hostKey}\n`);
  assert.equal(check(blobOf(hostKey)), { ok: true });
  // Like OpenSSH, a certificate that fails is retried as its plain key, known for this host.
  assert.equal(check(sign({ validity: '20200101:20200102' })), { ok: true });
  writeFileSync(file, `${caLine('198.18.1.1')}\n198.18.1.2 ${hostKey}\n`);
  assert.match(reasonOf(sign({ validity: '20200101:20200102' })), /expired/);
  const before = readFileSync(file, 'utf8');
  const v = check(sign({ ca: 'other-ca' }), '198.18.1.1', 22, true);
  assert.ok(!v.ok && /untrusted CA/.test(v.reason), '--accept-new-host-keys does not accept a certificate');
  assert.equal(check(sign(), '198.18.1.1', 22, true), { ok: true }, 'a valid certificate is trusted, not recorded');
  assert.is(readFileSync(file, 'utf8'), before, 'known_hosts is unchanged');
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();
