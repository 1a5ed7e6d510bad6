/**
 * One remote script applies a host's whole plan as a transaction: steps run in order; when one
 * fails, the undo of that step and of every step before it runs in reverse, and the script
 * exits non-zero. On success it gathers the facts again, so verification needs no extra trip.
 */
import { factsScript, type Fact } from '../facts/fact.ts';
import { changesOf, type HostPlan } from '../plan/types.ts';
import { PRELUDE, STEP as MARK } from '../protocol.ts';
import type { Step } from '../resources/change.ts';
import type { Shell } from '../shell.ts';

export interface ScriptStep extends Step {
  id: string;
}

/** The steps of a plan, in order: each changed item, then the notified handlers. */
export function planSteps(plan: HostPlan): ScriptStep[] {
  return [...changesOf(plan).map((i) => ({ id: i.id, commands: i.commands, undo: i.undo })), ...plan.handlers];
}

const body = (cmds: readonly Shell[]) => (cmds.length ? cmds.map((c) => c.text).join('\n') : ':');

export function changeScript(steps: readonly ScriptStep[], verifyFacts: readonly Fact<unknown>[]): string {
  const out: string[] = [
    PRELUDE,
    'umask 022',
    'TPRUN_TX=$(mktemp -d /tmp/tprun-tx.XXXXXX) || { echo "cannot create a transaction directory in /tmp" >&2; exit 90; }',
    'export TPRUN_TX',
    'tprun_done=""',
    `tprun_rollback() {
  for i in $tprun_done; do
    echo "${MARK.undo}$i"
    ( set -e; "undo_$i" ) >/dev/null 2>"$TPRUN_TX/undo.err"
    [ $? -eq 0 ] || { echo "${MARK.undoFail}$i"; sed 's/^/${MARK.stderr}/' "$TPRUN_TX/undo.err"; }
  done
}`,
  ];
  steps.forEach((s, i) => {
    out.push(`do_${i}() {\n${body(s.commands)}\n}`, `undo_${i}() {\n${body(s.undo)}\n}`);
  });
  steps.forEach((s, i) => {
    // The failing step is undone too: a step may have changed something before it failed.
    // The subshell's status is read after it ends: inside an `if` condition set -e is ignored.
    out.push(
      `echo '${MARK.step}${i}'`,
      `tprun_done="${i} $tprun_done"`,
      `( set -e; do_${i} ) >"$TPRUN_TX/out" 2>"$TPRUN_TX/err"`,
      `if [ $? -ne 0 ]; then echo '${MARK.fail}${i}'; sed 's/^/${MARK.stderr}/' "$TPRUN_TX/err"; tprun_rollback; rm -rf "$TPRUN_TX"; exit 1; fi`,
      `sed 's/^/${MARK.stdout}${i} /' "$TPRUN_TX/out"`,
    );
  });
  out.push('rm -rf "$TPRUN_TX"', `echo '${MARK.verify}'`, factsScript(verifyFacts));
  return out.join('\n') + '\n';
}

export interface ChangeOutcome {
  /** Index of the failed step, when one failed. */
  failed?: number;
  stderr: string;
  /** Steps whose undo ran / whose undo failed. */
  undone: number[];
  undoFailed: number[];
  stdout: Map<number, string[]>;
  /** Facts output after the changes (absent when the script failed). */
  verifyOutput?: string;
}

export function parseChangeOutput(out: string): ChangeOutcome {
  const r: ChangeOutcome = { stderr: '', undone: [], undoFailed: [], stdout: new Map() };
  const v = out.indexOf(MARK.verify + '\n');
  const head = v >= 0 ? out.slice(0, v) : out;
  if (v >= 0) r.verifyOutput = out.slice(v + MARK.verify.length + 1);
  const err: string[] = [];
  for (const line of head.split('\n')) {
    if (line.startsWith(MARK.fail)) r.failed = Number(line.slice(MARK.fail.length));
    else if (line.startsWith(MARK.stderr)) err.push(line.slice(MARK.stderr.length));
    else if (line.startsWith(MARK.undoFail)) r.undoFailed.push(Number(line.slice(MARK.undoFail.length)));
    else if (line.startsWith(MARK.undo)) r.undone.push(Number(line.slice(MARK.undo.length)));
    else if (line.startsWith(MARK.stdout)) {
      const m = /^(\d+) (.*)$/.exec(line.slice(MARK.stdout.length));
      if (m) r.stdout.set(Number(m[1]), [...(r.stdout.get(Number(m[1])) ?? []), m[2]!]);
    }
  }
  r.stderr = err.join('\n');
  return r;
}
