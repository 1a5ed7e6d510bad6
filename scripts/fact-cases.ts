// Turns a recording (scripts/record-facts.ts output) into parser cases under test/facts/<kind>/:
// node --import tsx scripts/fact-cases.ts test/fixtures/facts/router-compliant.json router
// Review each new case's "parsed" value before committing it: it becomes the expected result.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import type { RawFacts } from '../src/facts/fact.ts';
import { asJson, FACT_KINDS, kindOf } from '../test/fact-kinds.ts';

const [recording, label] = process.argv.slice(2);
if (!recording || !label) throw new Error('usage: fact-cases.ts RECORDING.json LABEL');
const raw = JSON.parse(readFileSync(recording, 'utf8')) as RawFacts;
// One case per kind from each recording: several files or tables of one host add little.
const seen = new Set<string>();
for (const [id, r] of Object.entries(raw)) {
  const kind = kindOf(id);
  const fact = kind === undefined ? undefined : FACT_KINDS[kind];
  if (kind === undefined || !fact) {
    console.log(`no parser for ${id} (no role reads it on the sample hosts of test/fact-kinds.ts)`);
    continue;
  }
  if (seen.has(kind)) continue;
  seen.add(kind);
  const dir = `test/facts/${kind}`;
  const out = `${dir}/${label}.json`;
  if (existsSync(out)) continue;
  mkdirSync(dir, { recursive: true });
  writeFileSync(out, JSON.stringify({ id, stdout: r.stdout, code: r.code, parsed: asJson(fact.parse(r)) }, null, 1) + '\n');
  console.log(`wrote ${out}`);
}
