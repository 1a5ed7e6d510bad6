/**
 * The guide's recipe as the typed `table inet tprun` (src/firewall/nft.ts holds the types, the
 * renderer and the nft -j parser): the wanted table is built here from the inventory.
 */
import { familyOf } from '../../src/inventory/address.ts';
import { u32 } from '../../src/inventory/mark.ts';
import type { Family, Host } from '../../src/inventory/types.ts';
import type { Item, Match, NftChain, NftSet, NftTable } from '../../src/firewall/nft.ts';

export { parseTable, replaceScript, TABLE, tableLines, tableText, ruleText, itemText, parseItem } from '../../src/firewall/nft.ts';
export type { Item, Match, NftSet, NftChain, NftTable } from '../../src/firewall/nft.ts';

const m = (match: string, ...values: (string | number)[]): Match => ({ match, op: '==', values: values.map(String).sort() });
const FAM = { ipv4: { nf: 'ipv4', ip: 'ip', addr: 'ipv4_addr', bits: 32 }, ipv6: { nf: 'ipv6', ip: 'ip6', addr: 'ipv6_addr', bits: 128 } } as const;

/** An inventory address or CIDR as nft lists a set element: a host prefix as the bare address. */
export function element(a: string): string {
  const [addr, len] = a.split('/');
  const fam = familyOf(addr!);
  const lower = addr!.toLowerCase();
  return len === undefined || Number(len) === FAM[fam].bits ? lower : `${lower}/${Number(len)}`;
}

const setName = (what: 'src' | 'dst', f: Family) => `bypass_${what}${f === 'ipv4' ? 4 : 6}`;

/**
 * The guide's recipe in nft, with the bypasses as sets before any tproxy and a fail-closed drop
 * after it: nft's tproxy statement, unlike xt_TPROXY, does not drop a packet when no squid socket
 * exists, so without the drop the traffic would be forwarded to the origin uninspected.
 */
export function wantedTable(host: Host): NftTable {
  const { mark, mask, ports, https_ports, bypass, families } = host.vars.tproxy;
  const markSet = { mark: { value: u32(mark), mask: u32(mask) } };
  const sets: NftSet[] = [];
  const only = (k: 'source' | 'destination' | 'interface') => bypass.filter((b) => Object.keys(b).length === 1 && b[k] !== undefined);
  for (const f of families) {
    for (const [what, key] of [
      ['src', 'source'],
      ['dst', 'destination'],
    ] as const) {
      const els = only(key)
        .map((b) => b[key]!)
        .filter((a) => familyOf(a.split('/')[0]!) === f);
      sets.push({ name: setName(what, f), type: FAM[f].addr, interval: true, elements: [...new Set(els.map(element))].sort() });
    }
  }
  sets.push({ name: 'bypass_if', type: 'ifname', interval: false, elements: [...new Set(only('interface').map((b) => b.interface!))].sort() });

  // The bypasses, as RETURNs before anything tprun does to the traffic (prerouting and forward).
  const bypassRules: Item[][] = [];
  bypassRules.push([m('meta iifname', '@bypass_if'), { verdict: 'return' }]);
  for (const f of families) {
    bypassRules.push([m(`${FAM[f].ip} saddr`, `@${setName('src', f)}`), { verdict: 'return' }]);
    bypassRules.push([m(`${FAM[f].ip} daddr`, `@${setName('dst', f)}`), { verdict: 'return' }]);
  }
  // A bypass with more than one selector is one rule of its own.
  for (const b of bypass.filter((x) => Object.keys(x).length > 1)) {
    const addrs = [b.source, b.destination].filter((a): a is string => !!a);
    const fams = addrs.length ? [familyOf(addrs[0]!.split('/')[0]!)] : families;
    for (const f of fams.filter((x) => families.includes(x))) {
      const r: Item[] = [];
      if (b.interface) r.push(m('meta iifname', b.interface));
      if (b.source) r.push(m(`${FAM[f].ip} saddr`, element(b.source)));
      if (b.destination) r.push(m(`${FAM[f].ip} daddr`, element(b.destination)));
      bypassRules.push([...r, { verdict: 'return' }]);
    }
  }

  const rules: Item[][] = [];
  // Packets of squid's own (transparent) connections: marked and accepted before any bypass.
  rules.push([m('meta l4proto', 'tcp'), m('socket transparent', 1), { counter: 'divert' }, markSet, { verdict: 'accept' }]);
  rules.push(...bypassRules);
  // Traffic to the host's own addresses goes to its own services, never to squid: squid would
  // connect to its own host, be intercepted again and loop (as iptables' addrtype LOCAL RETURN).
  rules.push([m('fib daddr type', 'local'), { verdict: 'return' }]);
  const https = host.vars.squid.https_tproxy_port;
  const targets: [string, number[], number][] = [['http', ports, host.vars.squid.tproxy_port]];
  if (https && https_ports.length) targets.push(['tls', https_ports, https]);
  for (const f of families)
    for (const [name, ps, port] of targets)
      rules.push([
        m('meta nfproto', FAM[f].nf),
        m('tcp dport', ...ps),
        { tproxy: { family: FAM[f].ip, port } },
        markSet,
        { counter: `intercepted_${name}` },
        { verdict: 'accept' },
      ]);
  // Fail closed: what tproxy could not hand to squid is dropped, never forwarded.
  const all = [...new Set(targets.flatMap((t) => t[1]))];
  rules.push([m('meta nfproto', ...families.map((f) => FAM[f].nf)), m('tcp dport', ...all), { counter: 'failclosed' }, { verdict: 'drop' }]);
  // QUIC (UDP/443) bypasses TPROXY, which intercepts TCP only: rejected (ICMP port unreachable,
  // so browsers fall back to TCP/443 at once), bypassed traffic excepted. Routers only: bridged
  // frames never reach the inet forward hook (bridgeQuicTable).
  const quic = host.vars.tproxy.block_quic && host.kind === 'router';
  const chains: NftChain[] = [{ name: 'prerouting', type: 'filter', hook: 'prerouting', prio: -150, policy: 'accept', rules }];
  if (quic)
    chains.unshift({
      name: 'forward',
      type: 'filter',
      hook: 'forward',
      prio: 0,
      policy: 'accept',
      rules: [...bypassRules, [m('udp dport', 443), { counter: 'quic' }, { verdict: 'reject' }]],
    });
  const counters = ['divert', 'failclosed', ...(quic ? ['quic'] : []), ...targets.map((t) => `intercepted_${t[0]}`)].sort();
  return { counters, sets: sets.sort((a, b) => a.name.localeCompare(b.name)), chains };
}

