/** The view of `tprun check` and `tprun apply`: run the fleet, show its progress and recap, write the reports and the plan. */
import { probeAfter, probeLastSteps } from '../../doctor/probe.ts';
import type { Host, Inventory } from '../../inventory/types.ts';
import type { Role } from '../../role/contract.ts';
import { interruptLines, resultLine, summaryRecorder } from '../../report/human.ts';
import { LIVE_MIN_COLUMNS, plainView, quietView } from '../../report/live.ts';
import { openPlanFile } from '../../report/plan-file.ts';
import { Interrupt, runFleet, type FleetRun, type Mode } from '../../run/fleet.ts';
import { EXIT } from '../../run/options.ts';
import { batchSizes, type Amount } from '../../run/rollout.ts';
import { VERSION } from '../../version.ts';
import type { HostResult } from '../../run/host.ts';
import type { RunContext } from '../context.ts';

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
  const tty = ctx.terminal();
  const view = options.quiet
    ? quietView()
    : tty && tty.columns >= LIVE_MIN_COLUMNS
      ? (await import('../../report/listr.ts')).liveView(run.hosts, {
          forks: options.forks,
          batches: batchSizes(run.hosts.length, options.serial),
          stream: tty,
          paint,
          secrets,
        })
      : plainView(run.hosts, say, paint, secrets);
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
  // Reports, the plan file and the summary take each host as it finishes; the run then drops its plan.
  const reported = run.refused?.length ? [...run.hosts, ...run.refused.map((r) => r.host)] : run.hosts;
  const roles = run.roles.map((r) => r.name);
  const summary = summaryRecorder({ ...options, paint, secrets });
  const reports = await ctx.openReports({ version: VERSION, mode: run.mode, inventory: run.inventory, hosts: reported, roles, limit: options.limit });
  const planFile = options.planOut ? openPlanFile(options.planOut, { inventory: run.inventory, hosts: run.hosts, roles, limit: options.limit }) : undefined;
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
      sinks: [summary, reports, ...(planFile ? [planFile] : [])],
      releasePlans: true,
      lockTimeout: options.lockTimeout,
      interrupt,
      ...(options.probe ? { after: probeAfter, ...(run.mode === 'apply' ? { lastSteps: probeLastSteps } : {}) } : {}),
    });
    // Every host ends its line: those a signal kept from starting have a result but were never shown.
    view.abandon?.(outcome.results);
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
    run.refused.forEach(({ host }, i) => reports.hostDone(host, failed[i]!));
  }
  summary.lines(outcome.results, outcome.seconds).forEach(say);
  interruptLines(outcome.interrupted).forEach(say);
  await ctx.finishReports(reports, outcome);
  const planError = planFile?.finish();
  if (planError) ctx.lost(planError);
  return ctx.exit(outcome.exitCode);
}
