/** Plans and results for people: one line per host when all is well, details when not. */
import { createTwoFilesPatch, diffArrays } from 'diff';
import { formatDiagnostic } from '../diagnostics.ts';
import { changesOf, type HostPlan, type Item } from '../plan/types.ts';
import type { HostResult } from '../run/host.ts';

const SIGN = { create: '+', update: '~', delete: '-', 'no-op': ' ' } as const;

/** A rule-level diff: ordered lines added and removed. */
function lineDiff(before: string | null, after: string | null): string[] {
  const a = before ? before.split('\n') : [];
  const b = after ? after.split('\n') : [];
  const out: string[] = [];
  for (const part of diffArrays(a, b)) {
    const sign = part.added ? '+' : part.removed ? '-' : ' ';
    for (const l of part.value) out.push(`${sign} ${l}`);
  }
  return out;
}

export function itemDiff(i: Item): string[] {
  switch (i.kind) {
    case 'file': {
      const patch = createTwoFilesPatch(i.id.slice(5), i.id.slice(5), i.before ?? '', i.after ?? '', i.before === null ? '(absent)' : 'on host', i.after === null ? '(removed)' : 'wanted', { context: 2 });
      return patch.split('\n').slice(2).filter((l) => l !== '');
    }
    case 'firewall':
    case 'ebtables':
      return lineDiff(i.before, i.after);
    default:
      return [`${i.before ?? '(absent)'} → ${i.after ?? '(absent)'}`];
  }
}

/** "~ sysctl net.ipv4.conf.all.rp_filter: 1 → 0" style summary of one change. */
export function itemLine(i: Item): string {
  const short = i.kind === 'sysctl' || i.kind === 'selinux-boolean' || i.kind === 'service' || i.kind === 'link' ? `: ${i.before ?? '(absent)'} → ${i.after ?? '(absent)'}` : '';
  return `${SIGN[i.action]} ${i.id}${short}`;
}

export function planLines(plan: HostPlan, opts: { diff: boolean; verbose: boolean }): string[] {
  const out: string[] = [];
  for (const i of changesOf(plan)) {
    out.push(`    ${itemLine(i)}`);
    if (opts.diff && !['sysctl', 'selinux-boolean', 'service', 'link'].includes(i.kind)) out.push(...itemDiff(i).map((l) => `        ${l}`));
    if (opts.verbose) for (const c of i.commands) out.push(...c.split('\n').slice(0, 3).map((l) => `        $ ${l}`));
  }
  for (const h of plan.handlers) out.push(`    ! ${h.id}`);
  return out;
}

export function resultLine(r: HostResult): string {
  const n = r.plan ? changesOf(r.plan).length : 0;
  const what: Record<HostResult['status'], string> = {
    compliant: 'compliant',
    drifted: `drifted: ${n} change${n === 1 ? '' : 's'} pending`,
    changed: `changed: ${n} change${n === 1 ? '' : 's'} applied`,
    failed: `FAILED${r.error ? ` at ${r.error.step}: ${r.error.message.split('\n')[0]}` : ''}`,
    unreachable: `UNREACHABLE: ${r.error?.message ?? ''}`,
  };
  // Ansible's recap per host: resources in line, and those changed (or, in check, to change).
  const managed = r.plan?.items.filter((i) => i.kind !== 'requirement') ?? [];
  const counts = r.plan ? ` [ok=${managed.filter((i) => i.action === 'no-op').length} changed=${n}]` : '';
  return `${r.host}: ${what[r.status]}${counts} (${(r.durationMs / 1000).toFixed(1)}s)`;
}

export function resultDetails(r: HostResult, opts: { diff: boolean; verbose: boolean }): string[] {
  const out: string[] = [];
  if (r.plan && (r.status !== 'compliant' || opts.verbose)) out.push(...planLines(r.plan, opts));
  for (const d of r.plan?.diagnostics ?? []) if (d.severity !== 'info' || opts.verbose) out.push('    ' + formatDiagnostic({ ...d, host: undefined }));
  if (r.error?.stderr) out.push(...r.error.stderr.split('\n').map((l) => `    | ${l}`));
  if (r.error?.rolledBack) out.push(`    rolled back: ${r.error.rolledBack}`);
  if (r.messages.length && opts.verbose) out.push(...r.messages.map((m) => `    ${m}`));
  return out;
}

export function recap(results: readonly HostResult[], seconds: number): string[] {
  const count = (s: HostResult['status']) => results.filter((r) => r.status === s).length;
  const parts = (['compliant', 'changed', 'drifted', 'failed', 'unreachable'] as const).map((s) => `${count(s)} ${s}`);
  return [`${results.length} host${results.length === 1 ? '' : 's'}: ${parts.join(', ')} in ${seconds.toFixed(1)}s`];
}
