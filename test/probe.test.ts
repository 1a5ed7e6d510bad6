/** The on-host interception probe: its script (addresses, cleanup) and its verdicts, from runs recorded on a lab router. */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { NEXT_FAMILY, parseProbe, probeAfter, probeCheck, probeFamilies, probeLastSteps, probeScript } from '../src/doctor/probe.ts';
import { guarded, TX_ROOT } from '../src/apply/tx.ts';
import { load } from './helpers.ts';

const rec = (name: string) => readFileSync(`test/fixtures/doctor/probe/${name}.txt`, 'utf8');
const inv = load(`defaults:
  tproxy: { interfaces: [lo], ports: [80], families: [ipv4, ipv6] }
  squid: { clients: [198.51.100.0/24] }
routers:
  h1: { address: 198.18.1.1 }
bridges:
  b1: { address: 198.18.1.2, bridge: { client_interface: eth1, internet_interface: eth2 } }
`).inventory!;
const h1 = inv.hosts.find((h) => h.name === 'h1')!;
const b1 = inv.hosts.find((h) => h.name === 'b1')!;
const [v4, v6] = probeFamilies(h1);

test('the script uses only documentation subnets, never this network, and removes what it made on any exit', () => {
  assert.equal([v4!.name, v6!.name], ['IPv4', 'IPv6']);
  const s = probeScript(h1, v4!).text;
  const nets = [...s.matchAll(/\b(\d{1,3}\.\d{1,3}\.\d{1,3})\.\d{1,3}\b/g)].map((m) => m[1]);
  assert.ok(nets.length > 0);
  assert.equal([...new Set(nets)].sort(), ['198.51.100', '203.0.113']);
  assert.not.match(s, /192\.0\.2\./);
  // IPv6: only 2001:db8::/32 (documentation), /126s of two /64s.
  const s6 = probeScript(h1, v6!).text;
  const cands = /TP_CANDIDATES='([^']*)'/.exec(s6)![1]!.split(' ');
  assert.is(cands.length, 4);
  for (const c of cands) {
    const a = c.split(',');
    assert.is(a.length, 6);
    for (const x of a) assert.match(x, /^2001:db8:ffff:(ffff|fffe)::[0-9a-f]*$/);
  }
  assert.equal(cands[0]!.split(','), [
    '2001:db8:ffff:ffff::',
    '2001:db8:ffff:ffff::1',
    '2001:db8:ffff:ffff::2',
    '2001:db8:ffff:fffe::',
    '2001:db8:ffff:fffe::1',
    '2001:db8:ffff:fffe::2',
  ]);
  assert.match(s6, /TP_FAMILY=6; TP_SAVE=ip6tables-save; TP_PLEN=126;/);
  assert.match(s, /TP_FAMILY=4; TP_SAVE=iptables-save; TP_PLEN=30;/);
  assert.match(s, /trap cleanup EXIT/);
  assert.match(s, /trap 'exit 130' INT TERM HUP/);
  assert.match(
    s,
    /cleanup\(\) \{[\s\S]*kill "\$origin_pid"[\s\S]*ip netns del "\$ns_c"[\s\S]*ip netns del "\$ns_o"[\s\S]*ip link del "\$v_c"[\s\S]*rm -rf "\$dir"/,
  );
  // No pkill / killall: only the pid it started.
  assert.not.match(s, /pkill|killall/);
  // A run killed before its trap ran: its /tmp directory (named with its pid) and what still runs in its namespaces go too.
  assert.match(s, /mktemp -d "\/tmp\/tprun-probe\.\$id\.XXXXXX"/);
  assert.match(s, /for d in \/tmp\/tprun-probe\.\[0-9\]\*\.\*; do\n.*\[ ! -d "\/proc\/\$p" \] && rm -rf "\$d"/);
  assert.match(s, /for q in \$\(ip netns pids "\$n" 2>\/dev\/null\); do kill "\$q"/);
  assert.match(s, /TP_PORT=80; TP_TPORT=3129; TP_MARK=0x1; TP_TABLE=100/);
});

