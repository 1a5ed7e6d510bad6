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
  // Kinds this machine cannot produce (no GRE, broute or SELinux) are recorded on the VM lab.
  assert.equal(missing.filter((k) => !['link', 'ebtables.save', 'ebtables.broute', 'tool.ebtables', 'os.release'].includes(k)), []);
});

test.run();
