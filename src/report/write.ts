/** --report FORMAT:FILE writers; "-" writes to stdout (the human output then goes to stderr). */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Host, Inventory } from '../inventory/types.ts';
import type { HostResult } from '../run/host.ts';
import { jsonReport } from './json.ts';
import { junitReport } from './junit.ts';

export interface RunSummary {
  version: string;
  mode: 'check' | 'apply';
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

export interface ReportTarget {
  format: 'json' | 'junit';
  /** A path, or - for stdout. */
  file: string;
}

export function writeReports(reports: readonly ReportTarget[], run: RunSummary): void {
  for (const r of reports) {
    const text = r.format === 'json' ? JSON.stringify(jsonReport(run), null, 2) + '\n' : junitReport(run);
    if (r.file === '-') process.stdout.write(text);
    else {
      mkdirSync(dirname(r.file), { recursive: true });
      writeFileSync(r.file, text);
    }
  }
}
