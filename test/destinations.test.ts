/** Report and plan destinations, refused before any host is contacted (#21, #23). */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { destinationProblems } from '../src/report/destinations.ts';
import { writeByRename } from '../src/report/write.ts';

const tmp = mkdtempSync(join(tmpdir(), 'tprun-dest-'));
const inv = join(tmp, 'inv.yml');
writeFileSync(inv, 'routers: {}\n');
const json = (file: string) => ({ what: 'the json report', file });

test('a missing directory, a directory, a FIFO, /proc: one sentence each, nothing created', () => {
  mkdirSync(join(tmp, 'adir'));
  spawnSync('mkfifo', [join(tmp, 'fifo')]);
  const p = destinationProblems([json(join(tmp, 'no/such/r.json')), json(join(tmp, 'adir')), json(join(tmp, 'fifo')), json('/proc/x/y.json')], [inv]);
  assert.is(p.length, 4, p.join('\n'));
  assert.match(p[0]!, /its directory \S+\/no\/such does not exist \(ENOENT\); create it first/);
  assert.match(p[1]!, /adir exists and is not a regular file/);
  assert.match(p[2]!, /fifo exists and is not a regular file/);
  assert.match(p[3]!, /\/proc\/x\/y\.json: its directory \/proc\/x does not exist/);
  assert.equal(destinationProblems([json(join(tmp, 'ok.json'))], [inv]), []);
});

test('two reports on one path (also through a link), two on stdout, a report onto the inventory: refused', () => {
  symlinkSync(tmp, join(tmp, 'link'));
  assert.match(
    destinationProblems([json(join(tmp, 'r.json')), { what: 'the junit report', file: join(tmp, 'link/r.json') }], [])[0]!,
    /the json report and the junit report are both/,
  );
  assert.match(destinationProblems([json('-'), { what: 'the junit report', file: '-' }], [])[0]!, /would both go to standard output/);
  assert.match(destinationProblems([json(join(tmp, 'link/inv.yml'))], [inv])[0]!, /is \S+inv\.yml, which this run reads/);
});

test('a report is written by rename: a link at its path is replaced, its target untouched', () => {
  const target = join(tmp, 'precious');
  writeFileSync(target, 'keep me\n');
  const at = join(tmp, 'report.json');
  symlinkSync(target, at);
  writeByRename(at, '{}\n');
  assert.is(spawnSync('cat', [target], { encoding: 'utf8' }).stdout, 'keep me\n');
  assert.is(spawnSync('cat', [at], { encoding: 'utf8' }).stdout, '{}\n');
});

test('the CLI refuses them with exit 1 before reading a host, naming the file', () => {
  const r = spawnSync(process.execPath, ['bin/tprun.js', 'check', 'inventories/example.yml', '--report', 'json:/proc/x/y.json'], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  assert.is(r.status, 1, r.stderr);
  assert.match(r.stderr, /^tprun: the json report \/proc\/x\/y\.json: its directory \/proc\/x does not exist/m);
  assert.is(r.stdout, '');
});

test.after(() => rmSync(tmp, { recursive: true, force: true }));
test.run();
