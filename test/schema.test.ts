import { readFileSync } from 'node:fs';
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

test.run();
