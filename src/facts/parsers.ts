/** Parsers for the exact text the probed tools print. Each is pure and tested on recorded output. */

import { parseMark } from '../inventory/mark.ts';

/** "6.18.44-fc-v595" → [6, 18, 44]; "2.6.32-5-amd64" → [2, 6, 32]. */
export function parseVersion(text: string): number[] | null {
  const m = /(\d+)\.(\d+)(?:\.(\d+))?/.exec(text);
  if (!m) return null;
  return [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)];
}

export function compareVersions(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d) return d;
  }
  return 0;
}

export interface KernelConfig {
  /** Where the options were read, or 'none'. */
  source: string;
  options: Record<string, string>;
}

export function parseKernelConfig(text: string): KernelConfig {
  const options: Record<string, string> = {};
  let source = 'none';
  for (const line of text.split('\n')) {
    if (line.startsWith('source=')) source = line.slice(7);
    const m = /^CONFIG_([A-Z0-9_]+)=(.*)$/.exec(line);
    if (m) options[m[1]!] = m[2]!;
  }
  return { source, options };
}

/** "nf_conntrack loaded" lines → module → loaded | module | absent */
export function parseModules(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const [name, state] = line.trim().split(/\s+/);
    if (name && state) out[name] = state;
  }
  return out;
}

export interface SquidBuild {
  version: number[] | null;
  configureOptions: string[];
}

/** `squid -v`: "Squid Cache: Version 5.7" and "configure options:  '--a' '--b' ..." */
export function parseSquidV(text: string): SquidBuild {
  const v = /Version\s+(\S+)/.exec(text);
  const c = /configure options:\s*(.*)$/m.exec(text);
  const configureOptions = c ? [...c[1]!.matchAll(/'([^']*)'|(\S+)/g)].map((m) => m[1] ?? m[2]!) : [];
  return { version: v ? parseVersion(v[1]!) : null, configureOptions };
}

/** "/lib/x86_64-linux-gnu/libcap.so.2.66" → [2, 66] */
export function parseLibcapPath(text: string): number[] | null {
  const m = /libcap\.so\.(\d+)(?:\.(\d+))?/.exec(text);
  return m ? [Number(m[1]), Number(m[2] ?? 0)] : null;
}

export interface IpRule {
  priority: number;
  fwmark?: number;
  fwmask?: number;
  iif?: string;
  table: string;
  /** The selector and action as `ip rule add` takes them, e.g. "fwmark 0x1 iif eth0 lookup 100". */
  spec: string;
}

/** `ip rule show`: "32765:\tfrom all fwmark 0x1 iif eth0 [detached] lookup 100" */
export function parseIpRules(text: string): IpRule[] {
  const out: IpRule[] = [];
  for (const line of text.split('\n')) {
    const m = /^(\d+):\s+(.*)$/.exec(line.trim());
    if (!m) continue;
    const words = m[2]!
      .replace(/\[[^\]]*\]/g, '')
      .trim()
      .split(/\s+/);
    const rule: IpRule = { priority: Number(m[1]), table: '', spec: '' };
    const spec: string[] = [];
    for (let i = 0; i < words.length; i++) {
      const w = words[i]!;
      const v = words[i + 1];
      if (w === 'from' && v === 'all') i++;
      else if (w === 'fwmark' && v) {
        const m = parseMark(v);
        if (m) {
          rule.fwmark = m.value;
          if (v.includes('/')) rule.fwmask = m.mask;
        }
        spec.push('fwmark', v);
        i++;
      } else if (w === 'iif' && v) {
        rule.iif = v;
        spec.push('iif', v);
        i++;
      } else if ((w === 'lookup' || w === 'table') && v) {
        rule.table = v;
        spec.push('lookup', v);
        i++;
      } else spec.push(w);
    }
    rule.spec = spec.join(' ');
    out.push(rule);
  }
  return out;
}

export interface IpRoute {
  type: string;
  dst: string;
  dev?: string;
  /** `ip route` argument form: "local default dev lo". */
  spec: string;
}

/** `ip route show table N`: "local default dev lo scope host", "local default dev lo metric 1024 pref medium" */
export function parseIpRoutes(text: string): IpRoute[] {
  const TYPES = ['local', 'unicast', 'blackhole', 'unreachable', 'prohibit', 'broadcast', 'throw', 'nat', 'anycast', 'multicast'];
  const out: IpRoute[] = [];
  for (const line of text.split('\n')) {
    const words = line.trim().split(/\s+/).filter(Boolean);
    if (!words.length) continue;
    const type = TYPES.includes(words[0]!) ? words.shift()! : 'unicast';
    const dst = words.shift()!;
    const devAt = words.indexOf('dev');
    const dev = devAt >= 0 ? words[devAt + 1] : undefined;
    out.push({ type, dst, dev, spec: [type, dst, ...(dev ? ['dev', dev] : [])].join(' ') });
  }
  return out;
}

export interface CountedRule {
  chain: string;
  /** The rule as printed after "-A CHAIN ". */
  rule: string;
  /** From `-save -c`'s "[packets:bytes]"; 0 without -c. */
  packets: number;
  bytes: number;
}

