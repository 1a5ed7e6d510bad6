/** Every parser on recorded output: test/facts/<kind>/<case>.json, discovered by folder. */
import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { asJson, FACT_KINDS, kindOf } from './fact-kinds.ts';

const root = 'test/facts';
for (const kind of readdirSync(root)) {
  for (const name of readdirSync(`${root}/${kind}`).filter((f) => f.endsWith('.json'))) {
    test(`${kind}: ${name}`, () => {
      const c = JSON.parse(readFileSync(`${root}/${kind}/${name}`, 'utf8')) as { id: string; stdout: string; code: number; parsed: unknown };
      assert.is(kindOf(c.id), kind, `case ${name} records ${c.id}, which is not a ${kind} fact`);
      const fact = FACT_KINDS[kind];
      assert.ok(fact, `no parser registered for ${kind} in test/fact-kinds.ts`);
      assert.equal(asJson(fact.parse({ stdout: c.stdout, code: c.code })), c.parsed);
    });
  }
}

test('every fact kind has at least one recorded case', () => {
  const have = new Set(readdirSync(root));
  const missing = Object.keys(FACT_KINDS).filter((k) => !have.has(k));
  // A GRE link exists only on a WCCP cache (the VM lab's): its cases come from there.
  assert.equal(
    missing.filter((k) => !['link', 'wccp.rp_filter'].includes(k)),
    [],
  );
});

test.run();
