/** Pure parsers for what `tprun doctor` reads on a host. Each is tested on recorded output. */
import { parseSaveTables, type CountedTable } from '../facts/parsers.ts';

/** Sections framed by "@@section NAME" lines, as the doctor's multi-part facts print them. */
export function parseSections(text: string): Map<string, string> {
  const out = new Map<string, string>();
  let name: string | undefined;
  let lines: string[] = [];
  const flush = () => name !== undefined && out.set(name, lines.join('\n'));
  for (const line of text.split('\n')) {
    const m = /^@@section (\S+)$/.exec(line);
    if (m) {
      flush();
      name = m[1]!;
      lines = [];
    } else if (name !== undefined) lines.push(line);
  }
  flush();
  return out;
}

/** The tables of both families: section names "iptables.mangle", "ip6tables.filter", … */
export function parseFirewall(text: string): Record<'v4' | 'v6', Map<string, CountedTable>> {
  const s = parseSections(text);
  const fam = (tool: string) => {
    const m = new Map<string, CountedTable>();
    for (const [name, body] of s) {
      if (!name.startsWith(tool + '.')) continue;
      const t = parseSaveTables(body).get(name.slice(tool.length + 1));
      if (t) m.set(name.slice(tool.length + 1), t);
    }
    return m;
  };
  return { v4: fam('iptables'), v6: fam('ip6tables') };
}

export interface Socket {
  proto: 'tcp' | 'udp';
  state: string;
  local: string;
  port: number;
  peer: string;
  /** Process names from users:(("squid",pid=1,fd=2),...) */
  processes: string[];
}

function splitHostPort(s: string): [string, number] {
  const i = s.lastIndexOf(':');
  return [s.slice(0, i).replace(/^\[|\]$/g, ''), Number(s.slice(i + 1))];
}

/** `ss -ltnp` (section tcp) and `ss -uanp` (section udp). */
export function parseSockets(text: string): Socket[] {
  const out: Socket[] = [];
  for (const [proto, body] of parseSections(text)) {
    if (proto !== 'tcp' && proto !== 'udp') continue;
    for (const line of body.split('\n')) {
      const w = line.trim().split(/\s+/);
      if (w.length < 5 || w[0] === 'State' || w[0] === 'Netid') continue;
      const [local, port] = splitHostPort(w[3]!);
      if (!Number.isFinite(port)) continue;
      const procs = [...line.matchAll(/\("([^"]+)",pid=/g)].map((m) => m[1]!);
      out.push({ proto, state: w[0]!, local, port, peer: w[4]!, processes: [...new Set(procs)] });
    }
  }
  return out;
}

export interface HttpPort {
  line: string;
  address?: string;
  port: number;
  flags: string[];
}

export interface SquidConf {
  ports: HttpPort[];
  wccpRouters: string[];
  /** `wccp2_service dynamic 80` → 80 */
  wccpServices: number[];
  /** service → flags of its wccp2_service_info line */
  wccpServiceFlags: Map<number, string[]>;
  directives: Map<string, string[]>;
}

/** squid.conf: the directives doctor reasons about (comments and blank lines skipped). */
export function parseSquidConf(text: string): SquidConf {
  const conf: SquidConf = { ports: [], wccpRouters: [], wccpServices: [], wccpServiceFlags: new Map(), directives: new Map() };
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*$/, '').trim();
    if (!line) continue;
    const [name, ...args] = line.split(/\s+/);
    conf.directives.set(name!, [...(conf.directives.get(name!) ?? []), args.join(' ')]);
    if ((name === 'http_port' || name === 'https_port') && args[0]) {
      const m = /^(?:\[?([^\]]*?)\]?:)?(\d+)$/.exec(args[0]);
      if (m) conf.ports.push({ line, ...(m[1] ? { address: m[1] } : {}), port: Number(m[2]), flags: args.slice(1) });
    } else if (name === 'wccp2_router' && args[0]) conf.wccpRouters.push(args[0]);
    else if (name === 'wccp2_service' && args[1]) conf.wccpServices.push(Number(args[1]));
    else if (name === 'wccp2_service_info' && args[0]) {
      const flags = args.find((a) => a.startsWith('flags='));
      conf.wccpServiceFlags.set(Number(args[0]), flags ? flags.slice(6).split(',') : []);
    }
  }
  return conf;
}

