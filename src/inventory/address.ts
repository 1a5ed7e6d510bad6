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
