// `npm run schema`: writes schemas/inventory.schema.json (for editors) from the shared schema and
// every role's settings schema. test/schema.test.ts fails when the file is out of date.
import { writeFileSync } from 'node:fs';
import { inventorySchema } from '../src/inventory/schema.ts';
import { ROLES } from '../roles/registry.ts';

export const SCHEMA_FILE = new URL('../schemas/inventory.schema.json', import.meta.url);
/**
 * For editors: x- keys (anchors to merge with <<, notes) are allowed in every mapping, as the
 * loader drops them before validation; without this an editor flags each one.
 */
function withExtensionKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(withExtensionKeys);
  if (!v || typeof v !== 'object') return v;
  const o = Object.fromEntries(Object.entries(v).map(([k, x]) => [k, withExtensionKeys(x)])) as Record<string, unknown>;
  if ((o.additionalProperties === false && o.properties) || o.unevaluatedProperties === false)
    o.patternProperties = { '^x-': {}, ...(o.patternProperties as object | undefined) };
  return o;
}

export const schemaText = () => JSON.stringify(withExtensionKeys(inventorySchema(ROLES)), null, 2) + '\n';

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) {
  writeFileSync(SCHEMA_FILE, schemaText());
  console.log('wrote schemas/inventory.schema.json');
}
