/**
 * The VM lab's topologies, each with the inventory tprun is given (nothing else is configured
 * for tprun: the lab only builds the network a real site would have).
 *
 * bridge:  client ns ── eth1 [br1 VM: br0 = eth1+eth2, 198.51.100.3] eth2 ── router ns ── origin ns
 *          (198.51.100.2/.7, 2001:db8:c::2/::7)         (198.51.100.1 | 203.0.113.1)  (203.0.113.2)
 * wccp:    client ns ── eth1 [wr1 VM: a Linux router standing in for the Cisco box; GRE-encapsulates
 *          port-80 traffic to the cache] eth2 ── wan ns bridge ── origin ns, wc1 VM eth1 (203.0.113.3);
 *          GRE between the management addresses (tprun's tunnel ends: the cache's inventory
 *          address and the router's wccp_peers address).
 * selinux: client ns ── eth1 [se1 VM, SELinux, routing] eth2 ── origin ns
 * firewalld (Debian 13): client ns ── eth1 [fw1 VM, routing, firewalld running as Debian ships
 *          it: default zone public, default settings] eth2 ── origin ns
 * Every VM's eth0 is on the controller's management bridge (198.19.0.0/16).
 */
import { writeFileSync } from 'node:fs';
import * as vm from './vmlab.ts';

export type Name = 'bridge' | 'wccp' | 'selinux' | 'firewalld';
export const NAMES: readonly Name[] = ['bridge', 'wccp', 'selinux', 'firewalld'];

export const CLIENT4 = '198.51.100.2';
export const CLIENT6 = '2001:db8:c::2';
export const BYPASS4 = '198.51.100.7';
export const BYPASS6 = '2001:db8:c::7';
export const ORIGIN4 = '203.0.113.2';
export const ORIGIN6 = '2001:db8:5::2';
export const CLIENT = vm.vmNs('client');
export const ORIGIN = vm.vmNs('origin');
export const ROUTER = vm.vmNs('router');
export const WAN = vm.vmNs('wan');

export interface Lab {
  vms: vm.Vm[];
  inventory: string;
}

const v6 = 'sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0';

/** Write systemd-networkd files on a VM (persistent across reboots), apply them, wait for the addresses. */
export function vmNetwork(v: vm.Vm, files: Record<string, string>, waitFor: string[]): void {
  const writes = Object.entries(files)
    .map(([f, c]) => `cat > /etc/systemd/network/${f} <<'EOF'\n${c}EOF`)
    .join('\n');
  const wait = waitFor
    .map(
      (a) =>
        `i=0; until ip addr | grep -q 'inet6\\? ${a}/' && ! ip addr | grep -q tentative; do i=$((i+1)); [ $i -gt 120 ] && { echo "no ${a}"; ip addr; exit 1; }; sleep 0.5; done`,
    )
    .join('\n');
  const r = vm.onVm(v, `set -e\nrm -f /etc/systemd/network/20-lab.network\n${writes}\nnetworkctl reload\n${wait}`);
  if (r.code !== 0) throw new Error(`vm-lab: network on ${v.name}: ${r.out}${r.err}`);
}

function clientNs(gw4: string, gw6: string): void {
  vm.nsExec(
    CLIENT,
    `${v6}; ip link set eth0 up && ip addr add ${CLIENT4}/24 dev eth0 && ip addr add ${BYPASS4}/24 dev eth0 && ip addr add ${CLIENT6}/64 dev eth0 nodad && ip addr add ${BYPASS6}/64 dev eth0 nodad preferred_lft 0 && ip route add default via ${gw4} && ip -6 route add default via ${gw6}`,
  );
}

function originNs(peer: string, gw4: string, gw6: string): void {
  vm.nsExec(
    ORIGIN,
    `${v6}; ip link set eth0 up && ip addr add ${ORIGIN4}/24 dev eth0 && ip addr add ${ORIGIN6}/64 dev eth0 nodad && ip route add default via ${gw4} && ip -6 route add default via ${gw6}`,
  );
  void peer;
  vm.startOrigin(ORIGIN, ORIGIN4, ORIGIN6);
}

