/**
 * What the commands that read an inventory share, before any host is contacted: where their
 * output goes can be written, the inventory loads without error, and the selection is not empty.
 * Each step says what is wrong and returns an exit code instead of a value.
 */
import { formatDiagnostic, hasErrors } from '../diagnostics.ts';
import { readBounded } from '../files.ts';
import { expandInventoryPaths, loadInventories } from '../inventory/multi.ts';
import { groupsOf, selectPattern } from '../inventory/pattern.ts';
import type { Host, Inventory } from '../inventory/types.ts';
import { parseSavedPlan, type SavedPlan } from '../plan/reviewed.ts';
import { destinationProblems } from '../report/destinations.ts';
import { EXIT } from '../run/options.ts';
import type { RunContext } from './context.ts';

/** A plan is JSON of every host's changes: 256 MiB holds a large fleet's. */
const MAX_PLAN_BYTES = 256 * 1024 * 1024;

export function readPlan(file: string): SavedPlan | string {
  const r = readBounded(file === '-' ? 0 : file, MAX_PLAN_BYTES);
  if ('error' in r) return `${file}: cannot read the plan (${r.error})`;
  return parseSavedPlan(r.text, file);
}

/** A loaded inventory and the hosts the command works on; or the exit code, everything said. */
export type Selection = { inventory: Inventory; hosts: Host[]; file: string } | { exit: number };

export interface SelectOptions {
  command: string;
  limit?: string;
  listHosts?: boolean;
  /** Print the group names (for completion) and stop. */
  listGroups?: boolean;
  /** Files the run will write (reports, a plan): checked before the inventory is read. */
  writes?: readonly { what: string; file: string }[];
  /** Files the run reads besides the inventory (a plan), which it must not overwrite. */
  reads?: readonly string[];
  /** An inventory named only by a plan must be the one the plan was made from. */
  madeFor?: { file: string; saved: SavedPlan };
}

export function selectHosts(ctx: RunContext, files: string[], o: SelectOptions): Selection {
  if (!files.length) return { exit: ctx.usage(`${o.command} needs an INVENTORY file (or several, or a directory; - for standard input)`, o.command) };
  if (files.filter((p) => p === '-').length > 1) return { exit: ctx.usage('standard input (-) can be read once', o.command) };
  const file = files.join(' + ');
  // Before any host is contacted: a run must not touch the fleet and then fail to say what it did.
  const problems = destinationProblems(o.writes ?? [], [...expandInventoryPaths(files).files, ...(o.reads ?? [])]);
  if (problems.length) {
    for (const p of problems.slice(0, -1)) ctx.warn(p);
    return { exit: ctx.usage(problems.at(-1)!, o.command) };
  }
  const r = loadInventories(files);
  if (o.madeFor && r.sha256 !== o.madeFor.saved.inventory.sha256) {
    const { file: planFile, saved } = o.madeFor;
    ctx.warn(
      `${planFile} was made from ${file} (sha256 ${saved.inventory.sha256.slice(0, 12)}…), which ${r.sha256 ? `now has sha256 ${r.sha256.slice(0, 12)}…` : 'cannot be read'}: name the inventory to apply the plan with (tprun apply --plan PLAN INVENTORY)`,
    );
    return { exit: EXIT.invalid };
  }
  for (const d of r.diagnostics) ctx.io.err.write(formatDiagnostic(d) + '\n');
  if (!r.inventory || hasErrors(r.diagnostics)) {
    const n = r.diagnostics.filter((d) => d.severity === 'error').length;
    ctx.io.err.write(`${file}: ${n} error${n === 1 ? '' : 's'}; no host was contacted\n`);
    return { exit: EXIT.invalid };
  }
  const inventory = r.inventory;
  ctx.protect(inventory);

  const selected = selectPattern(inventory.hosts, o.limit, groupsOf(inventory.hosts, inventory.groups));
  if (selected.errors.length) {
    for (const e of selected.errors.slice(0, -1)) ctx.warn(e);
    return { exit: ctx.usage(`${selected.errors.at(-1)!} of ${file}`, o.command) };
  }
  const hosts = selected.hosts;
  if (o.limit !== undefined && !hosts.length) return { exit: ctx.usage(`--limit "${o.limit}" leaves no host of ${file}`, o.command) };
  if (o.listHosts || o.listGroups) {
    if (o.listHosts) for (const h of hosts) ctx.print(`${h.name}\n`);
    if (o.listGroups) for (const g of groupsOf(inventory.hosts, inventory.groups).keys()) ctx.print(`${g}\n`);
    return { exit: EXIT.ok };
  }
  return { inventory, hosts, file };
}

/** The writes a run's reports make, for `selectHosts`. */
export const reportWrites = (ctx: RunContext) => ctx.reports.map((r) => ({ what: `the ${r.format} report`, file: r.file }));
