/** `tprun init [FILE]`: a starting inventory that editors check against the schema. */
import { EXIT } from '../../run/options.ts';
import { defineCommand } from '../command.ts';
import { initInventory } from '../init.ts';

export const initCommand = defineCommand({
  name: 'init',
  args: '[FILE]',
  summary: 'write a starting inventory that editors check against the schema',
  description:
    "Writes the example inventory to FILE (default inventory.yml; - for standard output), its yaml-language-server $schema line pointing at this tprun's own schema file, so an editor completes and checks it wherever tprun is installed. Never overwrites a file.",
  options: [],
  complete: 'file',
  run(ctx, args) {
    if (args.length > 1) return ctx.usage(`init takes one file, not "${args.join(' ')}"`, 'init');
    const r = initInventory(args[0] ?? 'inventory.yml');
    if (!r.ok) {
      ctx.warn(r.text);
      return EXIT.invalid;
    }
    ctx.print(r.text);
    return EXIT.ok;
  },
});

export default initCommand;
