/**
 * JUnit XML as CI servers read it: a testsuite per host, a testcase per check and per managed
 * resource. An unmet check or drift is a failure (message names the item, body is the diff);
 * an unreachable or failed host is an error.
 */
import { XMLBuilder } from 'fast-xml-parser';
import { changeDiff } from '../resources/view.ts';
import { mapStrings, redact, xmlSafe } from './safe.ts';
import { secretsOf, type ReportHead, type RunEnd, type RunSummary } from './summary.ts';
import type { Host } from '../inventory/types.ts';
import type { HostResult } from '../run/host.ts';

type Case = Record<string, unknown>;

export type Suite = ReturnType<typeof junitSuite>;

const builder = () => new XMLBuilder({ ignoreAttributes: false, format: true, suppressEmptyNode: true, processEntities: true });

/** Valid XML whatever a host printed: characters XML forbids are written out, secrets redacted. */
const clean = <T>(value: T, secrets: readonly string[]): T => mapStrings(value, (s) => xmlSafe(redact(s, secrets)));

export function junitReport(run: RunSummary): string {
  const byName = new Map(run.results.map((r) => [r.host, r]));
  const suites = run.hosts.map((h) => junitSuite(h, byName.get(h.name)!, run.mode, run.started));
  const secrets = secretsOf(run);
  return builder().build(clean(junitDoc(run, run, totals(suites), suites), secrets));
}

/** testsuites' counts: the sums of its suites'. */
export interface Totals {
  tests: number;
  failures: number;
  errors: number;
}

export const totals = (suites: readonly Suite[]): Totals => ({
  tests: suites.reduce((n, s) => n + s['@_tests'], 0),
  failures: suites.reduce((n, s) => n + s['@_failures'], 0),
  errors: suites.reduce((n, s) => n + s['@_errors'], 0),
});

function junitDoc(head: ReportHead, end: RunEnd, t: Totals, suites: Suite[]) {
  return {
    '?xml': { '@_version': '1.0', '@_encoding': 'UTF-8' },
    testsuites: {
      '@_name': `tprun ${head.mode} ${head.inventory.path}`,
      '@_tests': t.tests,
      '@_failures': t.failures,
      '@_errors': t.errors,
      '@_time': end.seconds.toFixed(3),
      testsuite: suites,
    },
  };
}

/** One host's testsuite, as it appears inside testsuites (indented, redacted): a streamed report writes it as the host finishes. */
export function junitSuiteText(suite: Suite, secrets: readonly string[]): string {
  const text = builder().build({ testsuites: { testsuite: [clean(suite, secrets)] } });
  return text.slice('<testsuites>\n'.length, -'</testsuites>\n'.length);
}

/** The report around its suites: head + suite texts + tail is junitReport's text. */
export function junitFrame(head: ReportHead, end: RunEnd, t: Totals, empty: boolean): { head: string; tail: string } {
  const text = builder().build(clean(junitDoc(head, end, t, []), secretsOf(head)));
  if (empty) return { head: text, tail: '' };
  if (!text.endsWith('/>\n')) throw new Error('junitFrame: unexpected testsuites element');
  return { head: text.slice(0, -'/>\n'.length) + '>\n', tail: '</testsuites>\n' };
}

export function junitSuite(h: Host, r: HostResult, mode: RunSummary['mode'], started: Date) {
  const cases: Case[] = [];
  const time = (r.durationMs / 1000).toFixed(3);
  if (r.status === 'skipped') {
    cases.push({ '@_name': 'rollout', '@_classname': `tprun.${h.name}`, skipped: { '@_message': `never touched: ${r.reason}` } });
  } else if (r.status === 'unreachable' || (r.status === 'failed' && !r.plan)) {
    cases.push({
      '@_name': r.error.step,
      '@_classname': `tprun.${h.name}`,
      error: { '@_message': r.error.message, '@_type': r.status, '#text': r.error.stderr ?? '' },
    });
  }
  for (const k of r.plan?.checks ?? []) {
    const c: Case = { '@_name': k.id, '@_classname': `tprun.${h.name}.${k.role}` };
    if (!k.ok && k.blocks)
      c.failure = {
        '@_message': `requirement not met: ${k.id}`,
        '@_type': 'requirement',
        '#text': `found ${k.found}; wanted ${k.wanted}${k.hint ? `\n${k.hint}` : ''}`,
      };
    else if (!k.ok) c['system-out'] = `warning: found ${k.found}; wanted ${k.wanted}${k.hint ? `\n${k.hint}` : ''}`;
    cases.push(c);
  }
  for (const i of r.plan?.resources ?? []) {
    const c: Case = { '@_name': i.id, '@_classname': `tprun.${h.name}.${i.role}` };
    if (i.action !== 'no-op' && !(mode === 'apply' && r.status === 'changed')) {
      c.failure = { '@_message': `drifted: ${i.id}`, '@_type': 'drift', '#text': changeDiff(i).join('\n') };
    }
    cases.push(c);
  }
  if (r.status === 'failed' && r.plan) {
    cases.push({
      '@_name': `${r.error.step}`,
      '@_classname': `tprun.${h.name}`,
      error: { '@_message': r.error.message, '@_type': 'failed', '#text': r.error.stderr ?? '' },
    });
  }
  return {
    '@_name': h.name,
    '@_hostname': h.address,
    '@_tests': cases.length,
    '@_failures': cases.filter((c) => c.failure).length,
    '@_errors': cases.filter((c) => c.error).length,
    '@_skipped': cases.filter((c) => c.skipped).length,
    '@_time': time,
    '@_timestamp': started.toISOString().replace(/\.\d+Z$/, ''),
    testcase: cases,
  };
}
