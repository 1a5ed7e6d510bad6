/**
 * Private keys: read once per path; an encrypted key's passphrase comes from the environment
 * variable the inventory names, or is asked once on a terminal before the progress display
 * starts. It is never printed.
 */
import { closeSync, constants, fstatSync, openSync, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import ssh2 from 'ssh2';
import type { Host } from '../inventory/types.ts';
import { expandHome, HostError } from './errors.ts';

/** A key parsed (and decrypted) once: ssh2 decrypts OpenSSH keys with pure-JS bcrypt, seconds per parse. */
export interface Identity {
  key: ssh2.ParsedKey;
}

const cache = new Map<string, Identity>();

export function isEncrypted(key: string): boolean {
  const parsed = ssh2.utils.parseKey(key);
  return parsed instanceof Error && /encrypted/i.test(parsed.message);
}

/** Read a line without echoing it (the terminal shows nothing while the passphrase is typed). */
async function askHidden(question: string): Promise<string> {
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
  const out = rl as unknown as { _writeToOutput: (s: string) => void };
  let asked = false;
  out._writeToOutput = (s: string) => {
    if (!asked) process.stderr.write(s);
    asked = true;
  };
  const answer = await new Promise<string>((resolve) => rl.question(question, resolve));
  rl.close();
  process.stderr.write('\n');
  return answer;
}

/** A private key is small; anything larger is not one (and is not read whole). */
const MAX_KEY_BYTES = 1024 * 1024;

/**
 * The key file's text, or why it cannot be used. Like OpenSSH, a key that group or others may
 * access is refused (ssh says "UNPROTECTED PRIVATE KEY FILE ... This private key will be
 * ignored"); a FIFO or device is refused instead of read.
 */
export function readIdentity(path: string, shown: string): string | HostError {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | (constants.O_NOCTTY ?? 0));
  } catch (e) {
    return new HostError('connect', `cannot read identity ${shown}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) return new HostError('connect', `identity ${shown} is not a regular file`);
    const perms = st.mode & 0o777;
    if (perms & 0o077) {
      const octal = perms.toString(8).padStart(4, '0');
      return new HostError(
        'connect',
        `identity ${shown}: UNPROTECTED PRIVATE KEY FILE: permissions ${octal} are too open. It is required that your private key files are NOT accessible by others; OpenSSH ignores this key, and so does tprun (chmod 600 ${shown})`,
      );
    }
    if (st.size > MAX_KEY_BYTES) return new HostError('connect', `identity ${shown} is ${st.size} bytes: too large for a private key`);
    return readFileSync(fd, 'utf8');
  } catch (e) {
    return new HostError('connect', `cannot read identity ${shown}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  } finally {
    closeSync(fd);
  }
}

/** Resolve every host's identity before any connection, prompting at most once per key file. */
export async function prepareIdentities(hosts: readonly Host[]): Promise<Map<string, HostError>> {
  const problems = new Map<string, HostError>();
  for (const h of hosts) {
    const { identity, passphrase_env } = h.vars.ssh;
    if (!identity) continue;
    const path = expandHome(identity);
    if (cache.has(path)) continue;
    const read = readIdentity(path, identity);
    if (read instanceof HostError) {
      problems.set(h.name, read);
      continue;
    }
    const privateKey = read;
    let passphrase = passphrase_env ? process.env[passphrase_env] : undefined;
    if (isEncrypted(privateKey) && passphrase === undefined) {
      if (!process.stdin.isTTY) {
        problems.set(
          h.name,
          new HostError(
            'connect',
            `identity ${identity} is encrypted: set ssh.passphrase_env to an environment variable holding its passphrase, or run on a terminal`,
          ),
        );
        continue;
      }
      passphrase = await askHidden(`Passphrase for ${identity}: `);
    }
    const parsed = ssh2.utils.parseKey(privateKey, passphrase);
    if (parsed instanceof Error) {
      const why =
        passphrase !== undefined
          ? `the passphrase${passphrase_env ? ` in ${passphrase_env}` : ''} does not decrypt identity ${identity}`
          : `identity ${identity} is not a private key ssh2 can read (${parsed.message})`;
      problems.set(h.name, new HostError('connect', why));
      continue;
    }
    cache.set(path, { key: Array.isArray(parsed) ? parsed[0]! : parsed });
  }
  return problems;
}

export function identityFor(host: Host): Identity | undefined {
  const { identity } = host.vars.ssh;
  return identity ? cache.get(expandHome(identity)) : undefined;
}