test('a passing run: the origin saw the client through squid, with an ORIGINAL_DST line', () => {
  const r = parseProbe(rec('pass'));
  assert.ok(r.ok);
  assert.match(r.reason, /origin saw the client's own address 198\.51\.100\.\d+ through squid \(1\.1 h1 \(squid\/5\.7\)\)/);
  assert.ok(r.evidence.some((e) => /^access log: .*ORIGINAL_DST\/203\.0\.113\.\d+/.test(e)));
  const c = probeCheck(r, 'IPv4');
  assert.is(c.ok, true);
  assert.is(c.id, 'TP050 the interception probe failed (IPv4)');
});

test('a passing run through a bridge: the probe chain moved the request and the answer into routing, nothing was bridged', () => {
  for (const [name, client] of [
    ['bridge-pass', '198.51.100.254'],
    ['bridge-pass-ipv6', '2001:db8:ffff:ffff::2'],
  ] as const) {
    const r = parseProbe(rec(name));
    assert.ok(r.ok, name);
    assert.ok(r.reason.includes(`origin saw the client's own address ${client} through squid (1.1 br1 (squid/5.7))`), r.reason);
    assert.ok(
      r.evidence.includes('bridge: br0 (eth1 → tpc' + /tpc(\d+)/.exec(rec(name))![1] + ', eth2 → tpo' + /tpo(\d+)/.exec(rec(name))![1] + ', ebtables-legacy)'),
      r.evidence.join('\n'),
    );
    assert.ok(r.evidence.some((e) => /^broute client: [1-9]/.test(e)) && r.evidence.some((e) => /^broute origin: [1-9]/.test(e)), r.evidence.join('\n'));
    assert.ok(r.evidence.includes('bridged dropped: 0 requests from the client side, 0 answers from the origin side'));
  }
});

const FAILS: [string, RegExp][] = [
  ['no-fwmark', /^host → squid: TPROXY matched \d+ packets but no fwmark 0x1 rule sends them to table 100/],
  ['input-drop', /^host → squid: the INPUT chain dropped the intercepted packets .*-A INPUT -p tcp -m tcp --dport 80 -m mark --mark 0x1\/0x1 -j DROP/],
  ['squid-stopped', /^host → squid: TPROXY matched \d+ packets but nothing listens on the tproxy port 3129/],
  ['not-intercepted', /^the answer did not come through squid \(no Via header/],
  // Through a bridge (recorded on the VM lab's bridge, test/vm/bridge.test.ts).
  ['bridge-no-broute-rules', /^client side → bridge: br0 has no TPRUN_BROUTING rules, so the request was bridged, not routed to squid \(timed out\)/],
  [
    'bridge-client-side-bridged',
    /^client side → bridge: the broute rules did not move the request into routing \(no TPRUN_BROUTING rule for eth1 matched port 80\)/,
  ],
  [
    'bridge-bypassed',
    /^client side → bridge: an ACCEPT rule of TPRUN_BROUTING kept the request bridged \(a bypass matched the probe client 198\.51\.100\.254\)/,
  ],
  ['bridge-no-broute-jump', /^client side → bridge: BROUTING does not jump to TPRUN_BROUTING, so no broute rule moved the request into routing/],
  [
    'bridge-origin-side-bridged',
    /^origin side → bridge: the origin's answer was bridged, not routed back to squid \(no TPRUN_BROUTING rule for eth2 matched source port 80\)/,
  ],
  ['bridge-squid-stopped-ipv6', /^host → squid: TPROXY matched \d+ packets but nothing listens on the tproxy port 3129/],
];
for (const [name, reason] of FAILS) {
  test(`a failed run names the hop: ${name}`, () => {
    const r = parseProbe(rec(name));
    assert.is(r.ok, false);
    assert.match(r.reason, reason);
    const c = probeCheck(r, 'IPv6');
    assert.is(c.ok, false);
    assert.is(c.id, 'TP050 the interception probe failed (IPv6)');
    assert.ok(c.blocks);
    assert.match(c.hint ?? '', /The hop that failed: /);
    assert.match(c.found, reason);
  });
}

test('a router: one round trip runs the probe per family, each in its own subshell, and each family gets its own TP050', async () => {
  const scripts: string[] = [];
  const six = rec('pass')
    .replace(/198\.51\.100\.250/g, '2001:db8:ffff:ffff::2')
    .replace('probe.result=pass', 'probe.result=fail')
    .replace(/probe\.reason=.*/, 'probe.reason=client → host: not intercepted');
  // The IPv4 part passes; the IPv6 part fails; a run cut short after IPv4 fails IPv6 with its stderr.
  for (const [stdout, want6] of [
    [`${rec('pass')}${NEXT_FAMILY}\n${six}`, /^client → host: not intercepted/],
    [`${rec('pass')}${NEXT_FAMILY}\n`, /ended without a result: Connection reset/],
  ] as const) {
    const conn = {
      roundTrips: 0,
      run: async (x: string) => (scripts.push(x), { stdout, stderr: 'Connection reset\n', code: 0 }),
      close: async () => undefined,
    };
    const checks = await probeAfter(h1, conn);
    assert.equal(
      checks.map((c) => [c.id, c.ok]),
      [
        ['TP050 the interception probe failed (IPv4)', true],
        ['TP050 the interception probe failed (IPv6)', false],
      ],
    );
    assert.match(checks[1]!.found, want6);
  }
  assert.is(scripts.length, 2, 'one round trip per run');
  assert.match(scripts[0]!, /\(\nTP_FAMILY=4;[\s\S]*\n\)\necho @@tprun-probe-next-family\n\(\nTP_FAMILY=6;[\s\S]*\n\)\nif tprun_changing /);
});

test('no verdict from a probe on a host a transaction changes: not started while one runs, refused when one ran meanwhile (real sh)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tprun-probe-lock-'));
  try {
    const inDir = (text: string) => text.replaceAll(`R=${TX_ROOT}`, `R=${dir}`);
    const run = (body: string) => spawnSync('sh', ['-c', inDir(guarded(body))], { encoding: 'utf8' }).stdout;
    const st = (pid: number) => readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/.*\) /s, '').split(' ')[19];
    assert.is(run('echo PROBED'), 'PROBED\n');
    // A live runner: the probe does not start.
    writeFileSync(join(dir, 'lock'), `run r1\nuser alice\ncontroller ctl\nsince now\ntx ${process.pid} ${st(process.pid)}\n`);
    assert.match(run('echo PROBED'), /^@@tprun-lock moved run=r1 user=alice/);
    rmSync(join(dir, 'lock'));
    // One that started while the probe ran: its line comes last, and probeAfter gives no verdict.
    const out = run(`echo PROBED\nmkdir -p $R/tx/r2 && : > $R/tx/r2/journal && echo r2 > $R/last`);
    assert.match(out, /^PROBED\n@@tprun-lock moved /);
    const conn = { roundTrips: 0, run: async () => ({ stdout: out, stderr: '', code: 0 }), close: async () => undefined };
    await probeAfter(h1, conn).then(
      () => assert.unreachable('a probe during a transaction must not give a verdict'),
      (e: Error) => assert.match(e.message, /a transaction ran on the host while it was probed .*no verdict: check again/),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a probe cut short (no result line) is a failure that says so', () => {
  const r = parseProbe('probe.client=198.51.100.250\n', 'Connection reset\n');
  assert.is(r.ok, false);
  assert.match(r.reason, /ended without a result: Connection reset/);
});

