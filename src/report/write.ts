/** --report FORMAT:FILE writers; "-" writes to stdout (the human output then goes to stderr). */
import { renameSync, rmSync, writeFileSync } from 'node:fs';
import type { RunSummary } from './summary.ts';
import { jsonReport } from './json.ts';
import { junitReport } from './junit.ts';
import { prometheusReport } from './prometheus.ts';

export const REPORT_FORMATS = ['json', 'junit', 'prom'] as const;
export type ReportFormat = (typeof REPORT_FORMATS)[number];

export interface ReportTarget {
  format: ReportFormat;
  /** A path, or - for stdout. */
  file: string;
}

/**
 * A new file beside the target, renamed over it: a reader never sees half a report, and a link at
 * the path is replaced, never written through. The directory was checked before the run
 * (destinations.ts); it is never created here.
 */
export function writeByRename(file: string, text: string, mode = 0o644): void {
  const tmp = `${file}.tprun-${process.pid}`;
  try {
    writeFileSync(tmp, text, { mode, flag: 'wx' });
    renameSync(tmp, file);
  } finally {
    rmSync(tmp, { force: true });
  }
}

/** Writes each report; one that cannot be written gives one sentence, and the others are still written. */
export async function writeReports(reports: readonly ReportTarget[], run: RunSummary, stdout: NodeJS.WritableStream = process.stdout): Promise<string[]> {
  const errors: string[] = [];
  for (const r of reports) {
    try {
      const text =
        r.format === 'json' ? JSON.stringify(jsonReport(run), null, 2) + '\n' : r.format === 'junit' ? junitReport(run) : await prometheusReport(run);
      if (r.file === '-') stdout.write(text);
      else writeByRename(r.file, text);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      errors.push(
        `cannot write the ${r.format} report ${r.file}: ${err.code ? `${err.code}${err.path && err.path !== r.file ? ` (${err.path})` : ''}` : err.message.split('\n')[0]}`,
      );
    }
  }
  return errors;
}
