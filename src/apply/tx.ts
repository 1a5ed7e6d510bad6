/**
 * The transaction runs on the host, not on the SSH session. Under /var/lib/tprun (never /tmp):
 *
 *   lock            who holds the host: run id, user, controller, since, and the processes that
 *                   keep it (the SSH session of the run, then its transaction runner); held while
 *                   either lives, so a dead holder is found without any timeout
 *   last            the id of the newest transaction
 *   tx/RUN/         runner.sh, journal (src/apply/script.ts's lines), pid, info, reported
 *
 * An apply takes the lock in its facts script (before any fact is read), then one more script
 * writes the runner, checks free space, starts it with setsid/nohup and follows its journal until
 * it ends. If the link, the controller or tprun dies, the runner completes or rolls back alone;
 * the next run reports what it did (the `last` lines of the facts script) before planning.
 */
import { createHash } from 'node:crypto';
import { PRELUDE, STEP, TX } from '../protocol.ts';
import { quote } from '../shell.ts';
import { parseChangeOutput, type ChangeOutcome } from './script.ts';

export const TX_ROOT = '/var/lib/tprun';

/** What tprun sends the start script once it has read the journal to its end. */
export const ACK = { after: TX.followEnd, send: 'seen\n' };

export interface LockHolder {
  run: string;
  user: string;
  controller: string;
  since?: string;
}

/** A word safe in the lock file and in the journal's header. */
const word = (s: string) => s.replace(/[^A-Za-z0-9._@+-]/g, '_').slice(0, 64) || '_';

