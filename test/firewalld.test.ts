/**
 * The firewalld role's planner on facts recorded from the VM lab's Debian 13 host (firewalld
 * 2.3.1 running as Debian ships it: zone public, IPv6_rpfilter=strict): `leave` plans nothing
 * and host-firewall blocks; `manage` plans the firewall-cmd changes with their exact undo and
 * records only what tprun adds; taking `manage` or a port away removes only tprun's additions.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseFirewalld } from '../src/firewall/firewalld.ts';
import { loadInventory } from '../src/inventory/load.ts';
import type { Host } from '../src/inventory/types.ts';
import { blockedReason, changesOf, type HostPlan } from '../src/plan/types.ts';
import type { Change } from '../src/resources/change.ts';
import { edited, recorded } from './facts.ts';
import { changed, plan, withVars } from './planning.ts';

const fw1 = loadInventory('test/fixtures/firewalld13.yml').inventory!.hosts[0]!;
const as = (setting: 'leave' | 'manage', patch: (h: Host) => void = () => {}) =>
  withVars(fw1, (h) => {
    (h.vars as { firewalld: string }).firewalld = setting;
    patch(h);
  });
const fwChanges = (p: HostPlan) => changesOf(p).filter((c) => c.role === 'firewalld');
const byId = (p: HostPlan, id: string): Change => {
  const c = changesOf(p).find((x) => x.id === id);
  assert.ok(c, `no change ${id} in ${changed(p).join(', ')}`);
  return c!;
};
const text = (s: { text: string }[]) => s.map((x) => x.text);
/** The recorded firewalld.state output with the zone's ports (permanent, runtime) and the record replaced. */
const state = (perm: string, run: string, record: string[] = [], rpfilter = 'strict') =>
  [
    `rpfilter=${rpfilter}`,
    ...(record.length ? ['record # What tprun added', ...record.map((r) => `record ${r}`), 'record_present=yes'] : []),
    'state=running',
    'version=2.3.1',
    'default=public',
    'active public',
    'active   interfaces: ',
    'runtime public',
    `runtime   ports: ${run}`,
    'permanent public',
    `permanent   ports: ${perm}`,
    '',
  ].join('\n');

test('leave (the default) on a host where firewalld runs: no firewalld change; host-firewall blocks on inet firewalld', () => {
  assert.is(fw1.vars.firewalld, 'leave');
  const p = plan(recorded('firewalld-debian13-leave'), fw1);
  assert.equal(fwChanges(p), []);
  const why = blockedReason(p) ?? '';
  assert.match(why, /inet firewalld chain filter_INPUT/);
  assert.match(why, /inet firewalld chain filter_PREROUTING: meta nfproto ipv6 fib saddr \. mark \. iif oif missing drop/);
  // The fix names the interface's zone (public), not firewalld's policy chains (filter_IN_policy_allow-host-ipv6).
  const input = p.checks.find((c) => c.role === 'host-firewall' && /filter_INPUT/.test(c.id));
  assert.match(input?.hint ?? '', /firewall-cmd --permanent --zone=public --add-port=80\/tcp; firewall-cmd --reload; or let tprun do it: firewalld: manage/);
});

test('manage: the port in the zone of eth1, permanent and runtime, and IPv6_rpfilter strict-forward, each with its exact undo; not blocked', () => {
  const p = plan(recorded('firewalld-debian13-leave'), as('manage'));
  assert.is(blockedReason(p), undefined);
  assert.equal(
    changed(p).filter((c) => /firewalld/.test(c)),
    ['update firewalld IPv6_rpfilter', 'create firewalld zone public port 80/tcp', 'update file /etc/tprun/firewalld.state'],
  );
  const port = byId(p, 'firewalld zone public port 80/tcp');
  assert.equal([port.before, port.after], [null, 'permanent+runtime']);
  assert.equal(text(port.commands), ['firewall-cmd -q --permanent --zone=public --add-port=80/tcp', 'firewall-cmd -q --zone=public --add-port=80/tcp']);
  assert.equal(text(port.undo), ['firewall-cmd -q --permanent --zone=public --remove-port=80/tcp', 'firewall-cmd -q --zone=public --remove-port=80/tcp']);
  const rp = byId(p, 'firewalld IPv6_rpfilter');
  assert.equal([rp.before, rp.after], ['strict', 'strict-forward']);
  assert.match(
    text(rp.commands).join('\n'),
    /cp -p \/etc\/firewalld\/firewalld\.conf "\$TPRUN_TX\/firewalld\.conf"\n.*IPv6_rpfilter=strict-forward.*\nfirewall-cmd -q --reload$/,
  );
  assert.match(text(rp.undo).join('\n'), /cat "\$TPRUN_TX\/firewalld\.conf" > \/etc\/firewalld\/firewalld\.conf && firewall-cmd -q --reload/);
  // Only what tprun adds is recorded, with IPv6_rpfilter's value before.
  assert.equal(byId(p, 'file /etc/tprun/firewalld.state').after?.toString().split('\n').slice(1), ['port public 80/tcp', 'rpfilter strict', '']);
  // The host-firewall findings in firewalld's table are still there (not compliant until applied), not blocking.
  const hf = p.checks.filter((c) => c.role === 'host-firewall' && !c.ok);
  assert.ok(hf.length >= 2);
  assert.ok(hf.every((c) => !c.blocks && /firewalld: manage: the firewalld role changes this/.test(c.hint ?? '')));
});

test('manage, recorded after apply: nothing to change, host-firewall finds nothing', () => {
  const p = plan(recorded('firewalld-debian13-managed'), as('manage'));
  assert.equal(fwChanges(p), []);
  assert.is(blockedReason(p), undefined);
  assert.ok(p.checks.some((c) => c.role === 'host-firewall' && c.ok && /no chain drops them/.test(c.found)));
});

