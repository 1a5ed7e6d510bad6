/**
 * The transaction body: the script the host runs, detached from the SSH session (src/apply/tx.ts
 * starts it), writing its journal on stdout. Steps run in order; when one fails (or the runner
 * is told to stop), the undo of that step and of every step before it runs in reverse. Every
 * step, undo and outcome is a journal line, and the journal ends with `@@tprun-end VERDICT`:
 * `committed` (then the facts follow for verification), `rolled-back` (every undo ran),
 * `rollback-incomplete` (an undo failed: the journal names it) or `preflight-failed` (nothing
 * was touched: not enough free space).
 */
import { posix } from 'node:path';
import { factsScript, type Fact } from '../facts/fact.ts';
import { changesOf, type HostPlan } from '../plan/types.ts';
import { PRELUDE, STEP as MARK } from '../protocol.ts';
import type { Step } from '../resources/change.ts';
import { quote, type Shell } from '../shell.ts';

export interface ScriptStep extends Step {
  id: string;
  /** A file this step writes: its directory needs this many bytes free (checked before any step). */
  space?: { dir: string; bytes: number };
}

/** The steps of a plan, in order: each changed item, then the notified handlers. */
export function planSteps(plan: HostPlan): ScriptStep[] {
  return [
    ...changesOf(plan).map((i) => ({
      id: i.id,
      commands: i.commands,
      undo: i.undo,
      commit: i.commit,
      space: i.kind === 'file' && i.after !== null && i.path ? { dir: posix.dirname(i.path), bytes: Buffer.byteLength(i.after) } : undefined,
    })),
    ...plan.handlers,
  ];
}

const body = (cmds: readonly Shell[] | undefined) => (cmds?.length ? cmds.map((c) => c.text).join('\n') : ':');

/** Journal lines of a step's output are capped: a chatty command cannot fill the disk or the link. */
const CAPPED = 65536;

export interface TxOptions {
  /** The transaction directory (exists, owned by tprun, never /tmp on a host). */
  dir: string;
  run: string;
}

/** Free KiB in DIR's file system (its nearest existing ancestor). */
const FREE_KB = `tprun_free() { d=$1; while [ ! -d "$d" ]; do d=$(dirname "$d"); done; df -Pk "$d" | awk 'NR==2 {print $4}'; }`;

