/**
 * Property-based fuzzing of `tprun validate` (issue #12): mutations of the example inventories
 * and of the bad corpus (test/bad/*.yml). Whatever the text, validate exits 0 or 1, prints no
 * stack trace, gives every error a FILE:LINE:COL, and a valid result holds no string with a
 * control character (nothing can add a line to a rendered file); render does not throw.
 *
 * CI runs a fixed seed. For a longer run:
 *   TPRUN_FUZZ_RUNS=50000 TPRUN_FUZZ_SEED=$RANDOM node --import tsx node_modules/uvu/bin.js test fuzz
 * A failure prints the seed and the path to replay it (fast-check's counterexample).
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { main } from '../src/cli/main.ts';
import { capture } from './scripted.ts';
import { formatDiagnostic } from '../src/diagnostics.ts';
import { loadInventoryFromSource } from '../src/inventory/load.ts';
import { InventorySource } from '../src/inventory/source.ts';
import { renderFiles } from '../src/render/render.ts';
import { ROLES } from '../roles/registry.ts';

const RUNS = Number(process.env.TPRUN_FUZZ_RUNS ?? 3000);
const SEED = Number(process.env.TPRUN_FUZZ_SEED ?? 20261122);

const SEEDS = [
  readFileSync('inventories/example.yml', 'utf8'),
  readFileSync('inventories/lab.yml', 'utf8'),
  ...readdirSync('test/bad')
    .filter((f) => f.endsWith('.yml'))
    .sort()
    .map((f) => readFileSync(`test/bad/${f}`, 'utf8')),
];

/** Pieces that have broken YAML loaders and validators before. */
const TOKENS = [
  '\n',
  ': ',
  '- ',
  '  ',
  '\t',
  '{',
  '}',
  '[',
  ']',
  ',',
  '"',
  "'",
  '#',
  '? ',
  '|\n',
  '>\n',
  '---\n',
  '...\n',
  '%YAML 1.1\n',
  '&a ',
  '&b ',
  '*a',
  '*b',
  '*a ',
  '<<: *a\n',
  '!secret ',
  '!!map ',
  '!!str ',
  '!!binary ',
  '!foo ',
  '\x1b]0;x\x07',
  '\x1b[2J',
  '\r',
  '\x00',
  '\x85',
  '\u2028',
  '\u202e',
  '\ufeff',
  '\ud800',
  '"\\e[31m"',
  '"a\\nb"',
  '"\\x00"',
  'constructor',
  '__proto__',
  'toString',
  'hasOwnProperty',
  'prototype',
  '4294967295',
  '4294967296',
  '2147483648',
  '-1',
  '0',
  '1e309',
  '.nan',
  '0x80000000',
  '0o777',
  '3000000',
  '1.5',
  'null',
  '~',
  'true',
  'no',
  '2001:DB8:0::1',
  '2001:db8::1',
  '198.51.100.10',
  '::',
  '/../',
  '/./',
  '//',
  '$(reboot)',
  '`id`',
  ';',
  '&&',
  '|',
  '>',
  'http_access allow all',
  'login=u:p',
  'interface Gi0/2',
  'shutdown',
  'reload',
  'routers:',
  'bridges:',
  'defaults:',
  'wccp_peers:',
  'squid:',
  'extra:',
  'caches:',
  'address:',
  'tproxy:',
  'mark:',
  'mask:',
  'ssh:',
];

type Op =
  | { kind: 'insert'; at: number; text: string }
  | { kind: 'delete'; at: number; length: number }
  | { kind: 'replace'; at: number; length: number; text: string }
  | { kind: 'duplicateLine'; line: number }
  | { kind: 'swapLines'; a: number; b: number };

const text = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...TOKENS) },
  { weight: 1, arbitrary: fc.string({ maxLength: 12, unit: 'binary' }) },
  { weight: 1, arbitrary: fc.string({ maxLength: 6 }) },
);
const fraction = fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true });
const op: fc.Arbitrary<Op> = fc
  .oneof(
    { weight: 4, arbitrary: fc.record({ kind: fc.constant('insert' as const), at: fraction, text }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('delete' as const), at: fraction, length: fc.integer({ min: 1, max: 12 }) }) },
    { weight: 3, arbitrary: fc.record({ kind: fc.constant('replace' as const), at: fraction, length: fc.integer({ min: 1, max: 8 }), text }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('duplicateLine' as const), line: fraction }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('swapLines' as const), a: fraction, b: fraction }) },
  )
  .map((o) => o as Op);

