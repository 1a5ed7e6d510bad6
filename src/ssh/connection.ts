/** One SSH connection per host; every remote step is one script sent on stdin. */
import { NodeSSH } from 'node-ssh';
import type { AuthMethod, ParsedKey, PublicKeyAuthMethod } from 'ssh2';
import { expandHome, HostError } from './errors.ts';
import { identityFor, prepareIdentities } from './identity.ts';
import type { Host } from '../inventory/types.ts';
import { verifyHostKey } from './known-hosts.ts';

export interface RunResult {
  stdout: string;
  stderr: string;
  code: number;
}

/** What the engine needs from a host; tests provide scripted ones. */
export interface Connection {
  run(script: string): Promise<RunResult>;
  close(): Promise<void>;
  /** Remote scripts sent so far: the round trips a test can count. */
  readonly roundTrips: number;
  /** Handshakes it took to connect (more than 1 when sshd dropped one). */
  readonly attempts?: number;
}

export { HostError, expandHome } from './errors.ts';

/** Handshake drops (sshd MaxStartups, a busy host) are worth another try; refusals and key problems are not. */
const TRANSIENT = /Connection lost before handshake|ECONNRESET|kex_exchange_identification|Timed out while waiting for handshake|socket hang up/i;

export interface ConnectOptions {
  acceptNewHostKeys: boolean;
  retries?: number;
}

/**
 * Every script first checks that it runs as root: a non-root user without become would read
 * empty firewall tables and unreadable files, and report false drift. Exit 97 with this marker.
 */
const NOT_ROOT = '@@tprun-notroot';
export const rootGuard = `if [ "$(id -u)" != 0 ]; then echo "${NOT_ROOT} $(id -un 2>/dev/null || id -u)" >&2; exit 97; fi\n`;

/** ssh2's typings list the base AuthMethod only; a public-key method carries its parsed key. */
const publicKeyAuth = (username: string, key: ParsedKey): PublicKeyAuthMethod[] => [{ type: 'publickey', username, key }];

export class SshConnection implements Connection {
  roundTrips = 0;
  private constructor(
    private readonly ssh: NodeSSH,
    private readonly host: Host,
    readonly attempts: number,
  ) {}

  static async open(host: Host, opts: ConnectOptions): Promise<SshConnection> {
    const v = host.vars.ssh;
    if (v.identity && !identityFor(host)) {
      const problem = (await prepareIdentities([host])).get(host.name);
      if (problem) throw problem;
    }
    if (v.identity && !identityFor(host)) throw new HostError('connect', `identity ${v.identity} could not be loaded`);
    const key = identityFor(host)?.key;
    if (!key && !process.env.SSH_AUTH_SOCK) throw new HostError('connect', 'no ssh.identity and no ssh-agent (SSH_AUTH_SOCK): nothing to authenticate with');
    const retries = opts.retries ?? 4;
    for (let attempt = 0; ; attempt++) {
      let keyProblem: string | undefined;
      const ssh = new NodeSSH();
      try {
        await ssh.connect({
          host: host.address,
          port: v.port,
          username: v.user,
          // The parsed key goes through authHandler, so ssh2 does not parse (decrypt) it again per host.
          authHandler: key ? (publicKeyAuth(v.user, key) as unknown as AuthMethod[]) : undefined,
          agent: key ? undefined : process.env.SSH_AUTH_SOCK,
          readyTimeout: v.connect_timeout * 1000,
          keepaliveInterval: 10_000,
          hostVerifier: (key: Buffer) => {
            const verdict = verifyHostKey({ file: expandHome(v.known_hosts), host: host.address, port: v.port, key, acceptNew: opts.acceptNewHostKeys });
            if (!verdict.ok) keyProblem = verdict.reason;
            return verdict.ok;
          },
        });
        return new SshConnection(ssh, host, attempt + 1);
      } catch (e) {
        ssh.dispose();
        if (keyProblem) throw new HostError('connect', keyProblem);
        const msg = (e as Error).message;
        if (attempt < retries && TRANSIENT.test(msg)) {
          await new Promise((r) => setTimeout(r, 150 * 2 ** attempt + Math.random() * 100));
          continue;
        }
        const auth = /authentication methods failed|Encrypted private key|passphrase/i.test(msg);
        throw new HostError('connect', `${auth ? 'authentication failed' : 'cannot connect'} to ${v.user}@${host.address}:${v.port}: ${msg}`, !auth);
      }
    }
  }

  async run(script: string): Promise<RunResult> {
    this.roundTrips++;
    const v = this.host.vars.ssh;
    const command = v.become && v.user !== 'root' ? 'sudo -n sh -s' : 'sh -s';
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new HostError('run', `remote script timed out after ${v.command_timeout} s`)), v.command_timeout * 1000);
    });
    try {
      const r = await Promise.race([this.ssh.execCommand(command, { stdin: rootGuard + script, noTrim: true }), timeout]);
      if (r.code === 97 && r.stderr.includes(NOT_ROOT)) {
        const who = r.stderr.split(NOT_ROOT)[1]!.trim().split('\n')[0];
        throw new HostError('become', `needs root or ssh.become: connected as ${who}, not root (set ssh.become: true with passwordless sudo, or ssh.user: root)`);
      }
      const denied = /sudo: a password is required|sudo: .*not allowed|is not in the sudoers|sudo: .*not found/;
      if (r.code !== 0 && denied.test(r.stderr)) {
        const why = r.stderr.split('\n').find((l) => denied.test(l))!.trim();
        throw new HostError('become', `sudo -n failed for ${v.user}: ${why} (become: true needs passwordless sudo)`);
      }
      return { stdout: r.stdout, stderr: r.stderr, code: r.code ?? -1 };
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    this.ssh.dispose();
  }
}
