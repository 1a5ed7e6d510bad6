/** What a report is made from: the run's selection and its results. */
import type { Host, Inventory } from '../inventory/types.ts';
import type { HostResult, HostStatus, KeptResult } from '../run/host.ts';

/** What a report knows before any host is contacted. */
export interface ReportHead {
  version: string;
  mode: 'check' | 'apply';
  /** The command when it is not the mode (doctor runs in check mode). */
  command?: 'doctor';
  inventory: Inventory;
  /** Every host the report lists, in its order. */
  hosts: Host[];
  roles: string[];
  limit?: string;
  /** Values to redact besides the inventory's `!secret` ones (e.g. passphrases). */
  secrets?: string[];
}

/** What is known when the run ends. */
export interface RunEnd {
  started: Date;
  seconds: number;
  exitCode: number;
}

export interface RunSummary extends ReportHead, RunEnd {
  results: HostResult[];
}

export type StatusCounts = Record<HostStatus, number>;

export const noCounts = (): StatusCounts => ({ compliant: 0, drifted: 0, changed: 0, failed: 0, unreachable: 0, skipped: 0 });

export function statusCounts(results: readonly KeptResult[]): StatusCounts {
  const counts = noCounts();
  for (const r of results) counts[r.status]++;
  return counts;
}

/** Everything a report must not show: the inventory's `!secret` values and the run's own. */
export const secretsOf = (run: ReportHead): string[] => [...(run.inventory.secrets ?? []), ...(run.secrets ?? [])];
