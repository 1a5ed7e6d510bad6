/**
 * Issue #13 on the namespace lab: configurations that validated but could not intercept. Each
 * test applies a configuration to router h1 and proves it with a live request from the client
 * through h1 to the origin, which answers with the address it saw. Runs its own lab (set
 * TPRUN_LAB_PREFIX / TPRUN_LAB_STATE to run beside other labs).
 */
import { spawn, spawnSync } from 'node:child_process';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as lab from './lab.ts';

const skip = lab.preflight();
const t = skip ? test.skip : test;
if (skip) console.log(`lab tests skipped: ${skip}`);

const tprun = (...args: string[]) => lab.tprunInCtl(args);
const out = (r: { out: string; err: string }) => r.out + r.err;
// Every request opens a new server connection: a persistent one, made while the rules were
// different, would hide what the current rules do to a connection's first packets.
const NO_PCONN = 'squid: { extra: ["server_persistent_connections off"] }';
const inventory = (name: string, h1 = '') => lab.writeInventory(name, { routers: [1], extra: { 1: [NO_PCONN, h1].filter(Boolean).join(', ') } });

/** GET through h1 from the client; `port` on the origin (80 and 81 answer). */
function get(family: 4 | 6, port = 80): { status: number; body: string; raw: string } {
  const host = family === 4 ? lab.ORIGIN4 : `[${lab.ORIGIN6}]`;
  const r = spawnSync('ip', ['netns', 'exec', lab.CLIENT, 'curl', '-sS', '-i', '--max-time', '6', `http://${host}:${port}/`], { encoding: 'utf8' });
  const status = Number(/^HTTP\/[\d.]+ (\d+)/m.exec(r.stdout)?.[1] ?? 0);
  return {
    status,
    body: r.stdout
      .split(/\r?\n\r?\n/)
      .slice(1)
      .join('\n\n')
      .trim(),
    raw: r.stdout + r.stderr,
  };
}

