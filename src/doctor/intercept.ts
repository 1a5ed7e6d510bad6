/**
 * The interception as doctor reads it, whatever the backend: the divert (socket) and TPROXY
 * steps per family, in evaluation order, with their packet counts. Built once from the iptables
 * mangle tables and from nft's `table inet tprun`; the diagnosers read this, not a tool's text.
 */
import type { CountedRule, CountedTable } from '../facts/parsers.ts';
import { ruleText as nftRuleText, type NftTable } from '../firewall/nft.ts';

export interface InterceptRule {
  source: 'iptables' | 'nftables';
  family: 4 | 6;
  kind: 'divert' | 'tproxy';
  /** squid's port a TPROXY step hands packets to. */
  port?: number;
  packets: number;
  /** Where it lives, for evidence: "mangle" or "nft inet tprun". */
  where: string;
  /** The rule as its tool prints it, with its count. */
  text: string;
}

export interface FirewallView {
  /** iptables-save -c per family: table name → table. */
  firewall: { v4: Map<string, CountedTable>; v6: Map<string, CountedTable> };
  nft: { table: NftTable; counters: Map<string, number> } | null;
}

/** PREROUTING (or any chain) with its jumps into user chains expanded in place. */
export function flatten(table: CountedTable | undefined, chain: string): CountedRule[] {
  if (!table) return [];
  const out: CountedRule[] = [];
  const walk = (name: string, depth: number, seen: Set<string>) => {
    for (const r of table.rules.filter((x) => x.chain === name)) {
      out.push(r);
      const target = /-j (\S+)/.exec(r.rule)?.[1];
      if (target && table.policies.get(target) === '-' && !seen.has(target) && depth < 8) walk(target, depth + 1, new Set([...seen, target]));
    }
  };
  walk(chain, 0, new Set([chain]));
  return out;
}

export const iptRuleText = (r: CountedRule) => `-A ${r.chain} ${r.rule} [${r.packets} packets]`;

export function interception(f: FirewallView, families: readonly (4 | 6)[]): InterceptRule[] {
  const out: InterceptRule[] = [];
  for (const fam of families) {
    for (const r of flatten(f.firewall[fam === 4 ? 'v4' : 'v6'].get('mangle'), 'PREROUTING')) {
      const kind = /-j TPROXY\b/.test(r.rule) ? 'tproxy' : /-m socket\b/.test(r.rule) ? 'divert' : undefined;
      if (!kind) continue;
      const port = Number(/--on-port (\d+)/.exec(r.rule)?.[1] ?? NaN);
      out.push({ source: 'iptables', family: fam, kind, ...(kind === 'tproxy' ? { port } : {}), packets: r.packets, where: 'mangle', text: iptRuleText(r) });
    }
  }
  if (f.nft) {
    const { table, counters } = f.nft;
    for (const chain of table.chains.filter((c) => c.hook === 'prerouting')) {
      for (const items of chain.rules) {
        const counter = items.find((i): i is { counter: string } => 'counter' in i)?.counter;
        const packets = counter ? (counters.get(counter) ?? 0) : 0;
        const text = `${nftRuleText(items)} [${counter ? `counter ${counter}: ${packets} packets` : 'no counter'}]`;
        const tp = items.find((i): i is { tproxy: { family: 'ip' | 'ip6'; port: number } } => 'tproxy' in i);
        const where = `nft inet tprun ${chain.name}`;
        if (tp) {
          const fam = tp.tproxy.family === 'ip' ? 4 : 6;
          if (families.includes(fam)) out.push({ source: 'nftables', family: fam, kind: 'tproxy', port: tp.tproxy.port, packets, where, text });
        } else if (items.some((i) => 'match' in i && i.match === 'socket transparent')) {
          for (const fam of families) out.push({ source: 'nftables', family: fam, kind: 'divert', packets, where, text });
        }
      }
    }
  }
  return out;
}
