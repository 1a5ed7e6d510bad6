import { readFileSync } from 'node:fs';
import Ajv2020 from 'ajv/dist/2020.js';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ROLES } from '../roles/registry.ts';
import { SCHEMA_FILE, schemaText } from '../scripts/schema.ts';

test('schemas/inventory.schema.json is the shared schema plus every role settings schema (run npm run schema)', () => {
  assert.fixture(readFileSync(SCHEMA_FILE, 'utf8'), schemaText());
});

test("each role with settings owns exactly its key in the schema's host vars", () => {
  const vars = JSON.parse(schemaText()).$defs.vars.properties as Record<string, unknown>;
  const keys = ROLES.flatMap((r) => (r.settings ? [r.settings.key] : []));
  assert.equal(Object.keys(vars).sort(), ['ssh', 'tproxy', ...keys].sort());
});

test('the editor schema accepts x- keys anywhere (the loader drops them) and still flags an unknown key', () => {
  type AjvT = import('ajv/dist/2020.js').default;
  const Ajv = ((Ajv2020 as unknown as { default?: unknown }).default ?? Ajv2020) as new (o: object) => AjvT;
  const validate = new Ajv({ strict: false, validateFormats: false }).compile(JSON.parse(schemaText()) as object);
  const doc = (extra: object) => ({
    'x-common': { note: 'anchors live here' },
    routers: { r1: { address: '198.51.100.10', 'x-note': 'rack 4', ...extra } },
  });
  assert.ok(validate(doc({})), JSON.stringify(validate.errors));
  assert.not.ok(validate(doc({ adress: '198.51.100.11' })));
});

test.run();
