/** --report FORMAT:FILE writers; "-" writes to stdout (the human output then goes to stderr). */
import { renameSync, rmSync, writeFileSync } from 'node:fs';
import type { Host } from '../inventory/types.ts';
import type { HostResult } from '../run/host.ts';
import type { ResultSink } from '../run/fleet.ts';
import { noCounts, secretsOf, type ReportHead, type RunEnd, type RunSummary } from './summary.ts';
import type { Totals } from './junit.ts';
import type { PromRow } from './prometheus.ts';
import { jsonEntry, jsonFrame, OrderedFile } from './stream.ts';

export const REPORT_FORMATS = ['json', 'junit', 'prom', 'html'] as const;
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

/**
 * The reports of a run, written as it goes: each host's entry leaves the heap when the host is
 * done (JSON and JUnit to a spool beside the report, Prometheus as a few numbers), and finish()
 * writes each report whole by rename, hosts in the head's order. A report that cannot be written
 * costs nothing more during the run and is one sentence from finish(); the others are written.
 */
export interface ReportSink extends ResultSink {
  /** The run's end: writes every report; one sentence per report that could not be written. */
  finish(end: RunEnd): Promise<string[]>;
}

interface Writer {
  hostDone(index: number, host: Host, result: HostResult): void;
  finish(end: RunEnd): Promise<void>;
}

const sentence = (t: ReportTarget, e: unknown): string => {
  const err = e as NodeJS.ErrnoException;
  return `cannot write the ${t.format} report ${t.file}: ${err.code ? `${err.code}${err.path && err.path !== t.file ? ` (${err.path})` : ''}` : err.message.split('\n')[0]}`;
};

/**
 * Each format's writer is imported when a report of that format is asked for (fast-xml-parser
 * and prom-client cost a tenth of a second each to load; most runs write no report, issue #24).
 */
export async function openReports(targets: readonly ReportTarget[], head: ReportHead, stdout: NodeJS.WritableStream = process.stdout): Promise<ReportSink> {
  const wants = (f: ReportFormat) => targets.some((t) => t.format === f);
  const [json, junit, prom, html] = await Promise.all([
    wants('json') ? import('./json.ts') : undefined,
    wants('junit') ? import('./junit.ts') : undefined,
    wants('prom') ? import('./prometheus.ts') : undefined,
    wants('html') ? import('./html.ts') : undefined,
  ]);
  const index = new Map(head.hosts.map((h, i) => [h.name, i]));
  const counts = noCounts();
  const secrets = secretsOf(head);
  const seen = new Uint8Array(head.hosts.length);
  const writers = targets.map((t): { target: ReportTarget; writer: Writer; error?: unknown } => {
    if (t.format === 'json') {
      const { jsonHead, jsonHost } = json!;
      const file = new OrderedFile(t.file, head.hosts.length, 0o644, stdout);
      return {
        target: t,
        writer: {
          hostDone: (i, h, r) => file.put(i, jsonEntry(jsonHost(h, r, secrets), 2)),
          finish: async (end) => {
            const f = jsonFrame(jsonHead(head, end, counts), 'hosts', head.hosts.length === 0);
            file.finish(f.head, f.separator, f.tail);
          },
        },
      };
    }
    if (t.format === 'junit') {
      const { junitFrame, junitSuite, junitSuiteText } = junit!;
      const file = new OrderedFile(t.file, head.hosts.length, 0o644, stdout);
      const totals: Totals = { tests: 0, failures: 0, errors: 0 };
      return {
        target: t,
        writer: {
          hostDone: (i, h, r) => {
            const suite = junitSuite(h, r, head.mode, startedOf());
            totals.tests += suite['@_tests'];
            totals.failures += suite['@_failures'];
            totals.errors += suite['@_errors'];
            file.put(i, junitSuiteText(suite, secrets));
          },
          finish: async (end) => {
            const f = junitFrame(head, end, totals, head.hosts.length === 0);
            file.finish(f.head, '', f.tail);
          },
        },
      };
    }
    if (t.format === 'html') {
      const { htmlFrame, htmlHost } = html!;
      const file = new OrderedFile(t.file, head.hosts.length, 0o644, stdout);
      return {
        target: t,
        writer: {
          hostDone: (i, h, r) => file.put(i, htmlHost(h, r, secrets, head.command ?? head.mode)),
          finish: async (end) => {
            const f = htmlFrame(head, end, counts);
            file.finish(f.head, '', f.tail);
          },
        },
      };
    }
    const { promRow, promText } = prom!;
    const rows: (PromRow | undefined)[] = new Array<PromRow | undefined>(head.hosts.length);
    return {
      target: t,
      writer: {
        hostDone: (i, _h, r) => void (rows[i] = promRow(r)),
        finish: async (end) => {
          const text = await promText(
            head,
            end,
            rows.filter((r): r is PromRow => !!r),
          );
          if (t.file === '-') stdout.write(text);
          else writeByRename(t.file, text);
        },
      },
    };
  });
  // JUnit stamps each suite with the run's start, which the fleet gives before the first host ends.
  let started: Date | undefined;
  const startedOf = () => (started ??= new Date());
  return {
    runStarted(at) {
      started = at;
    },
    hostDone(host, result) {
      const i = index.get(host.name);
      if (i === undefined || seen[i]) return;
      seen[i] = 1;
      counts[result.status]++;
      for (const w of writers) {
        if (w.error) continue;
        try {
          w.writer.hostDone(i, host, result);
        } catch (e) {
          w.error = e;
        }
      }
    },
    async finish(end) {
      const errors: string[] = [];
      for (const w of writers) {
        try {
          if (w.error) throw w.error;
          await w.writer.finish(end);
        } catch (e) {
          errors.push(sentence(w.target, e));
        }
      }
      return errors;
    },
  };
}

/** Writes each report; one that cannot be written gives one sentence, and the others are still written. */
export async function writeReports(reports: readonly ReportTarget[], run: RunSummary, stdout: NodeJS.WritableStream = process.stdout): Promise<string[]> {
  const sink = await openReports(reports, run, stdout);
  sink.runStarted?.(run.started);
  const byName = new Map(run.results.map((r) => [r.host, r]));
  for (const h of run.hosts) {
    const r = byName.get(h.name);
    if (r) sink.hostDone(h, r);
  }
  return sink.finish(run);
}
