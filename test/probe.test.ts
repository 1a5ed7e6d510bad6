/** The on-host interception probe: its script (addresses, cleanup) and its verdicts, from runs recorded on a lab router. */
import { readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { NEXT_FAMILY, parseProbe, probeAfter, probeCheck, probeFamilies, probeLastSteps, probeScript } from '../src/doctor/probe.ts';
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

const FAILS: [string, RegExp][] = [
  ['no-fwmark', /^host → squid: TPROXY matched \d+ packets but no fwmark 0x1 rule sends them to table 100/],
  ['input-drop', /^host → squid: the INPUT chain dropped the intercepted packets .*-A INPUT -p tcp -m tcp --dport 80 -m mark --mark 0x1\/0x1 -j DROP/],
  ['squid-stopped', /^host → squid: TPROXY matched \d+ packets but nothing listens on the tproxy port 3129/],
  ['not-intercepted', /^the answer did not come through squid \(no Via header/],
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
  assert.match(scripts[0]!, /\(\nTP_FAMILY=4;[\s\S]*\n\)\necho @@tprun-probe-next-family\n\(\nTP_FAMILY=6;[\s\S]*\n\)\n$/);
});

test('a probe cut short (no result line) is a failure that says so', () => {
  const r = parseProbe('probe.client=198.51.100.250\n', 'Connection reset\n');
  assert.is(r.ok, false);
  assert.match(r.reason, /ended without a result: Connection reset/);
});

test('on a bridge the probe does not run yet: a warning that says so, no script sent', async () => {
  let sent = 0;
  const conn = { roundTrips: 0, run: async () => (sent++, { stdout: '', stderr: '', code: 0 }), close: async () => undefined };
  const checks = await probeAfter(b1, conn);
  assert.is(checks.length, 2, 'one per family');
  const c = checks[0];
  assert.is(sent, 0);
  assert.equal([c!.ok, c!.blocks], [false, false]);
  assert.match(c!.found, /not implemented yet \(routers only\)/);
});

test("apply --probe: the probe is the transaction's last step and fails it with the reason on stderr; not on bridges yet", () => {
  const steps = probeLastSteps(h1);
  assert.equal(
    steps.map((s) => s.id),
    ['interception probe (IPv4)', 'interception probe (IPv6)'],
  );
  const [step] = steps;
  assert.equal(step!.undo, []);
  assert.match(step!.commands[0]!.text, /TP_TX=1/);
  assert.match(probeScript(h1, v4!).text, /TP_TX=0/);
  assert.equal(probeLastSteps(b1), []);
});

test.run();
