/**
 * Operating a fleet on the namespace lab (issue #16): a non-root user without become, a canary
 * batch stopping a rollout, reviewed plans refused when a host moved, hosts reached through a
 * bastion, and the installed package through a bastion that an Included SSH config names. Run with TPRUN_LAB_PREFIX / TPRUN_LAB_STATE to keep it apart from other labs.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as lab from './lab.ts';

const skip = lab.preflight();
const t = skip ? test.skip : test;
if (skip) console.log(`lab tests skipped: ${skip}`);

const tprun = (...args: string[]) => lab.tprunInCtl(args);
const out = (r: { out: string; err: string }) => r.out + r.err;

test.before(() => {
  if (skip) return;
  lab.up({ hosts: 4, operators: 3 });
});
test.after(() => {
  if (!skip) lab.down();
});

t('a non-root user without become: "needs root or ssh.become" before any fact, no false drift', () => {
  const r = tprun('check', lab.writeInventory('notroot', { routers: [3], extra: { 3: 'ssh: { user: op }' } }));
  assert.is(r.code, 4, out(r));
  assert.match(r.out, /^h3: FAILED at become: needs root or ssh\.become: connected as op, not root/m);
  assert.not.match(r.out, /^h3: drifted/m);
});

t('a broken canary stops the rollout: --serial 1 leaves the other hosts untouched, and the recap names them', () => {
  const before = [lab.snapshot(2), lab.snapshot(4)];
  const inv = lab.writeInventory('canary', { routers: [1, 2, 4], extra: { 1: 'squid: { extra: ["bogus_directive_xyz on"] }' } });
  const r = tprun('apply', inv, '--serial', '1,100%');
  assert.is(r.code, 4, out(r));
  assert.match(r.out, /^h1: FAILED at file \/etc\/squid\/squid.conf/m);
  assert.match(r.out, /^h2: never touched/m);
  assert.match(r.out, /rollout stopped: batch 1 of 2 had 1 of 1 host failed, more than --max-fail 0; never touched: h2, h4/);
  assert.equal([lab.snapshot(2), lab.snapshot(4)], before, 'hosts after the canary were never touched');
  // A healthy canary lets the next batches go.
  const ok = tprun('apply', lab.writeInventory('rollout', { routers: [2, 4] }), '--serial', '1');
  assert.is(ok.code, 2, out(ok));
  assert.match(ok.out, /2 hosts: 0 compliant, 2 changed/);
});

t('a reviewed plan: apply --plan applies it where nothing moved and refuses the host edited since, saying what moved', () => {
  for (const i of [2, 4]) assert.is(lab.onHost(i, 'echo 1 > /proc/sys/net/ipv4/conf/all/rp_filter').code, 0);
  const inv = lab.writeInventory('reviewed', { routers: [2, 4] });
  const plan = `${lab.STATE}/plans/reviewed.json`;
  // tprun creates no directory for a plan (it says so before contacting a host).
  mkdirSync(`${lab.STATE}/plans`, { recursive: true });
  const c = tprun('check', inv, '--out', plan);
  assert.is(c.code, 2, out(c));
  const show = tprun('show', plan);
  assert.is(show.code, 0, out(show));
  assert.match(show.out, /^h2: 1 change planned\n {4}~ sysctl net\.ipv4\.conf\.all\.rp_filter: 1 → 0$/m);
  // After the review, someone edits squid.conf on h4.
  assert.is(lab.onHost(4, 'echo "# edited after the review" >> /etc/squid/squid.conf').code, 0);
  const a = tprun('apply', '--plan', plan);
  assert.is(a.code, 6, out(a));
  assert.match(a.out, /^h2: changed: 1 change applied/m);
  assert.match(
    a.out,
    /^h4: FAILED at plan: refused: the host changed since the plan \(1 planned, \d+ now\): .*new change ~ file \/etc\/squid\/squid\.conf/m,
    out(a),
  );
  assert.is(lab.onHost(4, 'cat /proc/sys/net/ipv4/conf/all/rp_filter').out.trim(), '1', 'nothing was applied on the refused host');
  assert.is(tprun('check', inv, '--limit', 'h2').code, 0);
});

t('a fleet inventory: a directory of files, a group with its own vars, Ansible patterns, facts', () => {
  const dir = `${lab.STATE}/site`;
  mkdirSync(dir, { recursive: true });
  writeFileSync(`${dir}/10-base.yml`, readFileSync(lab.writeInventory('site-base', { routers: [1, 2] }), 'utf8'));
  writeFileSync(
    `${dir}/20-groups.yml`,
    'x-note: canaries get changes first\ngroups:\n  canaries:\n    hosts: [h1]\n    vars: { squid: { extra: ["# canary host"] } }\n',
  );
  assert.is(tprun('validate', dir, '--list-hosts', '--limit', 'h[1:2]:!canaries').out, 'h2\n');
  assert.is(tprun('validate', dir, '--list-hosts', '--limit', 'routers:&canaries').out, 'h1\n');
  const none = tprun('check', dir, '--limit', 'h1,nosuch');
  assert.is(none.code, 1);
  assert.match(none.err, /^tprun: --limit: "nosuch" matches no host or group/);
  const c = tprun('check', dir, '--limit', 'canaries', '--diff');
  assert.match(c.out, /^\s+\+# canary host$/m, out(c));
  const facts = tprun('facts', dir, '--limit', 'h2', '--json');
  assert.is(facts.code, 0, out(facts));
  const f = JSON.parse(facts.out);
  assert.equal(Object.keys(f), ['h2']);
  assert.is(f.h2['sysctl.live']['net/ipv4/ip_forward'], '1', 'h2 was configured by the rollout above');
});

t('a host reachable only through a bastion: ProxyJump from an SSH config, ssh.jump from the inventory; the jump host key is checked', () => {
  const [a3, a4] = [lab.hostAddr(3), lab.hostAddr(4)];
  // Move h3's management link from the controller's bridge into h4: only h4 reaches h3 now.
  lab.nsExec(lab.CTL, `ip link set m3 netns ${lab.hostNs(4)}`);
  lab.nsExec(lab.hostNs(4), `ip link set m3 up && ip route add ${a3}/32 dev m3`);
  const direct = tprun('check', lab.writeInventory('direct', { routers: [3] }), '--forks', '1');
  assert.is(direct.code, 4, out(direct));
  assert.match(direct.out, /^h3: UNREACHABLE: cannot connect to root@198\.18\.1\.3:22/m);
  // An SSH config with a Host alias and ProxyJump; the inventory names the alias.
  writeFileSync(`${lab.STATE}/ssh_config`, `Host gw3\n  HostName ${a3}\n  ProxyJump root@${a4}\n  ConnectTimeout 5\n`);
  const viaConfig = lab.writeInventory('via-config', { routers: [3], extra: { 3: `ssh: { config_file: ${lab.STATE}/ssh_config }` } });
  writeFileSync(viaConfig, readFileSync(viaConfig, 'utf8').replace(`address: ${a3}`, 'address: gw3'));
  const c = tprun('check', viaConfig);
  assert.is(c.code, 2, out(c));
  assert.match(c.out, /^h3: drifted/m);
  // The inventory's ssh.jump, no SSH config at all.
  const viaJump = tprun('check', lab.writeInventory('via-jump', { routers: [3], extra: { 3: `ssh: { jump: root@${a4}, config_file: none }` } }));
  assert.is(viaJump.code, 2, out(viaJump));
  // The jump host's key is checked too: h4's known_hosts line replaced by h1's key.
  const kh = `${lab.STATE}/known_hosts_badjump`;
  const h1key = readFileSync(`${lab.STATE}/${lab.hostNs(1)}/ssh_host_ed25519_key.pub`, 'utf8')
    .split(' ')
    .slice(0, 2)
    .join(' ');
  writeFileSync(kh, readFileSync(`${lab.STATE}/known_hosts`, 'utf8').replace(new RegExp(`^${a4.replace(/\./g, '\\.')} .*$`, 'm'), `${a4} ${h1key}`));
  const bad = tprun(
    'check',
    lab.writeInventory('bad-jump', { routers: [3], extra: { 3: `ssh: { jump: root@${a4}, config_file: none, known_hosts: ${kh} }` } }),
  );
  assert.is(bad.code, 4, out(bad));
  assert.match(bad.out, /^h3: FAILED at connect: jump host 198\.18\.1\.4: HOST KEY CHANGED for 198\.18\.1\.4/m);
});

/** What an operator runs: the packed tarball installed into a scratch prefix (as bench/run.ts). */
function installed(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tprun-ops-pack-'));
  const npm = (args: string[]) => {
    const r = spawnSync('npm', [...args, '--no-audit', '--no-fund', '--loglevel=error'], {
      encoding: 'utf8',
      env: { ...process.env, npm_config_update_notifier: 'false' },
    });
    assert.is(r.status, 0, `npm ${args[0]}: ${r.stderr.slice(-2000)}`);
  };
  npm(['pack', '--pack-destination', dir]);
  const tarball = readdirSync(dir).find((f) => f.endsWith('.tgz'))!;
  npm(['install', '-g', '--prefix', join(dir, 'prefix'), '--omit=dev', join(dir, tarball)]);
  return join(dir, 'prefix/bin/tprun');
}

