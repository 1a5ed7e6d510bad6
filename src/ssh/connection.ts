/** One SSH connection per host; every remote step is one script sent on stdin. */
import { NodeSSH } from 'node-ssh';
import type { AuthMethod, ParsedKey, PublicKeyAuthMethod } from 'ssh2';
import { expandHome, HostError } from './errors.ts';
import { identityFor, prepareIdentities } from './identity.ts';
import type { Host } from '../inventory/types.ts';
import { verifyHostKey } from './known-hosts.ts';
import { resolveSsh, type Endpoint } from './config.ts';
import type { Duplex } from 'node:stream';

/** A TCP channel from a jump host to the next hop, to carry the next SSH connection. */
function forward(via: NodeSSH, to: Endpoint): Promise<Duplex> {
  return new Promise((resolve, reject) =>
    via.connection!.forwardOut('127.0.0.1', 0, to.hostname, to.port, (err, stream) => (err ? reject(new Error(`the jump host could not open a channel to ${to.hostname}:${to.port}: ${err.message}`)) : resolve(stream))),
  );
}

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
  /** The user logged in as (the inventory's, or the SSH config's User). */
  user = 'root';
  private constructor(
    private readonly ssh: NodeSSH,
    private readonly host: Host,
    readonly attempts: number,
    /** Jump host connections, first hop first. */
    private readonly hops: NodeSSH[] = [],
  ) {}

  static async open(host: Host, opts: ConnectOptions): Promise<SshConnection> {
    const { target, jumps } = resolveSsh(host, opts.acceptNewHostKeys);
    const v = host.vars.ssh;
    // An identity from the SSH config (the host's or a jump host's) is read and decrypted once, like ssh.identity.
    const withIdentity = (identity: string | undefined): Host => ({ ...host, vars: { ...host.vars, ssh: { ...v, identity } } });
    for (const e of [...jumps, target]) {
      if (e.identity && !identityFor(withIdentity(e.identity))) {
        const problem = (await prepareIdentities([withIdentity(e.identity)])).get(host.name);
        if (problem) throw problem;
      }
    }
    const keyOf = (e: Endpoint) => (e.identity ? identityFor(withIdentity(e.identity))?.key : undefined);
    for (const e of [...jumps, target]) {
      if (e.identity && !keyOf(e)) throw new HostError('connect', `identity ${e.identity} could not be loaded`);
      if (!keyOf(e) && !process.env.SSH_AUTH_SOCK) throw new HostError('connect', 'no ssh.identity and no ssh-agent (SSH_AUTH_SOCK): nothing to authenticate with');
    }
    const retries = opts.retries ?? 4;
    for (let attempt = 0; ; attempt++) {
      let keyProblem: string | undefined;
      const chain: NodeSSH[] = [];
      let current: Endpoint = target;
      try {
        let sock: Duplex | undefined;
        for (const [i, e] of [...jumps, target].entries()) {
          current = e;
          const ssh = new NodeSSH();
          chain.push(ssh);
          const key = keyOf(e);
          const via = i < jumps.length ? `jump host ${e.name}: ` : '';
          await ssh.connect({
            host: e.hostname,
            port: e.port,
            username: e.user,
            sock,
            // The parsed key goes through authHandler, so ssh2 does not parse (decrypt) it again per host.
            authHandler: key ? (publicKeyAuth(e.user, key) as unknown as AuthMethod[]) : undefined,
            agent: key ? undefined : process.env.SSH_AUTH_SOCK,
            readyTimeout: e.connectTimeout * 1000,
            keepaliveInterval: 10_000,
            hostVerifier: (hostKey: Buffer) => {
              const verdict = verifyHostKey({ file: expandHome(e.knownHosts), host: e.hostname, port: e.port, key: hostKey, acceptNew: e.acceptNew });
              if (!verdict.ok) keyProblem = via + verdict.reason;
              return verdict.ok;
            },
          });
          const next = [...jumps, target][i + 1];
          if (next) sock = await forward(ssh, next);
        }
        const conn = new SshConnection(chain.at(-1)!, host, attempt + 1, chain.slice(0, -1));
        conn.user = target.user;
        return conn;
      } catch (e) {
        for (const c of chain.reverse()) c.dispose();
        if (keyProblem) throw new HostError('connect', keyProblem);
        const msg = (e as Error).message;
        if (attempt < retries && TRANSIENT.test(msg)) {
          await new Promise((r) => setTimeout(r, 150 * 2 ** attempt + Math.random() * 100));
          continue;
        }
        const auth = /authentication methods failed|Encrypted private key|passphrase/i.test(msg);
        const hop = current === target ? '' : `jump host ${current.name} (on the way to ${host.name}): `;
        throw new HostError('connect', `${hop}${auth ? 'authentication failed' : 'cannot connect'} to ${current.user}@${current.hostname}:${current.port}: ${msg}`, !auth);
      }
    }
  }

  async run(script: string): Promise<RunResult> {
    this.roundTrips++;
    const v = this.host.vars.ssh;
    const command = v.become && this.user !== 'root' ? 'sudo -n sh -s' : 'sh -s';
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
        throw new HostError('become', `sudo -n failed for ${this.user}: ${why} (become: true needs passwordless sudo)`);
      }
      return { stdout: r.stdout, stderr: r.stderr, code: r.code ?? -1 };
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    this.ssh.dispose();
    for (const h of [...this.hops].reverse()) h.dispose();
  }
}
