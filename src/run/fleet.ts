/**
 * All selected hosts, --forks at a time. The run returns results; progress goes to an
 * optional observer, and views (live, plain, quiet, reports) render the results.
 */
import type { Host } from '../inventory/types.ts';
import type { Role } from '../plan/role.ts';
import type { HostPlan } from '../plan/types.ts';
import { SshConnection, type Connection } from '../ssh/connection.ts';
import { prepareIdentities } from '../ssh/identity.ts';
import { runHost, type HostResult, type Phase } from './host.ts';
import { EXIT } from './options.ts';
import { amountText, batchSizes, exceeds, type Amount } from './rollout.ts';

export type Mode = 'check' | 'apply';

/** What a view hears while the run goes on. */
export interface FleetObserver {
  phase?(host: Host, phase: Phase): void;
  done?(host: Host, result: HostResult): void;
}

export interface FleetRun {
  mode: Mode;
  hosts: Host[];
  roles: Role[];
  forks: number;
  acceptNewHostKeys?: boolean;
  /** Puppet's detailed exit codes: apply exits 2 when it changed something (the default). */
  detailedExitCodes?: boolean;
  /** --serial: batch sizes (one batch of every host when absent). */
  serial?: Amount[];
  /** --max-fail: failed or unreachable hosts a batch may have before the rollout stops (0 with --serial, else no limit). */
  maxFail?: Amount;
  /** apply --plan: per host, why its fresh plan must not be applied. */
  approve?: (host: Host, plan: HostPlan) => string | undefined;
  /** Tests pass scripted connections. */
  connect?: (host: Host) => Promise<Connection>;
  observer?: FleetObserver;
}

export interface FleetOutcome {
  mode: Mode;
  /** In inventory order, whatever order the hosts finished in. */
  results: HostResult[];
  started: Date;
  seconds: number;
  exitCode: number;
}

/** 2: check found drift, or apply changed something (unless detailed is false); 4: a host failed; 6: both. */
export function exitCode(results: readonly HostResult[], mode: Mode, detailed = true): number {
  const failed = results.some((r) => r.status === 'failed' || r.status === 'unreachable');
  const pending = mode === 'check' ? results.some((r) => r.status === 'drifted') : detailed && results.some((r) => r.status === 'changed');
  return failed && pending ? EXIT.changesAndFailed : failed ? EXIT.failed : pending ? EXIT.changes : EXIT.ok;
}

export async function runFleet(run: FleetRun): Promise<FleetOutcome> {
  const connect = run.connect ?? ((h: Host) => SshConnection.open(h, { acceptNewHostKeys: !!run.acceptNewHostKeys }));
  // Passphrases are asked (once per key) before any progress display takes the terminal.
  if (!run.connect) await prepareIdentities(run.hosts);
  const started = new Date();
  const t0 = performance.now();
  const results = new Map<string, HostResult>();
  const sizes = batchSizes(run.hosts.length, run.serial);
  const maxFail = run.maxFail ?? (run.serial ? { count: 0 } : undefined);
  let stopped: string | undefined;
  let first = 0;
  for (const [b, size] of sizes.entries()) {
    const batch = run.hosts.slice(first, first + size);
    first += size;
    let next = 0;
    let failed = 0;
    const worker = async () => {
      while (next < batch.length && !stopped) {
        const host = batch[next++]!;
        const approve = run.approve && ((plan: HostPlan) => run.approve!(host, plan));
        const r = await runHost(host, { mode: run.mode, roles: run.roles, connect, approve, onPhase: (p) => run.observer?.phase?.(host, p) });
        results.set(host.name, r);
        if ((r.status === 'failed' || r.status === 'unreachable') && maxFail && exceeds(++failed, batch.length, maxFail) && !stopped) {
          stopped = `batch ${b + 1} of ${sizes.length} had ${failed} of ${batch.length} host${batch.length === 1 ? '' : 's'} failed, more than --max-fail ${amountText(maxFail)}`;
        }
        run.observer?.done?.(host, r);
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, Math.min(run.forks, batch.length)) }, worker));
    if (stopped) break;
  }
  // Hosts a stopped rollout never started: reported, in inventory order, as never touched.
  for (const host of run.hosts) {
    if (results.has(host.name)) continue;
    const r: HostResult = { host: host.name, status: 'skipped', error: { step: 'rollout', message: stopped ?? 'not started' }, messages: [], roundTrips: 0, durationMs: 0 };
    results.set(host.name, r);
    run.observer?.done?.(host, r);
  }
  const ordered = run.hosts.map((h) => results.get(h.name)!);
  return {
    mode: run.mode,
    results: ordered,
    started,
    seconds: (performance.now() - t0) / 1000,
    exitCode: exitCode(ordered, run.mode, run.detailedExitCodes ?? true),
  };
}
