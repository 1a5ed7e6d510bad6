/** What every role provides: its artifacts (render), its probes (facts) and a pure planner. */
import type { Diagnostic } from '../diagnostics.ts';
import type { Facts, Probe } from '../facts/facts.ts';
import type { Host } from '../inventory/types.ts';
import type { Artifact, HandlerName, Item, RoleName, Step } from './types.ts';

export interface RolePlan {
  items: Item[];
  diagnostics: Diagnostic[];
  /** A preflight failure that must stop every role on this host. */
  blocked?: string;
  /** Handlers this role offers; the planner keeps those an item with a change notifies. */
  handlers?: (Step & { id: string; name: HandlerName })[];
}

export interface Role {
  name: RoleName;
  applies(host: Host): boolean;
  /** Files this role installs (or renders for review), from the inventory alone. */
  artifacts(host: Host): Artifact[];
  probes(host: Host): Probe[];
  plan(host: Host, facts: Facts): RolePlan;
}

/** Derive the action from before/after so no role can get it wrong. */
export function item(fields: Omit<Item, 'action' | 'commands' | 'undo'> & { commands?: string[]; undo?: string[] }): Item {
  const action = fields.before === fields.after ? 'no-op' : fields.before === null ? 'create' : fields.after === null ? 'delete' : 'update';
  return {
    ...fields,
    action,
    commands: action === 'no-op' ? [] : (fields.commands ?? []),
    undo: action === 'no-op' ? [] : (fields.undo ?? []),
  };
}
