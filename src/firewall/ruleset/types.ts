/**
 * The host's whole packet filter as typed values: every nftables table (`nft -j list ruleset`)
 * and every iptables table of each backend (legacy and nf_tables), parsed once from the facts
 * script's output. Rules of both worlds become the same expressions, so one evaluator walks them.
 */

/** Where a table was read: an nftables table, or an iptables table of one backend. */
export type Source = 'nft' | 'iptables-legacy' | 'iptables-nft';

export type Hook = 'prerouting' | 'input' | 'forward' | 'output' | 'postrouting' | 'ingress' | 'egress';

/** The right-hand side of a match, as nft's JSON has it (iptables rules are mapped onto it). */
export type Value = number | string | boolean | { set: Value[] } | { range: [Value, Value] } | { prefix: { addr: string; len: number } } | { other: string };

/** What a match reads from the packet. */
export type Key =
  | { kind: 'nfproto' }
  | { kind: 'l4proto' }
  /** A header field; `protocol` also says the packet must have that header (tcp, ip6, th, ...). */
  | { kind: 'payload'; protocol: string; field: string }
  | { kind: 'iifname' }
  | { kind: 'mark'; mask: number | null }
  | { kind: 'ct'; key: string }
  | { kind: 'pkttype' }
  | { kind: 'fib'; result: string; flags: string[] }
  /** Anything else: the evaluator cannot decide it. */
  | { kind: 'other'; text: string };

export type Op = '==' | '!=' | 'in' | '<' | '>' | '<=' | '>=';

export type Action =
  | { kind: 'accept' }
  | { kind: 'drop' }
  | { kind: 'reject' }
  | { kind: 'return' }
  /** Hands the packet to user space (NFQUEUE): it may or may not come back. */
  | { kind: 'queue' }
  | { kind: 'jump'; target: string }
  | { kind: 'goto'; target: string }
  /** A terminal action the evaluator does not know (an iptables target, an xt target): it may drop. */
  | { kind: 'unknown'; text: string };

export type Expr =
  | { kind: 'match'; key: Key; op: Op; value: Value }
  /** A match the evaluator cannot read (limit, an xt match, an unknown expression). */
  | { kind: 'opaque'; text: string }
  | { kind: 'action'; action: Action }
  | { kind: 'vmap'; key: Key; entries: [Value, Action][] }
  /** A statement that neither matches nor decides (counter, log, mark set, ...). */
  | { kind: 'effect'; text: string };

export interface Rule {
  /** As the admin would write it: nft's text form, or "-A CHAIN ..." for iptables. */
  text: string;
  handle?: number;
  exprs: Expr[];
}

export interface BaseChain {
  hook: Hook;
  priority: number;
  type: string;
  policy: 'accept' | 'drop';
}

export interface Chain {
  name: string;
  base?: BaseChain;
  rules: Rule[];
}

export interface Table {
  source: Source;
  /** nft's family: ip, ip6, inet, bridge, arp, netdev (iptables tables are ip or ip6). */
  family: string;
  name: string;
  chains: Map<string, Chain>;
  /** Named sets' elements (null: not readable). */
  sets: Map<string, Value[] | null>;
}

export interface Ruleset {
  tables: Table[];
  /** Which `iptables` / `ip6tables` backend the default tools use (tprun's own chains live there). */
  defaultBackend: { ip: 'legacy' | 'nft' | null; ip6: 'legacy' | 'nft' | null };
  /** Parts that could not be read, e.g. nft without JSON output: the evaluator reports them. */
  unreadable: string[];
}

/** How an admin names a table in messages. */
export function tableLabel(t: Pick<Table, 'source' | 'family' | 'name'>): string {
  if (t.source === 'nft') return `nft table ${t.family} ${t.name}`;
  const tool = t.family === 'ip6' ? 'ip6tables' : 'iptables';
  return `${tool}${t.source === 'iptables-legacy' ? '-legacy' : ''} table ${t.name}`;
}
