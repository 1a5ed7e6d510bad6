/** Rule text in one canonical form, so wanted rules and iptables-save output compare with ===. */

/** Normalise one rule as iptables-save prints it (the part after "-A CHAIN "). */
export function normaliseRule(rule: string, family: 'ipv4' | 'ipv6'): string {
  const t = rule.trim().split(/\s+/);
  const out: string[] = [];
  for (let i = 0; i < t.length; i++) {
    const w = t[i]!;
    const next = t[i + 1];
    // iptables-save adds "-m tcp" after "-p tcp"; older versions and hand-written rules omit it.
    if (w === '-m' && (next === 'tcp' || next === 'udp') && out.at(-2) === '-p' && out.at(-1) === next) {
      i++;
      continue;
    }
    if ((w === '-s' || w === '-d' || w === '--source' || w === '--destination') && next) {
      out.push(w.length === 2 ? w : w === '--source' ? '-s' : '-d', next.includes('/') ? next : `${next}/${family === 'ipv4' ? 32 : 128}`);
      i++;
      continue;
    }
    if (w === '--set-mark' && next) {
      out.push('--set-xmark', next.includes('/') ? next : `${next}/0xffffffff`);
      i++;
      continue;
    }
    if (w === '--on-ip' && (next === '0.0.0.0' || next === '::')) {
      i++;
      continue;
    }
    out.push(/^0x[0-9A-F]+(\/0x[0-9A-F]+)?$/i.test(w) ? w.toLowerCase() : w);
  }
  // Target options come in any order: sort them pairwise after -j TARGET.
  const j = out.indexOf('-j');
  if (j >= 0 && j + 2 < out.length) {
    const head = out.slice(0, j + 2);
    const pairs: string[] = [];
    for (let i = j + 2; i < out.length; i += 2) pairs.push(`${out[i]} ${out[i + 1] ?? ''}`.trim());
    return [...head, ...pairs.sort()].join(' ');
  }
  return out.join(' ');
}
