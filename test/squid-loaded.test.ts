/**
 * squid.running's "loaded": squid's own cache.log says when it last read a configuration
 * ("Starting Squid Cache", "Reconfiguring Squid Cache"); a squid.conf changed after that is a
 * configuration squid does not run. The fact's shell runs here for real, on a squid.conf naming
 * its own pid file (this test's process, so "running") and cache.log in a temporary directory.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { squidReadTime, squidRunning } from '../roles/squid/facts.ts';

const skip = spawnSync('sh', ['-c', 'command -v squid']).status === 0 ? undefined : 'squid is not installed';
const t = skip ? test.skip : test;
if (skip) console.log(`squid-loaded tests skipped: ${skip}`);

const dir = mkdtempSync(`${tmpdir()}/tprun-loaded-`);
const conf = `${dir}/squid.conf`;
const log = `${dir}/cache.log`;
writeFileSync(conf, `pid_filename ${dir}/squid.pid\ncache_log ${log}\nhttp_port 3129 tproxy\n`);
writeFileSync(`${dir}/squid.pid`, `${process.pid}\n`);
// squid.conf written long ago (before this process started: the start-time rule says "current").
const MTIME = '2020-01-01 12:00:00';
spawnSync('touch', ['-d', MTIME, conf]);

const run = (sh: string) => spawnSync('sh', ['-c', sh], { encoding: 'utf8' });
const loaded = () => {
  const f = squidRunning(conf, 3129);
  const r = run(f.command.text);
  return f.parse({ code: r.status ?? -1, stdout: r.stdout }).loaded;
};
const EPOCH = Number(run(`date -d '${MTIME}' +%s`).stdout.trim());
/** A cache.log line as squid writes it (local time, as squid's), n seconds after squid.conf's mtime. */
const at = (n: number, what: string) => `${run(`date -d @${EPOCH + n} '+%Y/%m/%d %H:%M:%S'`).stdout.trim()} kid1| ${what}\n`;

t('the last Starting/Reconfiguring line of the cache_log squid.conf names, in seconds', () => {
  writeFileSync(
    log,
    at(-100, 'Starting Squid Cache version 5.7 for x86_64-pc-linux-gnu...') +
      at(5, 'Reconfiguring Squid Cache (version 6.13)...') +
      at(9, 'Accepting HTTP Socket connections'),
  );
  const r = run(`${squidReadTime(conf).text}; echo "$rd"`);
  assert.is(r.stdout.trim(), String(EPOCH + 5));
});

t('squid read squid.conf after it was written: current; the same second: current', () => {
  writeFileSync(log, at(-100, 'Starting Squid Cache version 5.7 for x86_64-pc-linux-gnu...') + at(3, 'Reconfiguring Squid Cache (version 5.7)...'));
  assert.is(loaded(), 'current');
  writeFileSync(log, at(0, 'Starting Squid Cache version 6.13 for x86_64-pc-linux-gnu...'));
  assert.is(loaded(), 'current');
});

t('squid.conf written after squid last read it (an edit, a file put back, a failed reconfigure): older', () => {
  writeFileSync(
    log,
    at(-100, 'Starting Squid Cache version 5.7 for x86_64-pc-linux-gnu...') +
      at(-30, 'Reconfiguring Squid Cache (version 5.7)...') +
      at(60, 'Accepting HTTP Socket connections'),
  );
  assert.is(loaded(), 'older');
});

t('a log without such a line (rotated) or no log: the other signals decide (current here)', () => {
  writeFileSync(log, at(60, 'storeDirWriteCleanLogs: Starting...'));
  assert.is(loaded(), 'current');
  rmSync(log);
  assert.is(loaded(), 'current');
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();
