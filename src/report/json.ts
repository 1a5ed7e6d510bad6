/** The JSON report (schemas/report.schema.json, reportVersion 1). */
import type { HostResult } from '../run/host.ts';
import { itemDiff } from './human.ts';
import type { RunSummary } from './write.ts';

export function jsonReport(run: RunSummary): object {
  const byName = new Map(run.results.map((r) => [r.host, r]));
  const count = (s: HostResult['status']) => run.results.filter((r) => r.status === s).length;
  return {
    reportVersion: 1,
    tprun: run.version,
    mode: run.mode,
    inventory: { path: run.inventory.path, sha256: run.inventory.sha256 },
    started: run.started.toISOString(),
    durationSeconds: Number(run.seconds.toFixed(3)),
    selection: { ...(run.limit ? { limit: run.limit } : {}), hosts: run.hosts.map((h) => h.name), roles: run.roles },
    exitCode: run.exitCode,
    summary: { compliant: count('compliant'), drifted: count('drifted'), changed: count('changed'), failed: count('failed'), unreachable: count('unreachable') },
    hosts: run.hosts.map((h) => {
      const r = byName.get(h.name)!;
      return {
        name: h.name,
        address: h.address,
        kind: h.kind,
        status: r.status,
        durationSeconds: Number((r.durationMs / 1000).toFixed(3)),
        roundTrips: r.roundTrips,
        ...(r.plan?.blocked ? { blocked: r.plan.blocked } : {}),
        ...(r.error ? { error: r.error } : {}),
        resources: (r.plan?.items ?? []).map((i) => ({
          role: i.role,
          kind: i.kind,
          id: i.id,
          action: i.action,
          expected: i.after,
          actual: i.before,
          inSync: i.action === 'no-op',
          ...(i.action !== 'no-op' ? { diff: itemDiff(i), ...(i.commands.length ? { commands: i.commands } : {}) } : {}),
        })),
        handlers: (r.plan?.handlers ?? []).map((x) => x.id),
        diagnostics: (r.plan?.diagnostics ?? []).map((d) => ({ severity: d.severity, message: d.message, ...(d.role ? { role: d.role } : {}), ...(d.detail ? { detail: d.detail } : {}) })),
      };
    }),
  };
}