export interface SquidState {
  running: boolean;
  pid?: number;
  /** Seconds since the epoch, as the host's clock says. */
  started?: number;
  confMtime?: number;
  now?: number;
  /** The host's UTC offset in minutes (cache.log times are local). */
  tzOffset: number;
  /** ldd's line for libcap: "libcap.so.2 => /lib/…/libcap.so.2 (0x…)", "libcap.so.2 => not found", or null (not linked). */
  libcapLinked: string | null;
  /** `ldconfig -p` lines for libcap.so.* on the host. */
  libcapHost: string[];
  installed: boolean;
}

/** key=value lines from the doctor's squid fact. */
export function parseSquidState(text: string): SquidState {
  const kv = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) kv.set(line.slice(0, i), [...(kv.get(line.slice(0, i)) ?? []), line.slice(i + 1).trim()]);
  }
  const num = (k: string) => {
    const v = kv.get(k)?.[0];
    return v && /^\d+$/.test(v) ? Number(v) : undefined;
  };
  const tz = /^([+-])(\d\d)(\d\d)$/.exec(kv.get('tz')?.[0] ?? '');
  const ldd = kv.get('ldd')?.[0];
  return {
    installed: kv.get('installed')?.[0] === 'yes',
    running: kv.get('running')?.[0] === 'yes',
    ...(num('pid') !== undefined ? { pid: num('pid') } : {}),
    ...(num('started') !== undefined ? { started: num('started') } : {}),
    ...(num('conf_mtime') !== undefined ? { confMtime: num('conf_mtime') } : {}),
    ...(num('now') !== undefined ? { now: num('now') } : {}),
    tzOffset: tz ? (tz[1] === '-' ? -1 : 1) * (Number(tz[2]) * 60 + Number(tz[3])) : 0,
    libcapLinked: ldd && ldd !== 'none' ? ldd : null,
    libcapHost: (kv.get('ldconfig') ?? []).filter(Boolean),
  };
}

/** "2026/11/22 01:57:10 kid1| …" → seconds since the epoch, given the host's UTC offset in minutes. */
export function cacheLogTime(line: string, tzOffset: number): number | undefined {
  const m = /^(\d{4})\/(\d\d)\/(\d\d) (\d\d):(\d\d):(\d\d)/.exec(line);
  if (!m) return undefined;
  const [y, mo, d, h, mi, s] = m.slice(1).map(Number) as [number, number, number, number, number, number];
  return Date.UTC(y, mo - 1, d, h, mi, s) / 1000 - tzOffset * 60;
}

export interface Addr {
  ifname: string;
  family: 'inet' | 'inet6';
  address: string;
  prefix: number;
}

/** `ip -o addr show`: "3: eth1    inet 198.51.100.1/24 scope global eth1\ …" */
export function parseAddrs(text: string): Addr[] {
  const out: Addr[] = [];
  for (const line of text.split('\n')) {
    const m = /^\d+:\s+(\S+?)(?:@\S+)?\s+(inet6?)\s+([^/\s]+)\/(\d+)/.exec(line);
    if (m) out.push({ ifname: m[1]!, family: m[2] as 'inet' | 'inet6', address: m[3]!, prefix: Number(m[4]) });
  }
  return out;
}

export interface Link {
  ifname: string;
  /** Administratively up (the UP flag). */
  up: boolean;
  /** Operational state: UP, DOWN, UNKNOWN, … */
  state: string;
  /** "gre", "veth", "bridge", … when `ip -d` says. */
  kind?: string;
  /** The bridge (or bond) this interface is a port of. */
  master?: string;
}

/** `ip -o -d link show`: "5: wccp0@NONE: <POINTOPOINT,NOARP,UP,LOWER_UP> mtu 1476 … state UNKNOWN …\    link/gre 198.18.1.1 peer 198.18.0.250 … gre remote …" */
export function parseLinks(text: string): Link[] {
  const out: Link[] = [];
  for (const line of text.split('\n')) {
    const m = /^\d+:\s+([^:@\s]+)(?:@[^:\s]+)?:\s+<([^>]*)>.*?\bstate (\S+)/.exec(line);
    if (!m) continue;
    const kind = /\\\s+(gre|ip6gre|gretap|veth|bridge|vlan|bond|dummy)\b/.exec(line)?.[1] ?? (/link\/gre\b/.test(line) ? 'gre' : undefined);
    const master = /\bmaster (\S+)/.exec(line.split('\\')[0]!)?.[1];
    out.push({ ifname: m[1]!, up: m[2]!.split(',').includes('UP'), state: m[3]!, ...(kind ? { kind } : {}), ...(master ? { master } : {}) });
  }
  return out;
}

