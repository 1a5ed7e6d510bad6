/** ~/.ssh/config honoured (issue #16, item 6): Host patterns and the keys tprun uses; the inventory wins where it says so. */
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Host } from '../src/inventory/types.ts';
import { parseDestination, resolveSsh } from '../src/ssh/config.ts';
import { load } from './helpers.ts';
import { labHost } from './scripted.ts';

const tmp = mkdtempSync(join(tmpdir(), 'tprun-sshcfg-'));
const cfg = join(tmp, 'config');
writeFileSync(join(tmp, 'id_gw'), 'x');
writeFileSync(
  cfg,
  `Host gw-*
  HostName %h.example.test
  User ops
  Port 2222
  IdentityFile ${tmp}/id_missing
  IdentityFile ${tmp}/id_gw
  ProxyJump jumper@bastion1:2200,bastion2
  UserKnownHostsFile ${tmp}/kh_%h
  StrictHostKeyChecking accept-new
  ConnectTimeout 3

Host bastion2
  HostName 198.18.9.2
  User b2
  UserKnownHostsFile ${tmp}/kh_bastions

Host direct
  HostName 198.18.9.9
  ProxyJump none

Host *
  ConnectTimeout 7
`,
);

const host = (address: string, ssh: Partial<Host['vars']['ssh']> = {}): Host => {
  const h = labHost();
  // As an inventory that sets none of these: the SSH config, then tprun's defaults, fill them in.
  const unset = { identity: undefined, user: undefined, port: undefined, known_hosts: undefined, connect_timeout: undefined };
  return { ...h, address, vars: { ...h.vars, ssh: { ...h.vars.ssh, ...unset, config_file: cfg, ...ssh } } };
};

test('Host patterns: HostName (with %h), User, Port, IdentityFile (the first that exists), UserKnownHostsFile, StrictHostKeyChecking, ConnectTimeout', () => {
  const { target } = resolveSsh(host('gw-1'));
  assert.equal(target, {
    name: 'gw-1',
    hostname: 'gw-1.example.test',
    user: 'ops',
    port: 2222,
    identity: `${tmp}/id_gw`,
    knownHosts: `${tmp}/kh_gw-1.example.test`,
    acceptNew: true,
    connectTimeout: 3,
  });
  const other = resolveSsh(host('198.18.1.1')).target;
  assert.equal([other.hostname, other.user, other.port, other.connectTimeout, other.acceptNew], ['198.18.1.1', 'root', 22, 7, false]);
});

test('ProxyJump with several hops, each looked up in the config itself; none disables it', () => {
  const { jumps } = resolveSsh(host('gw-1'));
  assert.equal(
    jumps.map((j) => [j.name, j.hostname, j.user, j.port, j.knownHosts]),
    [
      ['bastion1', 'bastion1', 'jumper', 2200, '~/.ssh/known_hosts'],
      ['bastion2', '198.18.9.2', 'b2', 22, `${tmp}/kh_bastions`],
    ],
  );
  assert.equal(resolveSsh(host('direct')).jumps, []);
});

test('the inventory wins where it sets its own value; ssh.jump replaces ProxyJump; config_file none ignores the file', () => {
  const r = resolveSsh(host('gw-2', { user: 'admin', port: 2022, identity: '~/.ssh/mine', jump: ['root@198.18.0.5'] }));
  assert.equal([r.target.user, r.target.port, r.target.identity], ['admin', 2022, '~/.ssh/mine']);
  assert.equal(
    r.jumps.map((j) => [j.hostname, j.user, j.port]),
    [['198.18.0.5', 'root', 22]],
  );
  const none = resolveSsh(host('gw-3', { config_file: 'none' }));
  assert.equal([none.target.hostname, none.target.user, none.jumps.length], ['gw-3', 'root', 0]);
  assert.equal(parseDestination('ssh://u@[2001:db8::1]:2200'), { user: 'u', host: '2001:db8::1', port: 2200 });
});

test("a value the inventory sets wins even when it equals tprun's own default (as ssh's -o beats its config)", () => {
  const { target } = resolveSsh(host('gw-1', { user: 'root', port: 22, known_hosts: '~/.ssh/known_hosts', connect_timeout: 10 }));
  assert.equal([target.user, target.port, target.knownHosts, target.connectTimeout], ['root', 22, '~/.ssh/known_hosts', 10]);
  // Set at the inventory's defaults (or a group): loaded as set; left out: absent, for the config to fill.
  const inv = (ssh: string) =>
    load(`defaults:\n  ssh: { config_file: ${cfg}${ssh} }\n  squid: { clients: [198.51.100.0/24] }\nrouters:\n  gw-1: { address: gw-1 }\n`).inventory!
      .hosts[0]!;
  assert.equal(resolveSsh(inv('')).target.user, 'ops');
  assert.equal(resolveSsh(inv(', user: root')).target.user, 'root');
  assert.is(inv('').vars.ssh.user, undefined);
});

test('a Match exec line never runs: its command is not executed and its block does not apply', () => {
  const marker = join(tmp, 'ran');
  const exec = join(tmp, 'exec-config');
  writeFileSync(exec, `Match exec "touch ${marker}"\n  HostName 198.18.66.66\n  User exec\n\nHost *\n  User plain\n`);
  const { target } = resolveSsh(host('gw-9', { config_file: exec }));
  assert.equal([target.hostname, target.user], ['gw-9', 'plain']);
  assert.not.ok(existsSync(marker), 'the Match exec command ran');
});

test('Include: files (globbed, in order) spliced where the line stands, in a Host block too; ProxyCommand is refused with a sentence', () => {
  const dir = join(tmp, 'conf.d');
  mkdirSync(dir);
  writeFileSync(join(dir, '10-first.conf'), 'Host inc-*\n  User from-include\n  Port 2201\n');
  writeFileSync(join(dir, '20-second.conf'), 'Host inc-b\n  User too-late\n');
  writeFileSync(join(dir, 'proxy.ssh'), 'Host pc\n  ProxyCommand nc %h %p\n');
  writeFileSync(join(dir, 'inner.ssh'), '  ConnectTimeout 4\n');
  const main = join(tmp, 'with-include');
  writeFileSync(main, `Include ${dir}/*.conf ${dir}/proxy.ssh\nHost inc-b\n  Include ${dir}/inner.ssh\nHost *\n  ConnectTimeout 9\n`);
  const r = resolveSsh(host('inc-b', { config_file: main })).target;
  // First obtained value wins, as in OpenSSH: 10-first.conf's User and Port; inner.ssh inside Host inc-b.
  assert.equal([r.user, r.port, r.connectTimeout], ['from-include', 2201, 4]);
  assert.is(resolveSsh(host('inc-a', { config_file: main })).target.connectTimeout, 9);
  assert.throws(() => resolveSsh(host('pc', { config_file: main })), /gives pc a ProxyCommand, which tprun does not run: use ProxyJump/);
});

test.after(() => rmSync(tmp, { recursive: true, force: true }));
test.run();
