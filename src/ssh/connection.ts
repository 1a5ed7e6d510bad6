/** One SSH connection per host; every remote step is one script sent on stdin. */
import { NodeSSH } from 'node-ssh';
import type { ClientChannel, ParsedKey, PublicKeyAuthMethod } from 'ssh2';
import { expandHome, HostError } from './errors.ts';
import { identityFor, prepareIdentities } from './identity.ts';
import type { Host } from '../inventory/types.ts';
import { trustsCertificates, verifyHostKey } from './known-hosts.ts';
import { CERT_HOST_KEY_ALGORITHMS } from './certificate.ts';
import { resolveSsh, type Endpoint } from './config.ts';
import { liveDeadline } from './live-clock.ts';
import type { Duplex } from 'node:stream';

/** A TCP channel from a jump host to the next hop, to carry the next SSH connection. */
function forward(via: NodeSSH, to: Endpoint): Promise<Duplex> {
  return new Promise((resolve, reject) =>
    via.connection!.forwardOut('127.0.0.1', 0, to.hostname, to.port, (err, stream) =>
      err ? reject(new Error(`the jump host could not open a channel to ${to.hostname}:${to.port}: ${err.message}`)) : resolve(stream),
    ),
  );
}

export interface RunResult {
  stdout: string;
  stderr: string;
  code: number;
}

/** More than this on stdout and stderr together fails the host ("output too large"). */
export const MAX_OUTPUT = 32 * 2 ** 20;

export interface RunOptions {
  /** Seconds added to ssh.command_timeout (e.g. the time allowed to wait for a lock). */
  extraSeconds?: number;
  maxOutput?: number;
  /**
   * Keep the script's stdin open; once stdout contains `after`, send `send` and close it. The
   * script reads it (`read`) to learn that tprun saw everything it printed up to `after`.
   */
  ack?: { after: string; send: string };
}

