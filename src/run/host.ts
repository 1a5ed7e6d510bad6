/** One host, start to end: connect → facts → plan → [apply → verify]. Failures stay with the host. */
import { createHash } from 'node:crypto';
import {
  changeScript,
  parseChangeOutput,
  healer,
  planSteps,
  remaining,
  verdictText,
  type ChangeOutcome,
  type ScriptStep,
  type Verdict,
} from '../apply/script.ts';
import { ACK, movedDuring, parsePreamble, parseStart, preamble, settledCheck, startScript, TX_ROOT, type EarlierTx, type LockHolder } from '../apply/tx.ts';
import { factsScript, MissingFact, parseFactsOutput } from '../facts/fact.ts';
import type { Host } from '../inventory/types.ts';
import { hostFacts, planHost } from '../plan/planner.ts';
import type { Role } from '../role/contract.ts';
import { blockedReason, blockersOf, changesOf, type Check, type HostPlan } from '../plan/types.ts';
import { HostError, type Connection } from '../ssh/connection.ts';

/** skipped: never started, because a rollout (--serial, --max-fail) stopped before it. */
export type HostStatus = HostResult['status'];
export type Phase = 'connect' | 'facts' | 'plan' | 'apply' | 'verify' | 'done';
/**
 * Where a host's time went, in ms per phase it reached (issue #24: what an apply costs).
 * connect: TCP and the SSH handshake; facts: the lock and the facts script, one round trip;
 * plan: planning on the controller; apply: sending the transaction, the host running it, and the
 * journal with the verification facts coming back; verify: planning those facts.
 */
export type PhaseTimes = Partial<Record<Exclude<Phase, 'done'>, number>>;

/** Why a host failed, for people: the step, what happened, the remote stderr, what the rollback did. */
export interface HostFailure {
  step: string;
  message: string;
  stderr?: string;
  /** The transaction's end, for people (`rolled back: 4 steps undone`). */
  rolledBack?: string;
}

/** The newest earlier transaction on the host that no apply had seen end. */
export interface EarlierTransaction {
  id: string;
  state: 'ended' | 'running' | 'dead';
  verdict?: Verdict;
  line: string;
}

interface ResultBase {
  host: string;
  /** Lines the change script printed (e.g. how squid was started). */
  messages: string[];
  /** Lines the operator must see: an earlier transaction's outcome, a stale lock cleared. */
  notes: string[];
  roundTrips: number;
  durationMs: number;
  phases?: PhaseTimes;
}

/** What a host that answered showed of itself before (or without) planning. */
interface Reached extends ResultBase {
  /**
   * sha256 of the raw facts as gathered (a saved plan records it). The facts themselves are not
   * kept: on a fleet of thousands they were the largest thing a finished host held (a stock
   * squid.conf alone is 300 KB).
   */
  factsDigest?: string;
  earlier?: EarlierTransaction;
}

/**
 * Planned, nothing wrong: compliant (nothing to change), drifted (check: changes pending) or
 * changed (apply: applied and verified). It has its plan and its facts' digest, never an error.
 */
export interface PlannedResult extends Reached {
  status: 'compliant' | 'drifted' | 'changed';
  plan: HostPlan;
  factsDigest: string;
  error?: undefined;
  outcomeUnknown?: undefined;
}

/**
 * Failed, with why. It keeps its plan when it failed after planning (an unmet requirement, a
 * refused plan, a rollback, a verification): reports list that plan's checks and resources.
 */
export interface FailedResult extends Reached {
  status: 'failed';
  error: HostFailure;
  plan?: HostPlan;
  /** The transaction was started but its end was not seen: it continues (or ended) on the host. */
  outcomeUnknown?: true;
}

/** Never connected (no route, refused, authentication): no facts, no plan. */
export interface UnreachableResult extends ResultBase {
  status: 'unreachable';
  error: HostFailure;
  plan?: undefined;
  outcomeUnknown?: undefined;
}

/** Never touched: a rollout (--serial, --max-fail) stopped before the host's turn. */
export interface SkippedResult extends ResultBase {
  status: 'skipped';
  /** Why the rollout stopped. */
  reason: string;
  plan?: undefined;
  error?: undefined;
  outcomeUnknown?: undefined;
}

/**
 * A host's result: one of these, by status, so a result cannot hold a plan and an error at once
 * unless it failed after planning (test/types.check.ts keeps it so). Fields a status cannot have
 * are declared `?: undefined`, so readers write `r.plan?.checks` over any result.
 */
export type HostResult = PlannedResult | FailedResult | UnreachableResult | SkippedResult;

