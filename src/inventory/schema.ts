/** JSON-schema validation of the inventory, with each error mapped back to FILE:LINE:COL. */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { isIP } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { ErrorObject } from 'ajv/dist/2020.js';
import type { Diagnostic } from '../diagnostics.ts';
import { shown, type InventorySource, type PathSeg } from './source.ts';
import { isCidr } from './address.ts';
import type { RoleSettings } from '../role/contract.ts';

type JsonSchema = Record<string, unknown>;

/**
 * The whole inventory schema: the shared part (hosts, groups, ssh, tproxy) with each role's
 * settings schema under its key. scripts/schema.ts writes it to schemas/inventory.schema.json
 * for editors; a test keeps that file equal to this.
 */
export function inventorySchema(roles: readonly { settings?: RoleSettings }[]): JsonSchema {
  const base = JSON.parse(readFileSync(new URL('./base.schema.json', import.meta.url), 'utf8')) as JsonSchema;
  delete base.$comment;
  const vars = (base.$defs as Record<string, JsonSchema>).vars!;
  const props = vars.properties as Record<string, JsonSchema>;
  for (const r of roles) {
    if (!r.settings) continue;
    const { $comment: _, ...schema } = r.settings.schema;
    props[r.settings.key] = schema;
  }
  return base;
}

// ajv is CommonJS and loaded only when a schema is compiled here (a clone, a test's own roles, a
// schema that is not the one dist/ was built with): the installed package validates with the
// code scripts/build.mjs generated (standaloneSource), so it loads neither ajv's compiler nor
// its plugins, and compiles nothing (0.3 s of `tprun validate`, issue #24).
const require = createRequire(import.meta.url);
type AjvT = import('ajv/dist/2020.js').default;
type Plugin = (ajv: AjvT, opts?: unknown) => AjvT;
const cjs = <T>(m: unknown): T => ((m as { default?: T }).default ?? m) as T;

type Validate = ((data: unknown) => boolean) & { errors?: ErrorObject[] | null };

/** The formats that are functions: generated code receives them, as it cannot import them. */
const FORMATS: Record<string, (v: string) => boolean> = { ip: (v: string) => isIP(v) !== 0, 'ip-or-cidr': isCidr };

function newAjv(standalone = false): AjvT {
  const AjvCtor = cjs<new (opts: object) => AjvT>(require('ajv/dist/2020.js'));
  const { _ } = require('ajv/dist/compile/codegen/index.js') as typeof import('ajv/dist/compile/codegen/index.js');
  const code = standalone ? { code: { source: true, formats: _`formats` } } : {};
  const ajv = new AjvCtor({ allErrors: true, strict: true, strictRequired: false, allowUnionTypes: true, ...code });
  cjs<Plugin>(require('ajv-formats'))(ajv, ['hostname']);
  for (const [name, f] of Object.entries(FORMATS)) ajv.addFormat(name, f);
  cjs<Plugin>(require('ajv-errors'))(ajv);
  return ajv;
}

/** The groups whose entries are validated one by one, with the schema of an entry. */
const GROUPS = { routers: 'router', bridges: 'bridgeHost', wccp_peers: 'wccpPeer' } as const;

export interface Validators {
  schema: JsonSchema;
  /** The document without the group entries' contents (names, counts, defaults, the rest). */
  top: Validate;
  /** One entry of a group. */
  entry: Record<keyof typeof GROUPS, Validate>;
}
const compiled = new WeakMap<object, Validators>();

/** What a generated module was generated from: the whole schema, so a stale one is never used. */
const schemaKey = (schema: JsonSchema) => createHash('sha256').update(JSON.stringify(schema)).digest('hex');

/** An ajv instance holding the whole schema and the top-level one (they share their $id's base). */
function schemaAjv(schema: JsonSchema, standalone = false): { ajv: AjvT; topId: string } {
  const ajv = newAjv(standalone);
  const top = structuredClone(schema);
  top.$id = String(schema.$id).replace(/\.schema\.json$/, '-top.schema.json');
  for (const g of Object.keys(GROUPS)) delete ((top.properties as Record<string, JsonSchema>)[g] as JsonSchema).additionalProperties;
  ajv.addSchema(schema);
  ajv.addSchema(top);
  return { ajv, topId: String(top.$id) };
}
const entryId = (schema: JsonSchema, group: keyof typeof GROUPS) => `${String(schema.$id)}#/$defs/${GROUPS[group]}`;

/** Compiled here, at run time. */
function compileValidators(schema: JsonSchema): Validators {
  const { ajv, topId } = schemaAjv(schema);
  const get = (id: string) => ajv.getSchema(id)! as Validate;
  return {
    schema,
    top: get(topId),
    entry: { routers: get(entryId(schema, 'routers')), bridges: get(entryId(schema, 'bridges')), wccp_peers: get(entryId(schema, 'wccp_peers')) },
  };
}

