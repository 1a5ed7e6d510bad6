/** The JSON report (schemas/report.schema.json, reportVersion 2: checks apart from resources). */
import { failureOf, type HostResult, type PhaseTimes } from '../run/host.ts';
import { blockedReason } from '../plan/types.ts';
import { changeDiff, valueText } from '../resources/view.ts';
import { elideContent, mapStrings, redact, visible } from './safe.ts';
import { secretsOf, statusCounts, type ReportHead, type RunEnd, type RunSummary, type StatusCounts } from './summary.ts';
import type { Host } from '../inventory/types.ts';

/**
 * Every string of the report is redacted (credentials, `!secret` values) and its control
 * characters other than \n and \t made visible: a host's bytes cannot reach whoever runs
 * `jq -r` on it. Commands show here-documents (file contents in base64) by their size only.
 */
export function jsonReport(run: RunSummary): object {
  const secrets = secretsOf(run);
  const byName = new Map(run.results.map((r) => [r.host, r]));
  return { ...jsonHead(run, run, statusCounts(run.results)), hosts: run.hosts.map((h) => jsonHost(h, byName.get(h.name)!, secrets)) };
}

const clean = (secrets: readonly string[]) => (s: string) => visible(redact(s, secrets), '\n\t');

/** Everything but `hosts`, in the report's key order (hosts come last: a streamed report writes them as they finish). */
export function jsonHead(run: ReportHead, end: RunEnd, counts: StatusCounts): object {
  return mapStrings(
    {
      reportVersion: 2,
      tprun: run.version,
      mode: run.mode,
      inventory: { path: run.inventory.path, sha256: run.inventory.sha256 },
      started: end.started.toISOString(),
      durationSeconds: Number(end.seconds.toFixed(3)),
      selection: { ...(run.limit ? { limit: run.limit } : {}), hosts: run.hosts.map((h) => h.name), roles: run.roles },
      exitCode: end.exitCode,
      summary: {
        compliant: counts.compliant,
        drifted: counts.drifted,
        changed: counts.changed,
        failed: counts.failed,
        unreachable: counts.unreachable,
        ...(counts.skipped ? { skipped: counts.skipped } : {}),
      },
    },
    clean(secretsOf(run)),
  );
}

/** One host's entry of `hosts` (the HTML report renders the same value). */
export type JsonHost = ReturnType<typeof rawHost>;

export function jsonHost(h: Host, r: HostResult, secrets: readonly string[]): JsonHost {
  return mapStrings(rawHost(h, r), clean(secrets));
}

const phaseSeconds = (p: PhaseTimes) => Object.fromEntries(Object.entries(p).map(([k, ms]) => [k, Number((ms / 1000).toFixed(3))]));

function rawHost(h: Host, r: HostResult) {
  return {
    name: h.name,
    address: h.address,
    kind: h.kind,
    status: r.status,
    durationSeconds: Number((r.durationMs / 1000).toFixed(3)),
    roundTrips: r.roundTrips,
    ...(r.phases && Object.keys(r.phases).length ? { phaseSeconds: phaseSeconds(r.phases) } : {}),
    ...(r.plan && blockedReason(r.plan) ? { blocked: blockedReason(r.plan) } : {}),
    ...(failureOf(r) ? { error: failureOf(r) } : {}),
    ...(r.outcomeUnknown ? { outcomeUnknown: true } : {}),
    ...(r.notes?.length ? { notes: r.notes } : {}),
    resources: (r.plan?.resources ?? []).map((i) => ({
      role: i.role,
      kind: i.kind,
      id: i.id,
      action: i.action,
      expected: valueText(i, 'after'),
      actual: valueText(i, 'before'),
      inSync: i.action === 'no-op',
      ...(i.action !== 'no-op' ? { diff: changeDiff(i), ...(i.commands.length ? { commands: i.commands.map((c) => elideContent(c.text)) } : {}) } : {}),
    })),
    checks: (r.plan?.checks ?? []).map((c) => ({
      role: c.role,
      id: c.id,
      ...(c.code ? { code: c.code } : {}),
      found: c.found,
      wanted: c.wanted,
      ok: c.ok,
      blocks: c.blocks,
      ...(c.hint ? { hint: c.hint } : {}),
    })),
    handlers: (r.plan?.handlers ?? []).map((x) => x.id),
    diagnostics: (r.plan?.diagnostics ?? []).map((d) => ({
      severity: d.severity,
      message: d.message,
      ...(d.role ? { role: d.role } : {}),
      ...(d.detail ? { detail: d.detail } : {}),
    })),
  };
}