/** What the engine needs from a host; tests provide scripted ones. */
export interface Connection {
  run(script: string, opts?: RunOptions): Promise<RunResult>;
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
      if (!keyOf(e) && !process.env.SSH_AUTH_SOCK)
        throw new HostError('connect', 'no ssh.identity and no ssh-agent (SSH_AUTH_SOCK): nothing to authenticate with');
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
          const knownHosts = expandHome(e.knownHosts);
          // Like OpenSSH: a host that known_hosts trusts through a @cert-authority line is asked for
          // its certificate first (ssh2 offers certificates only with tprun's patch, patches/);
          // any other host negotiates exactly ssh2's defaults.
          const certs = trustsCertificates({ file: knownHosts, host: e.hostname, port: e.port });
          await ssh.connect({
            host: e.hostname,
            port: e.port,
            username: e.user,
            sock,
            // The parsed key goes through authHandler, so ssh2 does not parse (decrypt) it again per host.
            authHandler: key ? publicKeyAuth(e.user, key) : undefined,
            agent: key ? undefined : process.env.SSH_AUTH_SOCK,
            readyTimeout: e.connectTimeout * 1000,
            keepaliveInterval: 10_000,
            // ssh2's typings list only the algorithms it supports unpatched.
            algorithms: certs ? { serverHostKey: { prepend: CERT_HOST_KEY_ALGORITHMS } as never } : undefined,
            hostVerifier: (hostKey: Buffer) => {
              const verdict = verifyHostKey({ file: knownHosts, host: e.hostname, port: e.port, key: hostKey, acceptNew: e.acceptNew });
              if (!verdict.ok) keyProblem = via + verdict.reason;
              return verdict.ok;
            },
          });
          const next = [...jumps, target][i + 1];
          if (next) sock = await forward(ssh, next);
        }
        const conn = new SshConnection(chain.at(-1)!, host, attempt + 1, chain.slice(0, -1));
        conn.user = target.user;
        conn.watch();
        return conn;
      } catch (e) {
        for (const c of chain.reverse()) {
          // A late error of an abandoned client must not escape as an unhandled 'error' event.
          c.connection?.on('error', () => undefined);
          c.dispose();
        }
        if (keyProblem) throw new HostError('connect', keyProblem);
        const msg = (e as Error).message;
        if (/Unsupported algorithm: .*-cert-v01@openssh\.com/.test(msg)) {
          throw new HostError('connect', `${msg}: this ssh2 was installed without tprun's patch for host certificates (patches/; npm ci applies it)`);
        }
        if (attempt < retries && TRANSIENT.test(msg)) {
          await new Promise((r) => setTimeout(r, 150 * 2 ** attempt + Math.random() * 100));
          continue;
        }
        const auth = /authentication methods failed|Encrypted private key|passphrase/i.test(msg);
        const hop = current === target ? '' : `jump host ${current.name} (on the way to ${host.name}): `;
        throw new HostError(
          'connect',
          `${hop}${auth ? 'authentication failed' : 'cannot connect'} to ${current.user}@${current.hostname}:${current.port}: ${msg}`,
          { unreachable: !auth },
        );
      }
    }
  }

  /** Set once the connection has failed (keepalive, reset, closed): every later run fails at once. */
  private lost?: string;
  private readonly pending = new Set<(e: HostError) => void>();
  /** Runs whose end is not yet seen (each holds its output until then). */
  get runsPending(): number {
    return this.pending.size;
  }

  /** Every error of the ssh2 client stays with this host: none may escape as an unhandled 'error' event. */
  private watch(): void {
    const client = this.ssh.connection;
    if (!client) return;
    const fail = (why: string) => {
      if (!this.lost) this.lost = why;
      for (const reject of [...this.pending]) reject(new HostError('connection', `connection lost: ${this.lost}`, { lost: true }));
    };
    client.on('error', (e: Error) => fail(e.message));
    client.on('close', () => fail('the connection was closed'));
    client.on('end', () => fail('the connection was closed'));
  }

  async run(script: string, opts: RunOptions = {}): Promise<RunResult> {
    this.roundTrips++;
    const v = this.host.vars.ssh;
    const command = v.become && this.user !== 'root' ? 'sudo -n sh -s' : 'sh -s';
    script = rootGuard + script;
    const client = this.ssh.connection;
    if (this.lost || !client) throw new HostError('connection', `connection lost: ${this.lost ?? 'not connected'}`, { lost: true });
    const cap = opts.maxOutput ?? MAX_OUTPUT;
    const seconds = v.command_timeout + (opts.extraSeconds ?? 0);
    const r = await new Promise<RunResult>((resolve, reject) => {
      let stream: ClientChannel | undefined;
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      let size = 0;
      let settled = false;
      const finish = (e: HostError | undefined, value?: RunResult) => {
        if (settled) return;
        settled = true;
        cancelDeadline();
        this.pending.delete(onLost);
        if (e) {
          // Stop reading: the remote side gets EOF/SIGPIPE; a detached transaction is not affected.
          try {
            stream?.close();
          } catch {
            /* the channel is gone already */
          }
          reject(e);
        } else resolve(value!);
      };
      const onLost = (e: HostError) => finish(e);
      this.pending.add(onLost);
      // Live time, not wall time: a controller busy with another host's output spends no host's timeout.
      const cancelDeadline = liveDeadline(seconds * 1000, () => finish(new HostError('run', `remote script timed out after ${seconds} s`, { lost: true })));
      let acked = false;
      const take = (into: Buffer[]) => (d: Buffer) => {
        size += d.length;
        if (size > cap) return finish(new HostError('output', `output too large: the remote script printed more than ${Math.round(cap / 2 ** 20)} MiB`));
        into.push(d);
        if (opts.ack && !acked && into === out && Buffer.concat(out.slice(-3)).includes(opts.ack.after)) {
          acked = true;
          stream?.end(opts.ack.send);
        }
      };
      try {
        client.exec(command, (e, ch) => {
          if (e) return finish(new HostError('connection', `cannot start the remote script: ${e.message}`, { lost: true }));
          stream = ch;
          if (settled) return void ch.close();
          ch.on('data', take(out));
          ch.stderr.on('data', take(err));
          ch.on('error', (x: Error) => finish(new HostError('connection', `channel error: ${x.message}`, { lost: true })));
          ch.on('close', (code: number | null, signal?: string) => {
            try {
              const text = (b: Buffer[]) => Buffer.concat(b).toString('utf8');
              finish(undefined, { stdout: text(out), stderr: text(err), code: code ?? (signal ? -1 : -1) });
            } catch (x) {
              finish(new HostError('output', `output too large: ${(x as Error).message}`));
            }
          });
          if (opts.ack) ch.write(script);
          else ch.end(script);
        });
      } catch (e) {
        finish(new HostError('connection', `cannot start the remote script: ${(e as Error).message}`, { lost: true }));
      }
    });
    if (r.code === 97 && r.stderr.includes(NOT_ROOT)) {
      const who = r.stderr.split(NOT_ROOT)[1]!.trim().split('\n')[0];
      throw new HostError('become', `needs root or ssh.become: connected as ${who}, not root (set ssh.become: true with passwordless sudo, or ssh.user: root)`);
    }
    const denied = /sudo: a password is required|sudo: .*not allowed|is not in the sudoers|sudo: .*not found/;
    if (r.code !== 0 && denied.test(r.stderr)) {
      const why = r.stderr
        .split('\n')
        .find((l) => denied.test(l))!
        .trim();
      throw new HostError('become', `sudo -n failed for ${this.user}: ${why} (become: true needs passwordless sudo)`);
    }
    return r;
  }

  async close(): Promise<void> {
    this.lost ??= 'closed by tprun';
    this.ssh.dispose();
    for (const h of [...this.hops].reverse()) h.dispose();
  }
}
