/** Files are replaced whole: candidate beside the target, validated, previous kept, renamed into place. */
import { createHash } from 'node:crypto';
import { posix } from 'node:path';
import { raw, sh, type Shell } from '../shell.ts';
import { change, type Change, type HandlerName } from './change.ts';
import { redact } from '../report/safe.ts';

/** A file a role installs on the host (or, with install false, only renders for the operator). */
export interface Artifact {
  role: string;
  path: string;
  mode: string;
  content: string;
  /** Accepts the candidate file (its path given, quoted) before it replaces the live one. */
  validate?: (candidate: Shell) => Shell;
  /** Notified handler when this file changes. */
  notify?: HandlerName;
  install: boolean;
}

/** This transaction's backup of a live file: a hard link beside it, named by the run. */
const backupOf = (path: string) => raw(`${sh`${path}`.text}.tprun-tx-"$TPRUN_RUN"`);
/** Every transaction's backup of the file: those of killed transactions go with a commit. */
const allBackupsOf = (path: string) => raw(`${sh`${path}`.text}.tprun-tx-*`);

/** A name for this file's markers inside the transaction directory. */
const txName = (path: string, suffix: string) => raw('"$TPRUN_TX"/' + path.replace(/[^A-Za-z0-9.-]/g, '_') + suffix);

/**
 * Exact undo, whatever the disk: the backup is a hard link to the live file (nothing copied, no
 * space needed) taken before the swap, and a failure to take it stops the step before anything
 * changed. The swap and its undo are renames, so no partial or empty file ever replaces a live
 * one. At commit the backup becomes FILE.tprun-prev.
 */
export function writeFileCommands(a: Artifact, keepPrevious = true): { commands: Shell[]; undo: Shell[]; commit: Shell[] } {
  const cand = a.path + '.tprun-new';
  const keep = backupOf(a.path);
  const b64 = Buffer.from(a.content, 'utf8')
    .toString('base64')
    .replace(/(.{76})/g, '$1\n');
  const sum = createHash('sha256').update(a.content, 'utf8').digest('hex');
  const commands: Shell[] = [
    sh`mkdir -p ${posix.dirname(a.path)}`,
    // base64 text cannot end the here-document early.
    raw(`base64 -d > ${sh`${cand}`.text} <<'TPRUN_B64'\n${b64}\nTPRUN_B64`),
    // A full disk can leave a short candidate behind a successful-looking write: check it whole.
    sh`echo ${`${sum}  ${cand}`} | sha256sum -c --status || { rm -f ${cand}; echo ${`cannot write ${cand} whole (disk full?)`} >&2; exit 1; }`,
    sh`chmod ${a.mode} ${cand}`,
  ];
  if (a.validate) commands.push(sh`${a.validate(sh`${cand}`)} || { rm -f ${cand}; exit 1; }`);
  // The undo must know what this step did: restore the backup it took, remove a file it created,
  // and do nothing when it failed before touching the live file (e.g. squid -k parse said no).
  const created = txName(a.path, '.created');
  commands.push(
    sh`if [ -e ${a.path} ]; then ln -f ${a.path} ${keep} || { rm -f ${cand}; echo ${`cannot keep a backup of ${a.path}: nothing was changed`} >&2; exit 1; }; else : > ${created} || { rm -f ${cand}; exit 1; }; fi`,
    sh`mv -f ${cand} ${a.path}`,
  );
  const undo = [sh`rm -f ${cand}`, sh`if [ -e ${keep} ]; then mv -f ${keep} ${a.path}; elif [ -e ${created} ]; then rm -f ${a.path}; fi`];
  // A previous version holding credentials must not outlive the transaction (a password removed
  // from the inventory would stay on disk): then no FILE.tprun-prev is kept, and an older one goes.
  // Backups left by transactions that were killed (FILE.tprun-tx-OTHER) go with this commit: the
  // host is now on this transaction's version, and nothing else would ever remove them.
  const stale = sh`rm -f ${allBackupsOf(a.path)}`;
  const commit = keepPrevious
    ? [sh`if [ -e ${keep} ]; then mv -f ${keep} ${a.path + '.tprun-prev'}; fi`, stale]
    : [sh`rm -f ${keep} ${a.path + '.tprun-prev'}`, stale];
  return { commands, undo, commit };
}

export function fileChange(a: Artifact, before: string | null): Change {
  const credentials = before !== null && redact(before) !== before;
  return change({
    kind: 'file',
    role: a.role,
    id: `file ${a.path}`,
    path: a.path,
    before,
    after: a.content,
    notify: a.notify,
    ...writeFileCommands(a, !credentials),
  });
}

/**
 * A file the role owns but no longer installs (a setting turned off, a family dropped): removed,
 * with the same exact undo as a replacement (a hard link kept until the commit).
 */
export function fileRemoval(role: string, path: string, before: string | null): Change {
  const keep = backupOf(path);
  return change({
    kind: 'file',
    role,
    id: `file ${path}`,
    path,
    before,
    after: null,
    commands: [sh`if [ -e ${path} ]; then ln -f ${path} ${keep}; fi`, sh`rm -f ${path}`],
    undo: [sh`if [ -e ${keep} ]; then mv -f ${keep} ${path}; fi`],
    commit: [sh`rm -f ${allBackupsOf(path)} ${path + '.tprun-prev'}`],
  });
}
