/**
 * The planner on facts recorded from the VM lab's Debian 12 VMs (no VM needed to run these):
 * test/fixtures/facts/bridge-debian12-fresh.json (a bridge VM before tprun: ebtables-nft by
 * default, ebtables-legacy installed, no br_netfilter) and selinux-debian12-enforcing-fresh.json
 * (an enforcing SELinux VM before tprun). Recorded with scripts/record-facts.ts from the
 * controller namespace of `npm run vm-lab -- up bridge|selinux`.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Facts } from '../../src/facts/facts.ts';
import { planHost } from '../../src/plan/planner.ts';
import { ROLES } from '../../src/plan/roles.ts';
import { changesOf } from '../../src/plan/types.ts';
import { recorded } from '../facts.ts';
import { load } from '../helpers.ts';

const inv = load(`defaults:
  ssh: { identity: /tmp/k, known_hosts: /tmp/kh }
  tproxy: { interfaces: [lo], families: [ipv4, ipv6], bypass: [{ source: 198.51.100.7 }, { source: 2001:db8:c::7 }] }
  squid: { clients: [198.51.100.0/24, 2001:db8:c::/64], dns_nameservers: [127.0.0.1] }
routers:
  se1: { address: 198.19.1.4 }
bridges:
  br1: { address: 198.19.1.1, bridge: { client_interface: eth1, internet_interface: eth2 } }
`).inventory!;
const host = (n: string) => inv.hosts.find((h) => h.name === n)!;
const requirement = (p: ReturnType<typeof planHost>, id: string) => p.items.find((i) => i.id === id)?.before;

test('Debian 12 bridge (recorded): kernel-check passes from /boot/config through ebtables-legacy; every role planned', () => {
  const p = planHost(host('br1'), ROLES, new Facts(recorded('bridge-debian12-fresh')));
  assert.is(p.blocked, undefined);
  assert.match(String(requirement(p, 'require kernel CONFIG_NETFILTER_XT_TARGET_TPROXY')), /^CONFIG_NETFILTER_XT_TARGET_TPROXY=m \(\/boot\/config-6\.1\.0-\d+-amd64\)$/);
  assert.is(requirement(p, 'require ebtables broute table'), 'broute table usable through ebtables-legacy (the default ebtables has none)');
  const ids = changesOf(p).map((i) => `${i.action} ${i.id}`);
  for (const want of ['create ebtables broute TPRUN_BROUTING', 'update sysctl net.ipv4.ip_forward', 'create ip -4 rule fwmark 0x1/0x1 lookup 100', 'create iptables mangle TPRUN_PREROUTING']) {
    assert.ok(ids.includes(want), `${want} missing from ${ids.join(', ')}`);
  }
  // No br_netfilter on Debian 12: a warning, never an error that fails the host.
  assert.not.ok(p.diagnostics.some((d) => d.severity === 'error'), JSON.stringify(p.diagnostics));
  assert.ok(p.diagnostics.some((d) => d.severity === 'warning' && /br_netfilter not loaded/.test(d.message)));
  // SELinux is disabled on the plain VM: selinux: auto plans nothing.
  assert.not.ok(ids.some((i) => i.includes('selinux')));
});

test('Debian 12 SELinux enforcing (recorded): both booleans planned with setsebool -P, from off at runtime and persistently', () => {
  const p = planHost(host('se1'), ROLES, new Facts(recorded('selinux-debian12-enforcing-fresh')));
  assert.is(p.blocked, undefined);
  const se = changesOf(p).filter((i) => i.role === 'selinux');
  assert.equal(se.map((i) => [i.id, i.before, i.commands]), [
    ['selinux squid_connect_any', 'off (persistent: policy default)', ['setsebool -P squid_connect_any on']],
    ['selinux squid_use_tproxy', 'off (persistent: policy default)', ['setsebool -P squid_use_tproxy on']],
  ]);
});

test.run();
