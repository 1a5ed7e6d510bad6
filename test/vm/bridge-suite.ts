/**
 * A bridge host for real (QEMU VM, Debian 12 or 13 with its own kernel), shared by
 * bridge.test.ts (Debian 12: ebtables-legacy's broute table) and bridge13.test.ts (Debian 13:
 * native nftables meta broute once ebtables-legacy is removed; nftables.service enabled with its
 * stock flush-ruleset config). tprun configures it from the inventory alone, a client's requests are intercepted over IPv4 and
 * IPv6 on their way through the bridge, bypassed clients pass untouched, the live probe passes
 * through the bridge's two sides without a frame of it leaving through the real ports and fails
 * naming the hop when the broute rules or squid are broken, drift in the broute chain is found
 * and repaired, and after a reboot it is still compliant and intercepting.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import * as topo from './topology.ts';
import * as vm from './vmlab.ts';
import { beforeLab, skipReason, timed } from './skip.ts';
import { probeFamilies, probeScript } from '../../src/doctor/probe.ts';
import { PRELUDE } from '../../src/protocol.ts';
import { load } from '../helpers.ts';
import { udpProbe } from '../udp-probe.ts';

export function bridgeSuite(release: vm.Release): void {
  const test = suite(`bridge (Debian ${release})`);
  const nft = release === '13';
  const skip = skipReason();
  const t = skip ? test.skip : test;
  /** Only where the broute is ebtables-legacy's: doctor --probe drives ebtables-legacy. */
  const lt = skip || nft ? test.skip : test;
  /** Only on Debian 13 (nft broute, nftables.service). */
  const nt = skip || !nft ? test.skip : test;
  if (skip) console.log(`VM bridge tests skipped: ${skip}`);

  let lab: topo.Lab;
  let br1: vm.Vm;
  const out = (r: { out: string; err: string }) => r.out + r.err;
  const tprun = (...args: string[]) => vm.tprunInCtl(args);
  const url = (f: 4 | 6) => (f === 4 ? `http://${topo.ORIGIN4}/` : `http://[${topo.ORIGIN6}]/`);

  /** Counters of the broute rules (ebtables-legacy's chain, or nft's table), rule text → packets. */
  function counters(): Map<string, number> {
    const r = vm.onVm(br1, nft ? 'nft list table bridge tprun' : 'ebtables-legacy -t broute -L TPRUN_BROUTING --Lc');
    assert.is(r.code, 0, out(r));
    const m = new Map<string, number>();
    for (const line of r.out.split('\n')) {
      const c = nft ? /^\s*(.*?) counter packets (\d+) bytes \d+(.*)$/.exec(line) : /^(.*?) *, pcnt = (\d+)/.exec(line);
      if (c) m.set(`${c[1]!.trim()}${c[3] ?? ''}`, Number(c[2]));
    }
    return m;
  }
  /** The rules' texts in each implementation. */
  const RULE = nft
    ? {
        v4c: /iifname "eth1" ip protocol tcp tcp dport 80/,
        v4o: /iifname "eth2" ip protocol tcp tcp sport 80/,
        v6c: /iifname "eth1" ip6 nexthdr tcp tcp dport 80/,
        v6o: /iifname "eth2" ip6 nexthdr tcp tcp sport 80/,
        bypass: /^(?!.*broute).* accept$/,
        broute: /meta broute set 1/,
      }
    : {
        v4c: /-p IPv4 -i eth1 .*--ip-dport 80/,
        v4o: /-p IPv4 -i eth2 .*--ip-sport 80/,
        v6c: /-p IPv6 -i eth1 .*--ip6-dport 80/,
        v6o: /-p IPv6 -i eth2 .*--ip6-sport 80/,
        bypass: /ACCEPT/,
        broute: /DROP/,
      };
  const sum = (m: Map<string, number>, re: RegExp) => [...m].filter(([k]) => re.test(k)).reduce((a, [, v]) => a + v, 0);

  function intercepted(f: 4 | 6): void {
    const r = vm.get(topo.CLIENT, url(f));
    assert.is(r.status, 200, r.raw);
    assert.is(r.body.trim(), `origin saw ${f === 4 ? topo.CLIENT4 : topo.CLIENT6}`, "the origin must see the client's own address");
    assert.match(r.via ?? '', /\bbr1 \(squid\/\d/, `squid's Via header expected: ${r.raw}`);
  }

  beforeLab(test, async () => {
    if (skip) return;
    const s = await timed(() => topo.bring('bridge', release));
    lab = s.value;
    br1 = lab.vms[0]!;
    console.log(`  bridge VM lab up in ${s.seconds.toFixed(1)} s (restore + identity ${br1.restoreSeconds.toFixed(1)} s)`);
  });
  test.after(() => {
    if (!skip) vm.down();
  });

  t(
    'before tprun: the bridge only bridges (no squid in the path); the broute requirement passes through ebtables-legacy, never the default ebtables-nft',
    () => {
      const r = vm.get(topo.CLIENT, url(4));
      assert.is(r.status, 200, r.raw);
      assert.is(r.body.trim(), `origin saw ${topo.CLIENT4}`);
      assert.is(r.via, undefined);
      const eb = vm.onVm(br1, 'ebtables --version; ebtables -t broute -L 2>&1; ebtables-legacy -t broute -L');
      assert.match(eb.out, /nf_tables/, `Debian ${release} defaults to ebtables-nft`);
      // The broute requirement is the ebtables role's (kernel-check always runs too); drift (exit 2)
      // is expected before apply, a failed requirement (exit 4) is not.
      const c = tprun('check', lab.inventory, '--roles', 'ebtables', '--report', 'json:-');
      assert.is(c.code, 2, `the requirements must pass on Debian ${release}'s kernel: ${out(c)}`);
      const checks = JSON.parse(c.out).hosts[0].checks as { id: string; found: string; ok: boolean; blocks: boolean }[];
      assert.ok(
        checks.every((x) => x.ok || !x.blocks),
        out(c),
      );
      const found = Object.fromEntries(checks.map((x) => [x.id, x.found]));
      assert.is(found['require bridge broute'], 'ebtables-legacy (its broute table works)');
      assert.match(found['require kernel CONFIG_NETFILTER_XT_TARGET_TPROXY'] ?? '', nft ? /=m \(\/boot\/config-6\.12\./ : /=m \(\/boot\/config-6\.1\./);
    },
  );

  lt('without ebtables-legacy (Debian 12: no nft broute), the broute requirement blocks the bridge and says what to install', () => {
    assert.is(vm.onVm(br1, 'mv /usr/sbin/ebtables-legacy /usr/sbin/ebtables-legacy.off').code, 0);
    try {
      const c = tprun('check', lab.inventory);
      assert.is(c.code, 4, out(c));
      assert.match(
        out(c),
        /no usable broute: ebtables-legacy not installed; nft not installed; the default ebtables is ebtables 1\.8\.9 \(nf_tables\), never used/,
      );
      assert.match(out(c), /apt-get install ebtables/);
    } finally {
      vm.onVm(br1, 'mv /usr/sbin/ebtables-legacy.off /usr/sbin/ebtables-legacy');
    }
  });

  nt('Debian 13 without ebtables-legacy (dpkg --purge ebtables): the broute requirement passes through nftables meta broute', () => {
    const r = vm.onVm(br1, 'dpkg --purge ebtables && ! command -v ebtables-legacy && ebtables --version');
    assert.is(r.code, 0, out(r));
    assert.match(r.out, /ebtables v?1\.8\.\d+ \(nf_tables\)/);
    const c = tprun('check', lab.inventory, '--roles', 'ebtables', '--report', 'json:-');
    assert.is(c.code, 2, out(c));
    const checks = JSON.parse(c.out).hosts[0].checks as { id: string; found: string }[];
    assert.match(checks.find((x) => x.id === 'require bridge broute')?.found ?? '', /^nftables bridge meta broute \(nftables v1\.1\.\d+ .*kernel 6\.12\./);
  });

  t('apply from the controller configures the bridge from the inventory alone', () => {
    const r = tprun('apply', lab.inventory);
    assert.is(r.code, 2, out(r)); // changes applied
    assert.match(r.out, /^br1: changed/m);
  });

  t('IPv4 and IPv6 through the bridge are intercepted: the origin sees the client, squid logs ORIGINAL_DST, the broute DROP counters move', () => {
    const before = counters();
    intercepted(4);
    intercepted(6);
    const after = counters();
    for (const re of [RULE.v4c, RULE.v4o, RULE.v6c, RULE.v6o]) {
      assert.ok(sum(after, re) > sum(before, re), `broute rule ${re} did not count: ${JSON.stringify([...after])}`);
    }
    const log = vm.onVm(br1, 'cat /var/log/squid/access.log').out;
    assert.match(log, /198\.51\.100\.2 TCP_MISS\/200 .* ORIGINAL_DST\/203\.0\.113\.2/);
    assert.match(log, /2001:db8:c::2 TCP_MISS\/200 .* ORIGINAL_DST\/2001:db8:5::2/);
  });

  t('bypassed clients pass untouched in both directions (no DROP counter moves, no squid)', () => {
    for (const [f, from] of [
      [4, topo.BYPASS4],
      [6, topo.BYPASS6],
    ] as const) {
      const before = counters();
      const r = vm.get(topo.CLIENT, url(f), { from });
      assert.is(r.status, 200, r.raw);
      assert.is(r.body.trim(), `origin saw ${from}`);
      assert.is(r.via, undefined, `a bypassed client must not go through squid: ${r.raw}`);
      const after = counters();
      assert.ok(sum(after, RULE.bypass) > sum(before, RULE.bypass), 'the bypass rule must count');
      assert.is(
        sum(after, RULE.broute),
        sum(before, RULE.broute),
        `no DROP rule may count for a bypassed client (IPv${f}): before ${JSON.stringify([...before])} after ${JSON.stringify([...after])}`,
      );
    }
  });

  t('check is then compliant (exit 0)', () => {
    const c = tprun('check', lab.inventory);
    assert.is(c.code, 0, out(c));
    assert.match(c.out, /^br1: compliant/m);
  });

  type Family = 'IPv4' | 'IPv6';
  type ProbeCheck = { ok: boolean; found: string };

  /** doctor --probe on br1: the TP050 check of each family from the JSON report, the exit code and the seconds it took. */
  function probe(): { code: number; tp050: Record<Family, ProbeCheck>; text: string; seconds: number } {
    const t0 = Date.now();
    const r = tprun('doctor', lab.inventory, '--probe', '--report', 'json:-');
    const seconds = (Date.now() - t0) / 1000;
    const checks = JSON.parse(r.out).hosts[0].checks as ({ id: string } & ProbeCheck)[];
    const tp050 = (f: Family) => checks.find((c) => c.id === `TP050 the interception probe failed (${f})`)!;
    return { code: r.code, tp050: { IPv4: tp050('IPv4'), IPv6: tp050('IPv6') }, text: out(r), seconds };
  }

  /** What a probe could leave behind on br1: namespaces, ports, ebtables entries, neighbours, routes, FDB entries, its /tmp dir, its origin. */
  function leftovers(): string {
    const r = vm.onVm(
      br1,
      `ip netns list
  ip -o link show | grep -E ': tp[co][0-9]+[@:]'
  ebtables-legacy -t broute -L | grep TPRUN_PROBE
  ebtables-legacy -t filter -L FORWARD | grep -E 'tp[co][0-9]'
  ip neigh show | grep fe:7b
  ip -4 route show proto 123; ip -6 route show proto 123
  bridge fdb show | grep fe:7b
  ls -d /tmp/tprun-probe.* 2>/dev/null
  ps -eo args | grep 'python3 /tmp/tprun-prob[e]'
  true`,
    );
    return r.out.trim();
  }

  /**
   * What leaves the bridge through its real ports while f runs: tcpdump on eth1 and eth2 (outgoing
   * only), every frame with its MACs. Returns the captured lines of each port.
   */
  function captureOut<T>(f: () => T): { value: T; frames: Record<'eth1' | 'eth2', string[]> } {
    const start = vm.onVm(
      br1,
      `for i in eth1 eth2; do rm -f /root/out.$i; (tcpdump -i $i -Q out -n -e -l > /root/out.$i 2>/root/out.$i.err & echo $! > /root/out.$i.pid); done
  i=0; until grep -q listening /root/out.eth1.err && grep -q listening /root/out.eth2.err; do i=$((i+1)); [ $i -gt 100 ] && exit 1; sleep 0.1; done`,
    );
    assert.is(start.code, 0, `tcpdump did not start: ${out(start)}`);
    let value: T;
    try {
      value = f();
    } finally {
      vm.onVm(br1, 'sleep 1; for i in eth1 eth2; do kill $(cat /root/out.$i.pid); done; sleep 0.5');
    }
    const read = (i: string) => vm.onVm(br1, `cat /root/out.${i}`).out.split('\n').filter(Boolean);
    return { value, frames: { eth1: read('eth1'), eth2: read('eth2') } };
  }

  /** A frame of the probe's: its MACs (fe:7b:PID:0N) or its addresses (the probe's documentation subnets). */
  const PROBE_FRAME = /fe:7b:|198\.51\.100\.2(4\d|5[0-5])\b|203\.0\.113\.2(4\d|5[0-5])\b|2001:db8:ffff:/;

  lt('doctor --probe on the bridge passes over IPv4 and IPv6 through its two sides; no probe frame leaves through eth1 or eth2; nothing is left behind', () => {
    const { value: p, frames } = captureOut(probe);
    assert.is(p.code, 0, p.text);
    assert.ok(p.tp050.IPv4.ok && p.tp050.IPv6.ok, p.text);
    assert.match(p.tp050.IPv4.found, /the origin saw the client's own address 198\.51\.100\.\d+ through squid \(1\.1 br1 \(squid\/5\.7\)\)/);
    assert.match(p.tp050.IPv6.found, /the origin saw the client's own address 2001:db8:ffff:ffff::[0-9a-f]+ through squid \(1\.1 br1 \(squid\/5\.7\)\)/);
    for (const [port, lines] of Object.entries(frames)) {
      assert.equal(
        lines.filter((l) => PROBE_FRAME.test(l)),
        [],
        `probe frames left through ${port}`,
      );
    }
    console.log(
      `  doctor --probe on br1 (IPv4 + IPv6): ${p.seconds.toFixed(1)} s; frames out of eth1/eth2 meanwhile: ${frames.eth1.length}/${frames.eth2.length}, of the probe: 0`,
    );
    for (const [port, lines] of Object.entries(frames)) for (const l of lines) console.log(`    (not the probe's, out of ${port}: ${l.slice(0, 160)})`);
    assert.is(leftovers(), '');
  });

  lt('the probe fails naming the bridge hop when the broute rules are flushed by hand; apply --probe repairs them and its probe passes', () => {
    assert.is(vm.onVm(br1, 'ebtables-legacy -t broute -F TPRUN_BROUTING').code, 0);
    const { value: p, frames } = captureOut(probe);
    assert.is.not(p.code, 0, p.text);
    for (const f of ['IPv4', 'IPv6'] as const) {
      assert.is(p.tp050[f].ok, false, p.text);
      assert.match(p.tp050[f].found, /^client side → bridge: br0 has no TPRUN_BROUTING rules, so the request was bridged, not routed to squid \(timed out\)/);
      assert.match(p.tp050[f].found, /bridged dropped: [1-9]\d* requests from the client side/);
    }
    // The request was bridged towards the real ports: the FORWARD drops kept it on the host.
    for (const [port, lines] of Object.entries(frames))
      assert.equal(
        lines.filter((l) => PROBE_FRAME.test(l)),
        [],
        `probe frames left through ${port}`,
      );
    assert.is(leftovers(), '');
    const a = tprun('apply', lab.inventory, '--probe');
    assert.is(a.code, 2, out(a));
    assert.match(a.out, /^br1: changed/m);
    assert.is(leftovers(), '');
    // Nothing to change: the probe runs on its own round trip.
    const again = tprun('apply', lab.inventory, '--probe', '--report', 'json:-');
    assert.is(again.code, 0, out(again));
    const checks = JSON.parse(again.out).hosts[0].checks as ({ id: string } & ProbeCheck)[];
    assert.equal(
      checks.filter((c) => c.id.startsWith('TP050')).map((c) => [c.id, c.ok]),
      [
        ['TP050 the interception probe failed (IPv4)', true],
        ['TP050 the interception probe failed (IPv6)', true],
      ],
    );
    assert.is(leftovers(), '');
  });

  lt('a probe run killed before its trap ran (SIGKILL) leaves its ports, chain and entries; the next probe removes them by the dead pid and passes', () => {
    const host = load(readFileSync(lab.inventory, 'utf8')).inventory!.hosts[0]!;
    const script = Buffer.from(`${PRELUDE}\n${probeScript(host, probeFamilies(host)[0]!).text}\n`).toString('base64');
    const k = vm.onVm(
      br1,
      `echo ${script} | base64 -d > /root/probe.sh
  sh /root/probe.sh > /root/probe.out 2>&1 & p=$!
  i=0; until ip neigh show | grep -q fe:7b; do i=$((i+1)); [ $i -gt 300 ] && exit 1; sleep 0.1; done
  sleep 1; kill -KILL $p`,
    );
    assert.is(k.code, 0, out(k));
    const left = leftovers();
    for (const what of [/tprun-probe-c-\d+/, /: tpc\d+@/, /TPRUN_PROBE_\d+/, /-i tpc\d+ .*-j DROP/, /fe:7b:/, /^198\.51\.100\.\d+ dev br0 .*metric \d+ *$/m])
      assert.match(left, what);
    const p = probe();
    assert.is(p.code, 0, p.text);
    assert.ok(p.tp050.IPv4.ok && p.tp050.IPv6.ok, p.text);
    assert.is(leftovers(), '');
  });

  lt('the probe fails naming the hop when squid is stopped (TPROXY matched, nothing listens), over both families', () => {
    assert.is(vm.onVm(br1, 'systemctl stop squid').code, 0);
    try {
      const p = probe();
      assert.is.not(p.code, 0, p.text);
      for (const f of ['IPv4', 'IPv6'] as const) {
        assert.is(p.tp050[f].ok, false, p.text);
        assert.match(p.tp050[f].found, /^host → squid: TPROXY matched \d+ packets but nothing listens on the tproxy port 3129/);
        assert.match(p.tp050[f].found, /broute client: [1-9]/, 'the bridge part worked: the probe chain brouted the request');
      }
      assert.is(leftovers(), '');
    } finally {
      vm.onVm(br1, 'systemctl start squid; i=0; until ss -ltn | grep -q ":3129 "; do i=$((i+1)); [ $i -gt 120 ] && exit 1; sleep 0.5; done');
    }
    assert.is(tprun('check', lab.inventory).code, 0);
  });

  t('drift in the broute rules is found (exit 2) and repaired by apply', () => {
    const d = nft
      ? vm.onVm(
          br1,
          `h=$(nft -a list table bridge tprun | sed -n 's/.*iifname "eth1" ip protocol tcp tcp dport 80 .*# handle \\([0-9]*\\)$/\\1/p'); [ -n "$h" ] && nft delete rule bridge tprun brouting handle $h`,
        )
      : vm.onVm(br1, 'ebtables-legacy -t broute -D TPRUN_BROUTING -p IPv4 -i eth1 --ip-proto tcp --ip-dport 80 -j redirect --redirect-target DROP');
    assert.is(d.code, 0, out(d));
    const c = tprun('check', lab.inventory, '--diff');
    assert.is(c.code, 2, out(c));
    assert.match(out(c), nft ? /nft bridge tprun/ : /ebtables broute TPRUN_BROUTING/);
    const a = tprun('apply', lab.inventory);
    assert.is(a.code, 2, out(a));
    assert.is([...counters().keys()].filter((k) => RULE.broute.test(k)).length, 4, JSON.stringify([...counters()]));
    assert.is(tprun('check', lab.inventory).code, 0);
    intercepted(4);
  });

  nt(
    'nftables.service restart (stock flush ruleset): without the drop-in the rules are gone and check says so; with it they come back by themselves',
    async () => {
      // The interception rules of either backend (auto picks nftables on Debian 13, whose
      // nftables.service is enabled), and the bridge's nft broute table.
      const rulesUp = () =>
        vm.onVm(
          br1,
          '{ nft list table inet tprun || { iptables -t mangle -S TPRUN_PREROUTING && ip6tables -t mangle -S TPRUN_PREROUTING; }; } >/dev/null 2>&1 && nft list table bridge tprun >/dev/null 2>&1',
        ).code === 0;
      const dropin = '/etc/systemd/system/nftables.service.d/50-tprun.conf';
      assert.ok(rulesUp());
      // Without tprun's drop-in: the stock restart flushes tprun's rules, and nothing brings them back.
      assert.is(vm.onVm(br1, `mv ${dropin} /root/dropin.off && systemctl daemon-reload && systemctl restart nftables`).code, 0);
      // systemctl returns once the restart has run: the flush is done.
      assert.not.ok(rulesUp(), "the stock nftables restart must flush tprun's rules (else this test proves nothing)");
      const gone = tprun('check', lab.inventory);
      assert.is(gone.code, 2, `check must not say compliant while the rules are gone: ${out(gone)}`);
      // Nothing brought them back while check ran (no fixed wait: the check's own time is the proof).
      assert.not.ok(rulesUp(), "without the drop-in tprun's rules must stay gone");
      const a = tprun('apply', lab.inventory);
      assert.is(a.code, 2, out(a));
      assert.ok(rulesUp());
      // With it (apply put it back and reloaded systemd): restart and reload both restore them.
      for (const how of ['restart', 'reload']) {
        const t0 = Date.now();
        assert.is(vm.onVm(br1, `systemctl ${how} nftables`).code, 0);
        let up = rulesUp();
        while (!up && Date.now() - t0 < 60_000) {
          await new Promise((r) => setTimeout(r, 1000));
          up = rulesUp();
        }
        assert.ok(up, `tprun's rules did not come back after systemctl ${how} nftables`);
        console.log(`  systemctl ${how} nftables: tprun's rules back ${((Date.now() - t0) / 1000).toFixed(1)} s after the command started`);
        const c = tprun('check', lab.inventory);
        assert.is(c.code, 0, out(c));
        intercepted(4);
        intercepted(6);
      }
    },
  );

  /**
   * One UDP datagram from the client to the origin's port (through the bridge and the router),
   * with a one-shot listener in the origin that answers it: "reply" when it arrived and the answer
   * came back, "timeout" when nothing came back; `origin` is what the listener saw ("nothing").
   */
  function udp(f: 4 | 6, port: number): { client: string; origin: string } {
    return udpProbe({
      clientNs: topo.CLIENT,
      originNs: topo.ORIGIN,
      addr: f === 4 ? topo.ORIGIN4 : topo.ORIGIN6,
      family: f,
      port,
      state: vm.STATE,
      seconds: 4,
    });
  }

  // Part of npm test again: its one failure in a CI-like run (2026-12-07: the IPv4 control
  // datagram "refused", the listener's log "nothing") was the probe's listener giving up
  // seconds + 2 after it bound, before a slow-starting client sent (test/udp-probe.ts now waits
  // for the client). Whatever it ends in, br1 goes back to the suite's inventory after it.
  nt(
    "block_quic on the bridge (nftables backend): UDP/443 dropped in table bridge tprun_quic over both families while a control UDP port passes; port 80 still intercepted by the bridge's own squid; off removes the table",
    () => {
      try {
        blockQuic();
      } finally {
        // A failure above must not leave block_quic on for the tests after it.
        tprun('apply', lab.inventory);
      }
    },
  );

  /** block_quic on br1, proven and turned off again (the test above restores br1 whatever happens). */
  function blockQuic(): void {
    const t0 = Date.now();
    const inv = lab.inventory.replace(/\.yml$/, '-quic.yml');
    writeFileSync(inv, readFileSync(lab.inventory, 'utf8').replace(/^( {2}br1: \{.*) \}$/m, '$1, tproxy: { block_quic: true } }'));
    const quicCounter = () => Number(/packets (\d+)/.exec(vm.onVm(br1, 'nft list counter bridge tprun_quic quic').out)?.[1] ?? -1);
    const nftFile = () => vm.onVm(br1, 'cat /etc/tprun/nftables.nft').out;
    // Before: UDP/443 crosses the bridge (the control for what block_quic changes).
    for (const f of [4, 6] as const) assert.is(udp(f, 443).client, 'reply', `IPv${f} UDP/443 must cross the bridge before block_quic`);
    const a = tprun('apply', inv);
    assert.is(a.code, 2, out(a));
    assert.match(vm.onVm(br1, 'cat /etc/tprun/firewall-backend').out, /^nftables$/m, 'the backend auto picks on Debian 13');
    assert.match(nftFile(), /tprun_quic/, 'the boot file loads the bridge table too');
    assert.is(quicCounter(), 0);
    for (const f of [4, 6] as const) {
      const q = udp(f, 443);
      assert.is(q.client, 'timeout', `IPv${f} UDP/443: ${JSON.stringify(q)}`);
      assert.is(q.origin, 'nothing', `IPv${f} UDP/443 reached the origin`);
      const c = udp(f, 4443);
      assert.is(c.client, 'reply', `IPv${f} control UDP/4443 must still cross the bridge: ${JSON.stringify(c)}`);
    }
    assert.is(quicCounter(), 2, 'one datagram per family counted by the bridge table');
    // The bridge's own interception beside it: brouted to its own squid, ORIGINAL_DST logged.
    const before = counters();
    intercepted(4);
    intercepted(6);
    const after = counters();
    for (const re of [RULE.v4c, RULE.v6c]) assert.ok(sum(after, re) > sum(before, re), `broute rule ${re} did not count`);
    const log = vm.onVm(br1, 'tail -n 4 /var/log/squid/access.log').out;
    assert.match(log, /198\.51\.100\.2 TCP_MISS\/200 .* ORIGINAL_DST\/203\.0\.113\.2/, log);
    assert.match(log, /2001:db8:c::2 TCP_MISS\/200 .* ORIGINAL_DST\/2001:db8:5::2/, log);
    assert.is(quicCounter(), 2, 'port 80 never counted as QUIC');
    const c = tprun('check', inv);
    assert.is(c.code, 0, out(c));
    // Off: the table and its part of the boot file go; UDP/443 crosses again; still intercepting.
    const off = tprun('apply', lab.inventory);
    assert.is(off.code, 2, out(off));
    const gone = vm.onVm(br1, 'nft list table bridge tprun_quic');
    assert.is.not(gone.code, 0, `table bridge tprun_quic is still there: ${gone.out}`);
    assert.not.match(nftFile(), /tprun_quic/);
    for (const f of [4, 6] as const) assert.is(udp(f, 443).client, 'reply', `IPv${f} UDP/443 must cross again with block_quic off`);
    intercepted(4);
    assert.is(tprun('check', lab.inventory).code, 0);
    console.log(`  block_quic on the bridge, on and off: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }

  t('after a reboot the bridge is compliant and intercepting (tprun-boot, sysctl.d, squid enabled)', async () => {
    const secs = await vm.reboot(br1);
    console.log(`  br1 rebooted in ${secs.toFixed(1)} s`);
    // squid may still be starting: wait for its tproxy port.
    vm.onVm(br1, 'i=0; until ss -ltn | grep -q ":3129 "; do i=$((i+1)); [ $i -gt 120 ] && exit 1; sleep 1; done');
    const c = tprun('check', lab.inventory);
    assert.is(c.code, 0, out(c));
    intercepted(4);
    intercepted(6);
  });
  test.run();
}
