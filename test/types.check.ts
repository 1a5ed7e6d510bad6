/**
 * Compiled by `tsc --noEmit` in `npm test`, never run: each line marked @ts-expect-error must
 * stay a type error, or the type check fails. A command's parsed options are typed by its
 * declarations, so a mistyped option name does not compile.
 */
import { defineCommand } from '../src/cli/command.ts';
import { forks, lockTimeout, report } from '../src/cli/options.ts';

export const probe = defineCommand({
  name: 'probe',
  args: '',
  summary: '',
  description: '',
  options: [forks, lockTimeout, report],
  run(_ctx, _args, o) {
    const n: number = o.forks + o.lockTimeout + o.report.length;
    // @ts-expect-error: not an option of this command
    void o.limit;
    // @ts-expect-error: mistyped
    void o.forkz;
    // @ts-expect-error: --lock-timeout is read as lockTimeout, a number
    const s: string = o.lockTimeout;
    return n + s.length;
  },
});
