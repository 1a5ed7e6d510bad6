/**
 * OpenSSH's client configuration, honoured: ~/.ssh/config (or ssh.config_file) is read with the
 * `ssh-config` parser, and for each host (matched by its address, as `ssh ADDRESS` would be) its
 * HostName, User, Port, IdentityFile, UserKnownHostsFile, StrictHostKeyChecking, ConnectTimeout
 * and ProxyJump apply. A value the inventory sets (at any level) wins, as options on ssh's command
 * line win over its config; tprun's own defaults come last. Jump hosts (ProxyJump, several hops, or the inventory's ssh.jump)
 * are resolved through the same file, and their host keys are checked like any other. Include
 * lines are expanded as OpenSSH does; a ProxyCommand is refused with a sentence (tprun runs no
 * command a config names); without an agent, OpenSSH's default identities are used.
 */
import { existsSync } from 'node:fs';
import { readBounded } from '../files.ts';
import { MAX_SSH_FILE_BYTES } from './known-hosts.ts';
import { isAbsolute, join } from 'node:path';
import SSHConfig from 'ssh-config';
import { globSync } from 'tinyglobby';
import type { Host, SshVars } from '../inventory/types.ts';
import { expandHome, HostError } from './errors.ts';

/** One SSH hop: a jump host or the host itself. */
export interface Endpoint {
  /** As written (alias or address), for messages. */
  name: string;
  hostname: string;
  user: string;
  port: number;
  identity?: string;
  knownHosts: string;
  /** Record unknown keys (StrictHostKeyChecking accept-new/no); a changed key always fails. */
  acceptNew: boolean;
  connectTimeout: number;
}

export interface ResolvedSsh {
  target: Endpoint;
  jumps: Endpoint[];
}

/** OpenSSH's default identities that tprun can use (ssh2 reads these key types). */
const DEFAULT_IDENTITIES = ['~/.ssh/id_ed25519', '~/.ssh/id_ecdsa', '~/.ssh/id_rsa'];

/** tprun's own defaults, below the inventory and the SSH config. */
const BUILTIN = { user: 'root', port: 22, known_hosts: '~/.ssh/known_hosts', connect_timeout: 10 };

const configs = new Map<string, SSHConfig | HostError | undefined>();

/** OpenSSH's limit on nested Include. */
const MAX_INCLUDE_DEPTH = 16;

/** One config file parsed, its Include lines replaced by the files they name (in glob order). */
function parseWithIncludes(file: string, shown: string, depth: number): SSHConfig {
  if (depth > MAX_INCLUDE_DEPTH) throw new HostError('connect', `the SSH config ${shown}: Include nested more than ${MAX_INCLUDE_DEPTH} deep`);
  const r = readBounded(file, MAX_SSH_FILE_BYTES);
  if ('error' in r) throw new HostError('connect', `cannot read the SSH config ${shown}: ${r.error}`);
  let config: SSHConfig;
  try {
    config = SSHConfig.parse(r.text);
  } catch (e) {
    throw new HostError('connect', `cannot read the SSH config ${shown}: ${(e as Error).message.split('\n')[0]}`);
  }
  expandIncludes(config, depth);
  return config;
}

/**
 * Like OpenSSH: a relative Include is under ~/.ssh (tprun reads a user's configuration), patterns
 * are globbed and sorted, a missing file is no error, and an Include inside a Host or Match block
 * belongs to that block.
 */
function expandIncludes(config: SSHConfig, depth: number): void {
  for (let i = 0; i < config.length; i++) {
    const line = config[i]!;
    if ('config' in line && line.config) expandIncludes(line.config, depth);
    if (!('param' in line) || String(line.param).toLowerCase() !== 'include') continue;
    // ssh-config gives a multi-word value as [{ val }, …].
    const raw = line.value as unknown as string | { val: string }[];
    const patterns = (typeof raw === 'string' ? raw.split(/\s+/) : raw.map((x) => x.val)).filter(Boolean);
    const files = patterns.flatMap((p) => {
      const abs = isAbsolute(expandHome(p)) ? expandHome(p) : join(expandHome('~/.ssh'), p);
      return globSync([abs], { absolute: true, onlyFiles: true, expandDirectories: false, dot: true }).sort();
    });
    const included = files.flatMap((f) => [...parseWithIncludes(f, f, depth + 1)]);
    config.splice(i, 1, ...included);
    i += included.length - 1;
  }
}

function readConfig(file: string): SSHConfig | undefined {
  const path = expandHome(file);
  if (!configs.has(path)) {
    if (!existsSync(path)) configs.set(path, undefined);
    else {
      try {
        configs.set(path, parseWithIncludes(path, file, 0));
      } catch (e) {
        configs.set(path, e instanceof HostError ? e : new HostError('connect', `cannot read the SSH config ${file}: ${(e as Error).message}`));
      }
    }
  }
  const c = configs.get(path);
  if (c instanceof HostError) throw c;
  return c;
}

