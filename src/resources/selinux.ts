/** An SELinux boolean, set persistently (setsebool -P) so it survives a reboot. */
import { sh } from '../shell.ts';
import { change, type Change } from './change.ts';

export function seboolChange(role: string, name: string, actual: 'on' | 'off', wanted: 'on' | 'off'): Change {
  return change({ kind: 'selinux-boolean', role, id: `selinux ${name}`, before: actual, after: wanted, commands: [sh`setsebool -P ${name} ${wanted}`], undo: [sh`setsebool -P ${name} ${actual}`] });
}
