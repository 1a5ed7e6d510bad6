/**
 * The nftables backend on the namespace lab, with real nft, squid and sshd: h1 routes between a
 * client and an origin with its interception in `table inet tprun` only. Proves interception over
 * IPv4 and IPv6, compliance, drift found and repaired, fail closed when squid is down, and a host
 * moving iptables → nftables → iptables with no rules of the other backend left behind.
 */
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as lab from './lab.ts';
import { assertValidJson } from '../report-check.ts';

const skip = lab.preflight() ?? (spawnSync('nft', ['--version']).status === 0 ? undefined : 'nft is missing (run scripts/ensure-deps.sh as root)');
const t = skip ? test.skip : test;
if (skip) console.log(`nftables lab tests skipped: ${skip}`);

const tprun = (...args: string[]) => lab.tprunInCtl(args);
const out = (r: { out: string; err: string }) => r.out + r.err;
let nft = '';
let ipt = '';

const proveInterception = (family: 4 | 6) => lab.proveInterception(family);

/** A request expected to fail: a short timeout keeps the suite quick. */
function clientGetShort(family: 4 | 6) {
  const url = family === 4 ? `http://${lab.ORIGIN4}/` : `http://[${lab.ORIGIN6}]/`;
  const r = spawnSync('ip', ['netns', 'exec', lab.CLIENT, 'curl', '-sS', '-i', '--max-time', '3', url], { encoding: 'utf8' });
  return lab.curlResponse(r.stdout ?? '', r.stderr ?? '');
}

const tprunChains = () =>
  lab.onHost(1, 'iptables-save 2>/dev/null | grep -c TPRUN; ip6tables-save 2>/dev/null | grep -c TPRUN').out.trim().split('\n').map(Number);
const hasTable = () => lab.onHost(1, 'nft list table inet tprun >/dev/null 2>&1 && echo yes || echo no').out.trim() === 'yes';
const stopSquid =
  'squid -k interrupt -f /etc/squid/squid.conf; i=0; while squid -k check -f /etc/squid/squid.conf 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done; sleep 0.5';

test.before(() => {
  if (skip) return;
  lab.up({ hosts: 1, proof: true });
  nft = lab.writeInventory('nft', { routers: [1], extra: { 1: 'tproxy: { backend: nftables }' } });
  ipt = lab.writeInventory('ipt', { routers: [1], extra: { 1: 'tproxy: { backend: iptables }' } });
});
test.after(() => {
  if (!skip) lab.down();
});

t('apply on the nftables backend: IPv4 and IPv6 intercepted, ORIGINAL_DST logged, no iptables chain', () => {
  const r = tprun('apply', nft);
  assert.is(r.code, 2, out(r));
  proveInterception(4);
  proveInterception(6);
  const log = lab.onHost(1, 'cat /var/log/squid/access.log').out;
  assert.match(log, /198\.51\.100\.2 TCP_MISS\/200 .* ORIGINAL_DST\/203\.0\.113\.2/);
  assert.match(log, /2001:db8:c::2 TCP_MISS\/200 .* ORIGINAL_DST\/2001:db8:5::2/);
  assert.ok(hasTable());
  assert.equal(tprunChains(), [0, 0], 'no TPRUN chain in iptables or ip6tables');
  const counters = lab.onHost(1, 'nft list counter inet tprun intercepted_http').out;
  assert.match(counters, /packets [1-9]/);
});

t('check is compliant (exit 0) and says which backend and why', () => {
  const c = tprun('check', nft, '--report', 'json:-');
  assert.is(c.code, 0, out(c));
  assert.match(c.out, /nftables \(tproxy\.backend: nftables\)/);
});

t('block_quic on the nftables backend: UDP/443 from the client rejected by the forward chain, compliant; off, it passes', () => {
  lab.assertUdp443('passes');
  const quic = lab.writeInventory('nft-quic', { routers: [1], extra: { 1: 'tproxy: { backend: nftables, block_quic: true }' } });
  const a = tprun('apply', quic);
  assert.is(a.code, 2, out(a));
  lab.assertUdp443('rejected');
  assert.match(lab.onHost(1, 'nft list counter inet tprun quic').out, /packets [1-9]/);
  // The live table (reject included) parses back to exactly the wanted one.
  const c = tprun('check', quic);
  assert.is(c.code, 0, out(c));
  proveInterception(4);
  const b = tprun('apply', nft);
  assert.is(b.code, 2, out(b));
  assert.is(lab.udp443(4).client, 'reply');
  // The table was replaced (counters at 0): intercept once, as the next tests (doctor) expect.
  proveInterception(4);
});

