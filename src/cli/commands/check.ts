/** `tprun check`: what apply would change, from each host's facts; changes nothing. */
import { selectRoles } from '../../../roles/registry.ts';
import { EXIT_TEXT } from '../../run/options.ts';
import { defineCommand } from '../command.ts';
import { reportWrites, selectHosts } from '../load.ts';
import { lockTimeout, out, probe } from '../options.ts';
import { fleetOptions, RUN } from './fleet.ts';

export const checkCommand = defineCommand({
  name: 'check',
  args: 'INVENTORY...',
  summary: 'what apply would change; exit 2 when anything would',
  description: "Gathers each selected host's facts over SSH, plans, and shows what apply would change. Changes nothing.",
  options: [out, probe, lockTimeout, ...RUN],
  complete: 'file',
  footer: EXIT_TEXT,
  async run(ctx, args, o) {
    const writes = [...reportWrites(ctx), ...(o.out !== undefined ? [{ what: 'the plan (--out)', file: o.out }] : [])];
    const s = selectHosts(ctx, args, { command: 'check', limit: o.limit, listHosts: o.listHosts, writes });
    if ('exit' in s) return s.exit;
    const { runFleetCommand } = await import('../views/fleet.ts');
    return runFleetCommand(ctx, {
      mode: 'check',
      inventory: s.inventory,
      hosts: s.hosts,
      roles: selectRoles(o.roles),
      options: { ...fleetOptions(o), lockTimeout: o.lockTimeout, planOut: o.out, probe: o.probe },
    });
  },
});

export default checkCommand;
