/** An SELinux boolean, set persistently (setsebool -P) so it survives a reboot. */
import { sh } from '../shell.ts';
import { change, type Change } from './change.ts';

export type Sebool = 'on' | 'off';

/** The boolean's value as shown: the running value, and the boot-time one when it differs. */
export const seboolText = (running: Sebool, persistent: Sebool | 'unknown') =>
  persistent === 'unknown' || persistent === running ? running : `${running} (${persistent} at boot)`;

export function seboolChange(role: string, name: string, running: Sebool, persistent: Sebool | 'unknown', wanted: Sebool): Change {
  // The undo puts back both values: the persistent one first (-P sets both), then the running one.
  const undo =
    persistent === 'unknown' || persistent === running
      ? [sh`setsebool -P ${name} ${running}`]
      : [sh`setsebool -P ${name} ${persistent}`, sh`setsebool ${name} ${running}`];
  return change({
    kind: 'selinux-boolean',
    role,
    id: `selinux ${name}`,
    before: seboolText(running, persistent),
    after: wanted,
    commands: [sh`setsebool -P ${name} ${wanted}`],
    undo,
  });
}
