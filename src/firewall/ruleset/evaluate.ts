/**
 * Would this host's packet filter drop what tprun intercepts? Pure: a parsed ruleset and the
 * intercepted packet in, findings out. The packet: per family, TCP to each intercepted port,
 * arriving on a receiving interface, the connection's first packet (ct state new) and the ones
 * after it (established); carrying tprun's mark after the TPROXY step (mangle, priority -150),
 * delivered locally to squid. Every base chain at the prerouting and input hooks of every table
 * that sees it (ip, ip6, inet; nftables and iptables of each backend) is walked, in priority
 * order, with jumps and gotos followed. A match the evaluator cannot decide forks the walk: a
 * chain where every path ends in a drop or reject "drops"; one where only some do "may drop"
 * (with the matches it could not decide). tprun's own chains (TPRUN_*, table tprun) are not
 * foreign: its entry rules are taken as applied, first in mangle PREROUTING (TPROXY accepts)
 * and filter INPUT (TPRUN_INPUT accepts the mark), so a host is judged as apply leaves it.
 */
import type { Family } from '../../inventory/types.ts';
import { tableLabel, type Action, type Chain, type Expr, type Key, type Op, type Rule, type Ruleset, type Table, type Value } from './types.ts';

export interface Interception {
  families: readonly Family[];
  ports: readonly number[];
  mark: number;
  mask: number;
  /** Interfaces the intercepted packets arrive on; empty: not known (any but lo). */
  interfaces: readonly string[];
}

export interface Finding {
  /** "drops": every way through the chain drops the packet; "may drop": some do. */
  certainty: 'drops' | 'may drop';
  table: string;
  /** The base chain (hook, priority) and the chain holding the rule. */
  chain: string;
  hook: string;
  priority: number;
  /** The rule that drops or rejects, in its chain; null for the base chain's policy. */
  rule: string | null;
  /** The rule's nft handle (for `nft delete rule … handle N`). */
  handle?: number;
  ruleChain: string;
  /** A reverse-path (fib … missing) rule: the marked packet has no route back by its mark. */
  rpfilter: boolean;
  /** Which packets it surely drops: "IPv6 tcp/80 (new)". */
  packets: string[];
  /** Which packets it may drop (a match on their way could not be decided). */
  mayPackets: string[];
  /** Matches that could not be decided on the way to the drop (for "may drop"). */
  undecided: string[];
  /** Chains passed on the way (e.g. a firewalld zone's filter_IN_public). */
  via: string[];
  /** nft family and table name, or iptables tool and table (for fix hints). */
  source: Table['source'];
  family: string;
  tableName: string;
}

type T3 = 'yes' | 'no' | 'maybe';

interface Packet {
  family: Family;
  port: number;
  /** Before conntrack (priority < -200) a packet has no entry yet: `ct state` reads invalid. */
  ct: 'new' | 'established' | 'invalid';
  /** Carries tprun's mark here: after mangle PREROUTING it does; at priority -150 itself nobody knows. */
  marked: boolean | null;
  mark: number;
  iif: string | null;
}

const TPRUN = /^TPRUN_/;
const IPT = (t: Table) => t.source !== 'nft';

/** iptables' tables as apply leaves them: tprun's entries first, its own chains left out. */
function asApplied(t: Table, rs: Ruleset, intercepted: boolean): Table {
  if (!IPT(t)) return t;
  const fam = t.family === 'ip6' ? 'ip6' : 'ip';
  const hasOwn = [...t.chains.keys()].some((c) => TPRUN.test(c));
  const tprunHere = hasOwn || rs.defaultBackend[fam] === (t.source === 'iptables-nft' ? 'nft' : 'legacy');
  const chains = new Map<string, Chain>();
  for (const [name, c] of t.chains) {
    if (TPRUN.test(name)) continue;
    let rules = c.rules.filter(
      (r) => !r.exprs.some((e) => e.kind === 'action' && (e.action.kind === 'jump' || e.action.kind === 'goto') && TPRUN.test(e.action.target)),
    );
    const entry = (t.name === 'mangle' && name === 'PREROUTING') || (t.name === 'filter' && name === 'INPUT');
    if (entry && tprunHere && intercepted) {
      const target = name === 'INPUT' ? 'TPRUN_INPUT' : 'TPRUN_PREROUTING';
      rules = [
        { text: `-A ${name} -j ${target} (tprun's, accepts the intercepted packets)`, exprs: [{ kind: 'action', action: { kind: 'accept' } }] },
        ...rules,
      ];
    }
    chains.set(name, { ...c, rules });
  }
  return { ...t, chains };
}

