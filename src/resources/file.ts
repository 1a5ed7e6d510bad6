/** Files are replaced whole: candidate beside the target, validated, previous kept, renamed into place. */
import { posix } from 'node:path';
import { raw, sh, type Shell } from '../shell.ts';
import { change, type Change, type HandlerName } from './change.ts';

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

/** A name for this file's backup/markers inside the transaction directory. */
const txName = (path: string, suffix: string) => raw('"$TPRUN_TX"/' + path.replace(/[^A-Za-z0-9.-]/g, '_') + suffix);

export function writeFileCommands(a: Artifact): { commands: Shell[]; undo: Shell[] } {
  const cand = a.path + '.tprun-new';
  const b64 = Buffer.from(a.content, 'utf8').toString('base64').replace(/(.{76})/g, '$1\n');
  const commands: Shell[] = [
    sh`mkdir -p ${posix.dirname(a.path)}`,
    // base64 text cannot end the here-document early.
    raw(`base64 -d > ${sh`${cand}`.text} <<'TPRUN_B64'\n${b64}\nTPRUN_B64`),
    sh`chmod ${a.mode} ${cand}`,
  ];
  if (a.validate) commands.push(sh`${a.validate(sh`${cand}`)} || { rm -f ${cand}; exit 1; }`);
  // The undo must know what this step did: restore a backup it took, remove a file it created,
  // and do nothing when it failed before touching the live file (e.g. squid -k parse said no).
  const bak = txName(a.path, '.bak');
  const created = txName(a.path, '.created');
  commands.push(
    sh`if [ -e ${a.path} ]; then cp -p ${a.path} ${bak} && cp -p ${a.path} ${a.path + '.tprun-prev'}; else : > ${created}; fi`,
    sh`mv -f ${cand} ${a.path}`,
  );
  const undo = [sh`rm -f ${cand}`, sh`if [ -e ${bak} ]; then cp -p ${bak} ${a.path}; elif [ -e ${created} ]; then rm -f ${a.path}; fi`];
  return { commands, undo };
}

export function fileChange(a: Artifact, before: string | null): Change {
  return change({ kind: 'file', role: a.role, id: `file ${a.path}`, path: a.path, before, after: a.content, notify: a.notify, ...writeFileCommands(a) });
}
