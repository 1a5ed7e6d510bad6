/** --report FORMAT:FILE writers (JSON and JUnit arrive with the compliance reports). */
import type { CommonOptions } from '../cli/options.ts';
import type { Host, Inventory } from '../inventory/types.ts';
import type { HostResult } from '../run/host.ts';

export interface RunSummary {
  mode: 'check' | 'apply';
  inventory: Inventory;
  hosts: Host[];
  results: HostResult[];
  started: Date;
  seconds: number;
  exitCode: number;
}

export async function writeReports(_reports: CommonOptions['reports'], _run: RunSummary, _out: NodeJS.WritableStream): Promise<void> {}