const PROTO_NUM: Record<string, number> = { tcp: 6, udp: 17, icmp: 1, 'ipv6-icmp': 58, icmpv6: 58, sctp: 132, gre: 47, esp: 50, ah: 51 };
const normProto = (v: Value): Value => (typeof v === 'string' && v in PROTO_NUM ? PROTO_NUM[v]! : v);

function resolve(v: Value, table: Table): Value | null {
  if (typeof v === 'string' && v.startsWith('@')) {
    const elems = table.sets.get(v.slice(1));
    return elems ? { set: elems } : null;
  }
  return v;
}

/** Is `actual` in `v`? null: cannot tell. */
function member(actual: string | number | boolean, v: Value, table: Table, proto = false): boolean | null {
  const r = resolve(v, table);
  if (r === null) return null;
  if (typeof r === 'object' && 'set' in r) {
    let unknown = false;
    for (const e of r.set) {
      const m = member(actual, e, table, proto);
      if (m) return true;
      if (m === null) unknown = true;
    }
    return unknown ? null : false;
  }
  if (typeof r === 'object' && 'range' in r) {
    const [a, b] = r.range;
    return typeof actual === 'number' && typeof a === 'number' && typeof b === 'number' ? actual >= a && actual <= b : null;
  }
  if (typeof r === 'object') return null;
  if (proto) return normProto(r) === normProto(actual);
  if (typeof r === 'string' && typeof actual === 'string' && r.endsWith('*')) return actual.startsWith(r.slice(0, -1));
  return r === actual;
}

function compare(actual: string | number | boolean, op: Op, v: Value, table: Table, proto = false): T3 {
  if (op === '==' || op === 'in' || op === '!=') {
    const m = member(actual, v, table, proto);
    if (m === null) return 'maybe';
    return (op === '!=' ? !m : m) ? 'yes' : 'no';
  }
  if (typeof actual !== 'number' || typeof v !== 'number') return 'maybe';
  const ok = op === '<' ? actual < v : op === '>' ? actual > v : op === '<=' ? actual <= v : actual >= v;
  return ok ? 'yes' : 'no';
}

/** Headers the packet has (TCP over its family); others it certainly lacks. */
function hasHeader(protocol: string, p: Packet): boolean | null {
  if (protocol === 'tcp' || protocol === 'th') return true;
  if (protocol === 'ip') return p.family === 'ipv4';
  if (protocol === 'ip6') return p.family === 'ipv6';
  if (['udp', 'udplite', 'icmp', 'icmpv6', 'sctp', 'dccp', 'esp', 'ah', 'comp', 'arp', 'gre', 'igmp'].includes(protocol)) return false;
  return null;
}

function fibValue(key: Extract<Key, { kind: 'fib' }>, p: Packet): boolean | null {
  if (key.result !== 'oif' && key.result !== 'oifname') return null;
  if (!key.flags.includes('saddr')) return null;
  // The lookup by the client's address: without the mark it is the kernel's own reverse-path
  // lookup, which routed traffic passes. With tprun's mark it lands in tprun's table ("local
  // default dev lo"), and fib counts a local route as no route: "missing", with or without iif
  // (the loose form was seen dropping the marked IPv6 packets on the lab too).
  if (!key.flags.includes('mark') || p.marked === false) return true;
  if (p.marked === null) return null;
  return false;
}

function matchExpr(e: Extract<Expr, { kind: 'match' }>, p: Packet, table: Table): T3 {
  const { key, op, value } = e;
  switch (key.kind) {
    case 'nfproto':
      return compare(p.family, op, value, table);
    case 'l4proto':
      return compare('tcp', op, value, table, true);
    case 'payload': {
      const has = hasHeader(key.protocol, p);
      if (has === false) return 'no';
      if (has === null) return 'maybe';
      if ((key.protocol === 'tcp' || key.protocol === 'th') && key.field === 'dport') return compare(p.port, op, value, table);
      // An address with prefix 0 matches everything (iptables-save leaves it out anyway).
      if (typeof value === 'object' && 'prefix' in value && value.prefix.len === 0) return op === '!=' ? 'no' : 'yes';
      return 'maybe';
    }
    case 'iifname':
      // Intercepted packets come from the network: never in on lo.
      if (p.iif === null) return value === 'lo' ? (op === '!=' ? 'yes' : 'no') : 'maybe';
      return compare(p.iif, op, value, table);
    case 'mark': {
      if (p.marked === null) return 'maybe';
      const m = p.marked ? p.mark : 0;
      return compare(key.mask === null ? m : (m & key.mask) >>> 0, op, value, table);
    }
    case 'ct':
      if (key.key === 'state') return compare(p.ct, op, value, table);
      if (key.key === 'status' && (value === 'dnat' || value === 'snat')) return op === '!=' ? 'yes' : 'no';
      return 'maybe';
    case 'pkttype':
      return compare('host', op, value, table);
    case 'fib': {
      const v = fibValue(key, p);
      if (v === null || typeof value !== 'boolean') return 'maybe';
      return compare(v, op, value, table);
    }
    default:
      return 'maybe';
  }
}