/**
 * The validators as a CommonJS module of ajv's standalone code (scripts/build.mjs writes it to
 * dist/): `module.exports(formats, require)` returns them, `module.exports.schemaKey` says for which schema.
 */
export function standaloneSource(roles: readonly { settings?: RoleSettings }[]): string {
  const schema = inventorySchema(roles);
  const { ajv, topId } = schemaAjv(schema, true);
  const standaloneCode = cjs<(ajv: AjvT, refs: Record<string, string>) => string>(require('ajv/dist/standalone/index.js'));
  const code = standaloneCode(ajv, {
    top: topId,
    routers: entryId(schema, 'routers'),
    bridges: entryId(schema, 'bridges'),
    wccp_peers: entryId(schema, 'wccp_peers'),
  });
  // The formats the code takes from its caller must be ones it is given.
  for (const m of code.matchAll(/\bformats(?:\.([\w$]+)|\["([^"]+)"\])/g)) {
    const name = m[1] ?? m[2]!;
    if (!Object.hasOwn(FORMATS, name)) throw new Error(`standalone validators: format "${name}" is not in FORMATS`);
  }
  return [
    '// Generated by scripts/build.mjs from the inventory schema (src/inventory/schema.ts standaloneSource): do not edit.',
    // `require` is the caller's, so ajv's run-time helpers resolve from the package, wherever this is.
    `module.exports = function validators(formats, require) {\nconst exports = {};\n${code}\nreturn exports;\n};`,
    `module.exports.schemaKey = ${JSON.stringify(schemaKey(schema))};`,
    '',
  ].join('\n');
}

/** Where scripts/build.mjs puts the generated module: beside this file in dist/ (never in src/). */
export const STANDALONE_FILE = 'validators.generated.cjs';

/** The generated validators in `file`, when they were generated from this schema. */
export function standaloneValidators(file: string | URL, roles: readonly { settings?: RoleSettings }[]): Validators | undefined {
  const path = typeof file === 'string' ? file : fileURLToPath(file);
  if (!existsSync(path)) return undefined;
  const schema = inventorySchema(roles);
  const mod = require(path) as ((formats: typeof FORMATS, req: NodeJS.Require) => Record<'top' | keyof typeof GROUPS, Validate>) & { schemaKey: string };
  if (mod.schemaKey !== schemaKey(schema)) return undefined;
  const v = mod(FORMATS, require);
  return { schema, top: v.top, entry: { routers: v.routers, bridges: v.bridges, wccp_peers: v.wccp_peers } };
}

/**
 * Once per role list: the generated ones when they match the schema, else compiled (an ajv
 * instance each, as the schemas share their $id). Entries are validated one at a time:
 * ajv-errors looks through every error so far at each errorMessage, so one validation of many
 * broken hosts would cost the square of their errors.
 */
function validatorFor(roles: readonly { settings?: RoleSettings }[]): Validators {
  let v = compiled.get(roles);
  if (!v) {
    v = standaloneValidators(new URL(`./${STANDALONE_FILE}`, import.meta.url), roles) ?? compileValidators(inventorySchema(roles));
    compiled.set(roles, v);
  }
  return v;
}

const pointer = (key: string) => key.replace(/~/g, '~0').replace(/\//g, '~1');

/** Every schema error of the document: the top level, then each group entry on its own. */
function validationErrors(v: Validators, data: unknown): ErrorObject[] {
  const errors: ErrorObject[] = [];
  if (!v.top(data)) errors.push(...(v.top.errors ?? []));
  if (!data || typeof data !== 'object' || Array.isArray(data)) return errors;
  for (const group of Object.keys(GROUPS) as (keyof typeof GROUPS)[]) {
    const entries = Object.hasOwn(data, group) ? (data as Record<string, unknown>)[group] : undefined;
    if (!entries || typeof entries !== 'object' || Array.isArray(entries)) continue;
    for (const [name, value] of Object.entries(entries)) {
      const validate = v.entry[group];
      if (validate(value)) continue;
      const prefix = `/${group}/${pointer(name)}`;
      for (const e of validate.errors ?? []) errors.push({ ...e, instancePath: prefix + e.instancePath });
    }
  }
  return errors;
}

/** Keys the schema allows at an instance path, for did-you-mean hints. */
function allowedKeys(schema: JsonSchema, path: readonly PathSeg[]): string[] {
  // Walk the schema along the path; good enough for the fixed shape of our schema.
  const defs = (schema.$defs ?? {}) as Record<string, Record<string, unknown>>;
  const resolve = (s: Record<string, unknown> | undefined): Record<string, unknown> | undefined => {
    if (s && typeof s.$ref === 'string') {
      const base = defs[s.$ref.replace('#/$defs/', '')];
      const props = { ...((base?.properties as object) ?? {}), ...((s.properties as object) ?? {}) };
      return { ...base, ...s, properties: props, $ref: base?.$ref };
    }
    return s;
  };
  let node: Record<string, unknown> | undefined = resolve(schema);
  for (const seg of path) {
    if (!node) return [];
    const props = node.properties as Record<string, Record<string, unknown>> | undefined;
    if (typeof seg === 'number') node = resolve(node.items as Record<string, unknown>);
    else if (props && Object.hasOwn(props, seg)) node = resolve(props[seg]);
    else node = resolve(node.additionalProperties as Record<string, unknown>);
    node = resolve(node);
  }
  return Object.keys((node?.properties as object) ?? {});
}

/** Distance where swapping two neighbouring letters counts as one typo (Damerau). */
export function typoDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
}

export function didYouMean(word: string, candidates: readonly string[]): string | undefined {
  // A typo is a short word: a long one (or a long list) would cost length × length × candidates.
  if (word.length > 64 || candidates.length > 1000) return undefined;
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = typoDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestD) [best, bestD] = [c, d];
  }
  return best !== undefined && bestD <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

