// `npm run schema`: writes schemas/inventory.schema.json (for editors) from the shared schema and
// every role's settings schema. test/schema.test.ts fails when the file is out of date.
import { writeFileSync } from 'node:fs';
import { inventorySchema } from '../src/inventory/schema.ts';
import { ROLES } from '../roles/registry.ts';

export const SCHEMA_FILE = new URL('../schemas/inventory.schema.json', import.meta.url);
export const schemaText = () => JSON.stringify(inventorySchema(ROLES), null, 2) + '\n';

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) {
  writeFileSync(SCHEMA_FILE, schemaText());
  console.log('wrote schemas/inventory.schema.json');
}