/** doctor on h1: its exit code and the ids of its failed checks. */
function doctor(): { code: number; ids: string[]; text: string } {
  const file = `${lab.STATE}/doctor.json`;
  const r = tprun('doctor', nft, '--report', `json:${file}`);
  const json = assertValidJson(readFileSync(file, 'utf8'));
  const ids = json.hosts[0].checks.filter((c: { ok: boolean }) => !c.ok).map((c: { code: string }) => c.code);
  return { code: r.code, ids, text: out(r) };
}

t('doctor on the nftables backend: healthy; the socket rule moved after the tproxy rules is TP012', () => {
  const d = doctor();
  assert.is(d.code, 0, d.text);
  assert.equal(d.ids, []);
  const move = `h=$(nft -a list chain inet tprun prerouting | sed -n 's/.*socket transparent 1 .* # handle \\([0-9]*\\)$/\\1/p'); nft delete rule inet tprun prerouting handle $h && nft add rule inet tprun prerouting meta l4proto tcp socket transparent 1 counter name divert meta mark set meta mark or 0x1 accept`;
  const tm = lab.onHost(1, move);
  assert.is(tm.code, 0, tm.out);
  const bad = doctor();
  assert.ok(bad.ids.includes('TP012'), bad.text);
  assert.match(bad.text, /tproxy ip to :3129 .* comes before .*socket transparent 1/);
  assert.is(tprun('apply', nft).code, 2);
  assert.is(doctor().code, 0);
});

const DRIFTS: [string, string][] = [
  ['the table deleted', 'nft delete table inet tprun'],
  ['the chain flushed', 'nft flush chain inet tprun prerouting'],
  [
    'the fail-closed rule deleted',
    'h=$(nft -a list chain inet tprun prerouting | sed -n \'s/.*"failclosed" drop # handle \\([0-9]*\\)$/\\1/p\'); nft delete rule inet tprun prerouting handle $h',
  ],
  ['a bypass element added by hand', 'nft add element inet tprun bypass_dst4 { 203.0.113.2 }'],
];
for (const [name, tamper] of DRIFTS) {
  t(`drift "${name}": check exits 2 naming the table; apply repairs it; interception works`, () => {
    const tm = lab.onHost(1, tamper);
    assert.is(tm.code, 0, tm.out);
    const c = tprun('check', nft, '--diff');
    assert.is(c.code, 2, out(c));
    assert.match(c.out, /~ nft table inet tprun|\+ nft table inet tprun/);
    const a = tprun('apply', nft);
    assert.is(a.code, 2, out(a));
    assert.is(tprun('check', nft).code, 0);
    proveInterception(4);
  });
}

t('fail closed: with squid stopped the request is not forwarded to the origin; without the drop rule it would be', () => {
  assert.is(lab.onHost(1, stopSquid).code, 0);
  for (const fam of [4, 6] as const) {
    const r = clientGetShort(fam);
    assert.is.not(r.status, 200, `forwarded uninspected: ${r.raw}`);
    assert.not.match(r.raw, /origin saw/);
  }
  assert.match(lab.onHost(1, 'nft list counter inet tprun failclosed').out, /packets [1-9]/);
  // The control: nft's tproxy lets the packet through when no socket exists, so it is the drop
  // rule, not the tproxy statement, that keeps the traffic from the origin.
  lab.onHost(1, DRIFTS[2]![1]);
  const open = clientGetShort(4);
  assert.is(open.status, 200, open.raw);
  assert.is(open.body.trim(), `origin saw ${lab.CLIENT4}`);
  assert.is(open.via, undefined, 'no squid in the path');
  const a = tprun('apply', nft);
  assert.is(a.code, 2, out(a));
  proveInterception(4);
});

