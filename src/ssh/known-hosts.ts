/**
 * Strict host-key checking against OpenSSH known_hosts: plain and hashed (|1|salt|hash) names,
 * [host]:port entries, @revoked markers, and host certificates signed by a @cert-authority.
 * Never trusts silently; new keys are recorded only when the operator asks
 * (--accept-new-host-keys), a changed key always fails, and a certificate is never recorded.
 */
import { createHash, createHmac } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync } from 'node:fs';
import { readBounded } from '../files.ts';
import { dirname } from 'node:path';
import { certificateProblem, isCertificateType, parseCertificate } from './certificate.ts';

export interface KnownHostEntry {
  marker?: '@revoked' | '@cert-authority';
  patterns: string;
  keyType: string;
  key: string; // base64 blob
}

export function parseKnownHosts(text: string): KnownHostEntry[] {
  const out: KnownHostEntry[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const f = line.split(/\s+/);
    const marker = f[0]!.startsWith('@') ? (f.shift() as KnownHostEntry['marker']) : undefined;
    if (f.length < 3) continue;
    out.push({ marker, patterns: f[0]!, keyType: f[1]!, key: f[2]! });
  }
  return out;
}

/** The name OpenSSH looks up: "host" on port 22, "[host]:port" otherwise. */
export const hostToken = (host: string, port: number) => (port === 22 ? host : `[${host}]:${port}`);

function patternMatches(pattern: string, token: string): boolean {
  if (pattern.startsWith('|1|')) {
    const [, , salt, hash] = pattern.split('|');
    if (!salt || !hash) return false;
    return createHmac('sha1', Buffer.from(salt, 'base64')).update(token).digest('base64') === hash;
  }
  const re = new RegExp(
    '^' +
      pattern
        .replace(/[.+^${}()|[\]\\]/g, '\\$&')
        .replace(/\*/g, '.*')
        .replace(/\?/g, '.') +
      '$',
  );
  return re.test(token);
}

function entryMatches(e: KnownHostEntry, token: string): boolean {
  let hit = false;
  for (const p of e.patterns.split(',')) {
    if (p.startsWith('!')) {
      if (patternMatches(p.slice(1), token)) return false;
    } else if (patternMatches(p, token)) hit = true;
  }
  return hit;
}

export const fingerprint = (blob: Buffer) => 'SHA256:' + createHash('sha256').update(blob).digest('base64').replace(/=+$/, '');

/** The key type stored at the start of an SSH public key blob ("ssh-ed25519"). */
export function keyTypeOf(blob: Buffer): string {
  const len = blob.readUInt32BE(0);
  return blob.subarray(4, 4 + len).toString('ascii');
}

export type Verdict = { ok: true; recorded?: boolean } | { ok: false; reason: string };

/** known_hosts of a large site fits; /dev/zero or a FIFO named by mistake must not hang or exhaust tprun. */
export const MAX_SSH_FILE_BYTES = 64 * 1024 * 1024;

function readEntries(file: string): ReturnType<typeof parseKnownHosts> {
  if (!existsSync(file)) return [];
  const r = readBounded(file, MAX_SSH_FILE_BYTES);
  if ('error' in r) throw new Error(`cannot read known_hosts ${file}: ${r.error}`);
  return parseKnownHosts(r.text);
}

/**
 * Whether known_hosts trusts a certificate authority for this host (a matching @cert-authority
 * line): then, like OpenSSH, the host's certificate is asked for first.
 */
export function trustsCertificates(opts: { file: string; host: string; port: number }): boolean {
  const token = hostToken(opts.host, opts.port);
  return readEntries(opts.file).some((e) => e.marker === '@cert-authority' && entryMatches(e, token));
}

export function verifyHostKey(opts: { file: string; host: string; port: number; key: Buffer; acceptNew: boolean; now?: Date }): Verdict {
  const token = hostToken(opts.host, opts.port);
  const entries = readEntries(opts.file);
  if (isCertificateType(keyTypeOf(opts.key))) return verifyCertificate(opts, token, entries);
  const b64 = opts.key.toString('base64');
  const fp = fingerprint(opts.key);
  if (entries.some((e) => e.marker === '@revoked' && e.key === b64)) {
    return { ok: false, reason: `host key ${fp} of ${token} is marked @revoked in ${opts.file}` };
  }
  const mine = entries.filter((e) => !e.marker && entryMatches(e, token));
  if (mine.some((e) => e.key === b64)) return { ok: true };
  if (mine.length) {
    return {
      ok: false,
      reason: `HOST KEY CHANGED for ${token}: it offered ${keyTypeOf(opts.key)} ${fp}, which does not match ${opts.file}; if the host was reinstalled, remove its old line (ssh-keygen -R '${token}' -f ${opts.file})`,
    };
  }
  if (!opts.acceptNew) {
    return {
      ok: false,
      reason: `unknown host key for ${token}: ${keyTypeOf(opts.key)} ${fp} is not in ${opts.file} (verify it, then add it, or run with --accept-new-host-keys)`,
    };
  }
  mkdirSync(dirname(opts.file), { recursive: true });
  appendFileSync(opts.file, `${token} ${keyTypeOf(opts.key)} ${b64}\n`);
  return { ok: true, recorded: true };
}

/**
 * A host certificate, checked as OpenSSH checks it: signed by a CA key of a @cert-authority line
 * matching the host, neither that key nor the certified key @revoked, and valid for this host
 * now (certificateProblem). The principal compared is the host name connected to (OpenSSH
 * compares the host name, or HostKeyAlias, which tprun does not read). Like OpenSSH, a
 * certificate that fails is retried as its plain key, which passes only when known_hosts holds it
 * for the host; it is never recorded, not even with --accept-new-host-keys.
 */
function verifyCertificate(opts: { file: string; host: string; key: Buffer; now?: Date }, token: string, entries: KnownHostEntry[]): Verdict {
  const cert = parseCertificate(opts.key);
  const fail = (why: string): Verdict => ({ ok: false, reason: `host certificate of ${token} ${why}` });
  if (cert instanceof Error) return fail(`is unusable: ${cert.message}`);
  const revoked = (blob: Buffer) => entries.some((e) => e.marker === '@revoked' && e.key === blob.toString('base64'));
  const ca = `${keyTypeOf(cert.signatureKey)} ${fingerprint(cert.signatureKey)}`;
  if (revoked(cert.publicKey)) return fail(`certifies the key ${fingerprint(cert.publicKey)}, which is marked @revoked in ${opts.file}`);
  if (revoked(cert.signatureKey)) return fail(`is signed by the CA ${ca}, which is marked @revoked in ${opts.file}`);
  const cas = entries.filter((e) => e.marker === '@cert-authority' && entryMatches(e, token));
  const plain = cert.publicKey.toString('base64');
  if (entries.some((e) => !e.marker && e.key === plain && entryMatches(e, token))) return { ok: true };
  if (!cas.some((e) => e.key === cert.signatureKey.toString('base64'))) {
    return fail(
      cas.length
        ? `is signed by an untrusted CA with fingerprint ${fingerprint(cert.signatureKey)} (${keyTypeOf(cert.signatureKey)}); the @cert-authority lines for ${token} in ${opts.file} trust ${cas.map((e) => fingerprint(Buffer.from(e.key, 'base64'))).join(', ')}`
        : `is signed by the CA ${ca}, and no @cert-authority line in ${opts.file} matches ${token}`,
    );
  }
  const problem = certificateProblem(cert, opts.host, opts.now);
  return problem ? fail(`(key ID "${cert.keyId}", serial ${cert.serial}, CA ${ca}) is not valid: ${problem}`) : { ok: true };
}
