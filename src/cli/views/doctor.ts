/**
 * `tprun doctor`: the guide's troubleshooting on every selected host, read-only. The fleet runs
 * the doctor role (its facts in the host's one round trip, its findings as checks), so reports
 * and exit codes are check's; this view prints each finding as what it saw, what it means and
 * the fix.
 */
import { isDoctorCheck, isFinding } from '../../doctor/role.ts';
import { probeAfter } from '../../doctor/probe.ts';
import { doctorRole } from '../../doctor/role.ts';
import type { Host, Inventory } from '../../inventory/types.ts';
import type { Check } from '../../plan/types.ts';
import { runFleet, type FleetRun, type ResultSink } from '../../run/fleet.ts';
import type { HostResult } from '../../run/host.ts';
import { inventoryOrder } from '../../report/live.ts';
import { VERSION } from '../../version.ts';
import type { RunContext } from '../context.ts';

export interface DoctorRun {
  inventory: Inventory;
  hosts: Host[];
  limit?: string;
  forks: number;
  quiet: boolean;
  verbose: boolean;
  acceptNewHostKeys: boolean;
  /** Also prove interception with the on-host probe (TP050). */
  probe?: boolean;
  /** Seconds to wait while an apply holds a host's lock. */
  lockTimeout?: number;
  connect?: FleetRun['connect'];
  /** More sinks for each finished host's result (tests count what stays alive). */
  sinks?: ResultSink[];
}

const findingsOf = (r: HostResult): Check[] => (r.plan?.checks ?? []).filter((c) => c.role === doctorRole.name && !c.ok);
/** Failed for another reason than its findings: the host could not be examined. */
const brokenRun = (r: HostResult) => r.status === 'unreachable' || (r.status === 'failed' && !findingsOf(r).some((c) => c.blocks));

export function doctorLine(r: HostResult): string {
  const t = `(${(r.durationMs / 1000).toFixed(1)}s)`;
  if (r.status === 'unreachable') return `${r.host}: UNREACHABLE: ${r.error.message}`;
  if (brokenRun(r) && r.status === 'failed') return `${r.host}: FAILED at ${r.error.step}: ${r.error.message.split('\n')[0]} ${t}`;
  const f = findingsOf(r);
  const errors = f.filter((c) => c.blocks).length;
  const warnings = f.length - errors;
  if (!f.length) return `${r.host}: healthy ${t}`;
  const parts = [errors ? `${errors} finding${errors === 1 ? '' : 's'}` : '', warnings ? `${warnings} warning${warnings === 1 ? '' : 's'}` : ''].filter(
    Boolean,
  );
  return `${r.host}: ${parts.join(', ')} ${t}`;
}

export function findingLines(c: Check): string[] {
  const head = `  ${c.blocks ? '✘' : 'warning:'} ${c.id}`;
  if (!isFinding(c)) return [head, `      saw:   ${c.found}`, ...(c.hint ? [`      means: ${c.hint}`] : [])];
  return [head, ...c.evidence.map((e, i) => `      ${i === 0 ? 'saw:  ' : '      '} ${e}`), `      means: ${c.cause}`, `      fix:   ${c.fix}`];
}

/** What the recap counts a host as. */
export type DoctorKind = 'healthy' | 'sick' | 'failed' | 'unreachable';

export function doctorKind(r: HostResult): DoctorKind {
  if (brokenRun(r)) return r.status === 'failed' ? 'failed' : 'unreachable';
  return findingsOf(r).some((c) => c.blocks) ? 'sick' : 'healthy';
}

/** The recap from each host's kind, counted as hosts finish: the fleet keeps no plan for it. */
export function doctorRecap(kinds: readonly DoctorKind[], seconds: number): string {
  const n = (k: DoctorKind) => kinds.filter((x) => x === k).length;
  return `${kinds.length} host${kinds.length === 1 ? '' : 's'}: ${n('healthy')} healthy, ${n('sick')} with findings, ${n('failed')} failed, ${n('unreachable')} unreachable in ${seconds.toFixed(1)}s`;
}

export async function runDoctor(ctx: RunContext, run: DoctorRun): Promise<number> {
  // Evidence is host text (log lines, rules, the probe's answer, remote stderr): each line leaves
  // with its control characters made visible and every secret redacted, as check's.
  ctx.protect(run.inventory, run.hosts);
  const say = (line: string) => ctx.saySafe(line);
  const reports = await ctx.openReports({
    version: VERSION,
    mode: 'check',
    command: 'doctor',
    inventory: run.inventory,
    hosts: run.hosts,
    roles: [doctorRole.name],
    limit: run.limit,
  });
  const kinds: DoctorKind[] = [];
  // Inventory order, as check's plain view: hosts finish in any order.
  const order = inventoryOrder(run.hosts, say);
  const outcome = await runFleet({
    sinks: [reports, ...(run.sinks ?? [])],
    // A finished host's plan goes once its lines and report entry are out: doctor holds no more
    // than check on a fleet of thousands.
    releasePlans: true,
    mode: 'check',
    hosts: run.hosts,
    roles: [doctorRole],
    forks: run.forks,
    acceptNewHostKeys: run.acceptNewHostKeys,
    lockTimeout: run.lockTimeout,
    connect: run.connect,
    ...(run.probe ? { after: probeAfter } : {}),
    observer: {
      done: (h, r) => {
        kinds.push(doctorKind(r));
        const lines: string[] = [];
        if (!(run.quiet && !brokenRun(r) && !findingsOf(r).length)) {
          lines.push(doctorLine(r));
          for (const c of findingsOf(r)) lines.push(...findingLines(c));
          if (brokenRun(r) && r.error?.stderr) lines.push(...r.error.stderr.split('\n').map((l) => `    | ${l}`));
          if (run.verbose) for (const c of r.plan?.checks.filter((x) => x.ok).filter(isDoctorCheck) ?? []) lines.push(`  ✓ ${c.code} ok: ${c.found}`);
        }
        order.put(h.name, lines);
      },
    },
  });
  say(doctorRecap(kinds, outcome.seconds));
  await ctx.finishReports(reports, outcome);
  return ctx.exit(outcome.exitCode);
}