const header = (extra = '') => `# Generated for the VM lab by test/vm/topology.ts
defaults:
  ssh: { user: root, identity: ${vm.key()}, known_hosts: ${vm.known()}, command_timeout: 600, connect_timeout: 60 }
  tproxy:
    interfaces: [lo]
    ports: [80]
    families: [ipv4, ipv6]
    bypass:
      - { source: ${BYPASS4} }
      - { source: ${BYPASS6} }
  squid:
    clients: [198.51.100.0/24, 2001:db8:c::/64, 2001:db8:ffff:ffff::/64]
    dns_nameservers: [127.0.0.1]
  selinux: auto
${extra}`;

export async function bring(name: Name, release: vm.Release = '12'): Promise<Lab> {
  vm.setRelease(release);
  await vm.lock();
  vm.up();
  if (name === 'bridge') return bridge();
  if (name === 'wccp') return wccp();
  if (name === 'firewalld') return firewalld();
  return selinux();
}

async function bridge(): Promise<Lab> {
  vm.addNs('client');
  vm.addNs('router');
  vm.addNs('origin');
  const [br1] = await vm.startVms([{ name: 'br1', index: 1, eth1: { ns: CLIENT, name: 'eth0' }, eth2: { ns: ROUTER, name: 'ethc' } }]);
  vm.sh(`ip link add etho netns ${ROUTER} type veth peer name eth0 netns ${ORIGIN}`);
  vm.nsExec(
    ROUTER,
    `${v6}; sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1; ip link set ethc up && ip link set etho up && ip addr add 198.51.100.1/24 dev ethc && ip addr add 2001:db8:c::1/64 dev ethc nodad && ip addr add 203.0.113.1/24 dev etho && ip addr add 2001:db8:5::1/64 dev etho nodad`,
  );
  clientNs('198.51.100.1', '2001:db8:c::1');
  originNs('', '203.0.113.1', '2001:db8:5::1');
  // The bridge itself is the site's: eth1 and eth2 in br0, which has an address for squid's own traffic.
  vmNetwork(
    br1!,
    {
      '30-br0.netdev': '[NetDev]\nName=br0\nKind=bridge\n[Bridge]\nSTP=no\n',
      '30-ports.network': '[Match]\nName=eth1 eth2\n[Network]\nBridge=br0\nLinkLocalAddressing=no\n',
      '31-br0.network':
        '[Match]\nName=br0\n[Network]\nAddress=198.51.100.3/24\nAddress=2001:db8:c::3/64\nGateway=198.51.100.1\nGateway=2001:db8:c::1\nIPv6AcceptRA=no\nLinkLocalAddressing=ipv6\n',
    },
    ['198.51.100.3', '2001:db8:c::3'],
  );
  const inventory = `${vm.STATE}/bridge.yml`;
  writeFileSync(inventory, `${header()}bridges:\n  br1: { address: ${br1!.addr}, bridge: { client_interface: eth1, internet_interface: eth2 } }\n`);
  return { vms: [br1!], inventory };
}

/** wr1's GRE tunnel to the cache and its table-200 route (the marked packets' way into it), created afresh. */
const greWc = (wc1: vm.Vm, wr1: vm.Vm) => `ip link del gre-wc 2>/dev/null || true
ip tunnel add gre-wc mode gre remote ${wc1.addr} local ${wr1.addr}
ip link set gre-wc up
ip route replace default dev gre-wc table 200`;

/**
 * Recreate wr1's GRE tunnel, forgetting the ICMP errors it has counted. While the cache has no
 * GRE interface it answers the router's GRE packets with ICMP protocol unreachable; the router's
 * tunnel counts them (ipgre_err: err_count, err_time) and for IPTUNNEL_ERR_TIMEO (30 s) after the
 * last one, ip_tunnel_xmit calls dst_link_failure for that many packets sent into the tunnel: the
 * client gets ICMP host unreachable and curl fails in milliseconds ("Failed to connect ... after
 * 5 ms"). Whether the next request comes within those 30 s depends on the machine's speed (a
 * flake); a real WCCP router only redirects once the cache has announced itself. Call this
 * after any request sent while the cache had no tunnel.
 */
