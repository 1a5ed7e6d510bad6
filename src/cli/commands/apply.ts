/** `tprun apply`: each selected host's plan as one transaction, or exactly a reviewed plan (--plan). */
import { selectRoles } from '../../../roles/registry.ts';
import type { Host } from '../../inventory/types.ts';
import { planMoved, settingsMoved, type SavedPlan } from '../../plan/reviewed.ts';
import { EXIT_TEXT } from '../../run/options.ts';
import { defineCommand } from '../command.ts';
import { readPlan, reportWrites, selectHosts } from '../load.ts';
import { check, detailedExitcodes, lockTimeout, maxFail, plan, probe, serial } from '../options.ts';
import { fleetOptions, RUN } from './fleet.ts';

export const applyCommand = defineCommand({
  name: 'apply',
  args: 'INVENTORY... | --plan PLAN [INVENTORY...]',
  summary: 'apply the plan on every selected host',
  description:
    "Gathers facts, plans and applies the changes on each selected host as one transaction, rolled back on failure, then verifies. Exits 0 when it succeeded, changes or not; with --detailed-exitcodes, 2 when it changed something (as Puppet's).",
  options: [plan, check, probe, serial, maxFail, lockTimeout, detailedExitcodes, ...RUN],
  complete: 'file',
  footer: EXIT_TEXT,
  async run(ctx, args, o) {
    let saved: SavedPlan | undefined;
    let files = args;
    if (o.plan !== undefined) {
      const p = readPlan(o.plan);
      if (typeof p === 'string') return ctx.usage(p, 'apply');
      saved = p;
      if (o.check || o.roles) return ctx.usage(`--plan applies the plan as reviewed: it takes no ${o.check ? '--check' : '--roles'}`, 'apply');
      if (!files.length) files = [...saved.inventory.files];
    }
    const s = selectHosts(ctx, files, {
      command: 'apply',
      limit: o.limit,
      listHosts: o.listHosts,
      writes: reportWrites(ctx),
      reads: o.plan !== undefined ? [o.plan] : [],
      madeFor: saved && !args.length ? { file: o.plan!, saved } : undefined,
    });
    if ('exit' in s) return s.exit;
    const { runFleetCommand } = await import('../views/fleet.ts');
    const options = {
      ...fleetOptions(o),
      lockTimeout: o.lockTimeout,
      probe: o.probe,
      detailedExitCodes: o.detailedExitcodes,
      serial: o.serial,
      maxFail: o.maxFail,
    };
    const mode = o.check ? 'check' : 'apply';
    if (!saved) return runFleetCommand(ctx, { mode, inventory: s.inventory, hosts: s.hosts, roles: selectRoles(o.roles), options });

    const planned = new Map(saved.hosts.map((h) => [h.name, h]));
    if (!s.hosts.some((h) => planned.has(h.name)))
      return ctx.usage(`no host of ${o.plan} is in ${s.file}${o.limit ? ` with --limit "${o.limit}"` : ''}`, 'apply');
    // A host of the plan the inventory no longer has: failed without contact, in the recap and the reports.
    const refused = saved.hosts
      .filter((h) => !s.inventory.hosts.some((x) => x.name === h.name))
      .map((h) => ({
        host: { ...h.settings, name: h.name, address: h.address } as unknown as Host,
        reason: `in the plan but no longer in ${s.file}: not applied`,
      }));
    const seal = { secrets: s.inventory.secrets ?? [], salt: saved.salt };
    return runFleetCommand(ctx, {
      mode,
      inventory: s.inventory,
      hosts: s.hosts.filter((h) => planned.has(h.name)),
      roles: selectRoles(saved.selection.roles),
      approve: (host, p) => settingsMoved(planned.get(host.name)!, host, seal.secrets) ?? planMoved(planned.get(host.name)!, host, p, seal),
      refused,
      options,
    });
  },
});

export default applyCommand;
