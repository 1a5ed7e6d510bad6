/** What a report is made from: the run's selection and its results. */
import type { Host, Inventory } from '../inventory/types.ts';
import type { HostResult } from '../run/host.ts';

export interface RunSummary {
  version: string;
  mode: 'check' | 'apply';
  /** The command when it is not the mode (doctor runs in check mode). */
  command?: 'doctor';
  inventory: Inventory;
  hosts: Host[];
  roles: string[];
  limit?: string;
  results: HostResult[];
  started: Date;
  seconds: number;
  exitCode: number;
  /** Values to redact besides the inventory's `!secret` ones (e.g. passphrases). */
  secrets?: string[];
}

/** Everything a report must not show: the inventory's `!secret` values and the run's own. */
export const secretsOf = (run: RunSummary): string[] => [...(run.inventory.secrets ?? []), ...(run.secrets ?? [])];
