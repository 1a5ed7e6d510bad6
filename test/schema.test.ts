import { readFileSync } from 'node:fs';
import Ajv2020 from 'ajv/dist/2020.js';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import addFormats from 'ajv-formats';
import { ROLES } from '../roles/registry.ts';
import { SCHEMA_FILE, SHARED_VARS_FILE, schemaText, settingsTypes, sharedVarsTypes } from '../scripts/schema.ts';
import { settingsTypeSource, settingsTypeText } from '../scripts/settings-types.ts';
import { inventorySchema } from '../src/inventory/schema.ts';

test('schemas/inventory.schema.json is the shared schema plus every role settings schema (run npm run schema)', () => {
  assert.fixture(readFileSync(SCHEMA_FILE, 'utf8'), schemaText());
});

test("each role's settings type is generated from its schema and defaults (run npm run schema)", async () => {
  const files = await settingsTypes();
  assert.is(files.length, ROLES.filter((r) => r.settings).length);
  for (const { file, text } of files) assert.fixture(readFileSync(file, 'utf8'), text, file.pathname);
});

test('the ssh and tproxy types are generated from base.schema.json and defaults.yml (run npm run schema)', async () => {
  const text = await sharedVarsTypes();
  assert.fixture(readFileSync(SHARED_VARS_FILE, 'utf8'), text);
  // A key the loader fills in is required although defaults.yml has none; one OpenSSH's config may give is not.
  assert.match(text, /\n {2}mask: number;/);
  assert.match(text, /\n {2}block_quic: boolean;/);
  assert.match(text, /\n {2}user\?: string;/);
  assert.match(text, /\n {2}jump\?: string \| string\[\];/);
});

test('a settings type: a key with a default is required, a $ref is its shared type; what it cannot type is an error', async () => {
  const defs = inventorySchema([]).$defs as Record<string, Record<string, unknown>>;
  const text = await settingsTypeText(
    {
      key: 'demo',
      schema: {
        type: 'object',
        additionalProperties: false,
        required: ['name'],
        properties: {
          name: { type: 'string' },
          port: { $ref: '#/$defs/port' },
          mode: { enum: ['a', 'b'] },
          peers: { type: 'array', items: { $ref: '#/$defs/host' } },
        },
      },
      defaults: { demo: { port: 8080 } },
    },
    defs,
  );
  assert.ok(text.includes("export interface DemoSettings {\n  name: string;\n  port: number;\n  mode?: 'a' | 'b';\n  peers?: string[];\n}"), text);
  assert.ok(text.includes('interface RoleSettings {\n    demo: DemoSettings;'), text);
  const fails = (schema: Record<string, unknown>, why: RegExp) => assert.throws(() => settingsTypeSource({ key: 'demo', schema, defaults: {} }, defs), why);
  fails({ type: 'object', properties: {} }, /additionalProperties: false/);
  fails({ if: { type: 'string' } }, /does not know "if"/);
  assert.ok(
    settingsTypeSource({ key: 'demo', schema: { oneOf: [{ type: 'string' }, { type: 'array', items: { enum: [1, 2] } }] }, defaults: {} }, defs).includes(
      '= string | (1 | 2)[];',
    ),
  );
  fails({ $ref: '#/$defs/nope' }, /unknown \$ref/);
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

test('the editor schema checks addresses with standard formats, and every key says what it is for', () => {
  type AjvT = import('ajv/dist/2020.js').default;
  const Ajv = ((Ajv2020 as unknown as { default?: unknown }).default ?? Ajv2020) as new (o: object) => AjvT;
  // As an editor would: standard formats only (an unknown format fails to compile).
  const ajv = new Ajv({ strict: false });
  (((addFormats as unknown as { default?: unknown }).default ?? addFormats) as (a: AjvT) => void)(ajv);
  const schema = JSON.parse(schemaText()) as object;
  const validate = ajv.compile(schema);
  const doc = (address: string, bypass: string) => ({ routers: { r1: { address, tproxy: { bypass: [{ source: bypass }] } } } });
  assert.ok(validate(doc('198.51.100.10', '198.51.100.0/24')), JSON.stringify(validate.errors));
  assert.ok(validate(doc('cache1.example.net', '2001:db8:c::/64')), JSON.stringify(validate.errors));
  assert.ok(validate(doc('2001:db8::10', '2001:db8:c::5')), JSON.stringify(validate.errors));
  assert.not.ok(validate(doc('198.51.100.10', '198.51.100.0/33')), 'a /33');
  assert.not.ok(validate(doc('198.51.100.10', '300.1.1.1')), 'an octet of 300');
  assert.not.ok(validate(doc('198.51.100.10', 'not-an-address')));
  // Every property an editor completes has a description.
  const bare: string[] = [];
  const walk = (node: unknown, path: string): void => {
    if (Array.isArray(node)) return node.forEach((x) => walk(x, path));
    if (!node || typeof node !== 'object') return;
    for (const [k, v] of Object.entries(node as Record<string, unknown>)) {
      if (k === 'properties' && v && typeof v === 'object')
        for (const [name, p] of Object.entries(v as Record<string, { description?: string }>)) {
          if (!p.description) bare.push(`${path}.${name}`);
          walk(p, `${path}.${name}`);
        }
      else walk(v, k === '$defs' ? path : path);
    }
  };
  walk(schema, '');
  assert.equal(bare, []);
});

test.run();