const HELPERS = `R=${TX_ROOT}
tprun_st() { sed 's/.*) //' /proc/$1/stat 2>/dev/null | cut -d' ' -f20; }
# Alive: the same start time (a reused pid is not the holder) and not a zombie (ended, unreaped).
tprun_alive() { [ -n "$1" ] && [ -n "$2" ] && [ "$(tprun_st "$1")" = "$2" ] && [ "$(sed 's/.*) //' /proc/$1/stat 2>/dev/null | cut -d' ' -f1)" != Z ]; }
# This session: its sshd process; else the shell's parent while it is still the parent; else the
# shell itself. Never PID 1 (a shell whose session died is init's child, and init never ends: a
# lock naming it was held forever).
tprun_conn() { p=$$; while [ -n "$p" ] && [ "$p" -gt 1 ]; do case "$(cat /proc/$p/comm 2>/dev/null)" in sshd*) echo "$p"; return;; esac; p=$(sed 's/.*) //' /proc/$p/stat 2>/dev/null | cut -d' ' -f2); done
  if [ "$PPID" -gt 1 ] && [ "$(sed 's/.*) //' /proc/$$/stat 2>/dev/null | cut -d' ' -f2)" = "$PPID" ]; then echo "$PPID"; else echo "$$"; fi; }
# The processes left of transaction T (its runner is a group leader, setsid): members of the runner's
# group that carry its TPRUN_TX. A step's processes outlive a killed runner; a daemon a step
# started (squid) has a group of its own and is not one of them.
tprun_orphans() { cat /proc/[0-9]*/stat 2>/dev/null | awk -v g="$1" '{ p = $1; sub(/.*\\) /, ""); split($0, f, " "); if (f[3] == g) print p }' |
  while read -r o; do { tr '\\0' '\\n' < /proc/$o/environ; } 2>/dev/null | grep -qx "TPRUN_TX=$2" && echo "$o"; done; }
# A runner alive, or the processes of its transaction after it died: the transaction still acts.
tprun_txlive() { tprun_alive "$1" "$2" || [ -n "$(tprun_orphans "$1" "$R/tx/$(tprun_field run)")" ]; }
tprun_held() { tprun_l=$(tprun_lock); [ -n "$tprun_l" ] || return 1
  while read -r k p s; do case $k in conn) [ "$p" != 1 ] && tprun_alive "$p" "$s" && return 0;; tx) tprun_txlive "$p" "$s" && return 0;; esac; done <<TPRUN_LOCK
$tprun_l
TPRUN_LOCK
  return 1; }
# The lock, read once. Its runner removes it when the transaction ends, so a second read of the
# file can find it gone: a newer apply then refused the host with the lock's fields empty.
# Read by the shell, as tprun_txsig reads its files: each check runs these, and a process is a
# fork and an exec on the host.
tprun_lock() { [ -f $R/lock ] || return 0; while IFS= read -r tprun_x || [ -n "$tprun_x" ]; do printf '%s\\n' "$tprun_x"; done 2>/dev/null < $R/lock; }
# Before a lock is taken over: kill what is left of a dead runner's transaction, and wait until it is gone.
tprun_reap() { tprun_l=$(tprun_lock); [ -n "$tprun_l" ] || return 0
  T=$R/tx/$(printf '%s\n' "$tprun_l" | sed -n 's/^run //p' | head -n 1)
  while read -r k p s; do
    [ "$k" = tx ] && ! tprun_alive "$p" "$s" || continue
    n=0; while o=$(tprun_orphans "$p" "$T") && [ -n "$o" ]; do
      [ $n -ge 50 ] && return 1; kill -KILL $o 2>/dev/null; n=$((n+1)); sleep 0.1
    done
  done <<TPRUN_LOCK
$tprun_l
TPRUN_LOCK
}
# A directory root runs or writes the transaction through: not a link, root's, writable by root alone.
tprun_safe_dir() {
  if [ -L "$1" ]; then echo "$1 is a symbolic link (to $(readlink "$1")): root's transaction must not run from where a link points"; return 1; fi
  [ -e "$1" ] || return 0
  # shellcheck disable=SC2046 # two words on purpose: uid and mode
  set -- "$1" $(stat -c '%u %a' "$1")
  [ "$2" = 0 ] || { echo "$1 belongs to uid $2, not root: its owner could change what root runs from it"; return 1; }
  [ $((0$3 & 022)) -eq 0 ] || { echo "$1 is writable by others than root (mode $3): they could change what root runs from it"; return 1; }
}
# Some process of group $1 lives (not a zombie).
tprun_group() { cat /proc/[0-9]*/stat 2>/dev/null | awk -v g="$1" '{ sub(/.*\\) /, ""); split($0, f, " "); if (f[3] == g && f[1] != "Z") n++ } END { exit n == 0 }'; }
tprun_field() { sed -n "s/^$1 //p" $R/lock 2>/dev/null | head -n 1; }
tprun_who() { echo "run=$(tprun_field run) user=$(tprun_field user) controller=$(tprun_field controller) since=$(tprun_field since)"; }
# A transaction runner holds the lock (it is changing the host now).
tprun_changing() { tprun_l=$(tprun_lock); [ -n "$tprun_l" ] || return 1
  while read -r k p s; do [ "$k" = tx ] && tprun_txlive "$p" "$s" && return 0; done <<TPRUN_LOCK
$tprun_l
TPRUN_LOCK
  return 1; }
# The newest transaction and whether it has ended: differs once one starts or ends.
tprun_txsig() { i=; IFS= read -r i 2>/dev/null < $R/last; echo "$i $([ -f "$R/tx/$i/journal" ] && grep -c '^${STEP.end}' "$R/tx/$i/journal" 2>/dev/null)"; }
# shellcheck disable=SC2046 # the info file's words on purpose
tprun_txwho() { set -- $(cat "$R/tx/$(cat $R/last 2>/dev/null)/info" 2>/dev/null); echo "run=$1 user=$2 controller=$3 since=$4"; }`;

/**
 * Prepended to the facts script. apply: take the host's lock (waiting up to lockTimeout seconds),
 * clearing one whose holder is dead. check: take no lock, but wait the same way while a
 * transaction runs (facts read halfway through a change would give a verdict that is not the
 * host's); an apply still reading its facts changes nothing and does not hold check up.
 * Both modes: report the newest transaction that no apply has seen end yet. Lines:
 * `@@tprun-lock ok|busy|stale|error ...`, `@@tprun-last ID STATE ...`.
 */
