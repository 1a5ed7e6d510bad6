/** --report FORMAT:FILE writers; "-" writes to stdout (the human output then goes to stderr). */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { RunSummary } from './summary.ts';
import { jsonReport } from './json.ts';
import { junitReport } from './junit.ts';

export interface ReportTarget {
  format: 'json' | 'junit';
  /** A path, or - for stdout. */
  file: string;
}

/** Writes each report; one that cannot be written gives one sentence, and the others are still written. */
export function writeReports(reports: readonly ReportTarget[], run: RunSummary): string[] {
  const errors: string[] = [];
  for (const r of reports) {
    try {
      const text = r.format === 'json' ? JSON.stringify(jsonReport(run), null, 2) + '\n' : junitReport(run);
      if (r.file === '-') process.stdout.write(text);
      else {
        mkdirSync(dirname(r.file), { recursive: true });
        writeFileSync(r.file, text);
      }
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      errors.push(
        `cannot write the ${r.format} report ${r.file}: ${err.code ? `${err.code}${err.path && err.path !== r.file ? ` (${err.path})` : ''}` : err.message.split('\n')[0]}`,
      );
    }
  }
  return errors;
}
