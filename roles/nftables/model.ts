/**
 * `table inet tprun` as typed values: the wanted table is built from the inventory, the live
 * one parsed once from `nft -j list table inet tprun`, and the two compare with deep equality.
 * The nft text tprun loads is rendered from the same values, so what is compared is what loads.
 */
import { familyOf } from '../../src/inventory/address.ts';
import { and32, hex, u32 } from '../../src/inventory/mark.ts';
import type { Family, Host } from '../../src/inventory/types.ts';

export const TABLE = 'inet tprun';

/** A match "LEFT == RIGHT": left as nft writes it (e.g. "tcp dport"), right its values, sorted. */
export interface Match {
  match: string;
  op: string;
  values: string[];
}
export type Item =
  | Match
  | { counter: string }
  | { tproxy: { family: 'ip' | 'ip6'; port: number } }
  /** meta mark set (mark & ~mask) | value */
  | { mark: { value: number; mask: number } }
  | { verdict: 'accept' | 'drop' | 'return' }
  /** Anything tprun never writes, kept as nft's JSON so it shows (and differs) as it is. */
  | { other: string };

export interface NftSet {
  name: string;
  type: string;
  interval: boolean;
  elements: string[];
}
export interface NftChain {
  name: string;
  type: string;
  hook: string;
  prio: number;
  policy: string;
  rules: Item[][];
}
export interface NftTable {
  counters: string[];
  sets: NftSet[];
  chains: NftChain[];
}

const m = (match: string, ...values: (string | number)[]): Match => ({ match, op: '==', values: values.map(String).sort() });
const FAM = { ipv4: { nf: 'ipv4', ip: 'ip', addr: 'ipv4_addr', bits: 32 }, ipv6: { nf: 'ipv6', ip: 'ip6', addr: 'ipv6_addr', bits: 128 } } as const;

/** An inventory address or CIDR as nft lists a set element: a host prefix as the bare address. */
export function element(a: string): string {
  const [addr, len] = a.split('/');
  const fam = familyOf(addr!);
  const lower = addr!.toLowerCase();
  return len === undefined || Number(len) === FAM[fam].bits ? lower : `${lower}/${Number(len)}`;
}

const setName = (what: 'src' | 'dst', f: Family) => `bypass_${what}${f === 'ipv4' ? 4 : 6}`;

/**
 * The guide's recipe in nft, with the bypasses as sets before any tproxy and a fail-closed drop
 * after it: nft's tproxy statement, unlike xt_TPROXY, does not drop a packet when no squid socket
 * exists, so without the drop the traffic would be forwarded to the origin uninspected.
 */
export function wantedTable(host: Host): NftTable {
  const { mark, mask, ports, https_ports, bypass, families } = host.vars.tproxy;
  const markSet = { mark: { value: u32(mark), mask: u32(mask) } };
  const sets: NftSet[] = [];
  const only = (k: 'source' | 'destination' | 'interface') => bypass.filter((b) => Object.keys(b).length === 1 && b[k] !== undefined);
  for (const f of families) {
    for (const [what, key] of [
      ['src', 'source'],
      ['dst', 'destination'],
    ] as const) {
      const els = only(key)
        .map((b) => b[key]!)
        .filter((a) => familyOf(a.split('/')[0]!) === f);
      sets.push({ name: setName(what, f), type: FAM[f].addr, interval: true, elements: [...new Set(els.map(element))].sort() });
    }
  }
  sets.push({ name: 'bypass_if', type: 'ifname', interval: false, elements: [...new Set(only('interface').map((b) => b.interface!))].sort() });

  const rules: Item[][] = [];
  // Packets of squid's own (transparent) connections: marked and accepted before any bypass.
  rules.push([m('meta l4proto', 'tcp'), m('socket transparent', 1), { counter: 'divert' }, markSet, { verdict: 'accept' }]);
  rules.push([m('meta iifname', '@bypass_if'), { verdict: 'return' }]);
  for (const f of families) {
    rules.push([m(`${FAM[f].ip} saddr`, `@${setName('src', f)}`), { verdict: 'return' }]);
    rules.push([m(`${FAM[f].ip} daddr`, `@${setName('dst', f)}`), { verdict: 'return' }]);
  }
  // A bypass with more than one selector is one rule of its own.
  for (const b of bypass.filter((x) => Object.keys(x).length > 1)) {
    const addrs = [b.source, b.destination].filter((a): a is string => !!a);
    const fams = addrs.length ? [familyOf(addrs[0]!.split('/')[0]!)] : families;
    for (const f of fams.filter((x) => families.includes(x))) {
      const r: Item[] = [];
      if (b.interface) r.push(m('meta iifname', b.interface));
      if (b.source) r.push(m(`${FAM[f].ip} saddr`, element(b.source)));
      if (b.destination) r.push(m(`${FAM[f].ip} daddr`, element(b.destination)));
      rules.push([...r, { verdict: 'return' }]);
    }
  }
  const https = host.vars.squid.https_tproxy_port;
  const targets: [string, number[], number][] = [['http', ports, host.vars.squid.tproxy_port]];
  if (https && https_ports.length) targets.push(['tls', https_ports, https]);
  for (const f of families)
    for (const [name, ps, port] of targets)
      rules.push([
        m('meta nfproto', FAM[f].nf),
        m('tcp dport', ...ps),
        { tproxy: { family: FAM[f].ip, port } },
        markSet,
        { counter: `intercepted_${name}` },
        { verdict: 'accept' },
      ]);
  // Fail closed: what tproxy could not hand to squid is dropped, never forwarded.
  const all = [...new Set(targets.flatMap((t) => t[1]))];
  rules.push([m('meta nfproto', ...families.map((f) => FAM[f].nf)), m('tcp dport', ...all), { counter: 'failclosed' }, { verdict: 'drop' }]);
  const counters = ['divert', 'failclosed', ...targets.map((t) => `intercepted_${t[0]}`)].sort();
  return {
    counters,
    sets: sets.sort((a, b) => a.name.localeCompare(b.name)),
    chains: [{ name: 'prerouting', type: 'filter', hook: 'prerouting', prio: -150, policy: 'accept', rules }],
  };
}

