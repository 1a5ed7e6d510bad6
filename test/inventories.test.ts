/** Inventories for fleets (issue #16, item 8): several files and directories merged in order, groups of your own, merge keys, x- keys, stdin, facts. */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { factsCommand } from '../src/cli/views/facts.ts';
import { formatDiagnostic } from '../src/diagnostics.ts';
import { loadInventories } from '../src/inventory/multi.ts';
import { groupsOf, selectPattern } from '../src/inventory/pattern.ts';
import { ROLES } from '../roles/registry.ts';
import { fileEdit } from './facts.ts';
import { capture, contextOf, hostsNamed, scriptedFleet } from './scripted.ts';

const tmp = mkdtempSync(join(tmpdir(), 'tprun-invs-'));
const file = (name: string, text: string) => {
  const p = join(tmp, name);
  mkdirSync(join(p, '..'), { recursive: true });
  writeFileSync(p, text);
  return p;
};

const base = file(
  'site/10-base.yml',
  `x-ssh: &ssh { user: root, port: 22 }\ndefaults:\n  ssh: { <<: *ssh, connect_timeout: 5 }\n  squid: { clients: [198.51.100.0/24], dns_nameservers: [198.51.100.53] }\nrouters:\n  r1: { address: 198.51.100.10 }\n`,
);
const more = file(
  'site/20-more.yml',
  `routers:\n  r1: { tproxy: { ports: [8080] } }\n  r2: { address: 198.51.100.11 }\nbridges:\n  b1: { address: 198.51.100.12, bridge: { client_interface: eth0, internet_interface: eth1 } }\ngroups:\n  edge:\n    hosts: [r1]\n    children: [dmz]\n    vars: { tproxy: { ports: [81] }, ssh: { port: 2201 } }\n  dmz:\n    hosts: [b1]\n    vars: { ssh: { port: 2202 } }\n`,
);

test('files and a directory merge in order: hosts from both, a later file overrides, merge keys and x- keys work', () => {
  for (const paths of [[base, more], [join(tmp, 'site')]]) {
    const r = loadInventories(paths);
    assert.equal(r.diagnostics.map(formatDiagnostic), []);
    const inv = r.inventory!;
    assert.equal(
      inv.hosts.map((h) => h.name),
      ['r1', 'r2', 'b1'],
    );
    const [r1, r2, b1] = inv.hosts;
    assert.equal(r1!.vars.tproxy.ports, [8080], "the host's own key wins over its group's");
    assert.is(r1!.vars.ssh.port, 2201, 'group vars over defaults');
    assert.is(r1!.vars.ssh.connect_timeout, 5, 'merge key << from an x- anchor');
    assert.is(b1!.vars.ssh.port, 2202, "a child group's vars after its parent's");
    assert.equal(b1!.vars.tproxy.ports, [81]);
    assert.is(r2!.vars.ssh.port, 22);
    assert.equal(inv.groups, { edge: ['r1', 'b1'], dmz: ['b1'] });
    const sel = (limit: string) => selectPattern(inv.hosts, limit, groupsOf(inv.hosts, inv.groups)).hosts.map((h) => h.name);
    assert.equal(sel('edge'), ['r1', 'b1']);
    assert.equal(sel('edge:!dmz'), ['r1']);
    assert.equal(sel('routers:&edge'), ['r1']);
  }
});

test('a problem points at the file and line that set the value; group members must exist', () => {
  const bad = file(
    'bad.yml',
    `routers:\n  r2: { address: 198.51.100.999 }\ngroups:\n  core: { hosts: [nosuch], children: [gone] }\n  routers: { hosts: [r1] }\n`,
  );
  const msgs = loadInventories([base, bad]).diagnostics.map(formatDiagnostic);
  assert.ok(msgs.includes(`${bad}:2:18: routers.r2.address: not an IP address or host name`), msgs.join('\n'));
  assert.ok(msgs.includes(`${bad}:4:19: group core: no host "nosuch" in routers or bridges`), msgs.join('\n'));
  assert.ok(msgs.includes(`${bad}:4:39: group core: no group "gone" under groups`), msgs.join('\n'));
  assert.ok(
    msgs.some((m) => m.startsWith(`${bad}:5:3: "routers" is a built-in group`)),
    msgs.join('\n'),
  );
});

