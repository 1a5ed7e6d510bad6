/**
 * JUnit XML as CI servers read it: a testsuite per host, a testcase per check and per managed
 * resource. An unmet check or drift is a failure (message names the item, body is the diff);
 * an unreachable or failed host is an error.
 */
import { XMLBuilder } from 'fast-xml-parser';
import { changeDiff } from '../resources/view.ts';
import { mapStrings, redact, xmlSafe } from './safe.ts';
import { secretsOf, type RunSummary } from './summary.ts';

type Case = Record<string, unknown>;

export function junitReport(run: RunSummary): string {
  const byName = new Map(run.results.map((r) => [r.host, r]));
  const suites = run.hosts.map((h) => {
    const r = byName.get(h.name)!;
    const cases: Case[] = [];
    const time = (r.durationMs / 1000).toFixed(3);
    if (r.status === 'skipped') {
      cases.push({ '@_name': 'rollout', '@_classname': `tprun.${h.name}`, skipped: { '@_message': `never touched: ${r.error?.message ?? ''}` } });
    } else if (r.status === 'unreachable' || (r.error && !r.plan)) {
      cases.push({
        '@_name': r.error?.step ?? 'connect',
        '@_classname': `tprun.${h.name}`,
        error: { '@_message': r.error?.message ?? r.status, '@_type': r.status, '#text': r.error?.stderr ?? '' },
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
      if (i.action !== 'no-op' && !(run.mode === 'apply' && r.status === 'changed')) {
        c.failure = { '@_message': `drifted: ${i.id}`, '@_type': 'drift', '#text': changeDiff(i).join('\n') };
      }
      cases.push(c);
    }
    if (r.error && r.plan) {
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
      '@_timestamp': run.started.toISOString().replace(/\.\d+Z$/, ''),
      testcase: cases,
    };
  });
  const total = (k: string) => suites.reduce((n, s) => n + (s[k as keyof typeof s] as number), 0);
  const doc = {
    '?xml': { '@_version': '1.0', '@_encoding': 'UTF-8' },
    testsuites: {
      '@_name': `tprun ${run.mode} ${run.inventory.path}`,
      '@_tests': total('@_tests'),
      '@_failures': total('@_failures'),
      '@_errors': total('@_errors'),
      '@_time': run.seconds.toFixed(3),
      testsuite: suites,
    },
  };
  // Valid XML whatever a host printed: characters XML forbids are written out, secrets redacted.
  const secrets = secretsOf(run);
  return new XMLBuilder({ ignoreAttributes: false, format: true, suppressEmptyNode: true, processEntities: true }).build(
    mapStrings(doc, (s) => xmlSafe(redact(s, secrets))),
  );
}