function keyValue(key: Key, p: Packet): string | number | null {
  if (key.kind === 'ct' && key.key === 'state') return p.ct;
  if (key.kind === 'nfproto') return p.family;
  if (key.kind === 'l4proto') return 6;
  if (key.kind === 'iifname') return p.iif;
  if (key.kind === 'payload' && (key.protocol === 'tcp' || key.protocol === 'th') && key.field === 'dport') return p.port;
  if (key.kind === 'mark' && p.marked !== null) return ((p.marked ? p.mark : 0) & (key.mask ?? 0xffffffff)) >>> 0;
  return null;
}

function keyText(k: Key): string {
  switch (k.kind) {
    case 'payload':
      return `${k.protocol} ${k.field}`;
    case 'mark':
      return 'meta mark (at the priority of mangle, where TPROXY sets it)';
    case 'iifname':
      return 'iifname (the receiving interface is not known)';
    case 'ct':
      return `ct ${k.key}`;
    case 'fib':
      return `fib ${k.flags.join(' . ')} ${k.result}`;
    case 'other':
      return k.text;
    default:
      return k.kind;
  }
}

/** What could not be decided, for a person: the rule, then the part of it. */
const undecidedText = (r: Rule, e: Expr): string =>
  `"${r.text}" (cannot tell: ${e.kind === 'opaque' || e.kind === 'effect' ? e.text : e.kind === 'match' || e.kind === 'vmap' ? keyText(e.key) : e.kind})`;

/** One way a rule may go: its action (null: the packet goes on) and what was undecided. */
interface Alt {
  action: Action | null;
  undecided: string[];
}

function ruleAlts(r: Rule, p: Packet, table: Table): Alt[] {
  const undecided: string[] = [];
  for (const e of r.exprs) {
    if (e.kind === 'match' || e.kind === 'opaque') {
      const t = e.kind === 'opaque' ? 'maybe' : matchExpr(e, p, table);
      if (t === 'no') return [{ action: null, undecided: [] }];
      if (t === 'maybe') undecided.push(undecidedText(r, e));
    } else if (e.kind === 'action') {
      const alts: Alt[] = [{ action: e.action, undecided }];
      return undecided.length ? [...alts, { action: null, undecided }] : alts;
    } else if (e.kind === 'vmap') {
      const v = keyValue(e.key, p);
      const out: Alt[] = [];
      let sure = false;
      for (const [k, a] of e.entries) {
        const m = v === null ? null : member(v, k, table, e.key.kind === 'l4proto');
        if (m === false) continue;
        out.push({ action: a, undecided: m === null ? [...undecided, undecidedText(r, e)] : undecided });
        if (m === true && !undecided.length) sure = true;
        if (m === true) break;
      }
      if (!sure) out.push({ action: null, undecided: [...undecided, ...(v === null ? [undecidedText(r, e)] : [])] });
      return out;
    }
  }
  return [{ action: null, undecided }];
}

interface Path {
  end: 'accept' | 'drop' | 'next';
  /** The dropping rule and its chain (rule null: a policy; undefined for accept/next). */
  rule?: Rule | null;
  ruleChain?: string;
  undecided: string[];
  via: string[];
}

const MAX_STEPS = 20000;

