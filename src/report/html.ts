/**
 * `--report html:FILE`: one self-contained page for a person (no script, no external resource; a
 * Content-Security-Policy says so to the browser): the fleet's counts, then every host in
 * inventory order, its details open when it is not compliant (the failing checks or doctor's
 * findings, each change with its diff, the error and the remote stderr). It renders the JSON
 * report's host entries, so what one redacts and makes visible the other does too; eta escapes
 * every value for HTML.
 */
import { fileURLToPath } from 'node:url';
import { Eta } from 'eta';
import type { Host } from '../inventory/types.ts';
import type { HostResult, HostStatus } from '../run/host.ts';
import { diffLineKind } from '../resources/view.ts';
import { jsonHost, type JsonHost } from './json.ts';
import { redact, visible } from './safe.ts';
import { secretsOf, type ReportHead, type RunEnd, type StatusCounts } from './summary.ts';

const eta = new Eta({ views: fileURLToPath(new URL('./templates/', import.meta.url)), autoEscape: true, autoTrim: false, cache: true });

const LABEL: Record<HostStatus, string> = {
  compliant: 'compliant',
  drifted: 'drifted',
  changed: 'changed',
  failed: 'failed',
  unreachable: 'unreachable',
  skipped: 'never touched',
};

/** Splits the page around the hosts: the head and tail are written at the end, the hosts as they finish. */
const HOSTS = '\u0000tprun-hosts\u0000';

export function htmlHost(h: Host, r: HostResult, secrets: readonly string[], command: ReportHead['mode'] | 'doctor'): string {
  return renderHost(jsonHost(h, r, secrets), command);
}

function renderHost(j: JsonHost, command: ReportHead['mode'] | 'doctor'): string {
  const changes = j.resources.filter((c) => !c.inSync);
  const checks = j.checks.filter((c) => !c.ok);
  return eta.render('./host.html.eta', {
    name: j.name,
    address: j.address,
    kind: j.kind,
    status: j.status,
    label: command === 'doctor' && j.status === 'compliant' ? 'healthy' : LABEL[j.status],
    seconds: j.durationSeconds.toFixed(1),
    open: j.status !== 'compliant' || (j.notes?.length ?? 0) > 0,
    error: j.error,
    blocked: j.blocked,
    checks,
    checksTitle: command === 'doctor' ? 'Findings' : 'Requirements not met',
    changes: changes.map((c) => ({ ...c, diff: (c.diff ?? []).map((text) => ({ text, cls: diffLineKind(text) })) })),
    changesTitle: j.status === 'changed' ? 'Changes applied' : 'Changes pending',
    notes: j.notes ?? [],
    diagnostics: j.diagnostics,
    inSync: j.resources.length - changes.length,
    checksOk: j.checks.length - checks.length,
  });
}

/** The page around the hosts' entries, known at the run's end. */
export function htmlFrame(run: ReportHead, end: RunEnd, counts: StatusCounts): { head: string; tail: string } {
  const command = run.command ?? run.mode;
  const failed = counts.failed + counts.unreachable;
  const pending = run.mode === 'check' ? counts.drifted : counts.changed;
  const verdict = failed
    ? `${failed} host${failed === 1 ? '' : 's'} failed`
    : pending
      ? `${pending} ${run.mode === 'check' ? 'drifted' : 'changed'}`
      : 'all compliant';
  const statuses: HostStatus[] = ['compliant', 'drifted', 'changed', 'failed', 'unreachable', ...(counts.skipped ? ['skipped' as const] : [])];
  const clean = (s: string) => visible(redact(s, secretsOf(run)));
  const page = eta.render('./page.html.eta', {
    command,
    verdict: command === 'doctor' && !failed ? 'healthy' : verdict,
    verdictClass: failed ? 'failed' : pending ? 'changes' : 'ok',
    version: run.version,
    inventory: clean(run.inventory.path),
    limit: run.limit && clean(run.limit),
    hostCount: run.hosts.length,
    started: end.started.toISOString(),
    seconds: end.seconds.toFixed(1),
    exitCode: end.exitCode,
    counts: statuses.map((s) => ({ status: s, label: LABEL[s], n: counts[s] })),
    hosts: HOSTS,
  });
  const [head, tail] = page.split(HOSTS) as [string, string];
  return { head, tail };
}
