/** `tprun render`: every file tprun would install, and each WCCP router's configuration. */
import { selectRoles } from '../../../roles/registry.ts';
import { renderFiles, writeRendered } from '../../render/render.ts';
import { EXIT } from '../../run/options.ts';
import { defineCommand } from '../command.ts';
import { selectHosts } from '../load.ts';
import { limit, listHosts, out, roles } from '../options.ts';

export const renderCommand = defineCommand({
  name: 'render',
  args: 'INVENTORY...',
  summary: "write every artifact per host and each WCCP router's config",
  description:
    'Renders every file tprun would install on each selected host (squid.conf, boot scripts, sysctl.d, SELinux module source) and the IOS configuration of each WCCP router, under --out.',
  options: [out, limit, listHosts, roles],
  complete: 'file',
  run(ctx, args, o) {
    const s = selectHosts(ctx, args, { command: 'render', ...o });
    if ('exit' in s) return s.exit;
    const outDir = o.out ?? 'tprun-render';
    const files = renderFiles({ ...s.inventory, hosts: s.hosts }, selectRoles(o.roles));
    try {
      writeRendered(files, outDir);
    } catch (e) {
      ctx.warn((e as Error).message);
      return EXIT.invalid;
    }
    for (const f of files) ctx.print(`${outDir}/${f.path}\n`);
    return EXIT.ok;
  },
});

export default renderCommand;