export function changeScript(steps: readonly ScriptStep[], verifyFacts: readonly Fact<unknown>[], tx: TxOptions): string {
  const out: string[] = [
    PRELUDE,
    'umask 022',
    `TPRUN_TX=${quote(tx.dir)} TPRUN_RUN=${quote(tx.run)}`,
    'export TPRUN_TX TPRUN_RUN',
    'tprun_done=""',
    'tprun_stop=""',
    // Told to stop (TERM, INT): finish the step under way, then roll back. HUP (a lost session) is ignored.
    `trap 'tprun_stop=1' TERM INT`,
    `trap '' HUP PIPE`,
    `tprun_rollback() {
  tprun_left=""
  for i in $tprun_done; do
    echo "${MARK.undo}$i"
    ( set -e; "undo_$i" ) >/dev/null 2>"$TPRUN_TX/undo.err"
    if [ $? -eq 0 ]; then echo "${MARK.undone}$i"; else tprun_left="$tprun_left $i"; echo "${MARK.undoFail}$i"; head -c ${CAPPED} "$TPRUN_TX/undo.err" | sed 's/^/${MARK.stderr}/'; fi
  done
  # Hooks steps registered for after every undo (e.g. squid rereads the restored squid.conf).
  if [ -s "$TPRUN_TX/after-rollback" ]; then
    ( set -e; . "$TPRUN_TX/after-rollback" ) >/dev/null 2>"$TPRUN_TX/undo.err" || { tprun_left="$tprun_left after-rollback"; sed 's/^/${MARK.stderr}after rollback: /' "$TPRUN_TX/undo.err" | head -n 20; }
  fi
  if [ -z "$tprun_left" ]; then echo "${MARK.end}rolled-back"; else echo "${MARK.end}rollback-incomplete"; fi
  exit 1
}`,
    FREE_KB,
  ];
  steps.forEach((s, i) => {
    out.push(`do_${i}() {\n${body(s.commands)}\n}`, `undo_${i}() {\n${body(s.undo)}\n}`, `commit_${i}() {\n${body(s.commit)}\n}`);
  });
  const commits = steps.map((_s, i) => `( set -e; commit_${i} ) >/dev/null 2>&1 || echo '${MARK.stdout}${i} warning: could not keep the previous version'`);
  // `sh runner.sh heal watcher|boot`: the runner died (SIGKILL of its group, power loss) before its
  // journal's end. The host finishes the transaction from the journal, as the runner would have:
  // every step ran (phase-commit) → the commits; otherwise the undo of every step started and not
  // undone, newest first, and the after-rollback hooks (src/apply/tx.ts decides when it may run).
  out.push(`if [ "\${1:-}" = heal ]; then
  if [ -e "$TPRUN_TX/phase-commit" ] || grep -qx '${MARK.commit}' "$TPRUN_TX/journal" 2>/dev/null; then
    echo "${MARK.heal}\${2:-host} committed"
${commits.map((c) => '    ' + c).join('\n')}
    echo '${MARK.end}committed'
    exit 0
  fi
  echo "${MARK.heal}\${2:-host}"
  tprun_done=$(awk '$1 == "${MARK.step.trim()}" { n++; o[n] = $2 } $1 == "${MARK.undone.trim()}" { u[$2] = 1 } END { for (k = n; k >= 1; k--) if (!(o[k] in u)) printf "%s ", o[k] }' "$TPRUN_TX/journal")
  tprun_rollback
fi`);
  // Free space first: a full disk is found before anything changes, not half-way.
  const need = new Map<string, number>();
  for (const s of steps) if (s.space) need.set(s.space.dir, (need.get(s.space.dir) ?? 0) + s.space.bytes);
  for (const [dir, bytes] of need) {
    const kb = Math.ceil(bytes / 1024) * 2 + 64;
    out.push(
      `f=$(tprun_free ${quote(dir)}); if [ -z "$f" ] || [ "$f" -lt ${kb} ]; then echo "${MARK.preflight}not enough free space for ${dir.replace(/["$`\\]/g, '')}: \${f:-?} KiB free, ${kb} KiB needed; nothing was changed"; echo "${MARK.end}preflight-failed"; exit 1; fi`,
    );
  }
  steps.forEach((s, i) => {
    // The failing step is undone too: a step may have changed something before it failed.
    // The subshell's status is read after it ends: inside an `if` condition set -e is ignored.
    out.push(
      `[ -z "$tprun_stop" ] || { echo '${MARK.fail}${i}'; echo '${MARK.stderr}tprun: the transaction was told to stop (SIGTERM) before this step'; tprun_rollback; }`,
      `echo '${MARK.step}${i}'`,
      `tprun_done="${i} $tprun_done"`,
      `( set -e; do_${i} ) >"$TPRUN_TX/out" 2>"$TPRUN_TX/err" </dev/null`,
      `if [ $? -ne 0 ]; then echo '${MARK.fail}${i}'; head -c ${CAPPED} "$TPRUN_TX/err" | sed 's/^/${MARK.stderr}/'; tprun_rollback; fi`,
      `head -c ${CAPPED} "$TPRUN_TX/out" | sed 's/^/${MARK.stdout}${i} /'`,
      `echo '${MARK.ok}${i}'`,
    );
  });
  // Every step ran: from here the transaction is committed, whatever happens to the runner. The
  // rename needs no free space, so a full /var/lib/tprun cannot make a commit look cut short.
  out.push(`mv -f "$TPRUN_TX/phase-steps" "$TPRUN_TX/phase-commit" 2>/dev/null || : > "$TPRUN_TX/phase-commit"`, `echo '${MARK.commit}'`);
  out.push(...commits);
  out.push(`rm -f "$TPRUN_TX/out" "$TPRUN_TX/err"`, `echo '${MARK.verify}'`, factsScript(verifyFacts), `echo '${MARK.end}committed'`);
  return out.join('\n') + '\n';
}

export type Verdict = 'committed' | 'rolled-back' | 'rollback-incomplete' | 'preflight-failed';