test("back to leave: tprun removes exactly its port and puts IPv6_rpfilter back; the operator's own port stays", () => {
  const facts = edited('firewalld-debian13-managed', {
    'firewalld.state': state('80/tcp 8080/tcp', '80/tcp 8080/tcp', ['port public 80/tcp', 'rpfilter strict'], 'strict-forward'),
  });
  const p = plan(facts, fw1);
  assert.equal(
    changed(p).filter((c) => /firewalld/.test(c)),
    ['update firewalld IPv6_rpfilter', 'delete firewalld zone public port 80/tcp', 'update file /etc/tprun/firewalld.state'],
  );
  const port = byId(p, 'firewalld zone public port 80/tcp');
  assert.equal(text(port.commands), ['firewall-cmd -q --permanent --zone=public --remove-port=80/tcp', 'firewall-cmd -q --zone=public --remove-port=80/tcp']);
  assert.equal(text(port.undo), ['firewall-cmd -q --permanent --zone=public --add-port=80/tcp', 'firewall-cmd -q --zone=public --add-port=80/tcp']);
  const rp = byId(p, 'firewalld IPv6_rpfilter');
  assert.equal([rp.before, rp.after], ['strict-forward', 'strict']);
  assert.equal(byId(p, 'file /etc/tprun/firewalld.state').after?.toString().split('\n').slice(1), ['']);
});

test("a port dropped from tproxy.ports goes only when tprun added it; the operator's port is never recorded nor removed", () => {
  // tprun added 80 and 8081; the operator's 8080 was there before.
  const facts = edited('firewalld-debian13-managed', {
    'firewalld.state': state(
      '80/tcp 8080/tcp 8081/tcp',
      '80/tcp 8080/tcp 8081/tcp',
      ['port public 80/tcp', 'port public 8081/tcp', 'rpfilter strict'],
      'strict-forward',
    ),
    'file:/etc/tprun/firewalld.state': Buffer.from('# What tprun added\nport public 80/tcp\nport public 8081/tcp\nrpfilter strict\n').toString('base64'),
  });
  const p = plan(
    facts,
    as('manage', (h) => (h.vars.tproxy.ports = [80])),
  );
  assert.equal(
    changed(p).filter((c) => /firewalld/.test(c)),
    ['delete firewalld zone public port 8081/tcp', 'update file /etc/tprun/firewalld.state'],
  );
  assert.equal(byId(p, 'file /etc/tprun/firewalld.state').after?.toString().split('\n').slice(1), ['port public 80/tcp', 'rpfilter strict', '']);
});

test("manage with the operator's port permanent only: tprun completes it at runtime and leaves it theirs", () => {
  const facts = edited('firewalld-debian13-leave', { 'firewalld.state': state('80/tcp', '') });
  const p = plan(facts, as('manage'));
  const port = byId(p, 'firewalld zone public port 80/tcp');
  assert.equal([port.before, port.after], ['permanent', 'permanent+runtime']);
  assert.equal(text(port.commands), ['firewall-cmd -q --zone=public --add-port=80/tcp']);
  assert.equal(text(port.undo), ['firewall-cmd -q --zone=public --remove-port=80/tcp']);
  assert.not.match(byId(p, 'file /etc/tprun/firewalld.state').after?.toString() ?? '', /port public/);
});

test("manage, IPv4 only: IPv6_rpfilter is not tprun's business; already passing values are left alone", () => {
  const v4 = plan(
    recorded('firewalld-debian13-leave'),
    as('manage', (h) => (h.vars.tproxy.families = ['ipv4'])),
  );
  assert.not.ok(changesOf(v4).some((c) => c.id === 'firewalld IPv6_rpfilter'));
  for (const v of ['no', 'loose-forward', 'strict-forward']) {
    const p = plan(edited('firewalld-debian13-leave', { 'firewalld.state': state('', '', [], v) }), as('manage'));
    assert.not.ok(
      changesOf(p).some((c) => c.id === 'firewalld IPv6_rpfilter'),
      v,
    );
  }
  for (const v of ['', 'yes', 'strict', 'loose']) {
    const p = plan(edited('firewalld-debian13-leave', { 'firewalld.state': state('', '', [], v) }), as('manage'));
    assert.is(byId(p, 'firewalld IPv6_rpfilter').after, 'strict-forward', v);
  }
});

test('manage on a firewalld older than 2.2 (no -forward values): IPv6_rpfilter=no; its undo restores the original', () => {
  const old = state('', '', [], 'yes').replace('version=2.3.1', 'version=1.3.3');
  const p = plan(edited('firewalld-debian13-leave', { 'firewalld.state': old }), as('manage'));
  assert.equal([byId(p, 'firewalld IPv6_rpfilter').before, byId(p, 'firewalld IPv6_rpfilter').after], ['yes', 'no']);
  // Back to leave: tprun's `no` goes back to the recorded `yes`.
  const back = state('', '', ['rpfilter yes'], 'no').replace('version=2.3.1', 'version=1.3.3');
  const q = plan(edited('firewalld-debian13-managed', { 'firewalld.state': back }), fw1);
  assert.is(byId(q, 'firewalld IPv6_rpfilter').after, 'yes');
});

test('manage where firewalld is not installed or not running: nothing planned, no state file', () => {
  for (const out of ['state=absent\n', 'rpfilter=strict\nstate=not running\n']) {
    const p = plan(edited('firewalld-debian13-leave', { 'firewalld.state': out }), as('manage'));
    assert.equal(fwChanges(p), [], out);
  }
  const f = parseFirewalld('rpfilter=\nstate=not running\n');
  assert.equal([f.state, f.rpfilter, f.record.present], ['not running', '', false]);
});

test.run();
