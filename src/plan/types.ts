/**
 * The plan is plain data (Terraform-style): check prints it, --diff renders it, reports
 * serialise it, apply executes it. Nothing here does I/O.
 */
import type { Diagnostic } from '../diagnostics.ts';
import { isChange, type Change, type Handler } from '../resources/change.ts';
import type { Check } from '../role/contract.ts';

export type { Check };

export interface HostPlan {
  host: string;
  /** Every managed resource in apply order; `no-op` ones show compliance. */
  resources: Change[];
  checks: Check[];
  /** Handlers that fire once, after the changes, because a change notifies them. */
  handlers: Handler[];
  diagnostics: Diagnostic[];
}

/** The resources apply would change. */
export const changesOf = (p: HostPlan): Change[] => p.resources.filter(isChange);

/** Failed checks that stop every change on the host. */
export const blockersOf = (p: HostPlan): Check[] => p.checks.filter((c) => !c.ok && c.blocks);

export function blockedReason(p: HostPlan): string | undefined {
  const b = blockersOf(p);
  if (!b.length) return undefined;
  return `requirements not met: ${b.map((c) => `${c.name} (found ${c.found})`).join('; ')}`;
}
