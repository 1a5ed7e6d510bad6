// `npm run schema`: writes schemas/inventory.schema.json (for editors) from the shared schema and
// every role's settings schema, and each role's settings type (roles/<name>/settings.ts) from its
// schema and defaults, and the shared ssh and tproxy types (src/inventory/vars.ts) from
// base.schema.json and defaults.yml. test/schema.test.ts fails when one is out of date.
import { readFileSync, writeFileSync } from 'node:fs';
import { parse } from 'yaml';
import { inventorySchema } from '../src/inventory/schema.ts';
import { ROLES } from '../roles/registry.ts';
import { settingsTypeText, sharedVarsText } from './settings-types.ts';

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

const OCTET = '(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])';
/** Editors know the standard formats only: tprun's own (validated by its loader) as standard ones and patterns. */
const EDITOR_FORMATS: Record<string, object[]> = {
  ip: [{ format: 'ipv4' }, { format: 'ipv6' }],
  'ip-or-cidr': [
    { format: 'ipv4' },
    { format: 'ipv6' },
    { pattern: `^(${OCTET}\\.){3}${OCTET}/(3[0-2]|[12]?[0-9])$` },
    { pattern: '^[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*/(12[0-8]|1[01][0-9]|[1-9]?[0-9])$' },
  ],
};

/** So an editor checks addresses too (a custom format is one it silently ignores). */
function withEditorFormats(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(withEditorFormats);
  if (!v || typeof v !== 'object') return v;
  const o = Object.fromEntries(Object.entries(v).map(([k, x]) => [k, withEditorFormats(x)])) as Record<string, unknown>;
  const standard = typeof o.format === 'string' ? EDITOR_FORMATS[o.format] : undefined;
  if (standard) {
    delete o.format;
    o.anyOf = o.anyOf ? [{ anyOf: o.anyOf }, { anyOf: standard }] : standard;
  }
  return o;
}

export const schemaText = () => JSON.stringify(withEditorFormats(withExtensionKeys(inventorySchema(ROLES))), null, 2) + '\n';

/** Each role with settings: where its settings type goes, and its text. */
export async function settingsTypes(): Promise<{ file: URL; text: string }[]> {
  const defs = inventorySchema([]).$defs as Record<string, Record<string, unknown>>;
  const out = [];
  for (const r of ROLES) {
    if (!r.settings) continue;
    if (!r.settings.folder) throw new Error(`role ${r.name}: settings without a folder (use settingsFiles(import.meta.url))`);
    out.push({ file: new URL('settings.ts', r.settings.folder), text: await settingsTypeText(r.settings, defs) });
  }
  return out;
}

export const SHARED_VARS_FILE = new URL('../src/inventory/vars.ts', import.meta.url);

/** The types of the shared vars, ssh and tproxy (the mask and block_quic are set by the loader). */
export async function sharedVarsTypes(): Promise<string> {
  const schema = inventorySchema([]);
  const defs = schema.$defs as Record<string, Record<string, unknown>>;
  const vars = (defs.vars!.properties ?? {}) as Record<string, Record<string, unknown>>;
  const defaults = parse(readFileSync(new URL('../src/inventory/defaults.yml', import.meta.url), 'utf8')) as Record<string, unknown>;
  const shared = [
    { key: 'ssh', name: 'SshVars', filled: [] },
    { key: 'tproxy', name: 'TproxyVars', filled: ['mask', 'block_quic'] },
  ];
  return sharedVarsText(shared, vars, defs, defaults);
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) {
  writeFileSync(SCHEMA_FILE, schemaText());
  console.log('wrote schemas/inventory.schema.json');
  writeFileSync(SHARED_VARS_FILE, await sharedVarsTypes());
  console.log('wrote src/inventory/vars.ts');
  for (const { file, text } of await settingsTypes()) {
    writeFileSync(file, text);
    console.log(`wrote ${file.pathname.replace(/^.*\/(roles\/)/, '$1')}`);
  }
}
