/**
 * Host firewalls tprun does not own, on the namespace lab: a compliant router (h1, between the
 * client and the origin, IPv4 and IPv6) gets one foreign rule set at a time in its namespace,
 * the seen cases of issue 25: (a) firewalld's IPv6 reverse-path rule, (b) a firewalld-like zone
 * input chain, (c) an iptables raw DROP of tcp/80, (d) a native nft prerouting drop. Each must
 * stop the client's request (proved: curl with a 3 s limit), make `tprun check` not compliant
 * naming the table and chain, and `tprun doctor` name it (TP019); removed, check is compliant
 * again and the request goes through. Rule sets that let the packets through (a table that
 * accepts everything, the reverse-path rule with the mark exempt) must
 * leave check compliant and interception working.
 */
import { spawnSync } from 'node:child_process';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as lab from './lab.ts';

const skip = lab.preflight() ?? (spawnSync('sh', ['-c', 'command -v nft']).status === 0 ? undefined : 'nft is missing (apt-get install nftables)');
const t = skip ? test.skip : test;
if (skip) console.log(`foreign firewall lab tests skipped: ${skip}`);

let inv = '';
const tprun = (...args: string[]) => lab.tprunInCtl(args);
const out = (r: { out: string; err: string }) => r.out + r.err;
/** A command in h1's namespace (as root on h1, outside tprun). */
const onH1 = (cmd: string) => lab.nsExec(lab.hostNs(1), cmd);

/** The client's request through h1 with a short limit: the origin's answer, or null. */
function get(family: 4 | 6): string | null {
  const url = family === 4 ? `http://${lab.ORIGIN4}/` : `http://[${lab.ORIGIN6}]/`;
  for (let i = 0; i < 2; i++) {
    const r = spawnSync('ip', ['netns', 'exec', lab.CLIENT, 'curl', '-sS', '-i', '--max-time', '3', url], { encoding: 'utf8' });
    const res = lab.curlResponse(r.stdout ?? '', r.stderr ?? '');
    // A pooled squid→origin connection cut while the rules dropped may be reset once on reuse.
    if (res.status === 502 && /ERR_READ_ERROR/.test(res.raw)) continue;
    return res.status === 200 && res.via ? res.body.trim() : null;
  }
  return null;
}
const intercepts = (family: 4 | 6) => get(family) === `origin saw ${family === 4 ? lab.CLIENT4 : lab.CLIENT6}`;

function assertCompliant(why: string): void {
  const c = tprun('check', inv);
  assert.is(c.code, 0, `${why}: ${out(c)}`);
  assert.match(c.out, /1 hosts?: 1 compliant/);
}

const FIREWALLD_RPFILTER = `table inet firewalld {
  chain filter_PREROUTING {
    type filter hook prerouting priority filter + 10; policy accept;
    icmpv6 type { nd-router-advert, nd-neighbor-solicit } accept
    MARK_EXEMPT meta nfproto ipv6 fib saddr . mark . iif oif missing drop
  }
}`;
const ZONE = `table inet firewalld {
  chain filter_INPUT {
    type filter hook input priority filter + 10; policy accept;
    ct state { established, related } accept
    ct status dnat accept
    iifname "lo" accept
    ct state invalid drop
    jump filter_INPUT_ZONES
    reject with icmpx admin-prohibited
  }
  chain filter_INPUT_ZONES {
    iifname "mgmt0" goto filter_IN_public
    goto filter_IN_public
  }
  chain filter_IN_public {
    jump filter_IN_public_allow
    meta l4proto { icmp, ipv6-icmp } accept
  }
  chain filter_IN_public_allow {
    iifname "mgmt0" tcp dport 22 accept
  }
}`;
const nft = (ruleset: string) => `nft -f - <<'EOF'\n${ruleset}\nEOF`;

interface Case {
  name: string;
  add: string;
  remove: string;
  /** The families whose requests must stop. */
  stops: (4 | 6)[];
  /** What check and doctor must name. */
  names: RegExp;
}

