/**
 * nftables tables as typed values: rendered to the text `nft -f` loads and parsed once from
 * `nft -j` output, so a wanted table and a live one compare with deep equality. Backends build
 * the wanted values (roles/nftables/model.ts); doctor reads the live ones.
 */
import { and32, hex, u32 } from '../inventory/mark.ts';
import { raw } from '../shell.ts';

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
  /** reject: nft's default in an inet table, ICMP(v6) port unreachable ("icmpx port-unreachable"). */
  | { verdict: 'accept' | 'drop' | 'return' | 'reject' }
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
export function tableText(t: NftTable, name = TABLE): string {
  const out = [`table ${name} {`];
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
export const replaceScript = (t: NftTable | null, name = TABLE) =>
  [`table ${name} {}`, `delete table ${name}`, ...(t ? [tableText(t, name)] : [])].join('\n') + '\n';

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
  if (isObj(l.fib))
    return `fib ${([] as unknown[])
      .concat(l.fib.flags ?? [])
      .map(String)
      .join(' . ')} ${String(l.fib.result)}`;
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
  if (
    'reject' in e &&
    Object.keys(e).length === 1 &&
    (e.reject === null || (isObj(e.reject) && e.reject.type === 'icmpx' && e.reject.expr === 'port-unreachable'))
  )
    return { verdict: 'reject' };
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

/** Named counters' packet counts from `nft -j` output (empty when none). */
export function parseCounters(json: string): Map<string, number> {
  const doc = JSON.parse(json) as { nftables?: J[] };
  const out = new Map<string, number>();
  for (const o of doc.nftables ?? []) if (isObj(o.counter)) out.set(String(o.counter.name), Number(o.counter.packets ?? 0));
  return out;
}

/** The live table with its counters, as doctor reads it; null when absent or unreadable. */
export function parseLive(json: string): { table: NftTable; counters: Map<string, number> } | null {
  try {
    const table = parseTable(json);
    return table ? { table, counters: parseCounters(json) } : null;
  } catch {
    return null;
  }
}

/**
 * `nft -c` of a candidate read from stdin, in a network namespace of its own (`unshare -n`, empty
 * ruleset, gone when nft exits): the host's own nft and kernel judge it, and nothing in the host's
 * live ruleset (a table of ours hand-edited, another team's tables) can make it pass or fail.
 * Where no namespace can be made (unshare missing, or refused in a container), it checks in the
 * host's namespace, and says so on stderr (the journal).
 */
export const NFT_CHECK = raw(
  `if unshare -n true 2>/dev/null; then unshare -n nft -c -f /dev/stdin; else echo 'tprun: no throwaway network namespace (unshare -n failed): nft -c against the live ruleset' >&2; nft -c -f /dev/stdin; fi`,
);