export interface ChangeOutcome {
  /** Index of the failed step, when one failed. */
  failed?: number;
  stderr: string;
  /** Steps started, in order. */
  started: number[];
  /** Steps whose undo ran to its end / whose undo failed. */
  undone: number[];
  undoFailed: number[];
  stdout: Map<number, string[]>;
  /** Facts output after the changes (absent when the script failed). */
  verifyOutput?: string;
  /** The journal's last word; absent when the journal stops short (the runner is still going, or died). */
  verdict?: Verdict;
  /** Why nothing was started (free space). */
  preflight?: string;
  /** Every step had run and the commits had begun (the transaction is committed even without its end line). */
  committing?: boolean;
  /** Who finished the transaction after its runner died: `watcher` (within seconds) or `boot`. */
  healed?: string;
}

export function parseChangeOutput(out: string): ChangeOutcome {
  const r: ChangeOutcome = { stderr: '', started: [], undone: [], undoFailed: [], stdout: new Map() };
  const v = out.indexOf(MARK.verify + '\n');
  let head = v >= 0 ? out.slice(0, v) : out;
  if (v >= 0) {
    let facts = out.slice(v + MARK.verify.length + 1);
    const e = facts.lastIndexOf('\n' + MARK.end);
    if (e >= 0) {
      head += facts.slice(e + 1);
      facts = facts.slice(0, e + 1);
    } else if (facts.startsWith(MARK.end)) {
      head += facts;
      facts = '';
    }
    r.verifyOutput = facts;
  }
  const err: string[] = [];
  for (const line of head.split('\n')) {
    if (line.startsWith(MARK.fail)) r.failed = Number(line.slice(MARK.fail.length));
    else if (line.startsWith(MARK.stderr)) err.push(line.slice(MARK.stderr.length));
    else if (line.startsWith(MARK.undoFail)) r.undoFailed.push(Number(line.slice(MARK.undoFail.length)));
    else if (line.startsWith(MARK.undone)) r.undone.push(Number(line.slice(MARK.undone.length)));
    else if (line.startsWith(MARK.step)) r.started.push(Number(line.slice(MARK.step.length)));
    else if (line.startsWith(MARK.end)) r.verdict = line.slice(MARK.end.length).trim() as Verdict;
    else if (line.startsWith(MARK.preflight)) r.preflight = line.slice(MARK.preflight.length);
    else if (line === MARK.commit) r.committing = true;
    else if (line.startsWith(MARK.heal)) r.healed = line.slice(MARK.heal.length).split(' ')[0];
    else if (line.startsWith(MARK.stdout)) {
      const m = /^(\d+) (.*)$/.exec(line.slice(MARK.stdout.length));
      if (m) r.stdout.set(Number(m[1]), [...(r.stdout.get(Number(m[1])) ?? []), m[2]!]);
    }
  }
  r.stderr = err.join('\n');
  return r;
}

/** Steps started whose undo did not run to its end: what a rollback left behind. */
export function remaining(o: ChangeOutcome): number[] {
  return o.started.filter((i) => !o.undone.includes(i));
}

/** Who finished a transaction whose runner died (`runner.sh heal WHO`): in a sentence, and as a name. */
export function healer(who: string): { by: string; name: string } {
  if (who === 'boot') return { by: 'at boot, by tprun-boot', name: 'tprun-boot' };
  if (who === 'apply') return { by: 'by a newer apply, before it read the host', name: 'a newer apply, first' };
  return { by: 'by its watcher', name: 'its watcher' };
}

/** Who rolled back a transaction whose runner died, as its journal says. */
const healedBy = (o: ChangeOutcome) => (o.healed === undefined ? '' : ` by the host itself after its runner died (${healer(o.healed).by})`);

/** One line for people: what the transaction did to the host, truthfully. */
export function verdictText(o: ChangeOutcome, ids: (i: number) => string): string {
  const names = (xs: number[]) => xs.map(ids).join(', ');
  switch (o.verdict) {
    case 'committed':
      return 'committed';
    case 'preflight-failed':
      return `nothing was changed (${o.preflight ?? 'preflight failed'})`;
    case 'rolled-back':
      return `rolled back${healedBy(o)}: ${o.undone.length} step${o.undone.length === 1 ? '' : 's'} undone`;
    case 'rollback-incomplete':
      return `rollback${healedBy(o)} INCOMPLETE: not undone: ${names(remaining(o))}${o.undone.length ? `; undone: ${names(o.undone)}` : ''}`;
    default:
      if (o.committing) return "committed (every step ran and the commits began; the journal's end was not written)";
      return o.started.length ? `outcome unknown: the journal stops after ${ids(o.started.at(-1)!)}` : 'outcome unknown: the journal is empty';
  }
}
