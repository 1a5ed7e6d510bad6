/**
 * Firewall marks and masks are unsigned 32-bit numbers. Every comparison, parse and print of a
 * mark goes through this module: JavaScript's bitwise operators return signed 32-bit numbers, so
 * `0x80000000 & 0xffffffff` is -2147483648, not 2147483648.
 */

/** The unsigned 32-bit value of n (what the kernel stores). */
export const u32 = (n: number) => n >>> 0;

/** mark AND mask, unsigned. */
export const and32 = (a: number, b: number) => (a & b) >>> 0;

/** Does a packet carrying `mark` match "mark VALUE/MASK" ((mark & mask) == value), unsigned? */
export const markMatches = (mark: number, value: number, mask = 0xffffffff) => and32(mark, mask) === u32(value);

/** Written in hex as iptables, ip and nft print them. */
export const hex = (n: number) => '0x' + u32(n).toString(16);

/** As `ip rule show` prints a fwmark: the mask only when it is not all ones. */
export const fwmarkSpec = (mark: number, mask: number) => (u32(mask) === 0xffffffff ? hex(mark) : `${hex(mark)}/${hex(mask)}`);

/** "0x1/0x1", "0x80000000", "5": the value and the mask (all ones when absent); undefined when not a u32. */
export function parseMark(text: string): { value: number; mask: number } | undefined {
  const [v, m, extra] = text.split('/');
  if (extra !== undefined) return undefined;
  const num = (s: string | undefined) => (s !== undefined && /^(0x[0-9a-f]+|\d+)$/i.test(s.trim()) ? Number(s.trim()) : NaN);
  const value = num(v);
  const mask = m === undefined ? 0xffffffff : num(m);
  if (!Number.isInteger(value) || !Number.isInteger(mask) || value > 0xffffffff || mask > 0xffffffff) return undefined;
  return { value: u32(value), mask: u32(mask) };
}

/** Are two marks the same unsigned 32-bit number? */
export const sameMark = (a: number | undefined, b: number | undefined) => a !== undefined && b !== undefined && u32(a) === u32(b);
