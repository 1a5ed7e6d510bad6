/**
 * The bad-inventory corpus (test/bad/*.yml): each file names in "# expect:" header lines the
 * exact FILE:LINE:COL: message lines `tprun validate` must print, and nothing else as errors;
 * "# shows:" lines are more lines it must print (a quoted line and its caret), in that order.
 * Plus the inputs a file cannot hold: a FIFO, a device, a directory, an oversized file, a huge key.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { main } from '../src/cli/main.ts';
import { capture } from './scripted.ts';
import { formatDiagnostic } from '../src/diagnostics.ts';
import { loadInventory } from '../src/inventory/load.ts';
import { InventorySource } from '../src/inventory/source.ts';

/** Runs the CLI in this process and captures what it writes. */
export async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out = capture();
  const err = capture();
  const code = await main(args, { out, err, env: process.env });
  return { code, out: out.text(), err: err.text() };
}

const FILES = readdirSync('test/bad')
  .filter((f) => f.endsWith('.yml'))
  .sort();

test('the corpus has at least 40 bad inventories, each with expected messages', () => {
  assert.ok(FILES.length >= 40, `${FILES.length} files`);
  for (const f of FILES) assert.ok(readFileSync(`test/bad/${f}`, 'utf8').includes('\n# expect: '), `${f} has no "# expect:" line`);
});

for (const f of FILES) {
  test(`bad/${f}`, async () => {
    const path = `test/bad/${f}`;
    const expected = readFileSync(path, 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('# expect: '))
      .map((l) => l.slice('# expect: '.length));
    const shows = readFileSync(path, 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('# shows: '))
      .map((l) => l.slice('# shows: '.length));
    const errors = loadInventory(path).diagnostics.filter((d) => d.severity === 'error');
    assert.equal(
      errors.map((d) => formatDiagnostic(d).split('\n')[0]),
      expected,
    );
    for (const d of errors) assert.ok(d.at && d.at.line > 0 && d.at.col > 0, `no position: ${d.message}`);
    const r = await cli(['validate', path]);
    assert.is(r.code, 1);
    for (const line of expected) assert.ok(r.err.includes(line + '\n'), `the CLI does not print: ${line}\n${r.err}`);
    if (shows.length) assert.ok(r.err.includes(shows.join('\n') + '\n'), `the CLI does not print:\n${shows.join('\n')}\n${r.err}`);
    assert.not.match(r.err, /^\s+at .*\(.*:\d+:\d+\)$/m, 'a stack trace');
  });
}

const dir = mkdtempSync(join(tmpdir(), 'tprun-bad-'));

test('a FIFO, a device and a directory are refused without reading them', async () => {
  const fifo = join(dir, 'fifo.yml');
  if (spawnSync('mkfifo', [fifo]).status === 0) {
    const r = await cli(['validate', fifo]); // would hang if the FIFO were opened for a blocking read
    assert.is(r.code, 1);
    assert.match(r.err, /fifo\.yml: cannot read the inventory \(not a regular file: a FIFO, socket or device is not an inventory\)/);
  }
  const zero = await cli(['validate', '/dev/zero']);
  assert.is(zero.code, 1);
  assert.match(zero.err, /^\/dev\/zero: cannot read the inventory \(not a regular file/m);
  // A directory is an inventory of its *.yml files (#16): the FIFO and device among them are refused unread.
  const d = await cli(['validate', dir]);
  assert.is(d.code, 1);
  assert.match(d.err, /cannot read the inventory \(not a regular file/);
});

test('a file over the size cap is refused before it is parsed', () => {
  const big = join(dir, 'big.yml');
  writeFileSync(big, 'routers:\n' + '  # padding\n'.repeat(2000));
  const r = InventorySource.read(big, 16 * 1024);
  assert.not.instance(r, InventorySource);
  assert.match((r as { message: string }).message, /big\.yml: cannot read the inventory \(\d+ bytes: larger than the 0\.015625 MiB limit\)/);
  assert.instance(InventorySource.read(big), InventorySource);
});

test('a 3 MB key is an error, with the key shortened', () => {
  const huge = join(dir, 'huge.yml');
  writeFileSync(huge, `defaults:\n  ? "${'k'.repeat(3_000_000)}"\n  : 1\nrouters:\n  c1: { address: 198.51.100.10 }\n`);
  const r = loadInventory(huge);
  assert.equal(r.diagnostics.map(formatDiagnostic), [`${huge}:2:5: unknown key "${'k'.repeat(60)}…"`]);
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();