export function preamble(mode: 'check' | 'apply', holder: LockHolder, lockTimeout: number): string {
  const lines = [PRELUDE, HELPERS];
  if (mode === 'apply') {
    lines.push(`for d in /var /var/lib $R $R/tx; do why=$(tprun_safe_dir $d) || { echo "${TX.lock}error $why; nothing was changed"; exit 75; }; done
mkdir -p $R/tx 2>/dev/null && chmod 0700 $R || { echo "${TX.lock}error cannot create $R"; exit 75; }
exec 9>>$R/lock.mutex || { echo "${TX.lock}error cannot open $R/lock.mutex"; exit 75; }
me=$(tprun_conn); waited=0; tprun_heals=0
while :; do
  flock -w 30 9 || { echo "${TX.lock}error cannot take $R/lock.mutex"; exit 75; }
  tprun_reap || { echo "${TX.lock}error the processes of a dead transaction ($(tprun_who)) do not end"; exit 75; }
  if tprun_held; then
    if [ "$waited" -ge ${Math.max(0, Math.floor(lockTimeout))} ]; then echo "${TX.lock}busy $(tprun_who)"; exit 75; fi
  else
    o=$(tprun_field run)
    if [ -n "$o" ] && [ -f "$R/tx/$o/journal" ] && ! grep -q '^${STEP.end}' "$R/tx/$o/journal"; then
      # Its runner and its watcher are gone (both killed, or the watcher not yet at it): finish it
      # first, as they would have, from its journal and backups. Taken over unfinished, it was left
      # half-done with its backups, and the next boot would have undone it under a newer verdict.
      # Under the mutex, which the healer knows (a runner from before TPRUN_HEAL_LOCKED would wait on it).
      # The healer leads a process group of its own (setsid), as a runner does: killed, what it
      # started is found by its group and reaped above before the next try, never left to act later.
      if [ "$tprun_heals" -lt 2 ] && [ "$(cat $R/last 2>/dev/null)" = "$o" ] && tprun_safe_dir "$R/tx/$o" >/dev/null && grep -q TPRUN_HEAL_LOCKED "$R/tx/$o/runner.sh" 2>/dev/null; then
        tprun_heals=$((tprun_heals+1))
        (cd / && TPRUN_TX="$R/tx/$o" TPRUN_HEAL_LOCKED=1 setsid -w sh "$R/tx/$o/runner.sh" heal apply </dev/null >>"$R/tx/$o/journal" 2>>"$R/tx/$o/runner.err")
        continue
      fi
      # Healed and still unended (its healer killed twice): taken over, it would be left half-done.
      [ "$tprun_heals" -eq 0 ] || { echo "${TX.lock}error the dead transaction $o could not be finished on the host (its heal was cut short twice; see $R/tx/$o/runner.err); nothing was changed"; exit 75; }
      echo "${TX.lock}stale $(tprun_who): its holder is gone before its transaction ended; the lock was cleared"
    fi
    { echo "run ${word(holder.run)}"; echo "user ${word(holder.user)}"; echo "controller ${word(holder.controller)}"; echo "since $(date -u +%Y-%m-%dT%H:%M:%SZ)"; echo "conn $me $(tprun_st "$me")"; } > $R/lock.new && mv -f $R/lock.new $R/lock || { echo "${TX.lock}error cannot write $R/lock"; exit 75; }
    echo "${TX.lock}ok"
    break
  fi
  flock -u 9; sleep 1; waited=$((waited+1))
done
exec 9>&-`);
  } else {
    lines.push(`waited=0
while tprun_changing; do
  if [ "$waited" -ge ${Math.max(0, Math.floor(lockTimeout))} ]; then echo "${TX.lock}busy $(tprun_who)"; exit 75; fi
  sleep 1; waited=$((waited+1))
done
tprun_sig0=$(tprun_txsig)`);
  }
  lines.push(`if [ -s $R/last ]; then id=; IFS= read -r id < $R/last; T=$R/tx/$id
  if [ -f "$T/journal" ] && [ ! -e "$T/reported" ]; then
    # shellcheck disable=SC2046 # the pid file holds pid and start time: two arguments
    if grep -q '^${STEP.end}' "$T/journal"; then st=ended; elif [ -s "$T/pid" ] && tprun_alive $(cat "$T/pid"); then st=running; else st=dead; fi
    echo "${TX.last}$id $st $(cat "$T/info" 2>/dev/null)"
    sed '/^${STEP.verify}$/,/^${STEP.end}/{/^${STEP.end}/!d}' "$T/journal" | grep -v '^${STEP.stdout}' | head -n 400 | sed 's/^/${TX.lastLine}/'
    [ ! -e "$T/phase-commit" ] || grep -qx '${STEP.commit}' "$T/journal" || echo "${TX.lastLine}${STEP.commit}"
    ${mode === 'apply' ? '[ "$st" = running ] || : > "$T/reported"' : ':'}
  fi
fi`);
  return lines.join('\n') + '\n';
}

