/**
 * All selected hosts, --forks at a time. The run returns results; progress goes to an
 * optional observer, and views (live, plain, quiet, reports) render the results.
 */
import type { Host } from '../inventory/types.ts';
import type { Role } from '../role/contract.ts';
import type { HostPlan } from '../plan/types.ts';
import { SshConnection, type Connection } from '../ssh/connection.ts';
import { prepareIdentities } from '../ssh/identity.ts';
import { runHost, UNOBSERVED, type HostResult, type KeptResult, type Phase, type RunHostOptions } from './host.ts';
import { EXIT } from './options.ts';
import { randomBytes } from 'node:crypto';
import { hostname, userInfo } from 'node:os';
import type { LockHolder } from '../apply/tx.ts';
import { amountText, batchSizes, exceeds, type Amount } from './rollout.ts';

export type Mode = 'check' | 'apply';

/** What a view hears while the run goes on. */
export interface FleetObserver {
  phase?(host: Host, phase: Phase): void;
  done?(host: Host, result: HostResult): void;
}

/**
 * What hears every host's final result once, as soon as it is known, also for hosts the run never
 * started or stopped waiting for (reports, the plan file, the end-of-run summary). Views hear
 * progress through FleetObserver.
 */
export interface ResultSink {
  /** The run starts now, before any host is contacted. */
  runStarted?(at: Date): void;
  hostDone(host: Host, result: HostResult): void;
}

export interface FleetRun {
  mode: Mode;
  hosts: Host[];
  roles: Role[];
  forks: number;
  acceptNewHostKeys?: boolean;
  /** Puppet's --detailed-exitcodes: apply exits 2 when it changed something (else 0, the default). */
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
  /** Each gets every host's result as it is known (after the observer). */
  sinks?: readonly ResultSink[];
  /**
   * Drop each finished host's plan once the observer and the sinks have had it: the outcome's
   * results then carry no plan. A fleet of thousands then holds only the plans of the hosts under
   * way (a plan holds the host's files before and after: hundreds of KB).
   */
  releasePlans?: boolean;
  /** Seconds an apply waits for a locked host (default 0: fail it at once). */
  lockTimeout?: number;
  /** Who the host locks name (run id, user, controller). */
  holder?: LockHolder;
  /** Signals (src/cli/views/fleet.ts): stop starting hosts, then stop waiting. */
  interrupt?: Interrupt;
  /** Per host, after planning and in the transaction (--probe): see RunHostOptions. */
  after?: RunHostOptions['after'];
  lastSteps?: RunHostOptions['lastSteps'];
}

/**
 * The operator's Ctrl-C / SIGTERM. First: no new host starts and no host starts its transaction;
 * those under way finish (their outcome is collected). Second: stop waiting; the hosts' own
 * transactions still complete or roll back on their own.
 */
export class Interrupt {
  stopping = false;
  abandoned = false;
  private wake: (() => void) | undefined;
  readonly abandon = new Promise<void>((r) => (this.wake = r));
  signal(): 'stop' | 'abandon' {
    if (!this.stopping) {
      this.stopping = true;
      return 'stop';
    }
    this.abandoned = true;
    this.wake?.();
    return 'abandon';
  }
}

export interface FleetOutcome {
  mode: Mode;
  /** In inventory order, whatever order the hosts finished in; without plans with releasePlans. */
  results: KeptResult[];
  started: Date;
  seconds: number;
  exitCode: number;
  /** Set when a signal cut the run short: hosts not started, and those whose outcome is unknown. */
  interrupted?: { notStarted: string[]; unknown: string[] };
}

