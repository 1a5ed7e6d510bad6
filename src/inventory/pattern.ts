/**
 * --limit with Ansible's host patterns: terms separated by `:` or `,` (not inside brackets) are a
 * union; `&term` intersects, `!term` excludes (both applied after the union, as Ansible does; only
 * exclusions start from all hosts). A term is a group (routers, bridges, all, the inventory's own
 * groups), a host name, a glob (`*`, `?`, `[12]`, `[!x]`), a range (`h[1:3]`, `h[01:10]`,
 * `h[a:c]`, `h[1:9:2]`), a group slice (`routers[0:1]`, `routers[-1]`, zero-based, inclusive as
 * in Ansible) or a regular expression (`~h\d+`). A term that matches nothing is an error.
 */
import { createRequire } from 'node:module';
import type { Host } from './types.ts';

export interface Selection {
  hosts: Host[];
  /** One sentence per term that matched no host. */
  errors: string[];
}

/** Split on , and : outside brackets. */
export function splitPattern(limit: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of limit) {
    if (ch === '[') depth++;
    if (ch === ']') depth = Math.max(0, depth - 1);
    if ((ch === ',' || ch === ':') && depth === 0) {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  out.push(cur);
  return out.map((s) => s.trim()).filter(Boolean);
}

/** fnmatch-style glob → RegExp: * ? [abc] [a-c] [!x]. */
export function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const ch = glob[i]!;
    if (ch === '*') re += '.*';
    else if (ch === '?') re += '.';
    else if (ch === '[') {
      const end = glob.indexOf(']', i + 2);
      if (end < 0) re += '\\[';
      else {
        let body = glob.slice(i + 1, end);
        const negate = body.startsWith('!');
        if (negate) body = body.slice(1);
        re += `[${negate ? '^' : ''}${body.replace(/[\\\]^]/g, '\\$&')}]`;
        i = end;
      }
    } else re += ch.replace(/[.+^${}()|\\/]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/** `h[1:3]` → h1 h2 h3; `[01:10]` keeps the width; letters too; an optional step. Undefined when not a range. */
export function expandRange(term: string): string[] | undefined {
  const m = /^(.*?)\[([0-9]+|[a-zA-Z]):([0-9]+|[a-zA-Z])(?::([0-9]+))?\](.*)$/.exec(term);
  if (!m) return undefined;
  const [, pre, a, b, stepText, post] = m as unknown as [string, string, string, string, string | undefined, string];
  const step = stepText ? Number(stepText) : 1;
  if (step < 1) return undefined;
  const rest = expandRange(post) ?? [post];
  const heads: string[] = [];
  if (/^[0-9]+$/.test(a) && /^[0-9]+$/.test(b)) {
    const width = a.startsWith('0') && a.length > 1 ? a.length : 0;
    for (let i = Number(a); i <= Number(b); i += step) heads.push(String(i).padStart(width, '0'));
  } else if (/^[a-zA-Z]$/.test(a) && /^[a-zA-Z]$/.test(b)) {
    for (let c = a.charCodeAt(0); c <= b.charCodeAt(0); c += step) heads.push(String.fromCharCode(c));
  } else return undefined;
  return heads.flatMap((h) => rest.map((r) => `${pre}${h}${r}`));
}

function matchTerm(term: string, hosts: readonly Host[], groups: ReadonlyMap<string, readonly string[]>): Host[] | string {
  if (term.startsWith('~')) {
    let re: RegExp;
    try {
      re = new RegExp(term.slice(1));
    } catch (e) {
      return `"${term}" is not a regular expression: ${(e as Error).message}`;
    }
    // JavaScript's regular expressions backtrack: a quantified group that is itself quantified
    // (^(a+)+$) can take exponential time on a host name and hang the run before any host.
    // Required for a ~regex term only: not a cost of every command that reads an inventory.
    const safeRegex = createRequire(import.meta.url)('safe-regex2') as typeof import('safe-regex2');
    if (!safeRegex(re)) return `"${term}" can take exponential time to match (a quantifier on a group that has one): write it without the nested quantifier`;
    return hosts.filter((h) => re.test(h.name));
  }
  const inGroup = (names: readonly string[]) => hosts.filter((h) => names.includes(h.name));
  if (groups.has(term)) return inGroup(groups.get(term)!);
  const slice = /^(.+)\[(-?\d+)(?::(-?\d*))?\]$/.exec(term);
  if (slice && groups.has(slice[1]!)) {
    const members = inGroup(groups.get(slice[1]!)!);
    const at = (n: number) => (n < 0 ? members.length + n : n);
    const from = at(Number(slice[2]));
    const to = slice[3] === undefined ? from : slice[3] === '' ? members.length - 1 : at(Number(slice[3]));
    return members.slice(from, to + 1);
  }
  const range = expandRange(term);
  if (range) return hosts.filter((h) => range.includes(h.name));
  if (/[*?[]/.test(term)) {
    const re = globToRegExp(term);
    return hosts.filter((h) => re.test(h.name));
  }
  return hosts.filter((h) => h.name === term);
}

/** The built-in groups (all, routers, bridges), then the inventory's own. */
export function groupsOf(hosts: readonly Host[], own: Readonly<Record<string, readonly string[]>> = {}): Map<string, readonly string[]> {
  const groups = new Map<string, readonly string[]>([
    ['all', hosts.map((h) => h.name)],
    ['routers', hosts.filter((h) => h.kind === 'router').map((h) => h.name)],
    ['bridges', hosts.filter((h) => h.kind === 'bridge').map((h) => h.name)],
  ]);
  for (const [g, names] of Object.entries(own)) groups.set(g, names);
  return groups;
}

/** The hosts a pattern selects, in inventory order. */
export function selectPattern(hosts: readonly Host[], limit: string | undefined, groups: ReadonlyMap<string, readonly string[]> = groupsOf(hosts)): Selection {
  if (limit === undefined) return { hosts: [...hosts], errors: [] };
  const terms = splitPattern(limit);
  if (!terms.length) return { hosts: [], errors: [`--limit "${limit}" has no pattern in it`] };
  const errors: string[] = [];
  const union = new Set<string>();
  const intersect: Set<string>[] = [];
  const exclude = new Set<string>();
  let positives = 0;
  for (const raw of terms) {
    const op = raw[0] === '!' || raw[0] === '&' ? raw[0] : '';
    const term = raw.slice(op.length);
    const found = matchTerm(term, hosts, groups);
    if (typeof found === 'string') {
      errors.push(found);
      continue;
    }
    if (!found.length) {
      errors.push(`--limit: "${raw}" matches no host or group`);
      continue;
    }
    const names = found.map((h) => h.name);
    if (op === '!') names.forEach((n) => exclude.add(n));
    else if (op === '&') intersect.push(new Set(names));
    else {
      positives++;
      names.forEach((n) => union.add(n));
    }
  }
  const start = positives ? union : new Set(hosts.map((h) => h.name));
  const chosen = hosts.filter((h) => start.has(h.name) && intersect.every((s) => s.has(h.name)) && !exclude.has(h.name));
  return { hosts: chosen, errors };
}