/**
 * Appended to check's facts script: a transaction that started (or started and ended) while the
 * facts were read may have changed the host halfway through them. Its line is the script's last.
 */
export const settledCheck = (mode: 'check' | 'apply'): string =>
  mode === 'check' ? `if tprun_changing || [ "$(tprun_txsig)" != "$tprun_sig0" ]; then echo "${TX.lock}moved $(tprun_txwho)"; fi\n` : '';

/**
 * A read-only script run after the facts (the interception probe) gives no verdict on a host a
 * transaction is changing: it does not start while one runs, and its last line names one that
 * started or ended while it ran (movedDuring reads it).
 */
export function guarded(script: string): string {
  return `${HELPERS}
if tprun_changing; then echo "${TX.lock}moved $(tprun_who)"; exit 0; fi
tprun_sig0=$(tprun_txsig)
${script}
${settledCheck('check')}`;
}

/** The transaction named by settledCheck's line, when one ran during the facts. */
export function movedDuring(out: string): string | undefined {
  const last = out.trimEnd().split('\n').at(-1) ?? '';
  return last.startsWith(`${TX.lock}moved `) ? last.slice(`${TX.lock}moved `.length) : undefined;
}

export type LockState = { state: 'ok' | 'none'; note?: string } | { state: 'busy' | 'error'; note: string };

export interface EarlierTx {
  id: string;
  state: 'ended' | 'running' | 'dead';
  who: string;
  outcome: ChangeOutcome;
}

/** The preamble's lines, out of the facts script's output. */
export function parsePreamble(out: string): { lock: LockState; stale?: string; last?: EarlierTx } {
  let lock: LockState = { state: 'none' };
  let stale: string | undefined;
  let last: EarlierTx | undefined;
  const journal: string[] = [];
  for (const line of out.split('\n')) {
    if (line.startsWith(FACT_BEGIN)) break;
    if (line.startsWith(TX.lock)) {
      const [kind, ...rest] = line.slice(TX.lock.length).split(' ');
      const note = rest.join(' ');
      if (kind === 'stale') stale = note;
      else if (kind === 'ok') lock = { state: 'ok' };
      else lock = { state: kind === 'busy' ? 'busy' : 'error', note };
    } else if (line.startsWith(TX.lastLine)) journal.push(line.slice(TX.lastLine.length));
    else if (line.startsWith(TX.last)) {
      const [id, state, ...who] = line.slice(TX.last.length).split(' ');
      last = { id: id!, state: state as EarlierTx['state'], who: who.join(' '), outcome: parseChangeOutput('') };
    }
  }
  if (last) last.outcome = parseChangeOutput(journal.join('\n') + '\n');
  return { lock, stale, last };
}
const FACT_BEGIN = '@@tprun-fact ';

/**
 * The runner, \`sh runner.sh [run|watch PID START|heal WHO]\`; stdout is the journal.
 *
 * run: records its pid (in the lock too), starts its watcher, then runs the transaction body.
 * watch: in a session of its own (killing the runner's group does not kill it), waits until the
 *   runner and every process of its group are gone; if the journal has no end then, heals.
 * heal (the watcher, or tprun-boot at boot): under the lock's mutex, only if this is the newest
 *   transaction, its journal has no end, no newer apply holds the lock and no runner or healer of
 *   it lives, it joins the lock as the transaction's holder (so applies and checks wait for it)
 *   and finishes the transaction from the journal (script.ts: commits, or the undo of every step
 *   started). A later apply that took the lock first makes it do nothing.
 */
