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
