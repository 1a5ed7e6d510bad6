/**
 * `--report html:FILE` (issue #23): one self-contained page, hosts in inventory order, details
 * open where a person must look, every host-supplied byte escaped and every secret redacted; then
 * the page as a real browser draws it (headless Chromium: a screenshot, and the text it shows).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runFleetCommand } from '../src/cli/views/fleet.ts';
import { loadInventory } from '../src/inventory/load.ts';
import { ROLES } from '../roles/registry.ts';
import type { Connection, RunResult } from '../src/ssh/connection.ts';
import { capture, contextOf } from './scripted.ts';
import { framed, recorded } from './facts.ts';

const SECRET = 'Pw-7c1d9e';
const lab = loadInventory('inventories/lab.yml').inventory!;
const inv = { ...lab, secrets: [SECRET] };
const dir = mkdtempSync(join(tmpdir(), 'tprun-html-'));
const page = join(dir, 'fleet.html');

/** h1 answers with fresh facts (drifted); h2's facts script fails with hostile bytes and a secret on stderr. */
const connect = async (h: { name: string }): Promise<Connection> => ({
  roundTrips: 0,
  run: async (): Promise<RunResult> =>
    h.name === 'h1'
      ? { stdout: framed(recorded('router-fresh')), stderr: '', code: 0 }
      : { stdout: '', stderr: `<script>alert(1)</script> login=${SECRET} \u001b]0;owned\u0007 </pre><img src=x onerror=alert(2)>`, code: 1 },
  close: async () => {},
});

test('the page: counts, hosts in inventory order, drift diffs coloured, hostile bytes escaped, no secret', async () => {
  const code = await runFleetCommand(contextOf(capture(), capture(), { reports: [{ format: 'html', file: page }] }), {
    mode: 'check',
    inventory: inv,
    hosts: inv.hosts,
    roles: [...ROLES],
    connect,
    options: { forks: 2, diff: false, verbose: false, quiet: false, acceptNewHostKeys: false },
  });
  assert.is(code, 6);
  const html = readFileSync(page, 'utf8');
  assert.match(html, /^<!DOCTYPE html>/);
  assert.match(html, /<title>tprun check: 1 host failed<\/title>/);
  // Self-contained: no script, no resource fetched from anywhere.
  assert.not.match(html, /<(script|img|link|iframe|object)\b|<[^>]*\s(src|href)=/i);
  assert.match(html, /Content-Security-Policy" content="default-src 'none'/);
  assert.not.ok(html.includes(SECRET), 'the secret is redacted');
  assert.ok(html.includes('&lt;script&gt;alert(1)&lt;/script&gt;'), 'the stderr is escaped');
  assert.not.ok(html.includes('\u001b') || html.includes('\u0007'), 'control characters are made visible');
  const h1 = html.indexOf('id="host-h1"');
  const h2 = html.indexOf('id="host-h2"');
  assert.ok(h1 > 0 && h2 > h1, 'inventory order');
  assert.match(html, /id="host-h1" open>/);
  assert.match(html, /<span class="add">\+ -A TPRUN_PREROUTING -p tcp -m socket --transparent -j TPRUN_DIVERT<\/span>/);
  assert.match(html, /<td class="s-drifted">1<\/td>/);
  assert.match(html, /<td class="s-failed">1<\/td>/);
});

// A real browser: chromium is installed by scripts/ensure-deps.sh (npm test) with the lab's packages.
const chromium = ['chromium', 'chromium-browser'].find((c) => spawnSync('sh', ['-c', `command -v ${c}`]).status === 0);
const browse = (...args: string[]) =>
  spawnSync(chromium!, ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', `--user-data-dir=${join(dir, 'profile')}`, ...args], {
    encoding: 'utf8',
    timeout: 120_000,
  });

test('headless Chromium draws the page: a screenshot, and the text a person reads', () => {
  assert.ok(chromium, 'chromium is not installed: scripts/ensure-deps.sh installs it');
  assert.ok(existsSync(page), 'the first test wrote the page');
  const shot = join(dir, 'fleet.png');
  const s = browse(`--screenshot=${shot}`, '--window-size=1200,1400', `file://${page}`);
  assert.ok(existsSync(shot), `no screenshot: ${s.stderr.slice(-500)}`);
  const png = readFileSync(shot);
  assert.equal([...png.subarray(1, 4)], [...Buffer.from('PNG')]);
  // A blank page compresses to a few hundred bytes; text, tables and diffs do not.
  assert.ok(statSync(shot).size > 20_000, `screenshot of ${statSync(shot).size} bytes`);
  const d = browse('--dump-dom', `file://${page}`);
  assert.is(d.status, 0, d.stderr.slice(-500));
  const text = d.stdout
    .replace(/<style>[\s\S]*?<\/style>/, '')
    .replace(/<[^>]+>/g, '')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
  assert.match(text, /tprun check 1 host failed/);
  assert.match(text, /h1 drifted 198\.18\.1\.1 · router · \d+ changes/);
  assert.match(text, /h2 failed/);
  assert.match(text, /<script>alert\(1\)<\/script>/, 'the hostile stderr reads as text');
  assert.not.match(d.stdout, /<script>/, 'and never becomes an element');
  assert.not.ok(text.includes(SECRET));
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();
