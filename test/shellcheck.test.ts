/**
 * shellcheck (warnings and errors) on every shell script in the repository and on every script
 * tprun renders for a host: boot scripts, the facts script with its lock preamble, the transaction
 * runner of a fresh router's whole plan, and the interception probe (router and bridge). A script
 * that splits words on purpose says so with a `# shellcheck disable=` line and the reason.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ROLES } from '../roles/registry.ts';
import { changeScript, planSteps } from '../src/apply/script.ts';
import { preamble, settledCheck, startScript } from '../src/apply/tx.ts';
import { probeFamilies, probeScript } from '../src/doctor/probe.ts';
import { factsScript } from '../src/facts/fact.ts';
import { loadInventory } from '../src/inventory/load.ts';
import { hostFacts, planHost } from '../src/plan/planner.ts';
import { renderFiles } from '../src/render/render.ts';
import { recorded } from './facts.ts';

const missing = spawnSync('shellcheck', ['--version']).status !== 0;
const t = missing ? test.skip : test;
if (missing) console.log('shellcheck tests skipped: shellcheck is not installed (npm test installs it when run as root)');

const tmp = mkdtempSync(join(tmpdir(), 'tprun-shellcheck-'));

function shellcheck(files: string[], shell?: 'sh' | 'bash'): string {
  const r = spawnSync('shellcheck', ['-S', 'warning', '-f', 'gcc', ...(shell ? ['-s', shell] : []), ...files], { encoding: 'utf8' });
  return r.status === 0 ? '' : r.stdout + r.stderr;
}

t('every shell script in the repository', () => {
  const files = spawnSync('git', ['ls-files', '*.sh', '.ci/run', '.githooks/*'], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean);
  assert.ok(files.length >= 10, files.join(' '));
  assert.is(shellcheck(files), '');
});

t('every script tprun renders for a host', () => {
  const scripts: Record<string, string> = {};
  for (const file of ['inventories/lab.yml', 'inventories/example.yml']) {
    const inv = loadInventory(file).inventory!;
    for (const f of renderFiles(inv, ROLES)) if (f.content.startsWith('#!/bin/sh') || f.path.endsWith('.sh')) scripts[`${file}/${f.path}`] = f.content;
    for (const h of inv.hosts) for (const fam of probeFamilies(h)) scripts[`${file}/${h.name}/probe-${fam.name}`] = probeScript(h, fam).text;
  }
  const lab = loadInventory('inventories/lab.yml').inventory!;
  const h1 = lab.hosts.find((h) => h.name === 'h1')!;
  const holder = { run: 'r1', user: 'ops', controller: 'ctl' };
  for (const mode of ['check', 'apply'] as const) scripts[`facts-${mode}`] = preamble(mode, holder, 5) + factsScript(hostFacts(h1, ROLES)) + settledCheck(mode);
  const plan = planHost(h1, ROLES, recorded('router-fresh'));
  const steps = planSteps(plan);
  assert.ok(steps.length > 10, `a fresh router's plan has its steps (${steps.length})`);
  scripts['transaction'] = startScript(holder, changeScript(steps, hostFacts(h1, ROLES), { dir: '/var/lib/tprun/tx/r1', run: 'r1' }));
  const files = Object.entries(scripts).map(([name, text], i) => {
    const f = join(tmp, `${i}.sh`);
    writeFileSync(f, text);
    return { name, f };
  });
  assert.ok(files.length >= 20, `${files.length} scripts`);
  const problems = shellcheck(
    files.map((x) => x.f),
    'sh',
  );
  const named = files.reduce((text, x) => text.split(x.f).join(x.name), problems);
  assert.is(named, '');
});

test.after(() => rmSync(tmp, { recursive: true, force: true }));
test.run();
