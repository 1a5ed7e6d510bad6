/**
 * SshConnection against a real SSH server in this process (ssh2's Server, the protocol for real
 * over 127.0.0.1): what a connection keeps between runs.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ssh2 from 'ssh2';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Host } from '../src/inventory/types.ts';
import { SshConnection } from '../src/ssh/connection.ts';
import { labHost } from './scripted.ts';

const tmp = mkdtempSync(join(tmpdir(), 'tprun-sshconn-'));
for (const k of ['host', 'id']) spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(tmp, k)]);

/**
 * Answers every exec after 200 ms with its script's length on stdout, exit 0, as a root shell
 * would; a script holding HANG is never answered.
 */
const server = new ssh2.Server({ hostKeys: [readFileSync(join(tmp, 'host'))] }, (client) => {
  client.on('authentication', (ctx) => ctx.accept());
  client.on('error', () => undefined);
  client.on('session', (accept) =>
    accept().on('exec', (ok) => {
      const ch = ok();
      let script = '';
      ch.on('data', (d: Buffer) => (script += d.toString()));
      ch.on('end', () => {
        if (script.includes('HANG')) return;
        setTimeout(() => {
          ch.write(`${script.length}\n`);
          ch.exit(0);
          ch.end();
        }, 200);
      });
    }),
  );
});

let host: Host;
test.before(async () => {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const h = labHost();
  host = {
    ...h,
    name: 'inproc',
    address: '127.0.0.1',
    vars: { ...h.vars, ssh: { ...h.vars.ssh, port, identity: join(tmp, 'id'), known_hosts: join(tmp, 'known_hosts'), config_file: 'none' } },
  };
});
test.after(() => {
  server.close();
  rmSync(tmp, { recursive: true, force: true });
});

test('a connection keeps nothing of a finished run: 5 runs leave no pending run behind', async () => {
  const conn = await SshConnection.open(host, { acceptNewHostKeys: true, retries: 0 });
  try {
    for (let i = 0; i < 5; i++) {
      const r = await conn.run(`echo ${i}`);
      assert.is(r.code, 0, r.stderr);
      assert.match(r.stdout, /^\d+\n$/);
      assert.is(conn.runsPending, 0, `after run ${i + 1}`);
    }
  } finally {
    await conn.close();
  }
});

/** Blocks this process's event loop, as parsing a huge ruleset would. */
const stall = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

const quick = () => ({ ...host, vars: { ...host.vars, ssh: { ...host.vars.ssh, command_timeout: 2 } } });

test('a controller busy for longer than the timeout spends no host its timeout', async () => {
  const conn = await SshConnection.open(quick(), { acceptNewHostKeys: true, retries: 0 });
  try {
    const run = conn.run('echo after a stall');
    // 3 s of a blocked loop against a 2 s timeout: a wall-clock timer fires as soon as the loop
    // comes back, before the answer is read.
    stall(3000);
    const r = await run;
    assert.is(r.code, 0, r.stderr);
  } finally {
    await conn.close();
  }
});

test('a host that never answers still times out', async () => {
  const conn = await SshConnection.open(quick(), { acceptNewHostKeys: true, retries: 0 });
  try {
    const e = await conn.run('HANG').then(
      () => null,
      (x: Error) => x,
    );
    assert.ok(e, 'the run ended without an error');
    assert.match(e.message, /timed out after 2 s/);
  } finally {
    await conn.close();
  }
});

test.run();
