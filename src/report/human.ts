/** Plans and results for people: one line per host when all is well, details when not. */
import { formatDiagnostic } from '../diagnostics.ts';
import { changesOf, type HostPlan } from '../plan/types.ts';
import type { KeptResult } from '../run/host.ts';
import { changeDiff, changeLine, diffLineKind, hasDiffBody } from '../resources/view.ts';
import { elideHeredocs, redact, visible } from './safe.ts';
import { DIFF_STYLE, plain, STATUS_STYLE, type Paint } from './color.ts';

export interface DetailOptions {
  diff: boolean;
  verbose: boolean;
  /** Values to redact (the inventory's `!secret` values, passphrases). */
  secrets?: readonly string[];
  /** -q: no per-host lines, so the summary names each failed host and why. */
  quiet?: boolean;
  paint?: Paint;
}

/** One line for the terminal: secrets redacted, control characters (from hosts) made visible. */
const clean = (opts: Pick<DetailOptions, 'secrets'>) => (line: string) => visible(redact(line, opts.secrets), '\n\t');

export function planLines(plan: HostPlan, opts: DetailOptions): string[] {
  const out: string[] = [];
  // Lines are cleaned as they are added: a diff line's paint comes after, and must survive.
  const add = (...lines: string[]) => out.push(...lines.map(clean(opts)));
  const paint = opts.paint ?? plain;
  for (const c of plan.checks.filter((x) => !x.ok))
    add(`    ${c.blocks ? '✘' : 'warning:'} ${c.id}: found ${c.found}; wanted ${c.wanted}${c.hint ? ` (${c.hint})` : ''}`);
  for (const c of changesOf(plan)) {
    add(`    ${changeLine(c)}`);
    if (opts.diff && hasDiffBody(c))
      for (const l of changeDiff(c)) {
        const kind = diffLineKind(l);
        const text = clean(opts)(`        ${l}`);
        out.push(kind === 'context' ? text : paint(DIFF_STYLE[kind], text));
      }
    // File contents travel as base64 here-documents: -v shows their size, never the bytes.
    if (opts.verbose)
      for (const cmd of c.commands)
        add(
          ...elideHeredocs(cmd.text)
            .split('\n')
            .slice(0, 3)
            .map((l) => `        $ ${l}`),
        );
  }
  for (const h of plan.handlers) add(`    ! ${h.id}`);
  return out;
}

export function resultLine(r: KeptResult, opts: { paint?: Paint; secrets?: readonly string[] } = {}): string {
  const paint = opts.paint ?? plain;
  const n = r.plan ? changesOf(r.plan).length : 0;
  const what: Record<KeptResult['status'], string> = {
    compliant: 'compliant',
    drifted: `drifted: ${n} change${n === 1 ? '' : 's'} pending`,
    changed: `changed: ${n} change${n === 1 ? '' : 's'} applied`,
    failed: `FAILED${r.error ? ` at ${r.error.step}: ${r.error.message.split('\n')[0]}` : ''}`,
    unreachable: `UNREACHABLE: ${r.error?.message ?? ''}`,
    skipped: 'never touched',
  };
  // Ansible's recap per host: resources in line, and those changed (or, in check, to change).
  const counts = r.plan ? ` [ok=${r.plan.resources.filter((c) => c.action === 'no-op').length} changed=${n}]` : '';
  // Host text is cleaned before it is painted: the paint's own escapes must survive.
  const text = (t: string) => visible(redact(t, opts.secrets));
  return `${text(r.host)}: ${paint(STATUS_STYLE[r.status], text(what[r.status]))}${counts} (${(r.durationMs / 1000).toFixed(1)}s)`;
}

/** "iptables: 2 changes", one per role with something to change or unmet: compliant roles stay quiet. */
export function roleSummaries(r: KeptResult): string[] {
  if (!r.plan) return [];
  const byRole = new Map<string, { changes: number; unmet: number }>();
  const of = (role: string) => byRole.get(role) ?? byRole.set(role, { changes: 0, unmet: 0 }).get(role)!;
  for (const c of r.plan.checks) if (!c.ok && c.blocks) of(c.role).unmet++;
  for (const c of changesOf(r.plan)) of(c.role).changes++;
  const n = (k: number, what: string) => `${k} ${what}${k === 1 ? '' : 's'}`;
  return [...byRole].map(
    ([role, x]) => `${role}: ${[x.unmet ? `${n(x.unmet, 'requirement')} unmet` : '', x.changes ? n(x.changes, 'change') : ''].filter(Boolean).join(', ')}`,
  );
}

