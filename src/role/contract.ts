/**
 * The role contract. A role is a folder under roles/ that holds all of it: its settings
 * (schema, defaults, checks of the values), its facts, its requirements, its files, its
 * boot-time steps and its pure planner. roles/registry.ts lists the roles in apply order.
 * It lives apart from src/plan: the inventory reads role settings, and the planner reads roles;
 * neither reaches into the other.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import type { Diagnostic, Severity } from '../diagnostics.ts';
import { factList, parseTree, type Fact, type FactTree, type Parsed, type RawFacts } from '../facts/fact.ts';
import type { PathSeg } from '../inventory/source.ts';
import type { Host, Inventory } from '../inventory/types.ts';
import type { Change, Handler } from '../resources/change.ts';
import type { Artifact } from '../resources/file.ts';

/**
 * Something a host must be (a requirement) or must not show (a diagnosis): what was found,
 * what is wanted, and whether a failure stops every change on the host.
 */
export interface Check {
  role: string;
  /** Stable address, e.g. `require squid >= 3.1`: built from the name, never read back into it. */
  id: string;
  /** What is checked, for people: a requirement's name (`squid >= 3.1`), a finding's code and title. */
  name: string;
  /** A catalogue code (doctor's `TP010`), kept as a value so no reader parses it out of the id. */
  code?: string;
  found: string;
  wanted: string;
  ok: boolean;
  blocks: boolean;
  /** Why it matters and how to fix it, for a person. */
  hint?: string;
}

/** Report a problem with a setting at its inventory path (relative to the host's vars). */
export type ReportSetting = (path: PathSeg[] | PathSeg[][], severity: Severity, message: string) => void;

export interface RoleSettings {
  /** The inventory key holding this role's settings (under defaults: or a host). */
  key: string;
  /** JSON Schema of the value under `key` (may $ref the shared #/$defs). */
  schema: Record<string, unknown>;
  /** Built-in defaults: `{ key: value }`. */
  defaults: Record<string, unknown>;
  /** The folder of schema.json and defaults.yml: `npm run schema` writes the settings' type there (settings.ts). */
  folder?: URL;
  /** Checks of the merged values that the schema cannot express, run before any host is contacted. */
  validate?(host: Host, report: ReportSetting): void;
}

/** A script the framework runs at boot (/etc/tprun/boot.d/ORDER-NAME.sh), in order. */
export interface BootStep {
  order: number;
  name: string;
  content: string;
}

export interface RolePlan {
  changes: Change[];
  diagnostics?: Diagnostic[];
  /** Handlers this role offers; the planner keeps those a change notifies. */
  handlers?: Handler[];
}

/** A file rendered once for the whole inventory, e.g. a WCCP router's configuration. */
export interface InventoryFile {
  path: string;
  content: string;
}

export interface RoleDef<F extends FactTree> {
  name: string;
  settings?: RoleSettings;
  applies(host: Host): boolean;
  /** The facts the planner and requirements read; shared facts may appear in several roles. */
  facts(host: Host): F;
  requirements?(host: Host, facts: Parsed<F>): Check[];
  /** Files this role installs (or renders for review), from the inventory alone. */
  artifacts?(host: Host): Artifact[];
  /**
   * Every file this role installs in any configuration: one it does not install now (block_quic
   * turned off, a family dropped) is removed from the host rather than left behind.
   */
  owns?: readonly string[];
  boot?(host: Host): BootStep[];
  plan?(host: Host, facts: Parsed<F>): RolePlan;
  inventoryFiles?(inventory: Pick<Inventory, 'hosts' | 'peers'>): InventoryFile[];
}

/** A role with its fact types erased, as the registry and the planner hold it. */
export interface Role {
  name: string;
  settings?: RoleSettings;
  applies(host: Host): boolean;
  facts(host: Host): Fact<unknown>[];
  artifacts(host: Host): Artifact[];
  owns: readonly string[];
  boot(host: Host): BootStep[];
  inventoryFiles(inventory: Pick<Inventory, 'hosts' | 'peers'>): InventoryFile[];
  /** Parse this role's facts once; then its checks and its plan. */
  evaluate(host: Host, raw: RawFacts): { checks: Check[]; plan(): RolePlan };
}

export function defineRole<F extends FactTree>(def: RoleDef<F>): Role {
  return {
    name: def.name,
    settings: def.settings,
    applies: def.applies,
    facts: (host) => factList(def.facts(host)),
    artifacts: (host) => def.artifacts?.(host) ?? [],
    owns: def.owns ?? [],
    boot: (host) => def.boot?.(host) ?? [],
    inventoryFiles: (inv) => def.inventoryFiles?.(inv) ?? [],
    evaluate(host, raw) {
      const facts = parseTree(def.facts(host), raw);
      return { checks: def.requirements?.(host, facts) ?? [], plan: () => def.plan?.(host, facts) ?? { changes: [] } };
    },
  };
}

/** A role folder's schema.json and defaults.yml, read once at start-up. */
export function settingsFiles(roleUrl: string): Pick<RoleSettings, 'schema' | 'defaults' | 'folder'> {
  const folder = new URL('./', roleUrl);
  const read = (name: string) => readFileSync(new URL(name, folder), 'utf8');
  return { schema: JSON.parse(read('schema.json')) as Record<string, unknown>, defaults: parseYaml(read('defaults.yml')) as Record<string, unknown>, folder };
}

/** A requirement: `ok` decides; a failed one stops every change on the host unless `blocks` is false. */
export const requirement = (role: string, r: Omit<Check, 'role' | 'blocks' | 'id'> & { name: string; blocks?: boolean }): Check => {
  const { name, blocks = true, ...rest } = r;
  return { role, id: `require ${name}`, name, blocks, ...rest };
};