function walk(table: Table, p: Packet, start: Chain): Path[] | null {
  let steps = 0;
  const run = (chain: Chain, from: number, undecided: string[], via: string[], depth: number): Path[] | null => {
    if (depth > 32 || ++steps > MAX_STEPS) return null;
    for (let i = from; i < chain.rules.length; i++) {
      const r = chain.rules[i]!;
      const alts = ruleAlts(r, p, table);
      if (alts.length === 1 && alts[0]!.action === null) {
        undecided = [...undecided, ...alts[0]!.undecided];
        continue;
      }
      const out: Path[] = [];
      for (const alt of alts) {
        const u = [...undecided, ...alt.undecided];
        const sub = alt.action === null ? run(chain, i + 1, u, via, depth + 1) : act(alt.action, chain, i, r, u, via, depth);
        if (!sub) return null;
        out.push(...sub);
      }
      return out;
    }
    return [{ end: 'next', undecided, via }];
  };
  const act = (a: Action, chain: Chain, i: number, r: Rule, u: string[], via: string[], depth: number): Path[] | null => {
    switch (a.kind) {
      case 'accept':
        return [{ end: 'accept', undecided: u, via }];
      case 'drop':
      case 'reject':
        return [{ end: 'drop', rule: r, ruleChain: chain.name, undecided: u, via }];
      case 'return':
        return [{ end: 'next', undecided: u, via }];
      case 'queue':
      case 'unknown': {
        // User space or an unknown target decides: it may drop, or the packet may go on.
        const why = [...u, `"${r.text}" (cannot tell: ${a.kind === 'queue' ? 'queued to user space' : a.text})`];
        const rest = run(chain, i + 1, why, via, depth + 1);
        return rest && [{ end: 'drop', rule: r, ruleChain: chain.name, undecided: why, via }, ...rest];
      }
      case 'jump':
      case 'goto': {
        const target = table.chains.get(a.target);
        if (!target) return [{ end: 'drop', rule: r, ruleChain: chain.name, undecided: [...u, `"${r.text}" (cannot tell: chain ${a.target} not found)`], via }];
        const sub = run(target, 0, u, [...via, a.target], depth + 1);
        if (!sub || a.kind === 'goto') return sub;
        const out: Path[] = [];
        for (const s of sub) {
          if (s.end !== 'next') out.push(s);
          else {
            const rest = run(chain, i + 1, s.undecided, s.via, depth + 1);
            if (!rest) return null;
            out.push(...rest);
          }
        }
        return out;
      }
    }
  };
  return run(start, 0, [], [], 0);
}

const HOOK_ORDER: Record<string, number> = { prerouting: 0, input: 1 };
const MANGLE = -150;
const CONNTRACK = -200;

/** Every finding for the intercepted packets, one per dropping rule (or policy) of a chain. */
export function evaluate(rs: Ruleset, ic: Interception): Finding[] {
  const found = new Map<string, Finding>();
  const fams: [Family, string][] = ic.families.map((f) => [f, f === 'ipv4' ? 'ip' : 'ip6']);
  for (const [fam, nf] of fams) {
    const tables = rs.tables
      .filter((t) => (t.family === nf || t.family === 'inet') && !(t.source === 'nft' && t.name === 'tprun'))
      .map((t) => asApplied(t, rs, true));
    const bases = tables
      .flatMap((t) => [...t.chains.values()].filter((c) => c.base && c.base.hook in HOOK_ORDER && c.base.type !== 'route').map((c) => ({ t, c, b: c.base! })))
      .sort((x, y) => HOOK_ORDER[x.b.hook]! - HOOK_ORDER[y.b.hook]! || x.b.priority - y.b.priority);
    for (const { t, c, b } of bases) {
      for (const port of ic.ports)
        for (const ct of b.hook === 'prerouting' && b.priority < CONNTRACK ? (['invalid'] as const) : (['new', 'established'] as const)) {
          // NAT chains see a connection's first packet only.
          if (b.type === 'nat' && ct !== 'new') continue;
          for (const iif of ic.interfaces.length ? ic.interfaces : [null]) {
            const marked = b.hook === 'input' || b.priority > MANGLE ? true : b.priority < MANGLE ? false : null;
            const p: Packet = { family: fam, port, ct, marked, mark: ic.mark & ic.mask, iif };
            const what = `IPv${fam === 'ipv4' ? 4 : 6} tcp/${port} (${ct === 'invalid' ? 'before conntrack' : ct}${iif ? ` on ${iif}` : ''})`;
            const paths = walk(t, p, c) ?? [
              { end: 'drop' as const, rule: null, ruleChain: c.name, undecided: ['too many ways through the chain to follow'], via: [] },
            ];
            const ends = paths.map((x): Path => (x.end === 'next' && b.policy === 'drop' ? { ...x, end: 'drop', rule: null, ruleChain: c.name } : x));
            const drops = ends.filter((x) => x.end === 'drop');
            const certain = drops.length === ends.length;
            for (const d of drops) {
              const k = `${tableLabel(t)}\0${c.name}\0${d.ruleChain}\0${d.rule?.text ?? ''}`;
              const f = found.get(k) ?? {
                certainty: 'may drop' as const,
                table: tableLabel(t),
                chain: c.name,
                hook: b.hook,
                priority: b.priority,
                rule: d.rule?.text ?? null,
                ...(d.rule?.handle !== undefined ? { handle: d.rule.handle } : {}),
                ruleChain: d.ruleChain ?? c.name,
                rpfilter: !!d.rule?.exprs.some((e) => e.kind === 'match' && e.key.kind === 'fib'),
                packets: [],
                mayPackets: [],
                undecided: [],
                via: [],
                source: t.source,
                family: t.family,
                tableName: t.name,
              };
              if (certain) f.certainty = 'drops';
              const list = certain ? f.packets : f.mayPackets;
              if (!list.includes(what)) list.push(what);
              for (const u of certain ? [] : d.undecided) if (!f.undecided.includes(u)) f.undecided.push(u);
              for (const v of d.via) if (!f.via.includes(v)) f.via.push(v);
              found.set(k, f);
            }
          }
        }
    }
  }
  // What was undecided matters only for the packets it may drop.
  for (const f of found.values()) if (!f.mayPackets.length) f.undecided = [];
  return [...found.values()];
}

