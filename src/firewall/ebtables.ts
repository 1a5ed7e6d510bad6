/**
 * ebtables text as tprun reads and compares it, shared by the roles that own ebtables chains
 * (ebtables: the broute chain; iptables: block_quic's bridge-family TPRUN_FORWARD).
 */
import { raw } from '../shell.ts';

/**
 * awk: `ebtables -t TABLE -L` into ebtables-save's format, one table. Not ebtables-save itself:
 * Debian 12's ebtables-legacy-save runs /usr/sbin/ebtables, which is ebtables-nft.
 */
export const EB_LIST_TO_SAVE = raw(
  `awk '/^Bridge table: /{print "*" $3; next} /^Bridge chain: /{c=$3; sub(/,$/,"",c); chains=chains ":" c " " $NF "\\n"; next} /^$/{next} {sub(/ +$/,""); rules=rules "-A " c " " $0 "\\n"} END{printf "%s%s", chains, rules}'`,
);

/** ebtables prints options in its own order and protocol names in either case: compare as sorted option pairs. */
export function normaliseEbRule(rule: string): string {
  const t = rule.trim().split(/\s+/);
  const j = t.indexOf('-j');
  const head = j >= 0 ? t.slice(0, j) : t;
  const tail = j >= 0 ? t.slice(j) : [];
  const pairs: string[] = [];
  for (let i = 0; i < head.length; i++) {
    const w = head[i]!;
    if (w.startsWith('-') && head[i + 1] !== undefined && !head[i + 1]!.startsWith('-')) {
      const v = head[i + 1]!;
      pairs.push(`${w} ${w === '-p' || w === '--ip-proto' || w === '--ip6-proto' ? v.toLowerCase() : v}`);
      i++;
    } else pairs.push(w);
  }
  return [...pairs.sort(), ...tail].join(' ');
}