/** A result as a run that releases plans keeps it once its sinks have read it: the plan dropped. */
export type KeptResult = HostResult | (Omit<PlannedResult, 'plan'> & { plan?: undefined });

export interface RunHostOptions {
  mode: 'check' | 'apply';
  roles: readonly Role[];
  connect: (host: Host) => Promise<Connection>;
  onPhase?: (phase: Phase) => void;
  /** apply --plan: why this fresh plan must not be applied (it is not the reviewed one), or undefined. */
  approve?: (plan: HostPlan) => string | undefined;
  /** Who takes the host's lock (apply); the run id also names the host-side transaction. */
  holder?: LockHolder;
  /** Seconds to wait for a locked host (0: fail at once). */
  lockTimeout?: number;
  /** True once the run is interrupted: a host that has not started its transaction does not start it. */
  shouldStop?: () => boolean;
  /** Read-only work after planning on the same connection (the interception probe): its checks join the plan's. */
  after?: (host: Host, conn: Connection) => Promise<Check[]>;
  /** Steps run last in the transaction (the probe): one that fails rolls the whole host back. */
  lastSteps?: (host: Host) => ScriptStep[];
}

/** Why a plan fails its host without any change: a requirement not met, or an error found while planning. */
function planFailure(plan: HostPlan): HostFailure | undefined {
  const blocked = blockersOf(plan);
  if (blocked.length) return { step: blocked[0]!.role, message: blockedReason(plan)! };
  const d = plan.diagnostics.find((x) => x.severity === 'error');
  return d ? { step: d.role ?? 'plan', message: d.message } : undefined;
}

/** Why a host did not end well, as reports show it: its failure, or the stopped rollout that skipped it. */
export const failureOf = (r: KeptResult): HostFailure | undefined => (r.status === 'skipped' ? { step: 'rollout', message: r.reason } : r.error);

/** How a host's run ended: its result without what every result carries. */
type Ending =
  | Pick<PlannedResult, 'status' | 'plan' | 'factsDigest'>
  | Pick<FailedResult, 'status' | 'error' | 'plan' | 'outcomeUnknown'>
  | Pick<UnreachableResult, 'status' | 'error'>;

/** What is known of a transaction whose journal tprun stopped seeing before its end. */
export const UNOBSERVED =
  'the runner was not seen to end and its liveness is not observed any more: alive, it completes or rolls back on the host; dead, the host rolls the transaction back by itself (its watcher, or tprun-boot); the next run reports its outcome';

/** The rollback or failure of a transaction, for people, from its journal. */
function txFailure(outcome: ChangeOutcome, ids: (i: number) => string): HostFailure {
  const step = outcome.failed !== undefined ? ids(outcome.failed) : outcome.preflight !== undefined ? 'preflight' : 'apply';
  const what = verdictText(outcome, ids);
  const last = outcome.started.length ? ids(outcome.started.at(-1)!) : 'its start';
  const message =
    outcome.healed !== undefined && outcome.verdict === 'rolled-back'
      ? `the transaction's runner died on the host during ${last}; the host rolled it back by itself (${healer(outcome.healed).name}): ${outcome.undone.length} step${outcome.undone.length === 1 ? '' : 's'} undone`
      : outcome.healed !== undefined && outcome.verdict === 'rollback-incomplete'
        ? `the transaction's runner died on the host during ${last}; the host's own rollback is INCOMPLETE (left: ${remaining(outcome).map(ids).join(', ')})`
        : outcome.verdict === 'rolled-back'
          ? `${step} failed; the host was rolled back`
          : outcome.verdict === 'preflight-failed'
            ? `${outcome.preflight ?? 'preflight failed'}`
            : outcome.verdict === 'rollback-incomplete'
              ? `${step} failed; rollback INCOMPLETE (left: ${remaining(outcome).map(ids).join(', ')})`
              : `${step}: ${what}`;
  return { step, message, stderr: outcome.stderr.trim() || undefined, rolledBack: outcome.verdict === 'preflight-failed' ? undefined : what };
}

