/**
 * Prometheus text exposition for node_exporter's textfile collector, where most shops keep
 * compliance state: `tprun check --report prom:/var/lib/node_exporter/textfile/tprun.prom` from a
 * timer, an alert on `tprun_host_status{status!="compliant"} == 1`. One gauge per host and status
 * (1 for the host's status, 0 for the others, so a host that recovers clears its alert), counts of
 * what is wrong, and when the run ended, so a stalled timer is an alert too.
 */
import { Gauge, Registry } from 'prom-client';
import type { HostResult, HostStatus } from '../run/host.ts';
import type { ReportHead, RunEnd, RunSummary } from './summary.ts';

const STATUSES: readonly HostStatus[] = ['compliant', 'drifted', 'changed', 'failed', 'unreachable', 'skipped'];

/** What the textfile says of one host: a few numbers, so a streamed run keeps no plan for it. */
export interface PromRow {
  host: string;
  status: HostStatus;
  seconds: number;
  /** Present when the host had a plan. */
  plan?: { drifted: number; blocking: number; warning: number };
}

export function promRow(r: HostResult): PromRow {
  const failing = r.plan?.checks.filter((c) => !c.ok) ?? [];
  return {
    host: r.host,
    status: r.status,
    seconds: r.durationMs / 1000,
    ...(r.plan
      ? {
          plan: {
            drifted: r.plan.resources.filter((i) => i.action !== 'no-op').length,
            blocking: failing.filter((c) => c.blocks).length,
            warning: failing.filter((c) => !c.blocks).length,
          },
        }
      : {}),
  };
}

export async function prometheusReport(run: RunSummary): Promise<string> {
  const byName = new Map(run.results.map((r) => [r.host, r]));
  return promText(
    run,
    run,
    run.hosts.map((h) => byName.get(h.name)).flatMap((r) => (r ? [promRow(r)] : [])),
  );
}

/** The textfile from one row per host, in the order given. */
export async function promText(head: ReportHead, run: RunEnd, rows: readonly PromRow[]): Promise<string> {
  const registry = new Registry();
  const gauge = <L extends string>(name: string, help: string, labelNames: readonly L[]) =>
    new Gauge<L>({ name: `tprun_${name}`, help, labelNames, registers: [registry] });
  // Every series carries the command, so check, apply and doctor can each write a file into the
  // same textfile directory without clashing series.
  const status = gauge('host_status', "The host's result in the last run: 1 for its status, 0 for the others.", ['command', 'host', 'status']);
  const drift = gauge('host_drifted_resources', 'Resources that differ from the inventory (check), or were changed (apply).', ['command', 'host']);
  const unmet = gauge('host_unmet_requirements', 'Requirements not met (doctor: findings): blocking ones stop the host, warnings do not.', [
    'command',
    'host',
    'severity',
  ]);
  const seconds = gauge('host_duration_seconds', 'How long the host took, connect to verdict.', ['command', 'host']);
  const hosts = gauge('run_hosts', 'Hosts of the last run by status.', ['command', 'status']);
  const ended = gauge('run_timestamp_seconds', 'When the last run ended (Unix time).', ['command']);
  const took = gauge('run_duration_seconds', 'How long the last run took.', ['command']);
  const exit = gauge('run_exit_code', "The last run's exit code (0 compliant; bits: 2 drift or changes, 4 failed, 8 unreachable).", ['command']);
  const command = head.command ?? head.mode;

  const counts = new Map<HostStatus, number>(STATUSES.map((s) => [s, 0]));
  for (const r of rows) {
    counts.set(r.status, (counts.get(r.status) ?? 0) + 1);
    for (const s of STATUSES) status.set({ command, host: r.host, status: s }, s === r.status ? 1 : 0);
    if (r.plan) {
      drift.set({ command, host: r.host }, r.plan.drifted);
      unmet.set({ command, host: r.host, severity: 'blocking' }, r.plan.blocking);
      unmet.set({ command, host: r.host, severity: 'warning' }, r.plan.warning);
    }
    seconds.set({ command, host: r.host }, r.seconds);
  }
  for (const [s, n] of counts) hosts.set({ command, status: s }, n);
  ended.set({ command }, Math.round((run.started.getTime() + run.seconds * 1000) / 1000));
  took.set({ command }, run.seconds);
  exit.set({ command }, run.exitCode);
  return registry.metrics();
}