t('the installed package reaches h3 through a bastion named only in an Included ssh config, with OpenSSH default key', () => {
  // After the test above, h3 is reachable only through h4. The operator's ~/.ssh/config holds
  // nothing but an Include; the included file names the alias, the bastion, the user and the
  // known_hosts; the key is ~/.ssh/id_ed25519, which no setting names. The inventory names
  // neither identity, known_hosts, user nor config file.
  const [a3, a4] = [lab.hostAddr(3), lab.hostAddr(4)];
  const home = mkdtempSync(join(tmpdir(), 'tprun-ops-home-'));
  mkdirSync(join(home, '.ssh/conf.d'), { recursive: true, mode: 0o700 });
  copyFileSync(`${lab.STATE}/id_ed25519`, join(home, '.ssh/id_ed25519'));
  writeFileSync(join(home, '.ssh/config'), 'Include conf.d/*.conf\n');
  writeFileSync(
    join(home, '.ssh/conf.d/branch.conf'),
    `Host branch3\n  HostName ${a3}\n  ProxyJump bastion\nHost bastion\n  HostName ${a4}\nHost *\n  User root\n  UserKnownHostsFile ${lab.STATE}/known_hosts\n  ConnectTimeout 5\n`,
  );
  const inv = lab.writeInventory('included', { routers: [3] });
  const text = readFileSync(inv, 'utf8')
    .replace(/^ {2}ssh: \{.*\}\n/m, '')
    .replace(`address: ${a3}`, 'address: branch3');
  assert.not.match(text, /identity|known_hosts|config_file|user:/);
  writeFileSync(inv, text);
  const bin = installed();
  const run = (...args: string[]) => {
    const r = spawnSync('ip', ['netns', 'exec', lab.CTL, bin, ...args], { encoding: 'utf8', env: { ...process.env, ...lab.RUN_ENV, HOME: home } });
    return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
  };
  const c = run('check', inv);
  assert.is(c.code, 2, out(c));
  assert.match(c.out, /^h3: drifted/m);
  const a = run('apply', inv);
  assert.is(a.code, 2, out(a));
  assert.match(a.out, /^h3: changed/m);
  const again = run('check', inv);
  assert.is(again.code, 0, out(again));
  assert.match(again.out, /^h3: compliant/m);
  // Without the Include's file the alias is a name nothing resolves: the same run fails to connect.
  writeFileSync(join(home, '.ssh/config'), '# empty\n');
  const lost = run('check', inv, '--forks', '1');
  assert.is(lost.code, 4, out(lost));
  assert.match(lost.out, /^h3: UNREACHABLE/m);
});

test.run();