const first = (v: string | string[] | undefined) => (Array.isArray(v) ? v[0] : v);

/** %h %p %r %u %% in IdentityFile / UserKnownHostsFile. */
const tokens = (s: string, e: { hostname: string; port: number; user: string }) =>
  s.replace(/%([hpru%])/g, (_, t: string) => ({ h: e.hostname, p: String(e.port), r: e.user, u: process.env.USER ?? 'root', '%': '%' })[t]!);

/** "user@host:port", "ssh://user@host:port", "host" → parts. */
export function parseDestination(text: string): { user?: string; host: string; port?: number } {
  const m = /^(?:ssh:\/\/)?(?:([^@]+)@)?(\[[^\]]+\]|[^:@]+)(?::(\d+))?$/.exec(text.trim());
  if (!m) throw new HostError('connect', `"${text}" is not a jump host (user@host:port)`);
  return { user: m[1], host: m[2]!.replace(/^\[|\]$/g, ''), port: m[3] ? Number(m[3]) : undefined };
}

function endpoint(
  name: string,
  over: { user?: string; port?: number },
  v: SshVars,
  config: SSHConfig | undefined,
  opts: { acceptNew: boolean; inherit: boolean },
): { e: Endpoint; proxyJump?: string } {
  // ssh-config runs `Match exec` commands unless told not to: a read-only check must never run
  // what a config file names (the inventory can point ssh.config_file at any file). Such a block
  // simply does not match, as if its command had failed.
  const c = config?.compute(name, { matchExec: false }) ?? {};
  // The host's own inventory values; a jump host takes only what its hop spec and the config say.
  const own = <K extends keyof typeof BUILTIN>(k: K) => (opts.inherit ? v[k] : undefined);
  const hostname = (first(c.HostName) ?? name).replace(/%([h%])/g, (_, t: string) => (t === 'h' ? name : '%'));
  const user = over.user ?? own('user') ?? first(c.User) ?? v.user ?? BUILTIN.user;
  const port = over.port ?? own('port') ?? (c.Port ? Number(first(c.Port)) : BUILTIN.port);
  const ctx = { hostname, port, user };
  const idFiles = ([] as string[]).concat(c.IdentityFile ?? []).map((f) => tokens(f, ctx));
  // Without an agent, OpenSSH's default keys, in its order, as `ssh` would try them.
  const defaults = process.env.SSH_AUTH_SOCK ? [] : DEFAULT_IDENTITIES.filter((f) => existsSync(expandHome(f)));
  const identity = (opts.inherit && v.identity) || idFiles.find((f) => existsSync(expandHome(f))) || idFiles[0] || v.identity || defaults[0];
  if (c.ProxyCommand && !c.ProxyJump)
    throw new HostError('connect', `the SSH config gives ${name} a ProxyCommand, which tprun does not run: use ProxyJump (or ssh.jump in the inventory)`);
  const khFiles = first(c.UserKnownHostsFile)?.split(/\s+/);
  const knownHosts = own('known_hosts') ?? (khFiles?.length ? tokens(khFiles[0]!, ctx) : (v.known_hosts ?? BUILTIN.known_hosts));
  const strict = first(c.StrictHostKeyChecking)?.toLowerCase();
  const timeout = own('connect_timeout') ?? (c.ConnectTimeout ? Number(first(c.ConnectTimeout)) : (v.connect_timeout ?? BUILTIN.connect_timeout));
  return {
    e: {
      name,
      hostname,
      user,
      port,
      identity,
      knownHosts,
      acceptNew: opts.acceptNew || strict === 'accept-new' || strict === 'no' || strict === 'off',
      connectTimeout: timeout,
    },
    proxyJump: first(c.ProxyJump),
  };
}

/** The hops to a host and the host itself, from the inventory and the SSH config. */
export function resolveSsh(host: Host, acceptNew = false): ResolvedSsh {
  const v = host.vars.ssh;
  const config = v.config_file === 'none' ? undefined : readConfig(v.config_file ?? '~/.ssh/config');
  const { e: target, proxyJump } = endpoint(host.address, {}, v, config, { acceptNew, inherit: true });
  const inventoryJump = v.jump === undefined ? [] : ([] as string[]).concat(v.jump);
  const spec = inventoryJump.length ? inventoryJump : proxyJump && proxyJump.toLowerCase() !== 'none' ? proxyJump.split(',') : [];
  const jumps = spec.map((hop) => {
    const d = parseDestination(hop);
    // A hop takes its settings from the SSH config; what it lacks comes from the host's.
    return endpoint(d.host, { user: d.user, port: d.port }, v, config, { acceptNew, inherit: false }).e;
  });
  return { target, jumps };
}
