/**
 * Prometheus text exposition for node_exporter's textfile collector, where most shops keep
 * compliance state: `tprun check --report prom:/var/lib/node_exporter/textfile/tprun.prom` from a
 * timer, an alert on `tprun_host_status{status!="compliant"} == 1`. One gauge per host and status
 * (1 for the host's status, 0 for the others, so a host that recovers clears its alert), counts of
 * what is wrong, and when the run ended, so a stalled timer is an alert too.
 */
import { Gauge, Registry } from 'prom-client';
import type { HostStatus } from '../run/host.ts';
import type { RunSummary } from './summary.ts';

const STATUSES: readonly HostStatus[] = ['compliant', 'drifted', 'changed', 'failed', 'unreachable', 'skipped'];

export async function prometheusReport(run: RunSummary): Promise<string> {
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
  const command = run.command ?? run.mode;

  const byName = new Map(run.results.map((r) => [r.host, r]));
  const counts = new Map<HostStatus, number>(STATUSES.map((s) => [s, 0]));
  for (const h of run.hosts) {
    const r = byName.get(h.name);
    if (!r) continue;
    counts.set(r.status, (counts.get(r.status) ?? 0) + 1);
    for (const s of STATUSES) status.set({ command, host: h.name, status: s }, s === r.status ? 1 : 0);
    if (r.plan) {
      drift.set({ command, host: h.name }, r.plan.resources.filter((i) => i.action !== 'no-op').length);
      const failing = r.plan.checks.filter((c) => !c.ok);
      unmet.set({ command, host: h.name, severity: 'blocking' }, failing.filter((c) => c.blocks).length);
      unmet.set({ command, host: h.name, severity: 'warning' }, failing.filter((c) => !c.blocks).length);
    }
    seconds.set({ command, host: h.name }, r.durationMs / 1000);
  }
  for (const [s, n] of counts) hosts.set({ command, status: s }, n);
  ended.set({ command }, Math.round((run.started.getTime() + run.seconds * 1000) / 1000));
  took.set({ command }, run.seconds);
  exit.set({ command }, run.exitCode);
  return registry.metrics();
}