export function resultDetails(r: KeptResult, opts: DetailOptions): string[] {
  const out: string[] = [];
  const add = (...lines: string[]) => out.push(...lines.map(clean(opts)));
  add(...(r.notes ?? []).map((n) => `    note: ${n}`));
  // planLines cleans its own lines (its diffs are painted after).
  if (r.plan && (r.status !== 'compliant' || opts.verbose)) out.push(...planLines(r.plan, opts));
  for (const d of r.plan?.diagnostics ?? []) if (d.severity !== 'info' || opts.verbose) add('    ' + formatDiagnostic({ ...d, host: undefined }));
  if (r.error?.stderr) add(...r.error.stderr.split('\n').map((l) => `    | ${l}`));
  if (r.error?.rolledBack) add(`    transaction: ${r.error.rolledBack}`);
  if (r.messages.length && opts.verbose) add(...r.messages.map((m) => `    ${m}`));
  return out;
}

/** Why a host failed, without its plan: the unmet requirement or error, the remote stderr, the rollback. */
export function failureDetails(r: KeptResult): string[] {
  const out: string[] = [];
  for (const c of r.plan?.checks ?? []) if (!c.ok && c.blocks) out.push(`    ✘ ${c.id}: found ${c.found}; wanted ${c.wanted}${c.hint ? ` (${c.hint})` : ''}`);
  for (const d of r.plan?.diagnostics ?? []) if (d.severity === 'error') out.push('    ' + formatDiagnostic({ ...d, host: undefined }));
  if (r.error?.stderr) out.push(...r.error.stderr.split('\n').map((l) => `    | ${l}`));
  if (r.error?.rolledBack) out.push(`    transaction: ${r.error.rolledBack}`);
  return out;
}

export function recap(results: readonly KeptResult[], seconds: number, paint: Paint = plain): string[] {
  const count = (s: KeptResult['status']) => results.filter((r) => r.status === s).length;
  const parts = (['compliant', 'changed', 'drifted', 'failed', 'unreachable'] as const).map((s) =>
    count(s) ? paint(STATUS_STYLE[s], `${count(s)} ${s}`) : `0 ${s}`,
  );
  const skipped = results.filter((r) => r.status === 'skipped');
  const stopped = skipped.length ? [`${paint('red', 'rollout stopped')}: ${skipped[0]!.reason}; never touched: ${skipped.map((r) => r.host).join(', ')}`] : [];
  const never = skipped.length ? `, ${skipped.length} never touched` : '';
  return [...stopped, `${results.length} host${results.length === 1 ? '' : 's'}: ${parts.join(', ')}${never} in ${seconds.toFixed(1)}s`];
}

/** What a signal left: hosts never started, and hosts whose transaction's end tprun did not see. */
export function interruptLines(i: { notStarted: string[]; unknown: string[] } | undefined): string[] {
  if (!i) return [];
  const out = ['tprun was interrupted.'];
  if (i.notStarted.length) out.push(`  not started (unchanged): ${i.notStarted.join(', ')}`);
  if (i.unknown.length) out.push(`  outcome unknown (the transaction completes or rolls back on the host; the next run reports it): ${i.unknown.join(', ')}`);
  return out;
}

/** After the run: the details of every host worth a look, then the recap. */
export function summaryLines(results: readonly KeptResult[], seconds: number, opts: DetailOptions): string[] {
  return [...results.flatMap((r) => hostSummary(r, opts)), ...recap(results, seconds, opts.paint ?? plain)];
}

/** What the end-of-run summary says of one host (nothing for a compliant one, unless -v or a note). */
export function hostSummary(r: KeptResult, opts: DetailOptions): string[] {
  const paint = opts.paint ?? plain;
  // -q (the scheduled check's journal, cron's mail): compliant hosts stay quiet, every other is
  // named on one line, failures with their reason.
  if (opts.quiet) {
    if (r.status === 'failed' || r.status === 'unreachable') return [resultLine(r, { paint, secrets: opts.secrets }), ...failureDetails(r).map(clean(opts))];
    if (r.status === 'drifted' || r.status === 'changed') return [resultLine(r, { paint, secrets: opts.secrets })];
    return [];
  }
  const details = resultDetails(r, opts);
  if (details.length && (r.status !== 'compliant' || opts.verbose || r.notes?.length)) {
    return [`\n${r.host} (${paint(STATUS_STYLE[r.status], r.status)}${r.plan ? `, ${changesOf(r.plan).length} change(s)` : ''}):`, ...details];
  }
  return [];
}

const NONE: readonly string[] = [];

/**
 * summaryLines for a run that releases its plans (FleetRun.releasePlans): a sink that keeps, as
 * each host finishes, only the text the summary will print of it; lines() then reads those with
 * the results the run kept (statuses and errors, for the recap).
 */
export function summaryRecorder(opts: DetailOptions): {
  hostDone(host: unknown, r: KeptResult): void;
  lines(results: readonly KeptResult[], seconds: number): string[];
} {
  const kept = new Map<string, readonly string[]>();
  return {
    hostDone: (_host, r) => {
      const lines = hostSummary(r, opts);
      kept.set(r.host, lines.length ? lines : NONE);
    },
    lines: (results, seconds) => [...results.flatMap((r) => kept.get(r.host) ?? hostSummary(r, opts)), ...recap(results, seconds, opts.paint ?? plain)],
  };
}
