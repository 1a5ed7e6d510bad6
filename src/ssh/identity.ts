/**
 * Private keys: read once per path; an encrypted key's passphrase comes from the environment
 * variable the inventory names, or is asked once on a terminal before the progress display
 * starts. It is never printed.
 */
import { readFileSync } from 'node:fs';
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

/** Resolve every host's identity before any connection, prompting at most once per key file. */
export async function prepareIdentities(hosts: readonly Host[]): Promise<Map<string, HostError>> {
  const problems = new Map<string, HostError>();
  for (const h of hosts) {
    const { identity, passphrase_env } = h.vars.ssh;
    if (!identity) continue;
    const path = expandHome(identity);
    if (cache.has(path)) continue;
    let privateKey: string;
    try {
      privateKey = readFileSync(path, 'utf8');
    } catch (e) {
      problems.set(h.name, new HostError('connect', `cannot read identity ${identity}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`));
      continue;
    }
    let passphrase = passphrase_env ? process.env[passphrase_env] : undefined;
    if (isEncrypted(privateKey) && passphrase === undefined) {
      if (!process.stdin.isTTY) {
        problems.set(h.name, new HostError('connect', `identity ${identity} is encrypted: set ssh.passphrase_env to an environment variable holding its passphrase, or run on a terminal`));
        continue;
      }
      passphrase = await askHidden(`Passphrase for ${identity}: `);
    }
    const parsed = ssh2.utils.parseKey(privateKey, passphrase);
    if (parsed instanceof Error) {
      const why = passphrase !== undefined ? `the passphrase${passphrase_env ? ` in ${passphrase_env}` : ''} does not decrypt identity ${identity}` : `identity ${identity} is not a private key ssh2 can read (${parsed.message})`;
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
