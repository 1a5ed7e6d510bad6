/** A kernel setting under /proc/sys, set live (persistence is the role's sysctl.d file). */
import { sh } from '../shell.ts';
import { change, type Change } from './change.ts';

export interface Setting {
  /** Path under /proc/sys. */
  path: string;
  value: string;
  /** Which interface the key belongs to, for a clear message when it is missing. */
  ifname?: string;
}

/** sysctl's dotted name, or the slash form when an interface name has a dot (eth0.100). */
export const displayKey = (s: Setting) => (s.ifname?.includes('.') ? s.path : s.path.replaceAll('/', '.'));

export function sysctlChange(role: string, s: Setting, live: string): Change {
  const file = `/proc/sys/${s.path}`;
  return change({
    kind: 'sysctl',
    role,
    id: `sysctl ${displayKey(s)}`,
    before: live,
    after: s.value,
    commands: [sh`echo ${s.value} > ${file}`],
    undo: [sh`echo ${live} > ${file}`],
  });
}
