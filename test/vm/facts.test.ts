/**
 * The planner on facts recorded from the VM lab's Debian 12 VMs (no VM needed to run these):
 * test/fixtures/facts/bridge-debian12-fresh.json (a bridge VM before tprun: ebtables-nft by
 * default, ebtables-legacy installed, no br_netfilter) and selinux-debian12-enforcing-fresh.json
 * (an enforcing SELinux VM before tprun). Recorded with scripts/record-facts.ts from the
 * controller namespace of `npm run vm-lab -- up bridge|selinux`.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { planHost } from '../../src/plan/planner.ts';
import { selectRoles } from '../../roles/registry.ts';
import { blockedReason, changesOf } from '../../src/plan/types.ts';
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
const requirement = (p: ReturnType<typeof planHost>, id: string) => p.checks.find((c) => c.id === id)?.found;

// These recordings predate facts added since (sysctl.files, ipv6.ra, the filter tables,
// selinux.persistent): the planner runs the roles whose facts they hold.
test('Debian 12 bridge (recorded): kernel-check passes from /boot/config through ebtables-legacy; the broute chain planned', () => {
  const p = planHost(host('br1'), selectRoles(['ebtables']), recorded('bridge-debian12-fresh'));
  assert.is(blockedReason(p), undefined);
  assert.match(
    String(requirement(p, 'require kernel CONFIG_NETFILTER_XT_TARGET_TPROXY')),
    /^CONFIG_NETFILTER_XT_TARGET_TPROXY=m \(\/boot\/config-6\.1\.0-\d+-amd64\)$/,
  );
  assert.is(requirement(p, 'require bridge broute'), 'ebtables-legacy (its broute table works)');
  const ids = changesOf(p).map((i) => `${i.action} ${i.id}`);
  for (const want of ['create ebtables broute TPRUN_BROUTING', 'create file /etc/tprun/boot.d/40-ebtables.sh']) {
    assert.ok(ids.includes(want), `${want} missing from ${ids.join(', ')}`);
  }
});

test('Debian 12 SELinux enforcing (recorded): the kernel from /boot/config meets every requirement', () => {
  const p = planHost(host('se1'), selectRoles([]), recorded('selinux-debian12-enforcing-fresh'));
  assert.is(blockedReason(p), undefined);
  assert.ok(p.checks.filter((c) => c.blocks).every((c) => c.ok && /\/boot\/config-6\.1/.test(c.found) === c.id.startsWith('require kernel CONFIG')));
});

test.run();
