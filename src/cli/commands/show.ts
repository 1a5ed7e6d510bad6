/** `tprun show PLAN`: a saved plan as check --diff shows it; contacts no host. */
import { showLines } from '../../plan/reviewed.ts';
import { EXIT } from '../../run/options.ts';
import { defineCommand } from '../command.ts';
import { readPlan } from '../load.ts';

export const showCommand = defineCommand({
  name: 'show',
  args: 'PLAN',
  summary: 'print a saved plan as check --diff does',
  description: 'Prints a plan written by check --out: per host the changes planned, with their diffs, and what the plan was computed from. Contacts no host.',
  options: [],
  complete: 'file',
  run(ctx, args) {
    if (args.length !== 1) return ctx.usage('show takes one PLAN file', 'show');
    const plan = readPlan(args[0]!);
    if (typeof plan === 'string') return ctx.usage(plan, 'show');
    ctx.print(showLines(plan).join('\n') + '\n');
    return EXIT.ok;
  },
});

export default showCommand;