test('groups nested 3,000 deep load, and --limit the outermost reaches the host (no call-stack exhaustion)', () => {
  const n = 3000;
  const groups = Array.from(
    { length: n },
    (_, i) => `  g${i}: { ${i + 1 < n ? `children: [g${i + 1}]` : 'hosts: [deep1]'}, vars: { squid: { http_port: ${3000 + (i % 100)} } } }`,
  );
  const f = file(
    'deep.yml',
    `defaults:\n  squid: { clients: [198.51.100.0/24], dns_nameservers: [198.51.100.53] }\nrouters:\n  deep1: { address: 198.51.100.10 }\ngroups:\n${groups.join('\n')}\n`,
  );
  const r = loadInventories([f]);
  assert.equal(r.diagnostics.map(formatDiagnostic), []);
  assert.equal(
    selectPattern(r.inventory!.hosts, 'g0', groupsOf(r.inventory!.hosts, r.inventory!.groups)).hosts.map((h) => h.name),
    ['deep1'],
  );
  // Parents' vars come before children's: the innermost group's value wins.
  assert.is(r.inventory!.hosts[0]!.vars.squid.http_port, 3000 + ((n - 1) % 100));
  // A cycle three thousand deep is one error, not an internal one.
  const cyc = file('cycle.yml', readFileSync(f, 'utf8').replace(`hosts: [deep1]`, `hosts: [deep1], children: [g0]`));
  assert.match(loadInventories([cyc]).diagnostics.map(formatDiagnostic).join('\n'), /group g0 contains itself through its children/);
});

test('an inventory from standard input (-), alone or merged', () => {
  const r = spawnSync(process.execPath, ['bin/tprun.js', 'validate', '-', '--list-hosts'], {
    input: 'routers:\n  s1: { address: 198.51.100.10 }\n',
    encoding: 'utf8',
  });
  assert.is(r.status, 0, r.stderr);
  assert.is(r.stdout, 's1\n');
  const both = spawnSync(process.execPath, ['bin/tprun.js', 'validate', base, '-'], {
    input: 'routers:\n  s1: { address: 198.51.100.20 }\n',
    encoding: 'utf8',
  });
  assert.is(both.status, 0, both.stderr);
  assert.match(both.stdout, /valid \(2 routers, 0 bridges, 0 WCCP peers\)/);
  const broken = spawnSync(process.execPath, ['bin/tprun.js', 'validate', '-'], { input: 'routers: [\n', encoding: 'utf8' });
  assert.is(broken.status, 1);
  assert.match(broken.stderr, /^-:\d+:\d+: /);
});

test('tprun facts: every fact the planner reads, parsed, by id (JSON); nothing planned or changed', async () => {
  const fleet = scriptedFleet({ h1: 'drifted' });
  const out = capture();
  const code = await factsCommand(contextOf(out), hostsNamed('h1'), ROLES, { json: true, acceptNewHostKeys: false, connect: fleet.connect });
  assert.is(code, 0);
  const facts = JSON.parse(out.text()).h1;
  assert.ok('sysctl.live' in facts, Object.keys(facts).join(' '));
  assert.is(typeof facts['sysctl.live'], 'object');
  assert.equal(fleet.changed, []);
  const human = capture();
  await factsCommand(contextOf(human), hostsNamed('h1'), ROLES, { json: false, acceptNewHostKeys: false, connect: fleet.connect });
  assert.match(human.text(), /^h1:\n {2}\S+: /);
});

test('!secret on a list makes each of its strings a secret (flow and block lists), with no warning', () => {
  const f = file(
    'secret-list.yml',
    `defaults:\n  squid: { clients: [198.51.100.0/24], dns_nameservers: [198.51.100.53] }\nrouters:\n  s1:\n    address: 198.51.100.10\n    squid:\n      extra: !secret ["acl a req_header X-A alpha-key-1", "acl b req_header X-B beta-key-2"]\n  s2:\n    address: 198.51.100.11\n    squid:\n      extra: !secret\n        - acl c req_header X-C gamma-key-3\n`,
  );
  const r = loadInventories([f]);
  assert.equal(r.diagnostics.map(formatDiagnostic), []);
  assert.equal(r.inventory!.secrets, ['acl a req_header X-A alpha-key-1', 'acl b req_header X-B beta-key-2', 'acl c req_header X-C gamma-key-3']);
  assert.equal(r.inventory!.hosts[0]!.vars.squid.extra, ['acl a req_header X-A alpha-key-1', 'acl b req_header X-B beta-key-2']);
});

test("facts redacts the inventory's !secret values that a host echoes back, as check does", async () => {
  const secret = 'peer-pass-7781';
  const fleet = scriptedFleet({ h1: 'drifted' });
  fleet.tamper('h1', (raw) => ({ ...raw, 'file:/etc/squid/squid.conf': { code: 0, stdout: fileEdit(() => `acl partner req_header X-Key ${secret}\n`)('') } }));
  for (const json of [true, false]) {
    const out = capture();
    const ctx = contextOf(out);
    ctx.hide([secret]);
    assert.is(await factsCommand(ctx, hostsNamed('h1'), ROLES, { json, acceptNewHostKeys: false, connect: fleet.connect }), 0);
    assert.match(out.text(), json ? /X-Key \[redacted\]/ : /\S/);
    assert.not.match(out.text(), /peer-pass-7781/);
  }
});

test.after(() => rmSync(tmp, { recursive: true, force: true }));
test.run();
