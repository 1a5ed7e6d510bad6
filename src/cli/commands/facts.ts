/** `tprun facts`: what tprun gathers from a host, as its planner reads it. */
import { selectRoles } from '../../../roles/registry.ts';
import { defineCommand } from '../command.ts';
import { selectHosts } from '../load.ts';
import { acceptNewHostKeys, json, limit, roles } from '../options.ts';

export const factsCommand = defineCommand({
  name: 'facts',
  args: 'INVENTORY...',
  summary: 'what tprun gathers from a host, as its planner reads it',
  description:
    'Connects to each selected host (usually one: --limit HOST), gathers every fact the selected roles read in one round trip and prints them parsed, by fact id. Plans and changes nothing.',
  options: [limit, roles, json, acceptNewHostKeys],
  complete: 'file',
  async run(ctx, args, o) {
    const s = selectHosts(ctx, args, { command: 'facts', limit: o.limit });
    if ('exit' in s) return s.exit;
    const { factsCommand } = await import('../views/facts.ts');
    return factsCommand(ctx, s.hosts, selectRoles(o.roles), { json: o.json, acceptNewHostKeys: o.acceptNewHostKeys });
  },
});

export default factsCommand;