function apply(src: string, ops: readonly Op[]): string {
  let s = src;
  for (const o of ops) {
    if (o.kind === 'duplicateLine' || o.kind === 'swapLines') {
      const lines = s.split('\n');
      const pick = (f: number) => Math.floor(f * lines.length);
      if (o.kind === 'duplicateLine') lines.splice(pick(o.line), 0, lines[pick(o.line)]!);
      else [lines[pick(o.a)], lines[pick(o.b)]] = [lines[pick(o.b)]!, lines[pick(o.a)]!];
      s = lines.join('\n');
      continue;
    }
    const at = Math.floor(o.at * (s.length + 1));
    if (o.kind === 'insert') s = s.slice(0, at) + o.text + s.slice(at);
    else if (o.kind === 'delete') s = s.slice(0, at) + s.slice(at + o.length);
    else s = s.slice(0, at) + o.text + s.slice(at + o.length);
  }
  return s;
}

const CONTROL = /[\x00-\x1f\x7f-\x9f\u2028\u2029]/;

/** Every string a valid inventory holds for hosts and peers: none may carry a control character. */
function strings(v: unknown, path = ''): [string, string][] {
  if (typeof v === 'string') return [[path, v]];
  if (Array.isArray(v)) return v.flatMap((x, i) => strings(x, `${path}.${i}`));
  if (v && typeof v === 'object') return Object.entries(v).flatMap(([k, x]) => [[`${path}.<key>`, k] as [string, string], ...strings(x, `${path}.${k}`)]);
  return [];
}

// /dev/shm when there is one: thousands of small writes cost seconds on some disks.
const dir = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'tprun-fuzz-'));
const file = join(dir, 'fuzz.yml');

/** `tprun validate` in this process, its output captured. */
async function validate(): Promise<{ code: number; err: string }> {
  const err = capture();
  try {
    return { code: await main(['validate', file], { out: capture(), err, env: process.env }), err: err.text() };
  } catch (x) {
    return { code: -1, err: `THROWN: ${(x as Error).stack}` };
  }
}

test(`validate survives ${RUNS} mutations of the example and the bad corpus (seed ${SEED})`, async () => {
  const t0 = performance.now();
  let valid = 0;
  await fc.assert(
    // Half the runs start from a valid inventory (example, lab), half from the bad corpus.
    fc.asyncProperty(fc.oneof(fc.nat({ max: 1 }), fc.nat({ max: SEEDS.length - 1 })), fc.array(op, { minLength: 1, maxLength: 4 }), async (which, ops) => {
      const mutated = apply(SEEDS[which]!, ops);
      // The loader itself: no exception, every error positioned.
      const r = loadInventoryFromSource(InventorySource.fromText(file, mutated));
      for (const d of r.diagnostics) {
        assert.ok(d.at && d.at.line >= 1 && d.at.col >= 1, `error without a position: ${d.message}`);
        // Lines of its own (the quoted line and its caret) are fine; a control character within one is not.
        for (const l of formatDiagnostic(d).split('\n')) assert.not.match(l, CONTROL, `raw control character in: ${JSON.stringify(l)}`);
      }
      if (r.inventory) {
        valid++;
        for (const [path, s] of strings({ hosts: r.inventory.hosts, peers: r.inventory.peers }))
          assert.not.match(s, CONTROL, `valid inventory holds ${JSON.stringify(s)} at ${path}`);
        renderFiles(r.inventory, ROLES);
      }
      // The CLI: exit 0 or 1, no stack trace, every line positioned or the summary.
      writeFileSync(file, mutated);
      const v = await validate();
      assert.ok(v.code === 0 || v.code === 1, `exit ${v.code}: ${v.err}`);
      assert.is(v.code === 0, !!r.inventory);
      for (const line of v.err.split('\n').filter(Boolean)) {
        if (/^ {4}(\d+| +) \| /.test(line)) continue; // a syntax error's quoted line and caret
        assert.ok(line.startsWith(`${file}:`) && (/^.+:\d+:\d+: /.test(line) || / errors?; no host was contacted$/.test(line)), `unpositioned output: ${line}`);
      }
    }),
    { numRuns: RUNS, seed: SEED, endOnFailure: false },
  );
  const s = (performance.now() - t0) / 1000;
  console.log(`  fuzz: ${RUNS} runs in ${s.toFixed(1)} s (seed ${SEED}; ${valid} mutations still valid)`);
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();
