/** Files are replaced whole: candidate beside the target, validated, previous kept, renamed into place. */
import { posix } from 'node:path';
import { q, type Facts, fileProbe, type Probe } from '../facts/facts.ts';
import { item } from './role.ts';
import type { Artifact, Item } from './types.ts';

const txName = (path: string, suffix: string) => '"$TPRUN_TX"/' + path.replace(/[^A-Za-z0-9.-]/g, '_') + suffix;

export function writeFileCommands(a: Artifact): { commands: string[]; undo: string[] } {
  const p = q(a.path);
  const cand = q(a.path + '.tprun-new');
  const b64 = Buffer.from(a.content, 'utf8').toString('base64').replace(/(.{76})/g, '$1\n');
  const commands = [
    `mkdir -p ${q(posix.dirname(a.path))}`,
    `base64 -d > ${cand} <<'TPRUN_B64'\n${b64}\nTPRUN_B64`,
    `chmod ${a.mode} ${cand}`,
  ];
  if (a.validate) commands.push(a.validate.replaceAll('%s', cand) + ` || { rm -f ${cand}; exit 1; }`);
  // The undo must know what this step did: restore a backup it took, remove a file it created,
  // and do nothing when it failed before touching the live file (e.g. squid -k parse said no).
  const bak = txName(a.path, '.bak');
  const created = txName(a.path, '.created');
  commands.push(
    `if [ -e ${p} ]; then cp -p ${p} ${bak} && cp -p ${p} ${q(a.path + '.tprun-prev')}; else : > ${created}; fi`,
    `mv -f ${cand} ${p}`,
  );
  const undo = [`rm -f ${cand}`, `if [ -e ${bak} ]; then cp -p ${bak} ${p}; elif [ -e ${created} ]; then rm -f ${p}; fi`];
  return { commands, undo };
}

export function fileItem(a: Artifact, facts: Facts): Item {
  return item({ role: a.role, kind: 'file', id: `file ${a.path}`, before: facts.file(a.path), after: a.content, notify: a.notify, ...writeFileCommands(a) });
}

export const installed = (as: Artifact[]) => as.filter((a) => a.install);
export const fileProbes = (as: Artifact[]): Probe[] => installed(as).map((a) => fileProbe(a.path));
