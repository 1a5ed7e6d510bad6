// `node --import tsx bench/facts.ts [--runs R] [--keep] [--record OUT.json]`: what one check's
// remote script (lock preamble, every fact, the settled check) costs a compliant lab router.
// Counted on the host, so the figures do not depend on the machine's load: the processes it
// execs and the forks (strace -f), and its CPU (user + system of the script and its children,
// /usr/bin/time over 10 runs, median of R). Also each fact's own share, run alone.
// Brings up a one-router lab (the proof topology: 6 interfaces) under TPRUN_LAB_PREFIX and
// applies it first. --record writes the host's raw facts, to compare before and after a change
// of the facts' commands byte for byte.
import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { factsScript, parseFactsOutput } from '../src/facts/fact.ts';
import { loadInventory } from '../src/inventory/load.ts';
import { hostFacts } from '../src/plan/planner.ts';
import { preamble, settledCheck } from '../src/apply/tx.ts';
import { PRELUDE } from '../src/protocol.ts';
import { ROLES } from '../roles/registry.ts';
import * as lab from '../test/lab/lab.ts';

const { values } = parseArgs({
  options: { runs: { type: 'string', default: '5' }, keep: { type: 'boolean' }, record: { type: 'string' }, 'no-up': { type: 'boolean' } },
});
const RUNS = Number(values.runs);
const problem = lab.preflight();
if (problem) {
  console.error(`bench: ${problem}`);
  process.exit(1);
}

const on = (cmd: string) => {
  const r = lab.onHost(1, cmd);
  if (r.code !== 0) throw new Error(`h1: ${cmd.slice(0, 80)}: exit ${r.code}\n${r.out}`);
  return r.out;
};
const put = (path: string, text: string) => on(`echo ${Buffer.from(text).toString('base64')} | base64 -d > ${path}`);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Processes exec'd (successful execve, the shell itself included) and forks of one run of the script at PATH. */
function processes(path: string): { execs: number; forks: number } {
  const out = on(`strace -f -qq -e trace=execve,clone,clone3,fork,vfork -o /run/tprun-facts.trace sh ${path} >/dev/null 2>&1; cat /run/tprun-facts.trace`);
  const lines = out.split('\n');
  return {
    // A call another process interrupts is printed in two lines (unfinished, resumed): its result is on the second.
    execs: lines.filter((l) => l.includes('execve') && / = 0$/.test(l)).length,
    forks: lines.filter((l) => /\b(clone3?|v?fork)\b/.test(l) && / = [1-9]\d*$/.test(l)).length,
  };
}

/** CPU ms (user + system, children included) of one run: 10 runs timed together, median of RUNS. */
function cpuMs(path: string): number {
  const samples: number[] = [];
  for (let k = 0; k < RUNS; k++) {
    const [u, s] = on(`/usr/bin/time -f '%U %S' sh -c 'for i in 1 2 3 4 5 6 7 8 9 10; do sh ${path} >/dev/null 2>&1; done' 2>&1 >/dev/null | tail -n 1`)
      .trim()
      .split(' ')
      .map(Number);
    samples.push(((u! + s!) * 1000) / 10);
  }
  return median(samples);
}

if (!values['no-up']) {
  lab.up({ hosts: 1, proof: true });
}
const inv = lab.writeInventory('facts-bench', { routers: [1] });
if (!values['no-up']) {
  const a = lab.tprunInCtl(['apply', inv]);
  if (a.code !== 2 && a.code !== 0) throw new Error(`apply exited ${a.code}\n${a.out}${a.err}`);
}
const host = loadInventory(inv).inventory!.hosts.find((h) => h.name === 'h1')!;
const facts = hostFacts(host, ROLES);
const check = preamble('check', { run: 'bench', user: 'bench', controller: 'bench' }, 0) + factsScript(facts) + settledCheck('check');
put('/run/tprun-check.sh', check);
const out = on('sh /run/tprun-check.sh');
const raw = parseFactsOutput(out);
if (values.record) writeFileSync(values.record, JSON.stringify(raw, null, 1) + '\n');

const load = loadavg()
  .map((x) => x.toFixed(2))
  .join(' ');
const whole = processes('/run/tprun-check.sh');
const cpu = cpuMs('/run/tprun-check.sh');
put('/run/tprun-empty.sh', PRELUDE + '\n');
const base = processes('/run/tprun-empty.sh');
const rows: [string, number, number][] = [];
const seen = new Set<string>();
for (const f of facts) {
  if (seen.has(f.id)) continue;
  seen.add(f.id);
  put('/run/tprun-one.sh', factsScript([f]));
  const p = processes('/run/tprun-one.sh');
  rows.push([f.id, p.execs - base.execs, p.forks - base.forks]);
}
console.log(`lab router h1 (compliant, ${Object.keys(raw).length} facts); load average ${load} at the start, ${loadavg()[0]!.toFixed(2)} at the end`);
console.log(
  `check script: ${check.split('\n').length} lines, ${whole.execs} processes exec'd (the shell included), ${whole.forks} forks; CPU ${cpu.toFixed(1)} ms per run (median of ${RUNS} × 10 runs)`,
);
console.log('per fact, alone (execs, forks):');
for (const [id, e, f] of rows.sort((a, b) => b[1] - a[1] || b[2] - a[2])) console.log(`  ${id}: ${e}, ${f}`);
if (!values.keep) lab.down();
