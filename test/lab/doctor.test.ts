/**
 * tprun doctor on the namespace lab: a compliant router (h1, between the client and the origin)
 * is broken one way at a time, and doctor must name that cause and only that one; then the
 * break is undone by hand (not by apply, which would reset the rule counters doctor reads).
 */
import { readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as lab from './lab.ts';
import { assertValidJson } from '../report-check.ts';

const skip = lab.preflight();
const t = skip ? test.skip : test;
if (skip) console.log(`doctor lab tests skipped: ${skip}`);

let inv = '';
let tmpBefore = new Set<string>();
const tprun = (...args: string[]) => lab.tprunInCtl(args);
const out = (r: { out: string; err: string }) => r.out + r.err;
const CONF = '/etc/squid/squid.conf';
const waitStopped = `squid -k interrupt -f ${CONF}; i=0; while squid -k check -f ${CONF} 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done; sleep 0.3`;
const waitListening = (port: number) => `i=0; until ss -ltn | grep -q ':${port} '; do i=$((i+1)); [ $i -gt 100 ] && exit 1; sleep 0.1; done`;
const startSquid = `squid -f ${CONF} && ${waitListening(3129)} && ${waitListening(3128)}`;
const reconfigure = `squid -k reconfigure -f ${CONF} && sleep 1.5`;

function on(cmd: string): string {
  const r = lab.onHost(1, cmd);
  assert.is(r.code, 0, `on h1: ${cmd}\n${r.out}`);
  return r.out;
}

/** Run doctor on h1; the ids of its failed checks (findings and warnings) from the JSON report. */
function doctor(): { code: number; ids: string[]; text: string } {
  const file = `${lab.STATE}/doctor.json`;
  const r = tprun('doctor', inv, '--report', `json:${file}`);
  const json = assertValidJson(readFileSync(file, 'utf8'));
  const ids = json.hosts[0].checks.filter((c: { ok: boolean }) => !c.ok).map((c: { code: string }) => c.code);
  return { code: r.code, ids, text: out(r) };
}

test.before(() => {
  if (skip) return;
  lab.up({ hosts: 1, proof: true });
  inv = lab.writeInventory('doctor', { routers: [1] });
  tmpBefore = new Set(lab.nsExec(lab.CTL, 'ls -d /tmp/tprun-probe.* 2>/dev/null; true').split('\n').filter(Boolean));
  const a = tprun('apply', inv);
  // 2: changes applied (Puppet's detailed exit codes).
  if (a.code !== 2) throw new Error(`apply failed: ${out(a)}`);
  // One intercepted request, so the TPROXY counters and access.log show life.
  const r = lab.clientGet(4);
  if (!/origin saw 198\.51\.100\.2/.test(r.body)) throw new Error(`interception does not work: ${r.raw}`);
});
test.after(() => {
  if (!skip) lab.down();
});

t('a compliant host with traffic: healthy, exit 0, every check passed', () => {
  const d = doctor();
  assert.is(d.code, 0, d.text);
  assert.equal(d.ids, []);
  assert.match(d.text, /^h1: healthy/m);
});

interface Break {
  name: string;
  code: string;
  tamper: string;
  undo: string;
  saw: RegExp;
}

const BREAKS: Break[] = [
  {
    name: 'the fwmark rule deleted',
    code: 'TP010',
    tamper: 'ip -4 rule del fwmark 0x1/0x1 lookup 100',
    undo: 'ip -4 rule add fwmark 0x1/0x1 lookup 100',
    saw: /saw: +ip -4 rule: no "fwmark 0x1\/0x1 lookup 100"/,
  },
  {
    name: 'the local route deleted',
    code: 'TP011',
    tamper: 'ip -4 route del local default dev lo table 100',
    undo: 'ip -4 route add local default dev lo table 100',
    saw: /ip -4 route show table 100: empty/,
  },
  {
    name: 'TPROXY moved before DIVERT',
    code: 'TP012',
    tamper:
      'r="-p tcp -m tcp --dport 80 -j TPROXY --on-port 3129 --tproxy-mark 0x1/0x1"; iptables -t mangle -D TPRUN_PREROUTING $r && iptables -t mangle -I TPRUN_PREROUTING 1 $r',
    undo: 'r="-p tcp -m tcp --dport 80 -j TPROXY --on-port 3129 --tproxy-mark 0x1/0x1"; iptables -t mangle -D TPRUN_PREROUTING $r && iptables -t mangle -A TPRUN_PREROUTING $r',
    saw: /TPROXY --on-port 3129 .* comes before .*-m socket/,
  },
  {
    name: 'rp_filter 1 in all',
    code: 'TP013',
    tamper: 'echo 1 > /proc/sys/net/ipv4/conf/all/rp_filter',
    undo: 'echo 0 > /proc/sys/net/ipv4/conf/all/rp_filter',
    saw: /net\.ipv4\.conf\.all\.rp_filter=1 \(applies to every interface: .*eth1/,
  },
  {
    name: 'INPUT drops the marked packets',
    code: 'TP014',
    tamper: 'iptables -I INPUT -p tcp --dport 80 -m mark --mark 0x1/0x1 -j DROP',
    undo: 'iptables -D INPUT -p tcp --dport 80 -m mark --mark 0x1/0x1 -j DROP',
    saw: /iptables filter: -A INPUT -p tcp -m tcp --dport 80 -m mark --mark 0x1\/0x1 -j DROP \[\d+ packets\]/,
  },
  {
    name: 'squid.conf edited without reconfiguring squid',
    code: 'TP015',
    tamper: `cp -p ${CONF} /run/doctor-conf.bak && sleep 3 && echo '# hand edit' >> ${CONF}`,
    undo: `cp -p /run/doctor-conf.bak ${CONF} && ${reconfigure}`,
    saw: /\/etc\/squid\/squid\.conf changed [\s\S]*squid \(pid \d+\) last read it/,
  },
  {
    name: 'squid stopped',
    code: 'TP016',
    tamper: waitStopped,
    undo: startSquid,
    saw: /nothing listens on port 3129.*\n.*squid is not running/,
  },
  {
    name: 'the tproxy port taken by another program when squid starts',
    code: 'TP007',
    tamper: `${waitStopped}; (setsid python3 -m http.server 3129 --bind 0.0.0.0 >/dev/null 2>&1 < /dev/null & echo $! > /run/doctor-squatter.pid); ${waitListening(3129)}; squid -f ${CONF}; sleep 2`,
    undo: `kill $(cat /run/doctor-squatter.pid) && rm /run/doctor-squatter.pid && ${waitStopped}; ${startSquid}`,
    saw: /held by python3/,
  },
  {
    name: 'an http_port on an address the host lacks',
    code: 'TP008',
    tamper: `cp -p ${CONF} /run/doctor-conf.bak && echo 'http_port 198.51.100.99:3130' >> ${CONF} && ${reconfigure}`,
    undo: `cp -p /run/doctor-conf.bak ${CONF} && ${reconfigure}`,
    saw: /198\.51\.100\.99 is on no interface.*\n.*cache\.log: .*198\.51\.100\.99:3130: \(99\)/,
  },
  {
    name: 'a NAT REDIRECT sends other traffic to the tproxy port',
    code: 'TP003',
    tamper: 'iptables -t nat -A PREROUTING -p tcp --dport 8080 -j REDIRECT --to-ports 3129',
    undo: 'iptables -t nat -D PREROUTING -p tcp --dport 8080 -j REDIRECT --to-ports 3129',
    saw: /REDIRECT --to-ports 3129 \[\d+ packets\] sends non-TPROXY traffic to the tproxy port/,
  },
  {
    name: 'two default routes',
    code: 'TP021',
    tamper: 'ip -4 route add default via 203.0.113.2 dev eth2 && ip -4 route add default via 198.51.100.2 dev eth1 metric 200',
    undo: 'ip -4 route del default via 198.51.100.2 dev eth1 metric 200 && ip -4 route del default via 203.0.113.2 dev eth2',
    saw: /default via 203\.0\.113\.2 dev eth2 .*\| default via 198\.51\.100\.2 dev eth1/,
  },
];

for (const b of BREAKS) {
  t(`broken: ${b.name} → doctor names ${b.code} and nothing else; healthy again once undone`, () => {
    on(b.tamper);
    let d: ReturnType<typeof doctor>;
    try {
      d = doctor();
    } finally {
      on(b.undo);
    }
    assert.equal(d.ids, [b.code], d.text);
    assert.is(d.code, 4, d.text);
    assert.match(d.text, new RegExp(`✘ ${b.code} `));
    assert.match(d.text, b.saw);
    assert.match(d.text, /means: .*\n.*fix: /);
    // Undoing a rule by hand may reset its counter: one request shows life again. (A second
    // try: squid may first reuse a server connection that died while the host was broken.)
    let r = lab.clientGet(4);
    if (!/origin saw 198\.51\.100\.2/.test(r.body)) r = lab.clientGet(4);
    assert.match(r.body, /origin saw 198\.51\.100\.2/, r.raw);
    const after = doctor();
    assert.equal(after.ids, [], after.text);
  });
}

/** What a probe could leave behind: namespaces and veths on h1 (its own /run/netns), its /tmp dir, any namespace on this machine. */
function leftovers(): string {
  const onH1 = lab.onHost(1, "ip netns list; ip -o link show | grep -E ': tp[co][0-9]+[@:]'; ls -d /tmp/tprun-probe.* 2>/dev/null; true").out.trim();
  const here = lab.nsExec(lab.CTL, 'ip netns list | grep tprun-probe || true').trim();
  // The lab hosts share this machine's /tmp: only what appeared since the suite started counts.
  return [onH1, here]
    .join('\n')
    .split('\n')
    .filter((l) => l && !tmpBefore.has(l))
    .join('\n');
}

type Family = 'IPv4' | 'IPv6';
type ProbeCheck = { ok: boolean; found: string };

/** doctor --probe on h1: the TP050 check of each family from the JSON report, and the run's text. */
function probe(): { code: number; tp050: Record<Family, ProbeCheck>; ids: string[]; text: string } {
  const file = `${lab.STATE}/probe.json`;
  const r = tprun('doctor', inv, '--probe', '--report', `json:${file}`);
  const json = assertValidJson(readFileSync(file, 'utf8'));
  const checks = json.hosts[0].checks as ({ id: string; code: string } & ProbeCheck)[];
  const tp050 = (f: Family) => checks.find((c) => c.id === `TP050 the interception probe failed (${f})`)!;
  return { code: r.code, tp050: { IPv4: tp050('IPv4'), IPv6: tp050('IPv6') }, ids: checks.filter((c) => !c.ok).map((c) => c.code), text: out(r) };
}

t('probe: on the compliant host doctor --probe passes over IPv4 and IPv6 (the origin saw the probe client through squid), and nothing is left behind', () => {
  const p = probe();
  assert.is(p.code, 0, p.text);
  assert.equal(p.ids, []);
  assert.ok(p.tp050.IPv4.ok && p.tp050.IPv6.ok, p.text);
  assert.match(p.tp050.IPv4.found, /the origin saw the client's own address 198\.51\.100\.\d+ through squid \(1\.1 h1 \(squid\/5\.7\)\)/);
  assert.match(p.tp050.IPv6.found, /the origin saw the client's own address 2001:db8:ffff:ffff::[0-9a-f]+ through squid \(1\.1 h1 \(squid\/5\.7\)\)/);
  assert.is(leftovers(), '');
  const c = tprun('check', inv, '--probe');
  assert.is(c.code, 0, out(c));
  assert.is(leftovers(), '');
});

/** Each break fails the probe of the families it touches, and only those. */
const PROBE_FAILS: { name: string; tamper: string; undo: string; reason: RegExp; also: string; fails: Family[] }[] = [
  {
    name: 'the IPv4 fwmark rule gone',
    tamper: 'ip -4 rule del fwmark 0x1/0x1 lookup 100',
    undo: 'ip -4 rule add fwmark 0x1/0x1 lookup 100',
    reason: /host → squid: TPROXY matched \d+ packets but no fwmark 0x1 rule sends them to table 100/,
    also: 'TP010',
    fails: ['IPv4'],
  },
  {
    name: 'the IPv6 fwmark rule gone',
    tamper: 'ip -6 rule del fwmark 0x1/0x1 lookup 100',
    undo: 'ip -6 rule add fwmark 0x1/0x1 lookup 100',
    reason: /host → squid: TPROXY matched \d+ packets but no fwmark 0x1 rule sends them to table 100/,
    also: 'TP010',
    fails: ['IPv6'],
  },
  {
    name: 'squid stopped',
    tamper: waitStopped,
    undo: startSquid,
    reason: /host → squid: TPROXY matched \d+ packets but nothing listens on the tproxy port 3129/,
    also: 'TP016',
    fails: ['IPv4', 'IPv6'],
  },
  {
    name: 'INPUT dropping marked packets',
    tamper: 'iptables -I INPUT -p tcp --dport 80 -m mark --mark 0x1/0x1 -j DROP',
    undo: 'iptables -D INPUT -p tcp --dport 80 -m mark --mark 0x1/0x1 -j DROP',
    reason: /host → squid: the INPUT chain dropped the intercepted packets/,
    also: 'TP014',
    fails: ['IPv4'],
  },
  {
    name: "ip6tables' INPUT dropping marked packets",
    tamper: 'ip6tables -I INPUT -p tcp --dport 80 -m mark --mark 0x1/0x1 -j DROP',
    undo: 'ip6tables -D INPUT -p tcp --dport 80 -m mark --mark 0x1/0x1 -j DROP',
    reason: /host → squid: the INPUT chain dropped the intercepted packets/,
    also: 'TP014',
    fails: ['IPv6'],
  },
];

for (const f of PROBE_FAILS) {
  t(`probe: with ${f.name} the probe fails naming that hop (next to doctor's ${f.also}); nothing is left behind`, () => {
    on(f.tamper);
    let p: ReturnType<typeof probe>;
    try {
      p = probe();
    } finally {
      on(f.undo);
    }
    assert.is(p.code, 4, p.text);
    assert.equal(p.ids, [f.also, ...f.fails.map(() => 'TP050')], p.text);
    for (const fam of ['IPv4', 'IPv6'] as const) {
      assert.is(p.tp050[fam].ok, !f.fails.includes(fam), `${fam}: ${p.text}`);
      if (!f.fails.includes(fam)) continue;
      assert.match(p.tp050[fam].found, f.reason);
      assert.match(p.text, new RegExp(`✘ TP050 the interception probe failed \\(${fam}\\)\\n {6}saw: {3}${f.reason.source}`));
    }
    assert.is(leftovers(), '');
  });
}

t('apply --probe: a change after which interception fails is rolled back, and the run says why', () => {
  const before = lab.snapshot(1);
  const deny = lab.writeInventory('deny', { routers: [1], extra: { 1: 'squid: { extra: ["http_access deny all"] }' } });
  const a = tprun('apply', deny, '--probe');
  assert.is(a.code, 4, out(a));
  assert.match(a.out, /^h1: FAILED at interception probe \(IPv4\): interception probe \(IPv4\) failed; the host was rolled back/m);
  assert.match(a.out, /\| interception probe failed: squid refused the probe request from 198\.51\.100\.\d+ \(HTTP\/1\.1 403 Forbidden\)/);
  assert.match(a.out, /rolled back/);
  assert.is(lab.snapshot(1).replace(/^\d+\n/m, ''), before.replace(/^\d+\n/m, ''), 'the host is as it was before the apply');
  assert.is(leftovers(), '');
  const c = tprun('check', inv, '--probe');
  assert.is(c.code, 0, out(c));
  assert.match(lab.clientGet(4).body, /origin saw 198\.51\.100\.2/);
  // The same change without --probe goes through: only the probe saw that interception broke.
  const plain = tprun('apply', deny);
  assert.is(plain.code, 2, out(plain));
  assert.is(tprun('apply', inv).code, 2);
});

t('doctor changed nothing: tprun check still finds the host compliant', () => {
  const c = tprun('check', inv);
  assert.is(c.code, 0, out(c));
});

test.run();