function runnerScript(setTx: string, body: string): string {
  return `${HELPERS}
${setTx}
tprun_self=\${TPRUN_TX##*/}
# The lock goes with the transaction, under the mutex: an apply reading it to take over sees it
# whole or not at all.
tprun_unlock() { ( flock -w 30 9; [ "$(tprun_field run)" != "$tprun_self" ] || rm -f $R/lock ) 9>>$R/lock.mutex; }
tprun_heal() {
  # TPRUN_HEAL_LOCKED=1: run by an apply that holds the mutex and writes the lock once this ends.
  if [ "\${TPRUN_HEAL_LOCKED:-}" != 1 ]; then
    exec 9>>$R/lock.mutex && flock -w 60 9 || { echo "tprun: cannot take $R/lock.mutex" >&2; return 1; }
  fi
  [ "$(cat $R/last 2>/dev/null)" = "$tprun_self" ] || return 0
  ! grep -q '^${STEP.end}' "$TPRUN_TX/journal" 2>/dev/null || return 0
  o=$(tprun_field run)
  [ -z "$o" ] || [ "$o" = "$tprun_self" ] || return 0
  ! tprun_changing || return 0
  tprun_reap || return 1
  { [ -s $R/lock ] || echo "run $tprun_self"; echo "tx $$ $(tprun_st $$)"; } >> $R/lock
  [ "\${TPRUN_HEAL_LOCKED:-}" != 1 ] || return 2
  exec 9>&-
  trap tprun_unlock EXIT
  return 2
}
case "\${1:-run}" in
watch)
  while tprun_alive "$2" "$3" || tprun_group "$2"; do sleep 0.5; done
  grep -q '^${STEP.end}' "$TPRUN_TX/journal" && exit 0
  exec sh "$TPRUN_TX/runner.sh" heal watcher >> "$TPRUN_TX/journal" ;;
heal)
  tprun_heal; rc=$?; [ $rc -eq 2 ] || exit $rc ;;
*)
  echo "$$ $(tprun_st $$)" > "$TPRUN_TX/pid"
  echo "tx $$ $(tprun_st $$)" >> $R/lock
  : > "$TPRUN_TX/phase-steps"
  # The lock ends with the transaction (its verification facts are gathered before the end), even if
  # the SSH session that took it lingers on a dead link.
  trap tprun_unlock EXIT
  setsid sh "$TPRUN_TX/runner.sh" watch $$ "$(tprun_st $$)" </dev/null >/dev/null 2>>"$TPRUN_TX/runner.err" & ;;
esac
${body}`;
}

/**
 * Second (and last) script of an apply: check the lock is still this run's and the free space
 * under /var/lib/tprun, write the runner (checked whole), start it detached from this session,
 * then stream its journal until the runner exits.
 */
