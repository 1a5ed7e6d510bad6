/**
 * OpenSSH host certificates (PROTOCOL.certkeys): parsing the certificate a host offers and
 * checking it as ssh(1) does against the CA keys trusted for that host, pure and synchronous
 * (node:crypto). The SSH library negotiates the certificate and proves the host holds the
 * certified key; everything about the certificate itself is checked here.
 */
import { createPublicKey, verify, type KeyObject } from 'node:crypto';

export interface HostCertificate {
  /** The certificate's key type ("ssh-ed25519-cert-v01@openssh.com"). */
  type: string;
  /** The certified key as a plain public key blob ("ssh-ed25519" …), as known_hosts holds it. */
  publicKey: Buffer;
  serial: bigint;
  /** 1 user, 2 host. */
  certType: number;
  keyId: string;
  principals: string[];
  /** Seconds since the epoch; validBefore 2^64-1 means forever. */
  validAfter: bigint;
  validBefore: bigint;
  criticalOptions: string[];
  extensions: string[];
  /** The CA's public key blob. */
  signatureKey: Buffer;
  /** Everything the CA signed: the certificate up to and including the signature key. */
  signed: Buffer;
  signature: Buffer;
}

const CERT_SUFFIX = '-cert-v01@openssh.com';
export const isCertificateType = (type: string) => type.endsWith(CERT_SUFFIX);

/** The plain key's fields after the nonce, per certificate type. */
const KEY_FIELDS: Record<string, { base: string; fields: number }> = {
  'ssh-ed25519-cert-v01@openssh.com': { base: 'ssh-ed25519', fields: 1 },
  'ecdsa-sha2-nistp256-cert-v01@openssh.com': { base: 'ecdsa-sha2-nistp256', fields: 2 },
  'ecdsa-sha2-nistp384-cert-v01@openssh.com': { base: 'ecdsa-sha2-nistp384', fields: 2 },
  'ecdsa-sha2-nistp521-cert-v01@openssh.com': { base: 'ecdsa-sha2-nistp521', fields: 2 },
  'ssh-rsa-cert-v01@openssh.com': { base: 'ssh-rsa', fields: 2 },
};

/**
 * The host key algorithms that negotiate a certificate, in OpenSSH's order; a client offers them
 * first only for a host that known_hosts trusts through a matching @cert-authority line.
 */
export const CERT_HOST_KEY_ALGORITHMS = [
  'ssh-ed25519-cert-v01@openssh.com',
  'ecdsa-sha2-nistp256-cert-v01@openssh.com',
  'ecdsa-sha2-nistp384-cert-v01@openssh.com',
  'ecdsa-sha2-nistp521-cert-v01@openssh.com',
  'rsa-sha2-512-cert-v01@openssh.com',
  'rsa-sha2-256-cert-v01@openssh.com',
];

class Reader {
  pos = 0;
  constructor(private readonly buf: Buffer) {}
  private need(n: number): void {
    if (this.pos + n > this.buf.length) throw new Error('truncated');
  }
  u32(): number {
    this.need(4);
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }
  u64(): bigint {
    this.need(8);
    const v = this.buf.readBigUInt64BE(this.pos);
    this.pos += 8;
    return v;
  }
  bytes(): Buffer {
    const n = this.u32();
    this.need(n);
    const v = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return v;
  }
  text(): string {
    return this.bytes().toString('utf8');
  }
  get done(): boolean {
    return this.pos === this.buf.length;
  }
}

const sshString = (b: Buffer | string) => {
  const data = typeof b === 'string' ? Buffer.from(b) : b;
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  return Buffer.concat([len, data]);
};

/** Names in a packed list of strings (principals), or of name/data pairs (options, extensions). */
function names(list: Buffer, pairs: boolean): string[] {
  const r = new Reader(list);
  const out: string[] = [];
  while (!r.done) {
    out.push(r.text());
    if (pairs) r.bytes();
  }
  return out;
}

/** Parses a certificate blob as offered in the key exchange; an Error says what is malformed. */
export function parseCertificate(blob: Buffer): HostCertificate | Error {
  try {
    const r = new Reader(blob);
    const type = r.text();
    const shape = KEY_FIELDS[type];
    if (!shape) return new Error(`unsupported certificate type ${type}`);
    r.bytes(); // nonce
    const keyStart = r.pos;
    for (let i = 0; i < shape.fields; i++) r.bytes();
    const publicKey = Buffer.concat([sshString(shape.base), blob.subarray(keyStart, r.pos)]);
    const serial = r.u64();
    const certType = r.u32();
    const keyId = r.text();
    const principals = names(r.bytes(), false);
    const validAfter = r.u64();
    const validBefore = r.u64();
    const criticalOptions = names(r.bytes(), true);
    const extensions = names(r.bytes(), true);
    r.bytes(); // reserved
    const signatureKey = r.bytes();
    const signed = blob.subarray(0, r.pos);
    const signature = r.bytes();
    if (!r.done) return new Error('trailing data after the signature');
    return { type, publicKey, serial, certType, keyId, principals, validAfter, validBefore, criticalOptions, extensions, signatureKey, signed, signature };
  } catch (e) {
    return new Error(`malformed certificate (${(e as Error).message})`);
  }
}

/** An unsigned SSH mpint as a big-endian magnitude without leading zeros. */
const magnitude = (b: Buffer) => {
  let i = 0;
  while (i < b.length - 1 && b[i] === 0) i++;
  return b.subarray(i);
};
const b64url = (b: Buffer) => b.toString('base64url');

