/**
 * Compiled by `tsc --noEmit` in `npm test`, never run: each line marked @ts-expect-error must
 * stay a type error, or the type check fails. A command's parsed options are typed by its
 * declarations, so a mistyped option name does not compile; a host's result cannot hold what
 * its status rules out.
 */
import { defineCommand } from '../src/cli/command.ts';
import { forks, lockTimeout, report } from '../src/cli/options.ts';
import type { HostPlan } from '../src/plan/types.ts';
import type { HostFailure, HostResult } from '../src/run/host.ts';

export const probe = defineCommand({
  name: 'probe',
  args: '',
  summary: '',
  description: '',
  options: [forks, lockTimeout, report],
  run(_ctx, _args, o) {
    const n: number = o.forks + o.lockTimeout + o.report.length;
    // @ts-expect-error: not an option of this command
    void o.limit;
    // @ts-expect-error: mistyped
    void o.forkz;
    // @ts-expect-error: --lock-timeout is read as lockTimeout, a number
    const s: string = o.lockTimeout;
    return n + s.length;
  },
});

declare const plan: HostPlan;
declare const error: HostFailure;
const base = { host: 'h', messages: [], notes: [], roundTrips: 0, durationMs: 0 };

export const results: HostResult[] = [
  { ...base, status: 'drifted', plan, factsDigest: '' },
  { ...base, status: 'failed', error },
  // A host that failed after planning keeps its plan (reports list its checks and resources).
  { ...base, status: 'failed', error, plan, outcomeUnknown: true },
  { ...base, status: 'unreachable', error },
  { ...base, status: 'skipped', reason: 'batch 1 of 2 had 1 of 1 host failed' },
  // @ts-expect-error: an unreachable host was never planned
  { ...base, status: 'unreachable', error, plan },
  // @ts-expect-error: a compliant host has no error
  { ...base, status: 'compliant', plan, factsDigest: '', error },
  // @ts-expect-error: a drifted host has its plan
  { ...base, status: 'drifted', factsDigest: '' },
  // @ts-expect-error: a failed host says why
  { ...base, status: 'failed', plan },
  // @ts-expect-error: only a failed apply can leave its outcome unknown
  { ...base, status: 'changed', plan, factsDigest: '', outcomeUnknown: true },
  // @ts-expect-error: a skipped host was never touched: no error, a reason
  { ...base, status: 'skipped', error },
];
