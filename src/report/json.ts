/** The JSON report (schemas/report.schema.json, reportVersion 2: checks apart from resources). */
import type { HostResult } from '../run/host.ts';
import { blockedReason } from '../plan/types.ts';
import { changeDiff, valueText } from '../resources/view.ts';
import { elideContent, mapStrings, redact, visible } from './safe.ts';
import { secretsOf, type RunSummary } from './summary.ts';

/**
 * Every string of the report is redacted (credentials, `!secret` values) and its control
 * characters other than \n and \t made visible: a host's bytes cannot reach whoever runs
 * `jq -r` on it. Commands show here-documents (file contents in base64) by their size only.
 */
export function jsonReport(run: RunSummary): object {
  const secrets = secretsOf(run);
  return mapStrings(rawJsonReport(run), (s) => visible(redact(s, secrets), '\n\t'));
}

function rawJsonReport(run: RunSummary): object {
  const byName = new Map(run.results.map((r) => [r.host, r]));
  const count = (s: HostResult['status']) => run.results.filter((r) => r.status === s).length;
  return {
    reportVersion: 2,
    tprun: run.version,
    mode: run.mode,
    inventory: { path: run.inventory.path, sha256: run.inventory.sha256 },
    started: run.started.toISOString(),
    durationSeconds: Number(run.seconds.toFixed(3)),
    selection: { ...(run.limit ? { limit: run.limit } : {}), hosts: run.hosts.map((h) => h.name), roles: run.roles },
    exitCode: run.exitCode,
    summary: {
      compliant: count('compliant'),
      drifted: count('drifted'),
      changed: count('changed'),
      failed: count('failed'),
      unreachable: count('unreachable'),
      ...(count('skipped') ? { skipped: count('skipped') } : {}),
    },
    hosts: run.hosts.map((h) => {
      const r = byName.get(h.name)!;
      return {
        name: h.name,
        address: h.address,
        kind: h.kind,
        status: r.status,
        durationSeconds: Number((r.durationMs / 1000).toFixed(3)),
        roundTrips: r.roundTrips,
        ...(r.plan && blockedReason(r.plan) ? { blocked: blockedReason(r.plan) } : {}),
        ...(r.error ? { error: r.error } : {}),
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
    }),
  };
}
