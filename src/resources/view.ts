/** How each kind of resource shows its value, a one-line summary and a diff. */
import { createRequire } from 'node:module';
import type { Change, ChainState } from './change.ts';

// diff is required (its CommonJS build) when a diff is first drawn: most runs draw none, and
// every command loads this module (issue #24).
const require = createRequire(import.meta.url);
let diffLib: typeof import('diff') | undefined;
const diff = () => (diffLib ??= require('diff') as typeof import('diff'));

const SIGN = { create: '+', update: '~', delete: '-', 'no-op': ' ' } as const;

function chainLines(s: ChainState): string[] {
  const first = `-I ${s.hookChain} 1 -j ${s.entry}`;
  const later = `-A ${s.hookChain} -j ${s.entry}`;
  const hook = { first: [first], 'not-first': [`${later}   # not first in ${s.hookChain}`], duplicated: [first, `${later}   # again`], missing: [] }[s.hook];
  return [...hook, ...s.rules];
}

/** The value as text, for reports and diffs (null: absent). */
export function valueText(c: Change, which: 'before' | 'after'): string | null {
  const v = c[which];
  if (v === null) return null;
  if (c.kind === 'chain') return chainLines(v as ChainState).join('\n');
  if (c.kind === 'nft-table') return (v as string[]).join('\n');
  if (c.kind === 'link')
    return 'remote' in (v as object)
      ? `gre remote ${(v as { remote: string }).remote} local ${(v as { local: string }).local}`
      : (v as { other: string }).other;
  return v as string;
}

/** Kinds whose whole value fits on the summary line. */
const INLINE = new Set<Change['kind']>(['sysctl', 'selinux-boolean', 'service', 'link', 'symlink', 'file-mode', 'firewalld']);

/** "~ sysctl net.ipv4.conf.all.rp_filter: 1 → 0" style summary of one change. */
export function changeLine(c: Change): string {
  const short = INLINE.has(c.kind) ? `: ${valueText(c, 'before') ?? '(absent)'} → ${valueText(c, 'after') ?? '(absent)'}` : '';
  return `${SIGN[c.action]} ${c.id}${short}`;
}

/** A diff of the two values: unified for files, ordered lines for chains, "a → b" otherwise. */
export function changeDiff(c: Change): string[] {
  const before = valueText(c, 'before');
  const after = valueText(c, 'after');
  if (c.kind === 'file') {
    const patch = diff().createTwoFilesPatch(
      c.path!,
      c.path!,
      before ?? '',
      after ?? '',
      before === null ? '(absent)' : 'on host',
      after === null ? '(removed)' : 'wanted',
      { context: 2 },
    );
    return patch
      .split('\n')
      .slice(2)
      .filter((l) => l !== '');
  }
  if (c.kind === 'chain' || c.kind === 'nft-table') {
    const out: string[] = [];
    for (const part of diff().diffArrays(before ? before.split('\n') : [], after ? after.split('\n') : [])) {
      const sign = part.added ? '+' : part.removed ? '-' : ' ';
      for (const l of part.value) out.push(`${sign} ${l}`);
    }
    return out;
  }
  return [`${before ?? '(absent)'} → ${after ?? '(absent)'}`];
}

/** Whether --diff shows more than the summary line. */
export const hasDiffBody = (c: Change) => !INLINE.has(c.kind);

/** What a line of changeDiff is, for colour (a terminal's, the HTML report's): headers and hunks apart from the lines they frame. */
export function diffLineKind(line: string): 'add' | 'del' | 'hunk' | 'context' {
  if (line.startsWith('@@') || line.startsWith('+++') || line.startsWith('---') || line.startsWith('===')) return 'hunk';
  if (line.startsWith('+')) return 'add';
  if (line.startsWith('-')) return 'del';
  return 'context';
}