export function resetWccpTunnel(lab: Lab): void {
  const [wc1, wr1] = lab.vms as [vm.Vm, vm.Vm];
  const r = vm.onVm(wr1, `set -e\n${greWc(wc1, wr1)}`);
  if (r.code !== 0) throw new Error(`vm-lab: recreating gre-wc on wr1: ${r.out}${r.err}`);
}

async function wccp(): Promise<Lab> {
  vm.addNs('client');
  vm.addNs('origin');
  vm.addNs('wan');
  vm.nsExec(WAN, 'ip link add br0 type bridge && ip link set br0 up');
  const [wc1, wr1] = await vm.startVms([
    { name: 'wc1', index: 2, eth1: { ns: WAN, name: 'p-wc1', bridge: 'br0' } },
    { name: 'wr1', index: 3, eth1: { ns: CLIENT, name: 'eth0' }, eth2: { ns: WAN, name: 'p-wr1', bridge: 'br0' } },
  ]);
  vm.sh(`ip link add p-origin netns ${WAN} type veth peer name eth0 netns ${ORIGIN}`);
  vm.nsExec(WAN, 'ip link set p-origin master br0 && ip link set p-origin up');
  clientNs('198.51.100.1', '2001:db8:c::1');
  originNs('', '203.0.113.1', '2001:db8:5::1');
  vmNetwork(
    wc1!,
    {
      '30-wan.network':
        '[Match]\nName=eth1\n[Network]\nAddress=203.0.113.3/24\nAddress=2001:db8:5::3/64\nGateway=203.0.113.1\nGateway=2001:db8:5::1\nIPv6AcceptRA=no\n',
    },
    ['203.0.113.3'],
  );
  vmNetwork(
    wr1!,
    {
      '30-client.network': '[Match]\nName=eth1\n[Network]\nAddress=198.51.100.1/24\nAddress=2001:db8:c::1/64\nIPv6AcceptRA=no\nIPForward=yes\n',
      '30-wan.network': '[Match]\nName=eth2\n[Network]\nAddress=203.0.113.1/24\nAddress=2001:db8:5::1/64\nIPv6AcceptRA=no\nIPForward=yes\n',
    },
    ['198.51.100.1', '203.0.113.1'],
  );
  // wr1 stands in for the Cisco box: port-80 traffic from the client, and the origin's replies
  // (not the cache's own packets: it shares the origin's segment), GRE-encapsulated to the cache.
  const r = vm.onVm(
    wr1!,
    `set -e
sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
${greWc(wc1!, wr1!)}
iptables -t mangle -A PREROUTING -i eth1 -p tcp --dport 80 -j MARK --set-mark 2
iptables -t mangle -A PREROUTING -i eth2 -p tcp --sport 80 -m mac ! --mac-source ${vm.macOf(wc1!.index, 1)} -j MARK --set-mark 2
ip rule add fwmark 2 lookup 200
iptables -A INPUT -p udp --dport 2048 -j ACCEPT`,
  );
  if (r.code !== 0) throw new Error(`vm-lab: WCCP router setup on wr1: ${r.out}${r.err}`);
  const inventory = `${vm.STATE}/wccp.yml`;
  writeFileSync(
    inventory,
    `${header()}routers:\n  wc1: { address: ${wc1!.addr} }\nwccp_peers:\n  wr1:\n    address: ${wr1!.addr}\n    caches: [wc1]\n    customer_interfaces: [GigabitEthernet0/1]\n    proxy_interfaces: [GigabitEthernet0/2]\n`,
  );
  return { vms: [wc1!, wr1!], inventory };
}

