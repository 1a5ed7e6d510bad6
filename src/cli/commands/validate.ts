/** `tprun validate`: the schema and the guide's rules; contacts no host. */
import { EXIT } from '../../run/options.ts';
import { defineCommand } from '../command.ts';
import { selectHosts } from '../load.ts';
import { limit, listGroups, listHosts } from '../options.ts';

export const validateCommand = defineCommand({
  name: 'validate',
  args: 'INVENTORY...',
  summary: 'schema and domain checks; contacts no host',
  description:
    "Reads the inventory, checks it against the schema and the TPROXY guide's rules and reports every problem as FILE:LINE:COL. No host is contacted.",
  options: [limit, listHosts, listGroups],
  complete: 'file',
  run(ctx, args, o) {
    const s = selectHosts(ctx, args, { command: 'validate', ...o });
    if ('exit' in s) return s.exit;
    const count = (kind: string) => s.inventory.hosts.filter((h) => h.kind === kind).length;
    ctx.say(`${s.file}: valid (${count('router')} routers, ${count('bridge')} bridges, ${s.inventory.peers.length} WCCP peers)`);
    return EXIT.ok;
  },
});

export default validateCommand;
