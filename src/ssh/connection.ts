/** One SSH connection per host; every remote step is one script sent on stdin. */
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { NodeSSH } from 'node-ssh';
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
}

export class HostError extends Error {
  constructor(
    readonly step: string,
    message: string,
    readonly unreachable = false,
  ) {
    super(message);
  }
}

export const expandHome = (p: string) => (p === '~' || p.startsWith('~/') ? homedir() + p.slice(1) : p);

/** Handshake drops (sshd MaxStartups, a busy host) are worth another try; refusals and key problems are not. */
const TRANSIENT = /Connection lost before handshake|ECONNRESET|kex_exchange_identification|Timed out while waiting for handshake|socket hang up/i;

export interface ConnectOptions {
  acceptNewHostKeys: boolean;
  retries?: number;
}

export class SshConnection implements Connection {
  roundTrips = 0;
  private constructor(
    private readonly ssh: NodeSSH,
    private readonly host: Host,
  ) {}

  static async open(host: Host, opts: ConnectOptions): Promise<SshConnection> {
    const v = host.vars.ssh;
    let privateKey: string | undefined;
    if (v.identity) {
      try {
        privateKey = readFileSync(expandHome(v.identity), 'utf8');
      } catch (e) {
        throw new HostError('connect', `cannot read identity ${v.identity}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      }
    }
    const passphrase = v.passphrase_env ? process.env[v.passphrase_env] : undefined;
    if (v.passphrase_env && passphrase === undefined) throw new HostError('connect', `ssh.passphrase_env names ${v.passphrase_env}, which is not set`);
    if (!privateKey && !process.env.SSH_AUTH_SOCK) throw new HostError('connect', 'no ssh.identity and no ssh-agent (SSH_AUTH_SOCK): nothing to authenticate with');
    const retries = opts.retries ?? 4;
    for (let attempt = 0; ; attempt++) {
      let keyProblem: string | undefined;
      const ssh = new NodeSSH();
      try {
        await ssh.connect({
          host: host.address,
          port: v.port,
          username: v.user,
          privateKey,
          passphrase,
          agent: privateKey ? undefined : process.env.SSH_AUTH_SOCK,
          readyTimeout: v.connect_timeout * 1000,
          keepaliveInterval: 10_000,
          hostVerifier: (key: Buffer) => {
            const verdict = verifyHostKey({ file: expandHome(v.known_hosts), host: host.address, port: v.port, key, acceptNew: opts.acceptNewHostKeys });
            if (!verdict.ok) keyProblem = verdict.reason;
            return verdict.ok;
          },
        });
        return new SshConnection(ssh, host);
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
      const r = await Promise.race([this.ssh.execCommand(command, { stdin: script, noTrim: true }), timeout]);
      if (r.code !== 0 && /sudo: a password is required|sudo: .*not allowed|is not in the sudoers/.test(r.stderr)) {
        throw new HostError('become', `sudo -n failed for ${v.user}: ${r.stderr.trim()} (become: true needs passwordless sudo)`);
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