t('iptables → nftables → iptables: no rule of the other backend left, interception kept', () => {
  const toIpt = tprun('apply', ipt);
  assert.is(toIpt.code, 2, out(toIpt));
  assert.not.ok(hasTable(), 'table inet tprun removed');
  assert.ok(
    tprunChains().every((n) => n > 0),
    'iptables chains in place',
  );
  proveInterception(4);
  proveInterception(6);
  assert.is(tprun('check', ipt).code, 0);

  const toNft = tprun('apply', nft);
  assert.is(toNft.code, 2, out(toNft));
  assert.ok(hasTable());
  assert.equal(tprunChains(), [0, 0]);
  proveInterception(4);
  proveInterception(6);
  assert.is(tprun('check', nft).code, 0);

  const back = tprun('apply', ipt);
  assert.is(back.code, 2, out(back));
  assert.not.ok(hasTable());
  assert.ok(tprunChains().every((n) => n > 0));
  proveInterception(4);
  assert.is(tprun('check', ipt).code, 0);
});

/**
 * Requests through h1 in a loop while `apply` moves it between backends: each line is
 * "epoch-ms status via-count". The gap is the longest time between two intercepted answers
 * (200 with squid's Via) that has a failed or uninspected answer between them.
 */
function measureSwitch(inv: string): { gapMs: number; missed: number; total: number; lastOk: boolean } {
  const file = `${lab.STATE}/switch-loop.txt`;
  const loop = `while :; do s=$(date +%s%3N); o=$(curl -s -i --max-time 1 http://${lab.ORIGIN4}/ 2>/dev/null); c=$(printf '%s' "$o" | head -n 1 | cut -d' ' -f2); v=$(printf '%s' "$o" | grep -ci '^via:'); echo "$s \${c:-0} $v"; sleep 0.02; done > ${file}`;
  const child = spawn('ip', ['netns', 'exec', lab.CLIENT, 'bash', '-c', loop], { detached: true, stdio: 'ignore' });
  spawnSync('sleep', ['1']);
  const r = tprun('apply', inv);
  spawnSync('sleep', ['1']);
  process.kill(-child.pid!, 'SIGTERM');
  assert.is(r.code, 2, out(r));
  const rows = readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .map((l) => l.split(' ').map(Number))
    .filter((x) => x.length === 3) as [number, number, number][];
  const ok = (x: [number, number, number]) => x[1] === 200 && x[2] > 0;
  let gapMs = 0;
  let prev: number | undefined;
  let bad = false;
  for (const x of rows) {
    if (!ok(x)) bad = true;
    else {
      if (bad && prev !== undefined) gapMs = Math.max(gapMs, x[0] - prev);
      prev = x[0];
      bad = false;
    }
  }
  return { gapMs, missed: rows.filter((x) => !ok(x)).length, total: rows.length, lastOk: rows.length > 0 && ok(rows.at(-1)!) };
}

t('the interruption of a backend switch, measured with a request loop through h1', () => {
  assert.is(tprun('apply', ipt).code, 0);
  const there = measureSwitch(nft);
  const back = measureSwitch(ipt);
  console.log(`  switch iptables → nftables: gap ${there.gapMs} ms, ${there.missed} of ${there.total} requests not intercepted`);
  console.log(`  switch nftables → iptables: gap ${back.gapMs} ms, ${back.missed} of ${back.total} requests not intercepted`);
  assert.ok(there.lastOk && back.lastOk, 'interception resumed after each switch');
  assert.ok(there.total > 5 && back.total > 5, 'the loop ran');
});

t('boot: the recorded backend decides which rules come back', () => {
  assert.is(tprun('apply', nft).code, 2);
  const wipe = 'nft delete table inet tprun; for t in iptables ip6tables; do $t -t mangle -F; $t -t mangle -X; done';
  assert.is(lab.onHost(1, wipe).code, 0);
  const boot = lab.onHost(1, 'sh /etc/tprun/boot.sh');
  assert.is(boot.code, 0, boot.out);
  assert.ok(hasTable());
  assert.equal(tprunChains(), [0, 0], 'the iptables boot step loaded nothing');
  assert.is(tprun('check', nft).code, 0);
});

test.run();
