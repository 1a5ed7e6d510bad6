/** One host, start to end: connect → facts → plan → [apply → verify]. Failures stay with the host. */
import { changeScript, parseChangeOutput, planSteps } from '../apply/script.ts';
import { hasErrors } from '../diagnostics.ts';
import { factsScript, MissingFact, parseFactsOutput, type RawFacts } from '../facts/fact.ts';
import type { Host } from '../inventory/types.ts';
import { hostFacts, planHost } from '../plan/planner.ts';
import type { Role } from '../plan/role.ts';
import { blockedReason, blockersOf, changesOf, type HostPlan } from '../plan/types.ts';
import { HostError, type Connection } from '../ssh/connection.ts';

/** skipped: never started, because a rollout (--serial, --max-fail) stopped before it. */
export type HostStatus = 'compliant' | 'drifted' | 'changed' | 'failed' | 'unreachable' | 'skipped';
export type Phase = 'connect' | 'facts' | 'plan' | 'apply' | 'verify' | 'done';

export interface HostResult {
  host: string;
  status: HostStatus;
  plan?: HostPlan;
  /** Raw facts as gathered (for recording fixtures). */
  facts?: RawFacts;
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
  /** apply --plan: why this fresh plan must not be applied (it is not the reviewed one), or undefined. */
  approve?: (plan: HostPlan) => string | undefined;
}

/** Why a plan fails its host without any change: a requirement not met, or an error found while planning. */
function planFailure(plan: HostPlan): HostResult['error'] {
  const blocked = blockersOf(plan);
  if (blocked.length) return { step: blocked[0]!.role, message: blockedReason(plan)! };
  const d = plan.diagnostics.find((x) => x.severity === 'error');
  return d ? { step: d.role ?? 'plan', message: d.message } : undefined;
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
    const facts = hostFacts(host, opts.roles);
    const gathered = await conn.run(factsScript(facts));
    if (gathered.code !== 0) return done({ error: { step: 'facts', message: `the facts script exited ${gathered.code}`, stderr: gathered.stderr.trim() } });
    const raw = parseFactsOutput(gathered.stdout);
    result.facts = raw;

    opts.onPhase?.('plan');
    const plan = planHost(host, opts.roles, raw);
    result.plan = plan;
    const changes = changesOf(plan);
    const failure = planFailure(plan);
    const blocked = blockersOf(plan).length > 0;
    const refused = opts.mode === 'apply' ? opts.approve?.(plan) : undefined;
    if (refused) return done({ status: 'failed', error: { step: 'plan', message: `refused: ${refused}` } });

    if (opts.mode === 'check' || blocked || changes.length === 0) {
      const status: HostStatus = failure ? 'failed' : changes.length ? 'drifted' : 'compliant';
      return done({ status, error: failure });
    }

    opts.onPhase?.('apply');
    const steps = planSteps(plan);
    const applied = await conn.run(changeScript(steps, facts));
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
    const after = planHost(host, opts.roles, parseFactsOutput(outcome.verifyOutput));
    const left = changesOf(after);
    if (left.length) {
      return done({ status: 'failed', error: { step: 'verify', message: `still differs after apply: ${left.map((i) => i.id).join(', ')}` } });
    }
    return done({ status: hasErrors(plan.diagnostics) ? 'failed' : 'changed', error: failure });
  } catch (e) {
    const he = e instanceof HostError ? e : e instanceof MissingFact ? new HostError('facts', e.message) : new HostError('run', (e as Error).message);
    return done({ status: 'failed', error: { step: he.step, message: he.message } });
  } finally {
    opts.onPhase?.('done');
    result.roundTrips = conn?.roundTrips ?? 0;
    await conn?.close().catch(() => undefined);
  }
}
