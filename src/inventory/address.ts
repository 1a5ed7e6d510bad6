/** Address helpers shared by validation and the firewall roles. */
import { isIP } from 'node:net';
import type { Family } from './types.ts';

/** An IPv4/IPv6 address, optionally with a prefix length that fits its family. */
export function isCidr(value: string): boolean {
  const [addr, prefix, ...rest] = value.split('/');
  if (rest.length || !addr) return false;
  const fam = isIP(addr);
  if (!fam) return false;
  if (prefix === undefined) return true;
  if (!/^\d{1,3}$/.test(prefix)) return false;
  return Number(prefix) <= (fam === 4 ? 32 : 128);
}

/** The family of an address or CIDR (assumed valid). */
export const familyOf = (addrOrCidr: string): Family => (isIP(addrOrCidr.split('/')[0]!) === 6 ? 'ipv6' : 'ipv4');

/** 16-bit groups of an IPv6 address (with an optional embedded IPv4 tail), or null. */
function ipv6Groups(addr: string): number[] | null {
  let text = addr.toLowerCase();
  let tail: number[] = [];
  const v4 = /^(.*:)(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const o = v4[2]!.split('.').map(Number);
    tail = [(o[0]! << 8) | o[1]!, (o[2]! << 8) | o[3]!];
    text = v4[1]!.endsWith('::') ? v4[1]! : v4[1]!.slice(0, -1);
  }
  const halves = text.split('::');
  if (halves.length > 2) return null;
  const part = (s: string) => (s ? s.split(':').map((g) => parseInt(g, 16)) : []);
  const head = part(halves[0]!);
  const rest = halves.length === 2 ? part(halves[1]!) : [];
  const fill = 8 - tail.length - head.length - rest.length;
  if (fill < 0 || (halves.length === 1 && fill !== 0)) return null;
  return [...head, ...Array<number>(halves.length === 2 ? fill : 0).fill(0), ...rest, ...tail];
}

/**
 * One spelling per address, so 2001:db8::1 and 2001:DB8:0::1 compare equal: IPv6 in RFC 5952
 * form (lower case, longest zero run as ::), IPv4 as it is, host names lower case without a
 * final dot. A zone (%eth0) is kept.
 */
export function canonicalHost(value: string): string {
  const [addr, zone] = value.split('%', 2) as [string, string | undefined];
  if (isIP(value) === 6 || isIP(addr) === 6) {
    const g = ipv6Groups(addr);
    if (!g) return value.toLowerCase();
    // Longest run of two or more zero groups, first one on ties.
    let best = -1;
    let bestLen = 1;
    for (let i = 0; i < 8;) {
      if (g[i] !== 0) {
        i++;
        continue;
      }
      let j = i;
      while (j < 8 && g[j] === 0) j++;
      if (j - i > bestLen) [best, bestLen] = [i, j - i];
      i = j;
    }
    const hexes = g.map((x) => x.toString(16));
    const text = best < 0 ? hexes.join(':') : `${hexes.slice(0, best).join(':')}::${hexes.slice(best + bestLen).join(':')}`;
    return zone === undefined ? text : `${text}%${zone}`;
  }
  if (isIP(value) === 4) return value;
  return value.toLowerCase().replace(/\.$/, '');
}