export interface DefaultRoute {
  family: 4 | 6;
  via?: string;
  dev?: string;
  text: string;
}

/** `ip -4 route show default table main` (section 4) and `ip -6 …` (section 6). */
export function parseDefaultRoutes(text: string): DefaultRoute[] {
  const out: DefaultRoute[] = [];
  for (const [sec, body] of parseSections(text)) {
    for (const line of body.split('\n').map((l) => l.trim())) {
      if (!line.startsWith('default')) continue;
      const via = /\bvia (\S+)/.exec(line)?.[1];
      const dev = /\bdev (\S+)/.exec(line)?.[1];
      out.push({ family: sec === '6' ? 6 : 4, ...(via ? { via } : {}), ...(dev ? { dev } : {}), text: line });
    }
  }
  return out;
}

export type SeBool = 'on' | 'off' | 'missing';

export interface SelinuxState {
  /** getenforce's answer, lower case; null when getenforce is absent. */
  mode: string | null;
  runtime: Map<string, SeBool>;
  /** From `semanage boolean -l`: (current, persistent); null when semanage is absent. */
  persistent: Map<string, { current: 'on' | 'off'; persistent: 'on' | 'off' }> | null;
}

/** Sections: mode (getenforce), runtime (getsebool), persistent (semanage boolean -l, or "absent"). */
export function parseSelinux(text: string): SelinuxState {
  const s = parseSections(text);
  const mode = (s.get('mode') ?? '').trim().toLowerCase() || null;
  const runtime = new Map<string, SeBool>();
  for (const line of (s.get('runtime') ?? '').split('\n')) {
    const m = /^(\S+)\s+-->\s+(on|off)/.exec(line);
    if (m) runtime.set(m[1]!, m[2] as 'on' | 'off');
    const miss = /value for (\S+)|^getsebool:\s+(\S+)/i.exec(line) ?? /^(\S+): (?:Invalid|No such)/i.exec(line);
    if (miss && !m) runtime.set((miss[1] ?? miss[2])!.replace(/:$/, ''), 'missing');
  }
  const p = s.get('persistent');
  let persistent: SelinuxState['persistent'] = null;
  if (p !== undefined && p.trim() !== 'absent') {
    persistent = new Map();
    for (const line of p.split('\n')) {
      const m = /^(\S+)\s+\(\s*(on|off)\s*,\s*(on|off)\s*\)/.exec(line.trim());
      if (m) persistent.set(m[1]!, { current: m[2] as 'on' | 'off', persistent: m[3] as 'on' | 'off' });
    }
  }
  return { mode: mode === 'absent' ? null : mode, runtime, persistent };
}

/** Non-empty lines of a log tail; null when the log could not be read. */
export const logLines = (r: { stdout: string; code: number }): string[] | null => (r.code === 0 ? r.stdout.split('\n').filter((l) => l.trim() !== '') : null);

/** Host header forgery alerts since squid's last start or reconfigure (src/doctor/facts.ts). */
export interface ForgeryAlerts {
  count: number;
  first?: string;
  last?: string;
  /** The "SECURITY ALERT: on URL:" line after the last alert (squid's 409 path logs it apart). */
  url?: string;
}

export function parseForgeryAlerts(r: { stdout: string; code: number }): ForgeryAlerts | null {
  if (r.code !== 0) return null;
  const get = (k: string) => new RegExp(`^${k} (.*)$`, 'm').exec(r.stdout)?.[1];
  const out: ForgeryAlerts = { count: Number(get('count') ?? 0) || 0 };
  for (const k of ['first', 'last', 'url'] as const) {
    const v = get(k);
    if (v !== undefined) out[k] = v;
  }
  return out;
}

/**
 * The host a forgery alert names, from its URL ("on URL: http://name/path" when squid lets the
 * request through, "on URL: name:443" for intercepted TLS): the host only, never the path or
 * query (they can carry tokens), and no port.
 */
export function forgeryHost(alerts: ForgeryAlerts): string | undefined {
  const url = /on URL: (\S+)/.exec(alerts.url ?? '')?.[1] ?? /on URL: (\S+)/.exec(alerts.last ?? '')?.[1];
  if (!url) return undefined;
  const authority = url
    .replace(/^[a-z][a-z0-9+.-]*:\/\//i, '')
    .split(/[/?#]/)[0]!
    .replace(/^[^@]*@/, '');
  const host = authority.startsWith('[') ? authority.slice(0, authority.indexOf(']') + 1) : authority.replace(/:\d*$/, '');
  return host || undefined;
}
