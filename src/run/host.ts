/** One host, start to end: connect → facts → plan → [apply → verify]. Failures stay with the host. */
import { hasErrors } from '../diagnostics.ts';
import { Facts, factsScript, parseFactsOutput } from '../facts/facts.ts';
import type { Host } from '../inventory/types.ts';
import { changeScript, parseChangeOutput, planSteps } from '../apply/script.ts';
import { hostProbes, planHost } from '../plan/planner.ts';
import type { Role } from '../plan/role.ts';
import { changesOf, type HostPlan } from '../plan/types.ts';
import { HostError, type Connection } from '../ssh/connection.ts';

export type HostStatus = 'compliant' | 'drifted' | 'changed' | 'failed' | 'unreachable';
export type Phase = 'connect' | 'facts' | 'plan' | 'apply' | 'verify' | 'done';

export interface HostResult {
  host: string;
  status: HostStatus;
  plan?: HostPlan;
  /** Raw facts as gathered (for reports and for recording fixtures). */
  facts?: Facts;
  error?: { step: string; message: string; stderr?: string; rolledBack?: string };
  /** Lines the change script printed (e.g. how squid was started). */
  messages: string[];
  roundTrips: number;
  durationMs: number;
}

export interface RunHostOptions {
  mode: 'check' | 'apply';
  roles: readonly Role[];
  connect: (host: Host) => Promise<Connection>;
  onPhase?: (phase: Phase) => void;
}

export async function runHost(host: Host, opts: RunHostOptions): Promise<HostResult> {
  const t0 = performance.now();
  const result: HostResult = { host: host.name, status: 'failed', messages: [], roundTrips: 0, durationMs: 0 };
  const done = (r: Partial<HostResult>) => Object.assign(result, r, { durationMs: performance.now() - t0 });
  let conn: Connection | undefined;
  try {
    opts.onPhase?.('connect');
    try {
      conn = await opts.connect(host);
    } catch (e) {
      const he = e instanceof HostError ? e : new HostError('connect', (e as Error).message, true);
      return done({ status: he.unreachable ? 'unreachable' : 'failed', error: { step: 'connect', message: he.message } });
    }
    if ((conn.attempts ?? 1) > 1) result.messages.push(`connected after ${conn.attempts} attempts (sshd dropped the handshake)`);
    opts.onPhase?.('facts');
    const probes = hostProbes(host, opts.roles);
    const gathered = await conn.run(factsScript(probes));
    if (gathered.code !== 0) return done({ error: { step: 'facts', message: `the facts script exited ${gathered.code}`, stderr: gathered.stderr.trim() } });
    const facts = new Facts(parseFactsOutput(gathered.stdout));
    result.facts = facts;

    opts.onPhase?.('plan');
    const plan = planHost(host, opts.roles, facts);
    result.plan = plan;
    const changes = changesOf(plan);
    const errors = hasErrors(plan.diagnostics);
    const firstError = plan.diagnostics.find((d) => d.severity === 'error');
    const planError = firstError ? { step: firstError.role ?? 'plan', message: plan.blocked ?? firstError.message } : undefined;

    if (opts.mode === 'check' || plan.blocked || changes.length === 0) {
      const status: HostStatus = errors ? 'failed' : changes.length ? 'drifted' : 'compliant';
      return done({ status, error: planError });
    }

    opts.onPhase?.('apply');
    const steps = planSteps(plan);
    const applied = await conn.run(changeScript(steps, probes));
    const outcome = parseChangeOutput(applied.stdout);
    result.messages.push(...[...outcome.stdout.values()].flat());
    if (outcome.failed !== undefined || applied.code !== 0 || outcome.verifyOutput === undefined) {
      const step = outcome.failed !== undefined ? steps[outcome.failed]!.id : 'apply';
      const undone = outcome.undone.map((i) => steps[i]!.id);
      const undoFailed = outcome.undoFailed.map((i) => steps[i]!.id);
      return done({
        status: 'failed',
        error: {
          step,
          message: `${step} failed; the host was rolled back`,
          stderr: (outcome.stderr || applied.stderr).trim(),
          rolledBack: undoFailed.length ? `undo FAILED for ${undoFailed.join(', ')}; undone: ${undone.join(', ')}` : `${undone.length} step${undone.length === 1 ? '' : 's'} undone`,
        },
      });
    }

    opts.onPhase?.('verify');
    const after = planHost(host, opts.roles, new Facts(parseFactsOutput(outcome.verifyOutput)));
    const left = changesOf(after);
    if (left.length) {
      return done({ status: 'failed', error: { step: 'verify', message: `still differs after apply: ${left.map((i) => i.id).join(', ')}` } });
    }
    return done({ status: errors ? 'failed' : 'changed', error: planError });
  } catch (e) {
    const he = e instanceof HostError ? e : new HostError('run', (e as Error).message);
    return done({ status: 'failed', error: { step: he.step, message: he.message } });
  } finally {
    opts.onPhase?.('done');
    result.roundTrips = conn?.roundTrips ?? 0;
    await conn?.close().catch(() => undefined);
  }
}
