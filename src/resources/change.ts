/**
 * A change is one managed resource with its typed actual (before) and wanted (after) value and
 * the commands that close the gap (Terraform's plan entries). The kind decides the value's type
 * and how a view shows it; the action follows from before/after, so no role can get it wrong.
 */
import { isDeepStrictEqual } from 'node:util';
import type { Shell } from '../shell.ts';

export type Action = 'create' | 'update' | 'delete' | 'no-op';
export type HandlerName = 'squid-reload' | 'systemd-daemon-reload';

/** Position of tprun's jump in the built-in chain that feeds its own chain. */
export type HookState = 'first' | 'not-first' | 'duplicated' | 'missing';

export interface ChainState {
  /** The built-in chain that jumps to tprun's entry chain, and where that jump stands. */
  hookChain: string;
  entry: string;
  hook: HookState;
  /** "-A CHAIN rule" lines of tprun's own chains, normalised, in order. */
  rules: string[];
}

export interface GreTunnel {
  remote: string;
  local: string;
}

/** Value type of each kind of resource. */
export interface KindValues {
  file: string;
  chain: ChainState;
  sysctl: string;
  service: string;
  symlink: string;
  /** A file's mode, owner and group: "640 root:proxy". */
  'file-mode': string;
  link: GreTunnel | { other: string };
  /** "on", or "on (off at boot)" when the persistent value differs from the running one. */
  'selinux-boolean': string;
  'ip-rule': string;
  'ip-route': string;
  /** nft table tprun owns, one line per counter, set and rule (roles/nftables/model.ts). */
  'nft-table': string[];
  /** A firewalld setting tprun owns: a zone's port ("permanent+runtime") or IPv6_rpfilter's value. */
  firewalld: string;
}
export type Kind = keyof KindValues;

interface ChangeOf<K extends Kind> {
  kind: K;
  /** The role that owns the resource ("boot" for the framework's boot files). */
  role: string;
  /** Stable address, e.g. `sysctl net.ipv4.ip_forward`. */
  id: string;
  action: Action;
  before: KindValues[K] | null;
  after: KindValues[K] | null;
  /** Shell run on the host, in order; a non-zero exit fails the step. */
  commands: Shell[];
  /** Shell that puts back what `commands` changed (run in reverse order on failure). */
  undo: Shell[];
  /** Shell run once every step succeeded (e.g. a file's backup becomes FILE.tprun-prev). */
  commit?: Shell[];
  notify?: HandlerName;
  /** Files: the path on the host. */
  path?: string;
}

export type Change = { [K in Kind]: ChangeOf<K> }[Kind];

type Fields<K extends Kind> = Omit<ChangeOf<K>, 'action' | 'commands' | 'undo'> & { commands?: Shell[]; undo?: Shell[] };

export function change<K extends Kind>(fields: Fields<K>): ChangeOf<K> {
  const { before, after } = fields;
  const action: Action = isDeepStrictEqual(before, after) ? 'no-op' : before === null ? 'create' : after === null ? 'delete' : 'update';
  const noop = action === 'no-op';
  return { ...fields, action, commands: noop ? [] : (fields.commands ?? []), undo: noop ? [] : (fields.undo ?? []), commit: noop ? [] : (fields.commit ?? []) };
}

export const isChange = (c: Change): boolean => c.action !== 'no-op';

export interface Step {
  commands: Shell[];
  undo: Shell[];
  commit?: Shell[];
}

export interface Handler extends Step {
  id: string;
  name: HandlerName;
}