/** What an earlier transaction (seen through its journal) did: a line for the operator. */
function earlierLine(t: EarlierTx): string {
  const o = t.outcome;
  const who = t.who ? ` (${t.who.split(' ').slice(1, 3).join(' on ')})` : '';
  if (t.state === 'running') return `an earlier transaction ${t.id}${who} is still running on the host`;
  if (t.state === 'dead' && !o.verdict && o.committing)
    return `the earlier transaction ${t.id}${who} ended on the host: committed (every step ran and its commits began; its journal's end was not written: /var/lib/tprun full, or the runner died while committing)`;
  if (t.state === 'dead' && !o.verdict) {
    // Only what the journal proves: a rollback that had begun is named, with what it undid.
    const died = `its runner died${o.started.length ? ` after step ${o.started.at(-1)}` : ''}`;
    const rollback = [...o.undone, ...o.undoFailed].length
      ? `${o.failed !== undefined ? `step ${o.failed} failed, ` : ''}its rollback had begun: undone ${o.undone.length ? o.undone.map((i) => `step ${i}`).join(', ') : 'nothing'}${o.undoFailed.length ? `; failed to undo ${o.undoFailed.map((i) => `step ${i}`).join(', ')}` : ''}; not undone ${
          remaining(o).length
            ? remaining(o)
                .map((i) => `step ${i}`)
                .join(', ')
            : 'nothing'
        }`
      : 'no rollback ran';
    const healer = o.healed ? `; the host began to finish it itself (${o.healed}) but did not end` : '';
    return `the earlier transaction ${t.id}${who} was cut short on the host (${died}, ${rollback}${healer}): what it changed shows below as drift`;
  }
  const v = o.verdict === 'committed' ? 'committed (applied in full)' : verdictText(o, (i) => `step ${i}`);
  return `the earlier transaction ${t.id}${who} ended on the host: ${v}${o.failed !== undefined ? `; step ${o.failed} failed${o.stderr ? `: ${o.stderr.split('\n')[0]}` : ''}` : ''}`;
}

