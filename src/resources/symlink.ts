/** A symbolic link (e.g. a systemd unit enabled by its wants/ link, where systemctl may not run). */
import { posix } from 'node:path';
import { sh } from '../shell.ts';
import { change, type Change } from './change.ts';

export function symlinkChange(role: string, id: string, path: string, target: string, actual: string | null): Change {
  const undo = actual === null ? [sh`rm -f ${path}`] : [sh`ln -sfn ${actual} ${path}`];
  return change({
    kind: 'symlink',
    role,
    id,
    path,
    before: actual,
    after: target,
    commands: [sh`mkdir -p ${posix.dirname(path)}`, sh`ln -sfn ${target} ${path}`],
    undo,
  });
}