const CASES: Case[] = [
  {
    name: "(a) firewalld's IPv6 reverse-path rule",
    add: nft(FIREWALLD_RPFILTER.replace('MARK_EXEMPT ', '')),
    remove: 'nft delete table inet firewalld',
    stops: [6],
    names:
      /nft table inet firewalld chain filter_PREROUTING \(hook prerouting, priority 10\): rule "meta nfproto ipv6 fib saddr \. mark \. iif oif missing drop" drops/,
  },
  {
    name: '(b) a firewalld-like zone input chain',
    add: nft(ZONE),
    remove: 'nft delete table inet firewalld',
    stops: [4, 6],
    names: /nft table inet firewalld chain filter_INPUT \(hook input, priority 10\): rule "reject with icmpx admin-prohibited" drops/,
  },
  {
    name: '(c) an iptables raw DROP of tcp/80',
    add: 'iptables -t raw -A PREROUTING -p tcp --dport 80 -j DROP',
    remove: 'iptables -t raw -D PREROUTING -p tcp --dport 80 -j DROP',
    stops: [4],
    names: /iptables table raw chain PREROUTING \(hook prerouting, priority -300\): rule "-A PREROUTING -p tcp -m tcp --dport 80 -j DROP" drops/,
  },
  {
    name: '(d) a native nft prerouting chain that drops tcp/80',
    add: `nft add table ip6 site; nft add chain ip6 site pre '{ type filter hook prerouting priority 0; }'; nft add rule ip6 site pre tcp dport 80 drop`,
    remove: 'nft delete table ip6 site',
    stops: [6],
    names: /nft table ip6 site chain pre \(hook prerouting, priority 0\): rule "tcp dport 80 drop" drops/,
  },
  {
    // firewalld's IPv6_rpfilter=loose: no iif, yet the lookup by the mark finds tprun's local route.
    name: '(e) the reverse-path rule in its loose form',
    add: nft(FIREWALLD_RPFILTER.replace('MARK_EXEMPT ', '').replace('saddr . mark . iif oif', 'saddr . mark oif')),
    remove: 'nft delete table inet firewalld',
    stops: [6],
    names:
      /nft table inet firewalld chain filter_PREROUTING \(hook prerouting, priority 10\): rule "meta nfproto ipv6 fib saddr \. mark oif missing drop" drops/,
  },
];

const GUARDS: { name: string; add: string; remove: string }[] = [
  {
    name: 'a foreign table that accepts everything (input policy drop behind an accept)',
    add: nft(`table inet mine {
  chain in { type filter hook input priority 0; policy drop; accept; }
  chain pre { type filter hook prerouting priority filter + 10; policy accept; counter accept; }
}`),
    remove: 'nft delete table inet mine',
  },
  {
    name: "firewalld's reverse-path rule with tprun's mark exempt",
    add: nft(FIREWALLD_RPFILTER.replace('MARK_EXEMPT ', 'meta mark & 0x1 == 0x1 accept\n    ')),
    remove: 'nft delete table inet firewalld',
  },
];

test.before(() => {
  if (skip) return;
  lab.up({ hosts: 1, proof: true });
  inv = lab.writeInventory('foreign', { routers: [1] });
  const a = tprun('apply', inv);
  if (a.code !== 2) throw new Error(`apply failed: ${out(a)}`);
  if (!intercepts(4) || !intercepts(6)) throw new Error('interception does not work after apply');
});
test.after(() => {
  if (!skip) lab.down();
});

for (const c of CASES) {
  t(`${c.name}: the request stops, check is not compliant, doctor names it; removed, compliant again`, () => {
    onH1(c.add);
    try {
      for (const fam of [4, 6] as const) assert.is(intercepts(fam), !c.stops.includes(fam), `IPv${fam} with ${c.name}`);
      const chk = tprun('check', inv);
      assert.is.not(chk.code, 0, out(chk));
      assert.match(out(chk), /h1: FAILED/);
      assert.match(out(chk), c.names);
      const doc = tprun('doctor', inv);
      assert.is.not(doc.code, 0, out(doc));
      assert.match(out(doc), /TP019/);
      assert.match(out(doc), c.names);
    } finally {
      onH1(c.remove);
    }
    assertCompliant(`after removing ${c.name}`);
    assert.ok(intercepts(4) && intercepts(6), `interception after removing ${c.name}`);
  });
}

for (const g of GUARDS) {
  t(`no false positive: ${g.name} leaves check compliant and interception working`, () => {
    onH1(g.add);
    try {
      assertCompliant(g.name);
      assert.ok(intercepts(4), `IPv4 with ${g.name}`);
      assert.ok(intercepts(6), `IPv6 with ${g.name}`);
    } finally {
      onH1(g.remove);
    }
  });
}

test.run();