export async function runHost(host: Host, opts: RunHostOptions): Promise<HostResult> {
  const t0 = performance.now();
  /** What is known of the host so far; done() adds how it ended. */
  const seen: Reached = { host: host.name, messages: [], notes: [], roundTrips: 0, durationMs: 0 };
  let result: HostResult | undefined;
  const done = (end: Ending): HostResult => (result = { ...seen, ...end, durationMs: performance.now() - t0 });
  const phases: PhaseTimes = {};
  let current: Exclude<Phase, 'done'> | undefined;
  let since = t0;
  const enter = (phase: Phase) => {
    const now = performance.now();
    if (current) phases[current] = (phases[current] ?? 0) + now - since;
    current = phase === 'done' ? undefined : phase;
    since = now;
    opts.onPhase?.(phase);
  };
  const fail = (error: HostFailure, more: { plan?: HostPlan; outcomeUnknown?: true } = {}) => done({ status: 'failed', error, ...more });
  const holder: LockHolder = opts.holder ?? { run: 'tprun-' + process.pid, user: 'unknown', controller: 'unknown' };
  const lockTimeout = opts.lockTimeout ?? 0;
  let conn: Connection | undefined;
  let planned: HostPlan | undefined;
  try {
    enter('connect');
    try {
      conn = await opts.connect(host);
    } catch (e) {
      const he = e instanceof HostError ? e : new HostError('connect', (e as Error).message, { unreachable: true });
      return done({ status: he.unreachable ? 'unreachable' : 'failed', error: { step: 'connect', message: he.message } });
    }
    if ((conn.attempts ?? 1) > 1) seen.messages.push(`connected after ${conn.attempts} attempts (sshd dropped the handshake)`);
    enter('facts');
    const facts = hostFacts(host, opts.roles);
    // apply: the lock is taken before any fact is read, and held until the transaction is verified.
    const gathered = await conn.run(preamble(opts.mode, holder, lockTimeout) + factsScript(facts) + settledCheck(opts.mode), { extraSeconds: lockTimeout });
    const pre = parsePreamble(gathered.stdout);
    if (pre.stale) seen.notes.push(`a stale lock was cleared: ${pre.stale}`);
    if (pre.last) {
      seen.earlier = { id: pre.last.id, state: pre.last.state, verdict: pre.last.outcome.verdict, line: earlierLine(pre.last) };
      seen.notes.push(seen.earlier.line);
    }
    const waited = lockTimeout ? ` (waited ${lockTimeout} s)` : '';
    if (pre.lock.state === 'busy')
      return fail({
        step: 'lock',
        message:
          opts.mode === 'apply'
            ? `the host is locked by another apply (${pre.lock.note}); nothing was done${waited}`
            : `an apply is changing the host (${pre.lock.note}), its transaction under way; no verdict until it ends${waited} (--lock-timeout S waits for it)`,
      });
    const moved = movedDuring(gathered.stdout);
    if (moved) return fail({ step: 'lock', message: `a transaction ran on the host while its facts were read (${moved}); no verdict: check again` });
    if (pre.lock.state === 'error') return fail({ step: 'lock', message: pre.lock.note });
    if (gathered.code !== 0) return fail({ step: 'facts', message: `the facts script exited ${gathered.code}`, stderr: gathered.stderr.trim() });
    const raw = parseFactsOutput(gathered.stdout);
    const factsDigest = (seen.factsDigest = createHash('sha256').update(JSON.stringify(raw)).digest('hex'));

    enter('plan');
    const plan = planHost(host, opts.roles, raw);
    planned = plan;
    const changes = changesOf(plan);
    const failure = planFailure(plan);
    const blocked = blockersOf(plan).length > 0;
    const refused = opts.mode === 'apply' ? opts.approve?.(plan) : undefined;
    if (refused) return fail({ step: 'plan', message: `refused: ${refused}` }, { plan });

    if (opts.mode === 'check' || blocked || changes.length === 0) {
      if (opts.after) plan.checks.push(...(await opts.after(host, conn)));
      const failed = opts.after ? planFailure(plan) : failure;
      return failed ? fail(failed, { plan }) : done({ status: changes.length ? 'drifted' : 'compliant', plan, factsDigest });
    }
    if (opts.shouldStop?.()) {
      return fail({ step: 'interrupted', message: 'interrupted before its transaction started: nothing was changed' }, { plan });
    }

    enter('apply');
    const steps = [...planSteps(plan), ...(opts.lastSteps?.(host) ?? [])];
    const ids = (i: number) => steps[i]?.id ?? `step ${i}`;
    const body = changeScript(steps, facts, { dir: `${TX_ROOT}/tx/${holder.run}`, run: holder.run });
    let started: ReturnType<typeof parseStart>;
    try {
      const applied = await conn.run(startScript(holder, body), { ack: ACK });
      started = parseStart(applied.stdout);
      if (!started.started)
        return fail(
          { step: 'apply', message: started.startFail ?? `the transaction did not start (exit ${applied.code})`, stderr: applied.stderr.trim() || undefined },
          { plan },
        );
    } catch (e) {
      if (e instanceof HostError && (e.lost || e.step === 'output')) {
        return fail({ step: 'apply', message: `outcome unknown: ${e.message}; ${UNOBSERVED}` }, { plan, outcomeUnknown: true });
      }
      throw e;
    }
    const outcome = parseChangeOutput(started.journal);
    seen.messages.push(...[...outcome.stdout.values()].flat());
    const lastStep = outcome.started.length ? ids(outcome.started.at(-1)!) : 'its start';
    if (!outcome.verdict && outcome.committing && started.runnerEnded) {
      return fail(
        {
          step: 'verify',
          message: `committed, unverified: every step ran and its commits began, but the runner ended before its journal's end (/var/lib/tprun full?); check tells whether the host is compliant`,
        },
        { plan },
      );
    }
    if (!outcome.verdict) {
      return fail(
        {
          step: 'apply',
          message: started.runnerEnded
            ? `outcome unknown: the transaction's runner ended on the host after ${lastStep} without finishing it, and the host had not finished it itself when tprun stopped waiting (after 30 s, or once a newer apply took the host over); the next run reports its outcome`
            : `outcome unknown: the journal was followed to ${lastStep}, not to its end; ${UNOBSERVED}`,
        },
        { plan, outcomeUnknown: true },
      );
    }
    if (outcome.verdict === 'committed' && outcome.verifyOutput === undefined)
      return fail(
        {
          step: 'verify',
          message: `committed by the host after its runner died (${outcome.healed ?? 'host'}), unverified: its verification facts were not recorded; check tells whether the host is compliant`,
        },
        { plan },
      );
    if (outcome.verdict !== 'committed' || outcome.verifyOutput === undefined) return fail(txFailure(outcome, ids), { plan });

    enter('verify');
    const after = planHost(host, opts.roles, parseFactsOutput(outcome.verifyOutput));
    const left = changesOf(after);
    if (left.length) {
      return fail({ step: 'verify', message: `still differs after apply: ${left.map((i) => i.id).join(', ')}` }, { plan });
    }
    // A change applied and verified still fails its host when planning found an error.
    return failure ? fail(failure, { plan }) : done({ status: 'changed', plan, factsDigest });
  } catch (e) {
    const he = e instanceof HostError ? e : e instanceof MissingFact ? new HostError('facts', e.message) : new HostError('run', (e as Error).message);
    return fail({ step: he.step, message: he.message }, { plan: planned });
  } finally {
    enter('done');
    if (result) Object.assign(result, { roundTrips: conn?.roundTrips ?? 0, phases });
    await conn?.close().catch(() => undefined);
  }
}
