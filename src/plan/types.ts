/**
 * The plan is plain data (Terraform-style): check prints it, --diff renders it, reports
 * serialise it, apply executes it. Nothing here does I/O.
 */
import type { Diagnostic } from '../diagnostics.ts';

export const ROLE_NAMES = ['kernel-check', 'selinux', 'sysctl', 'routing', 'squid', 'wccp', 'iptables', 'ebtables'] as const;
export type RoleName = (typeof ROLE_NAMES)[number];

/** A file a role installs on the host (or, with install false, only renders for the operator). */
export interface Artifact {
  role: RoleName;
  path: string;
  mode: string;
  content: string;
  /** Command that must accept the candidate before it replaces the live file; %s is the candidate path. */
  validate?: string;
  /** Notified handler when this file changes. */
  notify?: HandlerName;
  install: boolean;
}

export type HandlerName = 'squid-reload';

/** What kind of thing a resource is decides how a diff shows it. */
export type ResourceKind = 'file' | 'sysctl' | 'ip-rule' | 'ip-route' | 'firewall' | 'ebtables' | 'selinux-boolean' | 'service' | 'link' | 'requirement';

export type Action = 'create' | 'update' | 'delete' | 'no-op';

export interface Step {
  /** Shell run on the host, in order; a non-zero exit fails the step. */
  commands: string[];
  /** Shell that puts back what `commands` changed (run in reverse order on failure). */
  undo: string[];
}

/** One managed resource: its wanted and actual value, and how to close the gap. */
export interface Item extends Step {
  role: RoleName;
  kind: ResourceKind;
  /** Stable address, e.g. `sysctl net.ipv4.ip_forward`. */
  id: string;
  action: Action;
  /** Actual value as text (null: absent). */
  before: string | null;
  /** Wanted value as text (null: must be absent). */
  after: string | null;
  notify?: HandlerName;
}

export interface HostPlan {
  host: string;
  /** Every managed resource, in apply order; `no-op` ones show compliance. */
  items: Item[];
  /** Handlers that fire once, after the items, because an item notifies them. */
  handlers: (Step & { id: string; name: HandlerName })[];
  diagnostics: Diagnostic[];
  /** Set when kernel-check (or a role's preflight) found the host unfit: nothing is applied. */
  blocked?: string;
}

export const changesOf = (p: HostPlan): Item[] => p.items.filter((i) => i.action !== 'no-op' && i.kind !== 'requirement');
