/**
 * Rolling changes: --serial splits the hosts into batches (Ansible's serial: "1,10%,100%" is a
 * canary host, then a tenth of the fleet, then the rest; the last size repeats), and --max-fail
 * stops the rollout when a batch has more failed or unreachable hosts than it allows: no further
 * host or batch starts, and the hosts never started are reported as such.
 */

/** A count, or a percentage of a whole. */
export type Amount = { count: number } | { percent: number };

export function parseAmount(text: string): Amount | undefined {
  const m = /^(\d+)(%?)$/.exec(text.trim());
  if (!m) return undefined;
  const n = Number(m[1]);
  if (m[2]) return n <= 100 ? { percent: n } : undefined;
  return { count: n };
}

/** "1,10%,100%" → amounts; undefined when any part is not N or P%, or a batch would be empty. */
export function parseSerial(text: string): Amount[] | undefined {
  const parts = text.split(',').map(parseAmount);
  if (!parts.length || parts.some((p) => !p || ('count' in p ? p.count < 1 : p.percent < 1))) return undefined;
  return parts as Amount[];
}

/** Batch sizes covering `total` hosts: a percentage of the whole fleet, at least 1; the last size repeats. */
export function batchSizes(total: number, serial: readonly Amount[] | undefined): number[] {
  if (!serial?.length) return total ? [total] : [];
  const sizes: number[] = [];
  let left = total;
  for (let i = 0; left > 0; i++) {
    const a = serial[Math.min(i, serial.length - 1)]!;
    const n = Math.min(left, 'count' in a ? a.count : Math.max(1, Math.floor((total * a.percent) / 100)));
    sizes.push(n);
    left -= n;
  }
  return sizes;
}

/** Whether `failed` hosts of a batch of `size` are more than --max-fail allows. */
export const exceeds = (failed: number, size: number, max: Amount): boolean => ('count' in max ? failed > max.count : (failed * 100) / size > max.percent);

export const amountText = (a: Amount): string => ('count' in a ? String(a.count) : `${a.percent}%`);