/** 2: check found drift, or apply changed something (with detailed exit codes); 4: a host failed; 6: both. */
export function exitCode(results: readonly KeptResult[], mode: Mode, detailed = false): number {
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
  for (const s of run.sinks ?? []) s.runStarted?.(started);
  const results = new Map<string, KeptResult>();
  /** A host's final result: to the sinks, then kept (without its plan when released). */
  const settle = (host: Host, r: HostResult) => {
    for (const s of run.sinks ?? []) s.hostDone(host, r);
    results.set(host.name, run.releasePlans && r.plan ? withoutPlan(r) : r);
  };
  const phases = new Map<string, Phase>();
  const holder = run.holder ?? defaultHolder();
  const stop = run.interrupt;
  const sizes = batchSizes(run.hosts.length, run.serial);
  const maxFail = run.maxFail ?? (run.serial ? { count: 0 } : undefined);
  let rolloutStopped: string | undefined;
  const runBatch = async (batch: Host[], b: number) => {
    let next = 0;
    let failed = 0;
    const worker = async () => {
      while (next < batch.length && !stop?.stopping && !rolloutStopped) {
        const host = batch[next++]!;
        let r: HostResult;
        try {
          r = await runHost(host, {
            mode: run.mode,
            roles: run.roles,
            connect,
            approve: run.approve && ((plan: HostPlan) => run.approve!(host, plan)),
            holder,
            lockTimeout: run.lockTimeout,
            shouldStop: () => !!stop?.stopping,
            after: run.after,
            lastSteps: run.lastSteps,
            onPhase: (p) => {
              phases.set(host.name, p);
              run.observer?.phase?.(host, p);
            },
          });
        } catch (e) {
          // runHost keeps its errors; this is the last guard so that one host cannot end the run.
          r = {
            host: host.name,
            status: 'failed',
            messages: [],
            notes: [],
            roundTrips: 0,
            durationMs: 0,
            error: { step: 'run', message: (e as Error).message },
          };
        }
        if (stop?.abandoned) return;
        if ((r.status === 'failed' || r.status === 'unreachable') && maxFail && exceeds(++failed, batch.length, maxFail) && !rolloutStopped) {
          rolloutStopped = `batch ${b + 1} of ${sizes.length} had ${failed} of ${batch.length} host${batch.length === 1 ? '' : 's'} failed, more than --max-fail ${amountText(maxFail)}`;
        }
        run.observer?.done?.(host, r);
        settle(host, r);
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, Math.min(run.forks, batch.length)) }, worker));
  };
  const rollout = (async () => {
    let first = 0;
    for (const [b, size] of sizes.entries()) {
      const batch = run.hosts.slice(first, first + size);
      first += size;
      await runBatch(batch, b);
      if (rolloutStopped || stop?.stopping) break;
    }
  })();
  await (stop ? Promise.race([rollout, stop.abandon]) : rollout);
  let interrupted: FleetOutcome['interrupted'];
  if (stop?.stopping) {
    interrupted = { notStarted: [], unknown: [] };
    for (const h of run.hosts) {
      if (results.has(h.name)) continue;
      const phase = phases.get(h.name);
      const stopped = (message: string, more: { outcomeUnknown?: true } = {}): HostResult => ({
        host: h.name,
        status: 'failed',
        error: { step: 'interrupted', message },
        ...more,
        messages: [],
        notes: [],
        roundTrips: 0,
        durationMs: 0,
      });
      if (!phase) {
        interrupted.notStarted.push(h.name);
        settle(h, stopped('not started: the run was interrupted'));
      } else if (phase === 'apply') {
        interrupted.unknown.push(h.name);
        settle(h, stopped(`outcome unknown: tprun stopped waiting; ${UNOBSERVED}`, { outcomeUnknown: true }));
      } else {
        settle(h, stopped(`tprun stopped waiting at ${phase}, before the host's transaction started: nothing was changed`));
      }
    }
    for (const r of results.values()) if (r.outcomeUnknown && !interrupted.unknown.includes(r.host)) interrupted.unknown.push(r.host);
  }
  // Hosts a stopped rollout never started: reported, in inventory order, as never touched.
  for (const host of run.hosts) {
    if (results.has(host.name)) continue;
    const r: HostResult = {
      host: host.name,
      status: 'skipped',
      reason: rolloutStopped ?? 'not started',
      messages: [],
      notes: [],
      roundTrips: 0,
      durationMs: 0,
    };
    run.observer?.done?.(host, r);
    settle(host, r);
  }
  const ordered = run.hosts.map((h) => results.get(h.name)!);
  let code = exitCode(ordered, run.mode, run.detailedExitCodes);
  // An interrupted run never says "all done": the failed bit is set.
  if (interrupted && (code === EXIT.ok || code === EXIT.changes)) code = code === EXIT.ok ? EXIT.failed : EXIT.changesAndFailed;
  return { mode: run.mode, results: ordered, started, seconds: (performance.now() - t0) / 1000, exitCode: code, interrupted };
}

/** A finished host's result without its plan (what a released run keeps). */
export function withoutPlan(r: HostResult): KeptResult {
  const { plan: _plan, ...rest } = r;
  return rest;
}

/** The lock's holder for this run: a run id that also names the host-side transaction. */
export function defaultHolder(): LockHolder {
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*$/, '');
  let user = 'unknown';
  try {
    user = userInfo().username;
  } catch {
    /* no passwd entry */
  }
  return { run: `${stamp}-${hostname().split('.')[0]}-${process.pid}-${randomBytes(3).toString('hex')}`, user, controller: hostname() };
}