const CURVES: Record<string, { crv: string; size: number; hash: string }> = {
  'ecdsa-sha2-nistp256': { crv: 'P-256', size: 32, hash: 'sha256' },
  'ecdsa-sha2-nistp384': { crv: 'P-384', size: 48, hash: 'sha384' },
  'ecdsa-sha2-nistp521': { crv: 'P-521', size: 66, hash: 'sha512' },
};

/** A CA public key blob as a node:crypto key, with its type; an Error for a type not supported. */
function caKey(blob: Buffer): { type: string; key: KeyObject } | Error {
  try {
    const r = new Reader(blob);
    const type = r.text();
    if (type === 'ssh-ed25519') {
      const x = r.bytes();
      if (x.length !== 32) return new Error('malformed ssh-ed25519 CA key');
      return { type, key: createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: b64url(x) }, format: 'jwk' }) };
    }
    if (type === 'ssh-rsa') {
      const e = magnitude(r.bytes());
      const n = magnitude(r.bytes());
      return { type, key: createPublicKey({ key: { kty: 'RSA', n: b64url(n), e: b64url(e) }, format: 'jwk' }) };
    }
    const curve = CURVES[type];
    if (curve) {
      r.bytes(); // curve name
      const q = r.bytes();
      if (q.length !== 1 + 2 * curve.size || q[0] !== 4) return new Error(`malformed ${type} CA key`);
      const [x, y] = [q.subarray(1, 1 + curve.size), q.subarray(1 + curve.size)];
      return { type, key: createPublicKey({ key: { kty: 'EC', crv: curve.crv, x: b64url(x), y: b64url(y) }, format: 'jwk' }) };
    }
    return new Error(`unsupported CA key type ${type}`);
  } catch (e) {
    return new Error(`malformed CA key (${(e as Error).message})`);
  }
}

/** Whether the CA's signature over the certificate body is valid; an Error says why it cannot be. */
export function caSignatureValid(cert: HostCertificate): boolean | Error {
  const ca = caKey(cert.signatureKey);
  if (ca instanceof Error) return ca;
  let format: string;
  let sig: Buffer;
  try {
    const r = new Reader(cert.signature);
    format = r.text();
    sig = r.bytes();
  } catch {
    return new Error('malformed CA signature');
  }
  if (ca.type === 'ssh-ed25519') {
    if (format !== 'ssh-ed25519') return new Error(`CA signature type ${format} does not match its ${ca.type} key`);
    return verify(null, cert.signed, ca.key, sig);
  }
  if (ca.type === 'ssh-rsa') {
    // Like OpenSSH since 8.2 (CASignatureAlgorithms), a SHA-1 ssh-rsa signature is not accepted.
    const hash = { 'rsa-sha2-256': 'sha256', 'rsa-sha2-512': 'sha512' }[format];
    if (!hash) return new Error(`CA signature type ${format} is not accepted (rsa-sha2-256 or rsa-sha2-512 only)`);
    return verify(hash, cert.signed, ca.key, sig);
  }
  const curve = CURVES[ca.type]!;
  if (format !== ca.type) return new Error(`CA signature type ${format} does not match its ${ca.type} key`);
  try {
    const r = new Reader(sig);
    const [rr, ss] = [magnitude(r.bytes()), magnitude(r.bytes())];
    if (rr.length > curve.size || ss.length > curve.size) return false;
    const pad = (b: Buffer) => Buffer.concat([Buffer.alloc(curve.size - b.length), b]);
    return verify(curve.hash, cert.signed, { key: ca.key, dsaEncoding: 'ieee-p1363' }, Buffer.concat([pad(rr), pad(ss)]));
  } catch {
    return new Error('malformed CA signature');
  }
}

const FOREVER = 2n ** 64n - 1n;
export const certTime = (t: bigint) => (t >= FOREVER ? 'forever' : new Date(Number(t) * 1000).toISOString().replace(/\.000Z$/, 'Z'));

/**
 * What is wrong with a host certificate apart from who signed it (the caller matches the CA
 * against known_hosts and checks revocation), or undefined when nothing is: OpenSSH's
 * sshkey_cert_check_authority and check_host_cert. `principal` is the host name connected to.
 */
export function certificateProblem(cert: HostCertificate, principal: string, now = new Date()): string | undefined {
  if (cert.certType !== 2) return `it is a ${cert.certType === 1 ? 'user' : `type ${cert.certType}`} certificate, not a host certificate`;
  const valid = caSignatureValid(cert);
  if (valid instanceof Error) return `its CA signature cannot be checked: ${valid.message}`;
  if (!valid) return 'its CA signature is not valid (the certificate was altered or not signed by its CA key)';
  const seconds = BigInt(Math.floor(now.getTime() / 1000));
  if (seconds < cert.validAfter) return `it is not valid before ${certTime(cert.validAfter)}`;
  if (seconds >= cert.validBefore) return `it expired on ${certTime(cert.validBefore)}`;
  // OpenSSH accepts a host certificate without principals for any host; tprun does not.
  if (!cert.principals.length) return 'it names no principals (tprun requires the host name among them)';
  if (!cert.principals.includes(principal)) return `principal ${principal} is not in [${cert.principals.join(', ')}]`;
  // No critical option is defined for host certificates: OpenSSH refuses any.
  if (cert.criticalOptions.length) return `it has critical options not supported for host certificates: ${cert.criticalOptions.join(', ')}`;
  return undefined;
}