/**
 * What to do about a finding, for a person: the firewall's own way where it is known.
 * `rpfilter`: the IPv6_rpfilter value that passes marked packets on this host's firewalld
 * (rpfilterFor its version), when the host's firewalld was read.
 */
export function fixHint(f: Finding, ic: Interception, rpfilter?: string): string {
  const markExpr = `meta mark & 0x${ic.mask.toString(16)} == 0x${ic.mark.toString(16)} accept`;
  const ports = ic.ports.join(',');
  const nftInsert = `nft insert rule ${f.family} ${f.tableName} ${f.chain} ${markExpr}`;
  if (f.source === 'nft' && f.tableName === 'firewalld') {
    if (f.rpfilter)
      return `firewalld's IPv6 reverse-path filter (IPv6_rpfilter) drops the marked packets: their lookup by the mark finds tprun's local route, which fib counts as no route (loose does too). Set ${rpfilter ? `IPv6_rpfilter=${rpfilter}${rpfilter === 'no' ? ' (this firewalld is older than 2.2, which brought strict-forward)' : ''}` : 'IPv6_rpfilter=strict-forward (firewalld 2.2 and later; else no)'} in /etc/firewalld/firewalld.conf, then firewall-cmd --reload; or let tprun do it: firewalld: manage`;
    const zone = f.via
      .map((v) => /^filter_IN_(.+?)(?:_(?:pre|log|deny|allow|post))?$/.exec(v)?.[1])
      .find((z) => z && z !== 'ZONES' && !z.startsWith('policy_'));
    return `allow the intercepted ports in the firewalld zone of each receiving interface: firewall-cmd --permanent --zone=${zone ?? 'ZONE'} ${ic.ports.map((p) => `--add-port=${p}/tcp`).join(' ')}; firewall-cmd --reload; or let tprun do it: firewalld: manage`;
  }
  if (f.source !== 'nft') {
    const tool = `${f.family === 'ip6' ? 'ip6tables' : 'iptables'}${f.source === 'iptables-legacy' ? '-legacy' : ''}`;
    if (f.rule === null)
      return `the ${f.chain} policy is DROP: accept the intercepted packets before it (${tool} -t ${f.tableName} -I ${f.chain} -p tcp -m multiport --dports ${ports} -j ACCEPT), or make the policy ACCEPT`;
    return `remove the rule (${tool} -t ${f.tableName} ${f.rule.replace(/^-A /, '-D ')}) or narrow it so it does not match tcp port ${ports} from the clients`;
  }
  if (f.rpfilter)
    return `the reverse-path rule drops the marked packets (their lookup by the mark finds tprun's local route, which fib counts as no route): exempt the mark first (${nftInsert}), or leave "mark" out of the fib lookup`;
  const early = f.hook === 'prerouting' && f.priority <= MANGLE;
  if (f.rule === null)
    return `the chain's policy is drop: accept the intercepted packets in it (${early ? `tcp dport { ${ports} } accept` : nftInsert}), or make its policy accept`;
  return early
    ? `delete the rule (nft -a list chain ${f.family} ${f.tableName} ${f.ruleChain}; nft delete rule ${f.family} ${f.tableName} ${f.ruleChain} handle ${f.handle ?? 'N'}) or narrow it so it does not match tcp port ${ports} from the clients`
    : `accept the intercepted packets before it (${nftInsert}), or delete the rule (nft delete rule ${f.family} ${f.tableName} ${f.ruleChain} handle ${f.handle ?? 'N'})`;
}

/** Parts of the ruleset that could not be read: reported, never ignored. */
export const unreadable = (rs: Ruleset): string[] => rs.unreadable;