function proveInterception(family: 4 | 6, port = 80): void {
  const r = get(family, port);
  assert.is(r.status, 200, `IPv${family} port ${port} through h1: ${r.raw}`);
  assert.is(r.body, `origin saw ${family === 4 ? lab.CLIENT4 : lab.CLIENT6}`, 'the origin must see the client address');
  assert.match(r.raw, /^via: .*\bh1 \(squid\/\d/im, `squid's Via header expected: ${r.raw}`);
}

function apply(inv: string): void {
  // Exit 2: changes were applied (0 when there was nothing to change).
  const r = tprun('apply', inv);
  assert.ok(r.code === 0 || r.code === 2, out(r));
  const c = tprun('check', inv);
  assert.is(c.code, 0, `compliant right after apply:\n${out(c)}`);
}

test.before(() => {
  if (skip) return;
  lab.up({ hosts: 1, proof: true });
  // A second origin service on port 81 (issue item 5), answering like the one on port 80.
  const code = `const h=require('node:http');const f=(q,s)=>{s.writeHead(200,{'cache-control':'no-store'});s.end('origin saw '+q.socket.remoteAddress.replace(/^::ffff:/,'')+'\\n')};h.createServer(f).listen(81,'${lab.ORIGIN4}');h.createServer(f).listen(81,'${lab.ORIGIN6}')`;
  spawn('ip', ['netns', 'exec', lab.ORIGIN, process.execPath, '-e', code], { detached: true, stdio: 'ignore' }).unref();
  const wait = `i=0; until (echo > /dev/tcp/${lab.ORIGIN4}/81) 2>/dev/null; do i=$((i+1)); [ $i -gt 100 ] && exit 1; sleep 0.1; done`;
  assert.is(spawnSync('ip', ['netns', 'exec', lab.ORIGIN, 'bash', '-c', wait]).status, 0, 'the origin listens on port 81');
});
test.after(() => {
  if (!skip) lab.down();
});

t('baseline: the default configuration intercepts IPv4 and IPv6', () => {
  apply(inventory('base'));
  proveInterception(4);
  proveInterception(6);
});

t("4. a host firewall with INPUT policy DROP: tprun's TPRUN_INPUT accepts the intercepted packets (both families)", () => {
  // The host's own firewall: loopback, management and established traffic, ICMPv6 (neighbour
  // discovery); everything else dropped. The intercepted SYN is NEW: only tprun's chain lets it in.
  for (const tool of ['iptables', 'ip6tables']) {
    lab.nsExec(
      lab.hostNs(1),
      `${tool} -A INPUT -i lo -j ACCEPT && ${tool} -A INPUT -i mgmt0 -j ACCEPT && ${tool} -A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT && ${tool} -P INPUT DROP`,
    );
  }
  lab.nsExec(lab.hostNs(1), 'ip6tables -A INPUT -p ipv6-icmp -j ACCEPT');
  try {
    const inv = inventory('firewall');
    apply(inv);
    proveInterception(4);
    proveInterception(6);
    // Without tprun's jump the same firewall drops them, and check says so.
    lab.nsExec(lab.hostNs(1), 'iptables -D INPUT -j TPRUN_INPUT && ip6tables -D INPUT -j TPRUN_INPUT');
    assert.is(get(4).status, 0, 'the host firewall drops intercepted IPv4 without TPRUN_INPUT');
    assert.is(get(6).status, 0, 'the host firewall drops intercepted IPv6 without TPRUN_INPUT');
    const c = tprun('check', inv);
    assert.is(c.code, 2, out(c));
    assert.match(c.out, /~ iptables filter TPRUN_INPUT/);
    assert.match(c.out, /~ ip6tables filter TPRUN_INPUT/);
    apply(inv);
    proveInterception(4);
    proveInterception(6);
  } finally {
    for (const tool of ['iptables', 'ip6tables'])
      lab.nsExec(
        lab.hostNs(1),
        `${tool} -P INPUT ACCEPT; ${tool} -S INPUT | grep -v -e '^-P' -e TPRUN_INPUT | sed 's/^-A/-D/' | while read -r r; do ${tool} $r; done`,
        true,
      );
  }
});

const hasNft = spawnSync('sh', ['-c', 'command -v nft']).status === 0;
(hasNft ? t : test.skip)('4. a firewall in an nftables table of its own drops what TPRUN_INPUT accepts: check warns about it', () => {
  const inv = inventory('nft');
  apply(inv);
  lab.nsExec(
    lab.hostNs(1),
    `nft add table inet fw && nft add chain inet fw input '{ type filter hook input priority 0; policy drop; }' && nft add rule inet fw input iifname '{ "lo", "mgmt0" }' accept && nft add rule inet fw input ct state established,related accept && nft add rule inet fw input meta l4proto ipv6-icmp accept`,
  );
  try {
    assert.is(get(4).status, 0, 'the nftables firewall drops intercepted packets despite TPRUN_INPUT');
    // A warning, not drift: tprun cannot tell whether that chain's rules accept the packets.
    const c = tprun('check', inv, '-v');
    assert.is(c.code, 0, out(c));
    assert.match(c.out, /warning: .*nftables chain inet fw input filters input on its own \(policy drop\)/);
    // Its own accept of the mark, as the warning says, makes it intercept again.
    lab.nsExec(lab.hostNs(1), 'nft insert rule inet fw input meta mark and 0x1 == 0x1 accept');
    proveInterception(4);
    proveInterception(6);
  } finally {
    lab.nsExec(lab.hostNs(1), 'nft delete table inet fw', true);
  }
});

t("2. a bypass by interface (the server side, eth2) no longer breaks the replies of squid's own connections", () => {
  const inv = inventory('bypass', 'tproxy: { bypass: [{ interface: eth2 }] }');
  apply(inv);
  proveInterception(4);
  proveInterception(6);
  assert.match(
    lab.nsExec(lab.hostNs(1), 'iptables-save -t mangle'),
    /-A TPRUN_PREROUTING -p tcp -m socket --transparent -j TPRUN_DIVERT\n-A TPRUN_PREROUTING -i eth2 -j RETURN\n/,
  );
});

t('1. per_interface_tables: lo, or the client side alone, is rejected at validate; both sides intercept', () => {
  const lo = tprun('validate', inventory('pit-lo', 'tproxy: { per_interface_tables: true }'));
  assert.is(lo.code, 1, out(lo));
  assert.match(out(lo), /pit-lo\.yml:\d+:\d+: tproxy\.per_interface_tables with lo: the rule "fwmark \.\.\. iif lo" never matches forwarded traffic/);
  const one = tprun('validate', inventory('pit-one', 'tproxy: { per_interface_tables: true, interfaces: [eth1] }'));
  assert.is(one.code, 1, out(one));
  assert.match(out(one), /pit-one\.yml:\d+:\d+: tproxy\.per_interface_tables with only eth1: replies from servers arrive on the server-side interface/);
  apply(inventory('pit', 'tproxy: { per_interface_tables: true, interfaces: [eth1, eth2] }'));
  for (const flag of ['-4', '-6']) {
    const rules = lab.nsExec(lab.hostNs(1), `ip ${flag} rule`);
    assert.match(rules, /fwmark 0x1\/0x1 iif eth1 lookup 100/);
    assert.match(rules, /fwmark 0x1\/0x1 iif eth2 lookup 101/);
  }
  proveInterception(4);
  proveInterception(6);
});

t("5. an intercepted port outside squid's Safe_ports (81) is served, not answered 403", () => {
  apply(inventory('port81', 'tproxy: { ports: [80, 81] }'));
  proveInterception(4, 81);
  proveInterception(6, 81);
  proveInterception(4);
});

t('15. mark: 2 validates (the mask defaults to the mark) and intercepts', () => {
  const inv = inventory('mark2', 'tproxy: { mark: 2 }');
  const v = tprun('validate', inv);
  assert.is(v.code, 0, out(v));
  apply(inv);
  assert.match(lab.nsExec(lab.hostNs(1), 'ip -4 rule'), /fwmark 0x2\/0x2 lookup 100/);
  assert.match(lab.nsExec(lab.hostNs(1), 'iptables-save -t mangle'), /--tproxy-mark 0x2\/0x2/);
  proveInterception(4);
  proveInterception(6);
});

t('3. 443 without an HTTPS tproxy port is a validate error with FILE:LINE:COL; nothing is contacted', () => {
  const r = tprun('validate', inventory('https', 'tproxy: { ports: [80, 443] }'));
  assert.is(r.code, 1, out(r));
  assert.match(out(r), /https\.yml:\d+:\d+: tproxy\.ports has 443, a TLS port: TPROXY would send it to the HTTP tproxy port 3129/);
});

test.run();