export interface CountedTable {
  /** chain → policy ("-" for user chains) */
  policies: Map<string, string>;
  /** Every rule of the table in order. */
  rules: CountedRule[];
}

/** iptables-save / ebtables-save output (with or without -c), every table: name → table. */
export function parseSaveTables(text: string): Map<string, CountedTable> {
  const tables = new Map<string, CountedTable>();
  let cur: CountedTable | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('*')) {
      const name = line.slice(1);
      cur = tables.get(name) ?? { policies: new Map(), rules: [] };
      tables.set(name, cur);
      continue;
    }
    if (!cur || !line || line.startsWith('#')) continue;
    if (line === 'COMMIT') {
      cur = undefined;
      continue;
    }
    if (line.startsWith(':')) {
      const [name, policy] = line.slice(1).split(/\s+/);
      cur.policies.set(name!, policy ?? '-');
      continue;
    }
    // [\s\S]: a rule carrying a carriage return (a crafted comment) is still a rule.
    const m = /^(?:\[(\d+):(\d+)\]\s+)?-A\s+(\S+)\s*([\s\S]*)$/.exec(line);
    if (m) cur.rules.push({ chain: m[3]!, rule: m[4]!, packets: Number(m[1] ?? 0), bytes: Number(m[2] ?? 0) });
  }
  return tables;
}

export interface SaveTable {
  /** chain → policy ("-" for user chains) */
  chains: Map<string, string>;
  /** chain → rules in order, each as printed after "-A CHAIN " */
  rules: Map<string, string[]>;
}

/** One table of iptables-save / ebtables-save output, rules by chain. */
export function parseSaveTable(text: string, table: string): SaveTable | null {
  const t = parseSaveTables(text).get(table);
  if (!t) return null;
  const rules = new Map<string, string[]>();
  // Appended in place: copying the chain's array per rule made a 150,000-rule fail2ban chain take minutes.
  for (const r of t.rules) {
    const list = rules.get(r.chain);
    if (list) list.push(r.rule);
    else rules.set(r.chain, [r.rule]);
  }
  return { chains: t.policies, rules };
}

/** `cat /proc/sys/K` pairs: "net/ipv4/ip_forward=1"; a key without "=" was unreadable. */
export function parseSysctls(text: string): Map<string, string | null> {
  const out = new Map<string, string | null>();
  for (const line of text.split('\n')) {
    if (!line) continue;
    const i = line.indexOf('=');
    if (i < 0) out.set(line, null);
    else out.set(line.slice(0, i), line.slice(i + 1).trim());
  }
  return out;
}

/** getsebool: "squid_use_tproxy --> on"; "Error getting active value for X" for missing booleans */
export function parseSebool(text: string): Map<string, 'on' | 'off' | 'missing'> {
  const out = new Map<string, 'on' | 'off' | 'missing'>();
  for (const line of text.split('\n')) {
    const m = /^(\S+)\s+-->\s+(on|off)/.exec(line);
    if (m) out.set(m[1]!, m[2] as 'on' | 'off');
    const miss = /value for (\S+)|(\S+): (?:Invalid|No such)/i.exec(line);
    if (miss) out.set((miss[1] ?? miss[2])!, 'missing');
  }
  return out;
}

/** `ip -d link show NAME`: "gre remote 203.0.113.1 local 198.18.0.2 ..." → its two ends */
export function parseGreLink(text: string): { remote: string; local: string } | null {
  const m = /\bgre remote (\S+) local (\S+)/.exec(text);
  return m ? { remote: m[1]!, local: m[2]! } : null;
}

export interface SysctlFile {
  /** The file as listed (e.g. /etc/sysctl.d/99-sysctl.conf), and where it leads when a link. */
  path: string;
  target: string;
  /** Assignments in file order: key as a /proc/sys path (may hold systemd's glob *), value. */
  assignments: { key: string; value: string }[];
}

/**
 * The persisted sysctl files in the order they are applied ("==> PATH TARGET" then the file's
 * lines). Keys become /proc/sys paths; a leading "-" (ignore errors) and the "set" keyword are dropped.
 */
export function parseSysctlFiles(text: string): SysctlFile[] {
  const out: SysctlFile[] = [];
  for (const line of text.split('\n')) {
    const head = /^==> (\S+) (\S+)$/.exec(line);
    if (head) {
      out.push({ path: head[1]!, target: head[2]!, assignments: [] });
      continue;
    }
    const cur = out.at(-1);
    const t = line.trim();
    if (!cur || !t || t.startsWith('#') || t.startsWith(';')) continue;
    const m = /^(?:set\s+)?-?([^=\s]+)\s*=\s*(.*)$/.exec(t);
    if (m) cur.assignments.push({ key: sysctlPath(m[1]!), value: m[2]!.trim() });
  }
  return out;
}

/**
 * A key in its /proc/sys path form. sysctl takes two spellings: net/ipv4/conf/eth0.100/rp_filter,
 * and the dotted net.ipv4.conf.eth0/100.rp_filter, where "/" stands for a dot inside a name.
 */
export const sysctlPath = (k: string): string => (/^[^./]*\//.test(k) ? k : k.replace(/[./]/g, (c) => (c === '.' ? '/' : '.')));