async function selinux(): Promise<Lab> {
  vm.addNs('client');
  vm.addNs('origin');
  const [se1] = await vm.startVms([{ name: 'se1', index: 4, kind: 'selinux', eth1: { ns: CLIENT, name: 'eth0' }, eth2: { ns: ORIGIN, name: 'eth0' } }]);
  clientNs('198.51.100.1', '2001:db8:c::1');
  originNs('', '203.0.113.1', '2001:db8:5::1');
  vmNetwork(
    se1!,
    {
      '30-client.network': '[Match]\nName=eth1\n[Network]\nAddress=198.51.100.1/24\nAddress=2001:db8:c::1/64\nIPv6AcceptRA=no\n',
      '30-origin.network': '[Match]\nName=eth2\n[Network]\nAddress=203.0.113.1/24\nAddress=2001:db8:5::1/64\nIPv6AcceptRA=no\n',
    },
    ['198.51.100.1', '203.0.113.1'],
  );
  const inventory = `${vm.STATE}/selinux.yml`;
  writeFileSync(inventory, `${header()}routers:\n  se1: { address: ${se1!.addr} }\n`);
  return { vms: [se1!], inventory };
}

/**
 * firewalld as Debian 13 ships it, on a VM of the Debian 13 image (installed there, disabled):
 * nftables.service disabled (firewalld.service conflicts with it), firewalld enabled and started
 * with its stock firewalld.conf and default zone. The firewalld topology's VM gets it, and
 * `npm run vm-lab -- up TOPOLOGY --release 13 --firewalld` gives it to every VM of a topology.
 */
export function enableFirewalld(v: vm.Vm): void {
  if (vm.currentRelease() !== '13') throw new Error('vm-lab: firewalld is in the Debian 13 image only (--release 13)');
  // On an emulated CPU beside other load firewalld's start passed systemd's 90 s start timeout
  // (a suite run failed so); the lab's drop-in waits longer, the unit is Debian's otherwise.
  const r = vm.onVm(
    v,
    "set -e\nmkdir -p /etc/systemd/system/firewalld.service.d\nprintf '[Service]\\nTimeoutStartSec=600\\n' > /etc/systemd/system/firewalld.service.d/tprun-vmlab.conf\nsystemctl daemon-reload\nsystemctl disable --now nftables.service\nsystemctl enable --now firewalld.service\nfirewall-cmd --state",
  );
  if (r.code !== 0 || !/running/.test(r.out)) throw new Error(`vm-lab: starting firewalld on ${v.name}: ${r.out}${r.err}`);
}

/**
 * A router VM with firewalld as Debian 13 ships it: the image has the package (disabled, so the
 * other topologies have no host firewall); here it is enabled and started with its stock
 * firewalld.conf and default zone (public: ssh and dhcpv6-client allowed). firewalld.service
 * conflicts with nftables.service, which is disabled first as installing firewalld does.
 */
async function firewalld(): Promise<Lab> {
  if (vm.currentRelease() !== '13') throw new Error('vm-lab: the firewalld topology is Debian 13 only (--release 13)');
  vm.addNs('client');
  vm.addNs('origin');
  const [fw1] = await vm.startVms([{ name: 'fw1', index: 5, eth1: { ns: CLIENT, name: 'eth0' }, eth2: { ns: ORIGIN, name: 'eth0' } }]);
  clientNs('198.51.100.1', '2001:db8:c::1');
  originNs('', '203.0.113.1', '2001:db8:5::1');
  vmNetwork(
    fw1!,
    {
      '30-client.network': '[Match]\nName=eth1\n[Network]\nAddress=198.51.100.1/24\nAddress=2001:db8:c::1/64\nIPv6AcceptRA=no\n',
      '30-origin.network': '[Match]\nName=eth2\n[Network]\nAddress=203.0.113.1/24\nAddress=2001:db8:5::1/64\nIPv6AcceptRA=no\n',
    },
    ['198.51.100.1', '203.0.113.1'],
  );
  enableFirewalld(fw1!);
  const inventory = `${vm.STATE}/firewalld.yml`;
  writeFileSync(inventory, `${header()}routers:\n  fw1: { address: ${fw1!.addr}, tproxy: { interfaces: [eth1] } }\n`);
  return { vms: [fw1!], inventory };
}