function toPath(instancePath: string): PathSeg[] {
  if (!instancePath) return [];
  return instancePath
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s));
}

/** A path for a message: each key bounded and on one line, whatever the inventory holds. */
const dotted = (path: readonly PathSeg[]) => path.map((p) => shown(String(p))).join('.');

function describe(e: ErrorObject, path: readonly PathSeg[]): string {
  const where = path.length ? dotted(path) : 'inventory';
  switch (e.keyword) {
    case 'type':
      return `${where}: expected ${e.params.type}`;
    case 'required':
      return `${where}: missing required key "${e.params.missingProperty}"`;
    case 'enum':
      return `${where}: must be one of ${(e.params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
    case 'uniqueItems':
      return `${where}: items ${e.params.j} and ${e.params.i} are the same`;
    case 'minItems':
      return `${where}: must not be empty`;
    default:
      return `${where}: ${e.message}`;
  }
}

export interface SchemaResult {
  diagnostics: Diagnostic[];
  /** Top-level entries with errors ("defaults", "routers/c1", ...), so later checks can skip them. */
  broken: Set<string>;
}

/** `validators`: a test's, to compare the generated ones with those compiled at run time. */
export function schemaDiagnostics(
  src: InventorySource,
  data: unknown,
  roles: readonly { settings?: RoleSettings }[],
  v: Validators = validatorFor(roles),
): SchemaResult {
  const broken = new Set<string>();
  const { schema } = v;
  const errors = validationErrors(v, data);
  if (!errors.length) return { diagnostics: [], broken };
  const out: Diagnostic[] = [];
  const seen = new Set<string>();
  for (const e of errors) {
    // Every rule is enforced (pattern and format included): only the failures of single anyOf
    // branches are left out, as the anyOf's own error (with its errorMessage) sums them up.
    if (e.schemaPath.includes('/anyOf/')) continue;
    let path = toPath(e.instancePath);
    broken.add(path.length === 0 ? '' : path[0] === 'defaults' ? 'defaults' : path.slice(0, 2).join('/'));
    let message: string;
    let onKey = false;
    if (e.keyword === 'additionalProperties' || e.keyword === 'unevaluatedProperties') {
      const key = String(e.params.additionalProperty ?? e.params.unevaluatedProperty);
      const hint = didYouMean(key, allowedKeys(schema, path));
      path = [...path, key];
      onKey = true;
      message = `unknown key "${shown(key)}"${hint ? ` (did you mean "${hint}"?)` : ''}`;
    } else if (e.keyword === 'propertyNames') {
      continue; // reported by the errorMessage on the name itself
    } else if (e.keyword === 'errorMessage') {
      const inner = (e.params.errors as ErrorObject[] | undefined)?.[0];
      if (inner?.propertyName !== undefined) {
        path = [...path, inner.propertyName];
        onKey = true;
      }
      message = `${path.length ? dotted(path) + ': ' : ''}${e.message}`;
    } else {
      message = describe(e, path);
    }
    const pos = src.at(path, onKey);
    const id = `${pos.line}:${pos.col}:${message}`;
    if (seen.has(id)) continue;
    seen.add(id);
    out.push({ severity: 'error', message, at: pos });
  }
  return { diagnostics: out.sort((a, b) => a.at!.line - b.at!.line || a.at!.col - b.at!.col), broken };
}
