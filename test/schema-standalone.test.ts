/**
 * The inventory's validators as generated code (ajv standalone, written into dist/ by
 * scripts/build.mjs, issue #24) give exactly the diagnostics of the ones compiled at run time,
 * on every inventory the tests hold; a module generated from another schema is never used.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ROLES } from '../roles/registry.ts';
import { formatDiagnostic } from '../src/diagnostics.ts';
import { schemaDiagnostics, standaloneSource, standaloneValidators } from '../src/inventory/schema.ts';
import { InventorySource } from '../src/inventory/source.ts';

const tmp = mkdtempSync(join(tmpdir(), 'tprun-standalone-'));
const file = join(tmp, 'validators.generated.cjs');
writeFileSync(file, standaloneSource(ROLES));

const yml = (dir: string) =>
  readdirSync(dir)
    .filter((f) => f.endsWith('.yml'))
    .sort()
    .map((f) => join(dir, f));
const CORPUS = [...yml('test/bad'), ...yml('inventories'), ...yml('test/fixtures')];

/** Broken in ways the corpus may not be: every kind of schema error, many hosts at once. */
const EXTRA: Record<string, string> = {
  'types.yml': 'routers:\n  r1: { address: 1, ssh: { port: "x" }, tproxy: [] }\n  r2: []\nbridges: 3\n',
  'formats.yml': 'routers:\n  r1: { address: 198.51.100.300 }\n  r2: { address: "-bad-" , tproxy: { bypass: [{ source: 10.0.0.0/33 }] } }\n',
  'keys.yml': 'defaults: { tprxy: {} }\nrouters:\n  r1: { adress: 198.51.100.1, "x-ok": 1, "bad key": 2 }\nwccp_peers: { w: { adress: 1 } }\nextra: 1\n',
  'many.yml': `routers:\n${Array.from({ length: 40 }, (_, i) => `  r${i}: { address: 198.51.100.${i}, ssh: { port: ${70000 + i} } }`).join('\n')}\n`,
};
for (const [name, text] of Object.entries(EXTRA)) writeFileSync(join(tmp, name), text);
CORPUS.push(...Object.keys(EXTRA).map((n) => join(tmp, n)));

const lines = (src: InventorySource, data: unknown, v?: Parameters<typeof schemaDiagnostics>[3]) => {
  const r = schemaDiagnostics(src, data, ROLES, v);
  return { lines: r.diagnostics.map((d) => formatDiagnostic(d)), broken: [...r.broken].sort() };
};

test('the generated validators are the ones used for this schema', () => {
  assert.ok(standaloneValidators(file, ROLES));
  assert.is(standaloneValidators(join(tmp, 'none.cjs'), ROLES), undefined, 'no module: compiled at run time');
  // Another role list is another schema: its own settings key makes the module stale.
  const other = [...ROLES, { settings: { key: 'extra', schema: { type: 'object' }, defaults: {} } }];
  assert.is(standaloneValidators(file, other), undefined, 'a module of another schema is not used');
});

test('the generated module compiles nothing and names only ajv runtime helpers', () => {
  const code = readFileSync(file, 'utf8');
  const required = [...code.matchAll(/require\("([^"]+)"\)/g)].map((m) => m[1]!);
  assert.ok(required.length > 0);
  for (const r of required) assert.match(r, /^ajv\/dist\/runtime\//, r);
  assert.not.match(code, /new Function|\bcompile\(/);
});

test(`generated and compiled validators: the same diagnostics, byte for byte, on ${CORPUS.length} inventories`, () => {
  const v = standaloneValidators(file, ROLES)!;
  let errors = 0;
  for (const path of CORPUS) {
    const src = InventorySource.read(path);
    if (!(src instanceof InventorySource)) continue;
    const parsed = src.data();
    if ('diagnostic' in parsed) continue;
    const compiled = lines(src, parsed.value ?? {});
    assert.equal(lines(src, parsed.value ?? {}, v), compiled, path);
    errors += compiled.lines.length;
  }
  assert.ok(errors > 100, `the corpus gives schema errors to compare (${errors})`);
});

test.after(() => rmSync(tmp, { recursive: true, force: true }));
test.run();