/** block_quic's table on a bridge, owned whole by this role (the broute's `table bridge tprun` is the ebtables role's). */
export const BRIDGE_TABLE = 'bridge tprun_quic';

/**
 * block_quic on a bridge: `table bridge tprun_quic`, chain forward at the bridge family's
 * forward hook (bridged frames never reach the inet forward hook: tprun keeps br_netfilter's
 * net.bridge.* at 0). The bypasses return first (one rule each), then UDP/443 of each family is
 * dropped and counted (`quic`). A drop, not a reject: the bridge family's reject needs
 * NFT_BRIDGE_REJECT, which not every kernel has, and ebtables (the iptables backend's bridge
 * rules) has none; browsers fall back to TCP/443 once their QUIC attempt times out.
 * Null where block_quic is off or the host is not a bridge.
 */
export function bridgeQuicTable(host: Host): NftTable | null {
  if (!(host.vars.tproxy.block_quic && host.kind === 'bridge')) return null;
  const { families, bypass } = host.vars.tproxy;
  const rules: Item[][] = [];
  for (const b of bypass) {
    const addrs = [b.source, b.destination].filter((a): a is string => !!a);
    const f = addrs.length ? familyOf(addrs[0]!.split('/')[0]!) : undefined;
    if (f && !families.includes(f)) continue;
    const r: Item[] = [];
    if (b.interface) r.push(m('meta iifname', b.interface));
    if (f && b.source) r.push(m(`${FAM[f].ip} saddr`, element(b.source)));
    if (f && b.destination) r.push(m(`${FAM[f].ip} daddr`, element(b.destination)));
    rules.push([...r, { verdict: 'return' }]);
  }
  const proto = { ipv4: m('ip protocol', 'udp'), ipv6: m('ip6 nexthdr', 'udp') };
  for (const f of (['ipv4', 'ipv6'] as const).filter((x) => families.includes(x)))
    rules.push([proto[f], m('udp dport', 443), { counter: 'quic' }, { verdict: 'drop' }]);
  return { counters: ['quic'], sets: [], chains: [{ name: 'forward', type: 'filter', hook: 'forward', prio: 0, policy: 'accept', rules }] };
}