// ---- rendering: typed values → nft text ----

const quoteIf = (left: string, v: string) => (left === 'meta iifname' && !v.startsWith('@') ? `"${v}"` : v);
const leftText = (left: string) => (left === 'meta iifname' ? 'iifname' : left);

export function itemText(i: Item): string {
  if ('match' in i) {
    const vs = i.values.map((v) => quoteIf(i.match, v));
    const right = vs.length === 1 ? vs[0]! : `{ ${vs.join(', ')} }`;
    return `${leftText(i.match)} ${i.op === '==' ? '' : `${i.op} `}${right}`;
  }
  if ('counter' in i) return i.counter ? `counter name "${i.counter}"` : 'counter';
  if ('tproxy' in i) return `tproxy ${i.tproxy.family} to :${i.tproxy.port}`;
  if ('mark' in i) {
    const { value, mask } = i.mark;
    return mask === 0xffffffff ? `meta mark set ${hex(value)}` : `meta mark set meta mark & ${hex(~mask)} | ${hex(value)}`;
  }
  if ('verdict' in i) return i.verdict;
  return `# ${i.other}`;
}

export const ruleText = (r: Item[]) => r.map(itemText).join(' ');

/** The table body as `nft -f` reads it. */
export function tableText(t: NftTable): string {
  const out = [`table ${TABLE} {`];
  for (const c of t.counters) out.push(`\tcounter ${c} {\n\t}`);
  for (const s of t.sets) {
    const els = s.elements.map((e) => (s.type === 'ifname' ? `"${e}"` : e));
    out.push(
      `\tset ${s.name} {\n\t\ttype ${s.type}${s.interval ? '\n\t\tflags interval' : ''}${els.length ? `\n\t\telements = { ${els.join(', ')} }` : ''}\n\t}`,
    );
  }
  for (const c of t.chains) {
    out.push(`\tchain ${c.name} {`, `\t\ttype ${c.type} hook ${c.hook} priority ${c.prio}; policy ${c.policy};`);
    for (const r of c.rules) out.push(`\t\t${ruleText(r)}`);
    out.push('\t}');
  }
  out.push('}');
  return out.join('\n');
}

/** One nft transaction that replaces the table whole (creating it first so the delete never fails). */
export const replaceScript = (t: NftTable | null) => [`table ${TABLE} {}`, `delete table ${TABLE}`, ...(t ? [tableText(t)] : [])].join('\n') + '\n';

/** Lines of the table, one per counter, set and rule, for check's report and diff. */
export function tableLines(t: NftTable): string[] {
  return [
    ...t.counters.map((c) => `counter ${c}`),
    ...t.sets.map((s) => `set ${s.name} ${s.type}${s.interval ? ' interval' : ''} { ${s.elements.join(', ')} }`),
    ...t.chains.flatMap((c) => [
      `chain ${c.name} (${c.type} hook ${c.hook} priority ${c.prio}; policy ${c.policy})`,
      ...c.rules.map((r) => `  ${ruleText(r)}`),
    ]),
  ];
}

// ---- parsing: nft -j → typed values ----

type J = Record<string, unknown>;
const isObj = (x: unknown): x is J => typeof x === 'object' && x !== null && !Array.isArray(x);