test('on a bridge the probe runs too: one round trip, both families, each with the bridge part before the probe', async () => {
  const scripts: string[] = [];
  const stdout = `${rec('bridge-pass')}@@tprun-probe-next-family\n${rec('bridge-pass-ipv6')}`;
  const conn = { roundTrips: 0, run: async (x: string) => (scripts.push(x), { stdout, stderr: '', code: 0 }), close: async () => undefined };
  const checks = await probeAfter(b1, conn);
  assert.is(scripts.length, 1);
  assert.equal(
    checks.map((c) => [c.id, c.ok, c.blocks]),
    [
      ['TP050 the interception probe failed (IPv4)', true, true],
      ['TP050 the interception probe failed (IPv6)', true, true],
    ],
  );
  assert.match(checks[1]!.found, /origin saw the client's own address 2001:db8:ffff:ffff::2 through squid \(1\.1 br1/);
  for (const f of [v4!, v6!]) {
    const s = probeScript(b1, f).text;
    assert.match(
      s,
      /\nTP_CIF=eth1; TP_IIF=eth2\n# The interception probe through a bridge's two sides[\s\S]*\n# The interception probe \(src\/doctor\/probe\.ts/,
    );
    assert.not.match(s, /pkill|killall/);
  }
  assert.not.match(probeScript(h1, v4!).text, /TP_CIF|bridge_setup\(\)/);
});

/**
 * The bridge part run for real in a local sh, with ip, bridge and ebtables replaced by a log of
 * their calls (ebtables lists what was added, and the recorded TPRUN_BROUTING of the VM).
 */
function simulateBridge(family: 4 | 6): { calls: string[]; out: string } {
  const dir = mkdtempSync(join(tmpdir(), 'tprun-probe-test-'));
  try {
    copyFileSync('test/fixtures/doctor/probe/bridge-broute-listing.txt', join(dir, 'listing'));
    const body = readFileSync('src/doctor/probe-bridge.sh', 'utf8');
    const probe = readFileSync('src/doctor/probe.sh', 'utf8');
    const cleanup = /\ncleanup\(\) \{\n[\s\S]*?\n\}\n/.exec(probe)![0];
    const stubs = `log=${dir}/log; : > $log
ip() { echo "ip $*" >> $log; }
bridge() { echo "bridge $*" >> $log; }
fake_eb() {
  echo "eb $*" >> $log
  case "$*" in
    "-t broute -L BROUTING") echo "-j TPRUN_BROUTING"; sed -n 's/^eb -t broute -I BROUTING 1 //p' $log ;;
    "-t broute -L TPRUN_BROUTING") cat ${dir}/listing ;;
    "-t broute -L") sed -n 's/^eb -t broute -N \\([^ ]*\\) .*/Bridge chain: \\1, entries: 0, policy: ACCEPT/p' $log ;;
    "-t filter -L FORWARD") sed -n 's/^eb -t filter -I FORWARD 1 //p' $log ;;
  esac
  return 0
}
bridge_ebtables() { echo fake_eb; }
say() { printf '%s\n' "$*"; }
fail() { say "probe.result=fail"; say "probe.reason=$1"; exit 1; }
`;
    const script = `${stubs}TP_CIF=eth1; TP_IIF=eth2; TP_FAMILY=${family}; TP_PORT=80; TP_CANDIDATES=''
id=4242; dir=${dir}/work; mkdir -p $dir; ns_c=tprun-probe-c-$id; ns_o=tprun-probe-o-$id; v_c=tpc$id; v_o=tpo$id; origin_pid=""
${body}
${cleanup}
# bridge_prepare's checks of /sys need a real bridge: only its names and the ebtables choice here.
br=br0; EB=fake_eb; eb_chain=TPRUN_PROBE_$id; mac_a=fe:7b:00:10:92:01; mac_c=fe:7b:00:10:92:02; mac_b=fe:7b:00:10:92:03; mac_o=fe:7b:00:10:92:04
if [ "$TP_FAMILY" = 6 ]; then eb_plen=128; eb_ip=ip6; nodad=nodad; client=2001:db8:ffff:ffff::2; origin=2001:db8:ffff:fffe::2; else eb_plen=32; eb_ip=ip; nodad=""; client=198.51.100.254; origin=203.0.113.254; fi
bridge_setup || echo SETUP-FAILED
echo "@@cleanup" >> $log
cleanup
if [ -d "$dir" ]; then echo DIR-LEFT; fi
`;
    writeFileSync(join(dir, 'script.sh'), script);
    const r = spawnSync('sh', [join(dir, 'script.sh')], { encoding: 'utf8' });
    assert.is(r.status, 0, r.stderr);
    assert.not.match(r.stdout, /DIR-LEFT/);
    return { calls: readFileSync(join(dir, 'log'), 'utf8').trim().split('\n'), out: r.stdout };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

for (const family of [4, 6] as const) {
  test(`a bridge (IPv${family}): the host's own TPRUN_BROUTING rules are copied with the two ports renamed to the probe's`, () => {
    const { calls, out } = simulateBridge(family);
    assert.not.match(out, /SETUP-FAILED/);
    const copied = calls.filter((c) => c.startsWith('eb -t broute -A TPRUN_PROBE_4242 ')).map((c) => c.slice('eb -t broute -A TPRUN_PROBE_4242 '.length));
    assert.equal(copied, [
      '-p IPv4 --ip-src 198.51.100.7 -j ACCEPT',
      '-p IPv4 --ip-dst 198.51.100.7 -j ACCEPT',
      '-p IPv6 --ip6-src 2001:db8:c::7 -j ACCEPT',
      '-p IPv6 --ip6-dst 2001:db8:c::7 -j ACCEPT',
      '-p IPv6 -i tpc4242 --ip6-proto tcp --ip6-dport 80 -j redirect --redirect-target DROP',
      '-p IPv4 -i tpc4242 --ip-proto tcp --ip-dport 80 -j redirect --redirect-target DROP',
      '-p IPv6 -i tpo4242 --ip6-proto tcp --ip6-sport 80 -j redirect --redirect-target DROP',
      '-p IPv4 -i tpo4242 --ip-proto tcp --ip-sport 80 -j redirect --redirect-target DROP',
    ]);
    // The chain ends in ACCEPT (keep bridging, which the FORWARD drops stop), and only the probe's ports jump to it, first.
    assert.ok(calls.includes('eb -t broute -N TPRUN_PROBE_4242 -P ACCEPT'));
    assert.equal(
      calls.filter((c) => c.startsWith('eb -t broute -I BROUTING')),
      ['eb -t broute -I BROUTING 1 -i tpo4242 -j TPRUN_PROBE_4242', 'eb -t broute -I BROUTING 1 -i tpc4242 -j TPRUN_PROBE_4242'],
    );
    // Nothing bridged to or from a probe port; no link-local addresses on any of its interfaces.
    for (const d of ['-i tpc4242', '-i tpo4242', '-o tpc4242', '-o tpo4242']) assert.ok(calls.includes(`eb -t filter -I FORWARD 1 ${d} -j DROP`), d);
    assert.is(calls.filter((c) => /addrgenmode none/.test(c)).length, 2 + 2);
    assert.ok(calls.every((c) => !/ link set tp[co]4242 up/.test(c) || calls.indexOf(c) > calls.findIndex((x) => /tp[co]4242 addrgenmode none/.test(x))));
  });

  test(`a bridge (IPv${family}): the cleanup removes every thing the setup made`, () => {
    const { calls } = simulateBridge(family);
    const at = calls.indexOf('@@cleanup');
    const setup = calls.slice(0, at);
    const cleanup = calls.slice(at + 1);
    const removed = (c: string) => assert.ok(cleanup.includes(c), `not removed: ${c}\ncleanup: ${cleanup.join('\n')}`);
    const made: string[] = [];
    for (const c of setup) {
      let m: RegExpExecArray | null;
      if ((m = /^ip netns add (\S+)$/.exec(c))) removed(`ip netns del ${m[1]}`);
      else if ((m = /^ip link add (\S+) /.exec(c))) removed(`ip link del ${m[1]}`);
      else if ((m = /^eb -t filter -I FORWARD 1 (.*)$/.exec(c))) removed(`eb -t filter -D FORWARD ${m[1]}`);
      else if ((m = /^eb -t broute -N (\S+) /.exec(c))) removed(`eb -t broute -X ${m[1]}`);
      else if ((m = /^eb -t broute -I BROUTING 1 (.*)$/.exec(c))) removed(`eb -t broute -D BROUTING ${m[1]}`);
      else if ((m = /^ip -(\d) route add (\S+)\/\d+ dev br0 (proto 123 metric 4242)$/.exec(c))) removed(`ip -${m[1]} route del ${m[2]} dev br0 ${m[3]}`);
      else if ((m = /^ip -\d neigh replace (\S+) lladdr \S+ dev br0 nud permanent$/.exec(c))) removed(`ip neigh del ${m[1]} dev br0`);
      // Gone with what holds them: a namespace's own settings, the probe chain's rules, a port's FDB entries and settings.
      else if (
        /^ip netns exec tprun-probe-[co]-4242 /.test(c) ||
        /^eb -t broute -A TPRUN_PROBE_4242 /.test(c) ||
        /^bridge fdb replace \S+ dev tp[co]4242 master static$/.test(c)
      )
        continue;
      else if (/^ip link set tp[co]4242 (addrgenmode none|master br0|up)$/.test(c) || /^eb -t broute -L/.test(c)) continue;
      else made.push(c);
    }
    assert.equal(made, [], 'every call of the setup is known to the test');
    // The FDB entries and the ports' settings go with the ports, which the cleanup deletes.
    removed('ip link del tpc4242');
    removed('ip link del tpo4242');
  });
}

test("apply --probe: the probe is the transaction's last step and fails it with the reason on stderr, on routers and bridges", () => {
  const steps = probeLastSteps(h1);
  assert.equal(
    steps.map((s) => s.id),
    ['interception probe (IPv4)', 'interception probe (IPv6)'],
  );
  const [step] = steps;
  assert.equal(step!.undo, []);
  assert.match(step!.commands[0]!.text, /TP_TX=1/);
  assert.match(probeScript(h1, v4!).text, /TP_TX=0/);
  const bridge = probeLastSteps(b1);
  assert.equal(
    bridge.map((s) => s.id),
    ['interception probe (IPv4)', 'interception probe (IPv6)'],
  );
  assert.match(bridge[1]!.commands[0]!.text, /TP_FAMILY=6;[\s\S]*TP_TX=1[\s\S]*TP_CIF=eth1; TP_IIF=eth2/);
});

test.run();