export function startScript(holder: LockHolder, body: string): string {
  const run = word(holder.run);
  const T = `$R/tx/${run}`;
  const runner = runnerScript(`TPRUN_TX=${T}\nexport TPRUN_TX`, body);
  const b64 = Buffer.from(runner, 'utf8')
    .toString('base64')
    .replace(/(.{76})/g, '$1\n');
  const sum = createHash('sha256').update(runner, 'utf8').digest('hex');
  const needKb = Math.ceil(runner.length / 1024) * 4 + 1024;
  const fail = (code: number, msg: string) => `{ echo "${TX.startFail}${msg}"; exit ${code}; }`;
  return `${PRELUDE}
umask 022
${HELPERS}
[ "$(tprun_field run)" = ${quote(run)} ] || ${fail(75, `the lock of $R is no longer held by run ${run}: nothing was changed`)}
f=$(df -Pk $R | awk 'NR==2 {print $4}')
[ -n "$f" ] && [ "$f" -ge ${needKb} ] || ${fail(76, `not enough free space in $R: \${f:-?} KiB free, ${needKb} KiB needed; nothing was changed`)}
ls -1t $R/tx 2>/dev/null | tail -n +10 | while read -r d; do rm -rf "$R/tx/$d"; done
mkdir -p ${T} || ${fail(76, `cannot create ${T}; nothing was changed`)}
base64 -d > ${T}/runner.sh.part <<'TPRUN_B64' || ${fail(76, `cannot write ${T}/runner.sh; nothing was changed`)}
${b64}
TPRUN_B64
echo "${sum}  ${T}/runner.sh.part" | sha256sum -c --status && mv -f ${T}/runner.sh.part ${T}/runner.sh || { rm -rf ${T}; ${fail(76, `cannot write ${T}/runner.sh whole (disk full?); nothing was changed`)}; }
echo "$(tprun_field run) $(tprun_field user) $(tprun_field controller) $(tprun_field since)" > ${T}/info
: > ${T}/journal || ${fail(76, `cannot write ${T}/journal; nothing was changed`)}
echo ${quote(run)} > $R/last.new && mv -f $R/last.new $R/last || ${fail(76, `cannot write $R/last; nothing was changed`)}
cd /
setsid nohup sh ${T}/runner.sh </dev/null >>${T}/journal 2>${T}/runner.err &
pid=$!
echo "${TX.started}${run} $pid"
i=0; while [ ! -s ${T}/pid ] && [ $i -lt 200 ] && kill -0 "$pid" 2>/dev/null; do sleep 0.05; i=$((i+1)); done
[ -s ${T}/pid ] && read -r pid _ < ${T}/pid
tail -s 0.2 -n +1 -f --pid="$pid" ${T}/journal
# The runner ended without the journal's end (killed with its group): its watcher finishes the
# transaction within seconds; the whole journal follows once it has (or after 30 s).
if ! grep -q '^${STEP.end}' ${T}/journal; then
  echo "${TX.noEnd}"
  # This session no longer holds the host (its conn line goes): the runner is gone, so its watcher
  # or a newer apply (after killing what is left of the runner's group) takes over; never both.
  if exec 9>>$R/lock.mutex && flock -w 30 9; then
    [ "$(tprun_field run)" != ${quote(run)} ] || { grep -v '^conn ' $R/lock > $R/lock.new && mv -f $R/lock.new $R/lock; }
    exec 9>&-
  fi
  # The watcher acts once nothing of the runner's group is left: with processes of it still running
  # (the runner alone was killed), waiting would hold tprun up for as long as they run.
  i=0; while [ ! -e ${T}/phase-commit ] && ! grep -q '^${STEP.end}' ${T}/journal && [ "$(tprun_field run)" = ${quote(run)} ] && ! tprun_group "$pid" && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done
  cat ${T}/journal
  [ ! -e ${T}/phase-commit ] || grep -qx '${STEP.commit}' ${T}/journal || echo '${STEP.commit}'
fi
echo "${TX.followEnd}"
# tprun answers once it has read the whole journal; only then the transaction counts as reported.
if read -r ack && [ "$ack" = seen ]; then grep -q '^${STEP.end}' ${T}/journal && : > ${T}/reported; fi
exit 0
`;
}

/**
 * What the start script printed: whether the runner started, and its journal as far as it was seen.
 * runnerEnded: the runner ended before its journal's end (the journal then is the whole file, as
 * the host's watcher left it).
 */
export function parseStart(out: string): { started: boolean; startFail?: string; journal: string; followed: boolean; runnerEnded?: boolean } {
  const fail = out.split('\n').find((l) => l.startsWith(TX.startFail));
  const s = out.indexOf(TX.started);
  if (s < 0) return { started: false, startFail: fail?.slice(TX.startFail.length), journal: '', followed: false };
  let from = out.indexOf('\n', s) + 1;
  const e = out.indexOf(TX.followEnd, from);
  const n = out.indexOf('\n' + TX.noEnd + '\n', from - 1);
  const runnerEnded = n >= 0 && (e < 0 || n < e);
  if (runnerEnded) from = n + TX.noEnd.length + 2;
  return { started: true, journal: out.slice(from, e < 0 ? undefined : e), followed: e >= 0, runnerEnded };
}
