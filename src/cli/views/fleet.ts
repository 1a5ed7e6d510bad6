/** The view of `tprun check` and `tprun apply`: run the fleet, show its progress and recap, write the reports and the plan. */
import { probeAfter, probeLastSteps } from '../../doctor/probe.ts';
import type { Host, Inventory } from '../../inventory/types.ts';
import type { Role } from '../../plan/role.ts';
import { interruptLines, resultLine, summaryLines } from '../../report/human.ts';
import { LIVE_MIN_COLUMNS, liveView, plainView, quietView } from '../../report/live.ts';
import { writeByRename } from '../../report/write.ts';
import { Interrupt, runFleet, type FleetRun, type Mode } from '../../run/fleet.ts';
import { EXIT } from '../../run/options.ts';
import type { Amount } from '../../run/rollout.ts';
import { VERSION } from '../../version.ts';
import { newSalt, PLAN_VERSION, savedHost, type SavedPlan } from '../../plan/reviewed.ts';
import type { HostResult } from '../../run/host.ts';
import type { RunContext } from '../context.ts';

/** check --out PLAN: every selected host's plan and what it was computed from; a sentence when it cannot be written. */
function writePlan(file: string, run: FleetCommand, results: readonly HostResult[], secrets: readonly string[]): string | undefined {
  const byName = new Map(results.map((r) => [r.host, r]));
  const seal = { secrets, salt: newSalt() };
  const doc: SavedPlan = {
    planVersion: PLAN_VERSION,
    tprun: VERSION,
    created: new Date().toISOString(),
    salt: seal.salt,
    inventory: { path: run.inventory.path, files: run.inventory.files ?? [run.inventory.path], sha256: run.inventory.sha256 },
    selection: { ...(run.options.limit ? { limit: run.options.limit } : {}), roles: run.roles.map((r) => r.name) },
    hosts: run.hosts.map((h) => {
      const r = byName.get(h.name)!;
      return savedHost(h, r.status, r.plan, r.factsDigest, seal, r.error ? `${r.error.step}: ${r.error.message}` : undefined);
    }),
  };
  try {
    // 0600: a plan is for its reviewers.
    writeByRename(file, JSON.stringify(doc, null, 2) + '\n', 0o600);
    return undefined;
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    return `cannot write the plan ${file}: ${err.code ?? err.message.split('\n')[0]}`;
  }
}

export interface FleetOptions {
  limit?: string;
  forks: number;
  diff: boolean;
  verbose: boolean;
  quiet: boolean;
  acceptNewHostKeys: boolean;
  /** Seconds to wait for a host locked by another apply. */
  lockTimeout?: number;
  /** Exit 2 when apply changed something (default true). */
  detailedExitCodes?: boolean;
  serial?: Amount[];
  maxFail?: Amount;
  /** check --out: write the reviewed plan here. */
  planOut?: string;
  /** Prove interception on each host (src/doctor/probe.ts); apply rolls back a host whose probe fails. */
  probe?: boolean;
}

export interface FleetCommand {
  mode: Mode;
  inventory: Inventory;
  hosts: Host[];
  roles: Role[];
  options: FleetOptions;
  /** apply --plan: per host, why its fresh plan is not the reviewed one. */
  approve?: FleetRun['approve'];
  /** apply --plan: hosts of the plan that are not in the inventory, failed without contact and reported. */
  refused?: { host: Host; reason: string }[];
  /** Tests pass scripted connections. */
  connect?: FleetRun['connect'];
  /** Tests drive signals through their own Interrupt. */
  interrupt?: Interrupt;
}

export async function runFleetCommand(ctx: RunContext, run: FleetCommand): Promise<number> {
  const { options } = run;
  ctx.protect(run.inventory, run.hosts);
  const { paint, secrets } = ctx;
  const say = (line: string) => ctx.say(line);
  const columns = ctx.terminalColumns() ?? 0;
  const live = !options.quiet && columns >= LIVE_MIN_COLUMNS;
  const view = options.quiet ? quietView() : live ? liveView(run.hosts, options.forks, paint, secrets) : plainView(run.hosts, say, paint, secrets);
  // Ctrl-C / SIGTERM: the first stops starting hosts and lets transactions under way finish; the
  // second stops waiting. Either way the recap and the reports are written.
  const interrupt = run.interrupt ?? new Interrupt();
  const onSignal = (sig: NodeJS.Signals) => {
    const what = interrupt.signal();
    ctx.io.err.write(
      what === 'stop'
        ? `\ntprun: ${sig}: starting no new host; waiting for the transactions under way to finish (${sig === 'SIGINT' ? 'Ctrl-C' : sig} again to stop waiting)\n`
        : `\ntprun: ${sig} again: no longer waiting; transactions under way complete or roll back on their hosts by themselves\n`,
    );
  };
  const release = run.interrupt ? () => undefined : ctx.onSignals(onSignal);
  let outcome;
  try {
    outcome = await runFleet({
      mode: run.mode,
      hosts: run.hosts,
      roles: run.roles,
      forks: options.forks,
      acceptNewHostKeys: options.acceptNewHostKeys,
      detailedExitCodes: options.detailedExitCodes,
      serial: options.serial,
      maxFail: options.maxFail,
      connect: run.connect,
      approve: run.approve,
      observer: view,
      lockTimeout: options.lockTimeout,
      interrupt,
      ...(options.probe ? { after: probeAfter, ...(run.mode === 'apply' ? { lastSteps: probeLastSteps } : {}) } : {}),
    });
    if (interrupt.abandoned) view.abandon?.(outcome.results);
    await view.finished();
  } catch (e) {
    // Hosts may have been contacted: one line, and never 1.
    ctx.warn(`the run stopped: ${ctx.safe((e as Error).message.split('\n')[0] ?? '')}`);
    return EXIT.failed;
  } finally {
    release();
  }
  if (run.refused?.length) {
    const failed = run.refused.map(({ host, reason }): HostResult => ({
      host: host.name,
      status: 'failed',
      error: { step: 'plan', message: reason },
      messages: [],
      notes: [],
      roundTrips: 0,
      durationMs: 0,
    }));
    outcome = { ...outcome, results: [...outcome.results, ...failed], exitCode: outcome.exitCode | EXIT.failed };
    if (!options.quiet) for (const f of failed) say(resultLine(f, { paint, secrets }));
  }
  const reported = run.refused?.length ? [...run.hosts, ...run.refused.map((r) => r.host)] : run.hosts;
  summaryLines(outcome.results, outcome.seconds, { ...options, paint, secrets }).forEach(say);
  interruptLines(outcome.interrupted).forEach(say);
  await ctx.writeReports({
    version: VERSION,
    mode: run.mode,
    inventory: run.inventory,
    hosts: reported,
    roles: run.roles.map((r) => r.name),
    limit: options.limit,
    results: outcome.results,
    started: outcome.started,
    seconds: outcome.seconds,
    exitCode: outcome.exitCode,
  });
  if (options.planOut) {
    const e = writePlan(options.planOut, run, outcome.results, run.inventory.secrets ?? []);
    if (e) ctx.lost(e);
  }
  return ctx.exit(outcome.exitCode);
}