function leftOf(l: unknown): string | undefined {
  if (!isObj(l)) return undefined;
  if (isObj(l.meta)) return `meta ${String(l.meta.key)}`;
  if (isObj(l.socket)) return `socket ${String(l.socket.key)}`;
  if (isObj(l.payload)) return `${String(l.payload.protocol)} ${String(l.payload.field)}`;
  return undefined;
}

function valueOf(v: unknown): string | undefined {
  if (typeof v === 'string' || typeof v === 'number') return String(v);
  if (isObj(v) && isObj(v.prefix)) return `${String(v.prefix.addr)}/${String(v.prefix.len)}`;
  if (isObj(v) && Array.isArray(v.range)) return `${String(v.range[0])}-${String(v.range[1])}`;
  return undefined;
}

const isMetaMark = (x: unknown) => isObj(x) && isObj(x.meta) && x.meta.key === 'mark';

/** meta mark set …: a number (mask all ones), "mark | v" (mask v) or "(mark & k) | v" (mask ~k). */
function markOf(v: unknown): { value: number; mask: number } | undefined {
  if (typeof v === 'number') return { value: u32(v), mask: 0xffffffff };
  if (!isObj(v) || !Array.isArray(v['|'])) return undefined;
  const [l, r] = v['|'] as unknown[];
  if (typeof r !== 'number') return undefined;
  if (isMetaMark(l)) return { value: u32(r), mask: u32(r) };
  if (isObj(l) && Array.isArray(l['&'])) {
    const [a, k] = l['&'] as unknown[];
    if (isMetaMark(a) && typeof k === 'number') return { value: u32(r), mask: and32(~k, 0xffffffff) };
  }
  return undefined;
}

export function parseItem(e: unknown): Item {
  const other = { other: JSON.stringify(e) };
  if (!isObj(e)) return other;
  if (isObj(e.match)) {
    const left = leftOf(e.match.left);
    const r = e.match.right;
    const raw = isObj(r) && Array.isArray(r.set) ? (r.set as unknown[]) : [r];
    const values = raw.map(valueOf);
    if (!left || values.some((v) => v === undefined)) return other;
    return { match: left, op: String(e.match.op), values: (values as string[]).sort() };
  }
  if ('counter' in e) return { counter: typeof e.counter === 'string' ? e.counter : '' };
  if (isObj(e.tproxy) && (e.tproxy.family === 'ip' || e.tproxy.family === 'ip6') && e.tproxy.addr === undefined)
    return { tproxy: { family: e.tproxy.family, port: Number(e.tproxy.port) } };
  if (isObj(e.mangle) && isMetaMark(e.mangle.key)) {
    const mk = markOf(e.mangle.value);
    return mk ? { mark: mk } : other;
  }
  for (const v of ['accept', 'drop', 'return'] as const) if (v in e && Object.keys(e).length === 1) return { verdict: v };
  return other;
}

/** `nft -j list table inet tprun` → the table; null when the output holds no table. */
export function parseTable(json: string): NftTable | null {
  const doc = JSON.parse(json) as { nftables?: J[] };
  const objs = doc.nftables ?? [];
  if (!objs.some((o) => isObj(o.table))) return null;
  const t: NftTable = { counters: [], sets: [], chains: [] };
  const chains = new Map<string, NftChain>();
  for (const o of objs) {
    if (isObj(o.counter)) t.counters.push(String(o.counter.name));
    else if (isObj(o.set)) {
      const s = o.set;
      const elem = Array.isArray(s.elem) ? (s.elem as unknown[]) : [];
      t.sets.push({
        name: String(s.name),
        type: String(s.type),
        interval: Array.isArray(s.flags) && s.flags.includes('interval'),
        elements: elem.map((x) => valueOf(x) ?? JSON.stringify(x)).sort(),
      });
    } else if (isObj(o.chain)) {
      const c = o.chain;
      const chain: NftChain = {
        name: String(c.name),
        type: String(c.type ?? ''),
        hook: String(c.hook ?? ''),
        prio: Number(c.prio ?? 0),
        policy: String(c.policy ?? ''),
        rules: [],
      };
      chains.set(chain.name, chain);
    } else if (isObj(o.rule)) {
      const expr = Array.isArray(o.rule.expr) ? (o.rule.expr as unknown[]) : [];
      chains.get(String(o.rule.chain))?.rules.push(expr.map(parseItem));
    }
  }
  t.counters.sort();
  t.sets.sort((a, b) => a.name.localeCompare(b.name));
  t.chains = [...chains.values()].sort((a, b) => a.name.localeCompare(b.name));
  return t;
}
