/**
 * WCCP GRE for real (QEMU VMs, Debian 12's or 13's kernel with its GRE driver), shared by
 * wccp.test.ts (Debian 12: the iptables backend) and wccp13.test.ts (Debian 13: nftables.service
 * enabled, so the nftables backend; linux-sysctl-defaults' rp_filter 2 on every interface):
 * tprun gives the cache its GRE interface, rp_filter and persistence; a Linux router VM stands in
 * for the Cisco box by GRE-encapsulating the client's port-80 traffic (and the origin's replies)
 * to the cache, so TPROXY on packets arriving over GRE is proven end to end; squid's WCCPv2
 * "Here I Am" reaches the router's UDP 2048.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import * as topo from './topology.ts';
import * as vm from './vmlab.ts';
import { beforeLab, skipReason, timed } from './skip.ts';

export function wccpSuite(release: vm.Release): void {
  const test = suite(`WCCP (Debian ${release})`);
  /** Debian 13's nftables.service is enabled: tprun's backend is nftables there. */
  const nft = release === '13';
  const skip = skipReason();
  const t = skip ? test.skip : test;
  if (skip) console.log(`VM WCCP tests skipped: ${skip}`);

  let lab: topo.Lab;
  let wc1: vm.Vm;
  let wr1: vm.Vm;
  const out = (r: { out: string; err: string }) => r.out + r.err;
  const tprun = (...args: string[]) => vm.tprunInCtl(args);
  const packets = (v: vm.Vm, dev: string, dir: 'RX' | 'TX') => {
    const r = vm.onVm(v, `ip -s -j link show ${dev}`);
    assert.is(r.code, 0, out(r));
    return Number(JSON.parse(r.out)[0].stats64[dir.toLowerCase()].packets);
  };
  const helloCount = () => Number(/^\s*(\d+)\s+\d+\s+ACCEPT.*udp dpt:2048/m.exec(vm.onVm(wr1, 'iptables -L INPUT -v -n -x').out)?.[1] ?? -1);

  beforeLab(test, async () => {
    if (skip) return;
    const s = await timed(() => topo.bring('wccp', release));
    lab = s.value;
    [wc1, wr1] = lab.vms as [vm.Vm, vm.Vm];
    console.log(`  WCCP VM lab (Debian ${release}) up in ${s.seconds.toFixed(1)} s`);
  });
  test.after(() => {
    if (!skip) vm.down();
  });

  t('before tprun: the cache has no GRE interface and the client reaches nothing through GRE', () => {
    assert.is.not(vm.onVm(wc1, 'ip link show wccp0').code, 0);
    const r = vm.get(topo.CLIENT, `http://${topo.ORIGIN4}/`, { maxTime: 8 });
    assert.is.not(r.status, 200, `without the cache the redirected request must not complete: ${r.raw}`);
    // The ICMP errors this request drew would fail the next requests for 30 s (topo.resetWccpTunnel).
    topo.resetWccpTunnel(lab);
  });

  t('apply creates the GRE interface (ends from the inventory), rp_filter 0 and its boot script', () => {
    const r = tprun('apply', lab.inventory);
    assert.is(r.code, 2, out(r)); // changes applied
    assert.match(r.out, /^wc1: changed/m);
    const link = vm.onVm(wc1, 'ip -d link show wccp0').out;
    assert.match(link, new RegExp(`gre remote ${wr1.addr} local ${wc1.addr}`));
    assert.is(vm.onVm(wc1, 'cat /proc/sys/net/ipv4/conf/wccp0/rp_filter').out.trim(), '0');
    assert.match(vm.onVm(wc1, 'cat /etc/tprun/boot.d/10-wccp.sh').out, /ip tunnel add wccp0 mode gre remote 198\.19\.1\.3 local 198\.19\.1\.2/);
    // backend auto: nftables where nftables.service is enabled (Debian 13), iptables elsewhere.
    // The record of the backend is written once nftables is (or was) in use.
    if (nft) assert.is(vm.onVm(wc1, 'cat /etc/tprun/firewall-backend').out.trim(), 'nftables');
    else {
      assert.is(vm.onVm(wc1, 'test -e /etc/tprun/firewall-backend && echo recorded || echo none').out.trim(), 'none');
      assert.match(vm.onVm(wc1, 'iptables-save -t mangle').out, /-A PREROUTING .*-j TPRUN_/);
    }
  });

  t('a client request redirected over GRE is intercepted: origin sees the client, ORIGINAL_DST, packets counted on wccp0', () => {
    const rx0 = packets(wc1, 'wccp0', 'RX');
    const tx0 = packets(wr1, 'gre-wc', 'TX');
    const r = vm.get(topo.CLIENT, `http://${topo.ORIGIN4}/`);
    assert.is(r.status, 200, r.raw);
    assert.is(r.body.trim(), `origin saw ${topo.CLIENT4}`);
    assert.match(r.via ?? '', /\bwc1 \(squid\/\d/, r.raw);
    assert.ok(packets(wr1, 'gre-wc', 'TX') > tx0, 'the router must have encapsulated packets');
    assert.ok(packets(wc1, 'wccp0', 'RX') > rx0, 'the cache must have received them on wccp0');
    assert.match(vm.onVm(wc1, 'cat /var/log/squid/access.log').out, /198\.51\.100\.2 TCP_MISS\/200 .* ORIGINAL_DST\/203\.0\.113\.2/);
    // The TPROXY rule of the backend tprun chose counted them.
    if (nft) assert.match(vm.onVm(wc1, 'nft list counter inet tprun intercepted_http').out, /packets [1-9]\d*/);
    else assert.match(vm.onVm(wc1, 'iptables -t mangle -L TPRUN_PREROUTING -v -n -x').out, /^\s*[1-9]\d*\s+\d+\s+TPROXY/m);
  });

  t('squid\'s WCCPv2 "Here I Am" reaches the router\'s UDP 2048', async () => {
    const deadline = Date.now() + 60_000;
    let n = helloCount();
    while (n <= 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 2000));
      n = helloCount();
    }
    assert.ok(n > 0, `no packet to UDP 2048 on the router (counter ${n})`);
  });

  t('check is then compliant; a deleted GRE interface is drift, repaired by apply', () => {
    const c = tprun('check', lab.inventory);
    assert.is(c.code, 0, out(c));
    assert.is(vm.onVm(wc1, 'ip link del wccp0').code, 0);
    const d = tprun('check', lab.inventory);
    assert.is(d.code, 2, out(d));
    assert.match(d.out, /link wccp0/);
    const a = tprun('apply', lab.inventory);
    assert.is(a.code, 2, out(a));
    const r = vm.get(topo.CLIENT, `http://${topo.ORIGIN4}/`);
    assert.is(r.body.trim(), `origin saw ${topo.CLIENT4}`, r.raw);
  });

  test.run();
}
