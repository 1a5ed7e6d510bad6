/**
 * iptables (and ip6tables): the guide's DIVERT chain and TPROXY rule, in tprun's own mangle
 * chains TPRUN_DIVERT and TPRUN_PREROUTING, jumped to first from PREROUTING. The socket match
 * (DIVERT, only squid's transparent sockets) comes first, then the bypass RETURNs, then TPROXY:
 * a bypass still keeps its traffic away from squid (it stands before every TPROXY rule), but can
 * no longer keep the replies of squid's own connections from reaching squid. In the filter
 * table, TPRUN_INPUT (jumped to first from INPUT) accepts the marked packets, so a host
 * firewall with INPUT policy DROP does not drop intercepted traffic; on a WCCP cache also GRE
 * and WCCP (UDP 2048) from the routers; with tproxy.block_quic, TPRUN_FORWARD (jumped to first
 * from FORWARD) rejects UDP/443 from the clients, bypasses excepted; on a bridge, where bridged
 * frames never reach the IP forward hook (tprun keeps br_netfilter's net.bridge.* at 0), the
 * same block is ebtables-nft's filter chain TPRUN_FORWARD (bridge family, jumped to first from
 * FORWARD), a DROP (ebtables has no REJECT). Chains are replaced whole and atomically with
 * iptables-restore/ebtables-nft-restore --noflush; nobody else's rules are touched.
 */
import type { Diagnostic } from '../../src/diagnostics.ts';
import { compareVersions, type SaveTable } from '../../src/facts/parsers.ts';
import { installCommand, packageFamily } from '../../src/facts/family.ts';
import { kernelConfig, kernelRelease, saveTable } from '../../src/facts/shared.ts';
import { backendOf, firewallFacts } from '../../src/firewall/backend.ts';
import { familyOf } from '../../src/inventory/address.ts';
import { fwmarkSpec, hex } from '../../src/inventory/mark.ts';
import { FAMILIES, type Family, type Host } from '../../src/inventory/types.ts';
import { defineRole, requirement } from '../../src/role/contract.ts';
import { chainChange, type ChainDialect } from '../../src/resources/chain.ts';
import type { Artifact } from '../../src/resources/file.ts';
import { templates } from '../../src/render/templates.ts';
import { sh } from '../../src/shell.ts';
import { EB_LIST_TO_SAVE } from '../../src/firewall/ebtables.ts';
import { ebtablesNftFilter, nftChains, toolVersion, type NftChain } from './facts.ts';
import { normaliseEbRule } from '../../src/firewall/ebtables.ts';
import { normaliseRule } from './rules.ts';

const ROLE = 'iptables';
const render = templates(import.meta.url);
export const DIVERT = 'TPRUN_DIVERT';
export const CHAIN = 'TPRUN_PREROUTING';
export const INPUT = 'TPRUN_INPUT';
export const FORWARD = 'TPRUN_FORWARD';
const TOOL: Record<Family, 'iptables' | 'ip6tables'> = { ipv4: 'iptables', ipv6: 'ip6tables' };
const rulesFile = (f: Family) => `/etc/tprun/${TOOL[f]}.rules`;
export const EB_FORWARD_FILE = '/etc/tprun/ebtables-forward.rules';

const HOOKS = {
  mangle: { hook: 'PREROUTING', entry: CHAIN, declarations: [`:${DIVERT} - [0:0]`, `:${CHAIN} - [0:0]`] },
  filter: { hook: 'INPUT', entry: INPUT, declarations: [`:${INPUT} - [0:0]`] },
  forward: { hook: 'FORWARD', entry: FORWARD, declarations: [`:${FORWARD} - [0:0]`] },
};

const dialect = (family: Family, which: keyof typeof HOOKS = 'mangle'): ChainDialect => {
  const tool = TOOL[family];
  const table = which === 'mangle' ? 'mangle' : 'filter';
  return {
    tool,
    table,
    save: sh`${tool}-save -t ${table}`,
    restoreKeep: sh`${tool}-restore --noflush`,
    restoreAll: sh`${tool}-restore`,
    ...HOOKS[which],
    // A second dialect in the filter table gets its own snapshot, so each undo restores its own.
    ...(which === 'forward' ? { snapshot: `${tool}.filter.forward` } : {}),
    commit: true,
    normalise: (rule) => normaliseRule(rule, family),
  };
};

/** The wanted rules of tprun's two chains, as "-A CHAIN rule" lines in apply order. */
export function chainRules(host: Host, family: Family): string[] {
  const { mark, mask, ports, bypass } = host.vars.tproxy;
  const tmark = `${hex(mark)}/${hex(mask)}`;
  const out = [`-A ${DIVERT} -j MARK --set-xmark ${tmark}`, `-A ${DIVERT} -j ACCEPT`];
  // Packets of squid's own connections first (--transparent: only sockets squid made
  // transparent, never a local service listening on the port): a bypass must not keep the
  // replies of an intercepted connection, e.g. arriving on a bypassed interface, from squid.
  out.push(`-A ${CHAIN} -p tcp -m socket --transparent -j ${DIVERT}`);
  for (const b of bypass) {
    if ([b.source, b.destination].some((a) => a && familyOf(a) !== family)) continue;
    const m = [b.interface && `-i ${b.interface}`, b.source && `-s ${b.source}`, b.destination && `-d ${b.destination}`].filter(Boolean);
    out.push(`-A ${CHAIN} ${m.join(' ')} -j RETURN`);
  }
  // Traffic to the host's own addresses goes to its own services, never to squid: squid would
  // connect to its own host, be intercepted again and loop (a client waits for nothing).
  out.push(`-A ${CHAIN} -m addrtype --dst-type LOCAL -j RETURN`);
  for (const p of ports) out.push(`-A ${CHAIN} -p tcp -m tcp --dport ${p} -j TPROXY --on-port ${host.vars.squid.tproxy_port} --tproxy-mark ${tmark}`);
  // TLS goes to squid's HTTPS tproxy port (validate requires one when https_ports is set).
  const https = host.vars.squid.https_tproxy_port;
  if (https)
    for (const p of host.vars.tproxy.https_ports) out.push(`-A ${CHAIN} -p tcp -m tcp --dport ${p} -j TPROXY --on-port ${https} --tproxy-mark ${tmark}`);
  return out;
}

/** WCCP routers' addresses a cache receives GRE and WCCP (UDP 2048) from. */
function wccpSources(host: Host, family: Family): string[] {
  const out = host.wccp.flatMap((p) => [p.router_id, p.address]).filter((a) => familyOf(a) === family);
  return [...new Set(out)];
}

/** The wanted rules of TPRUN_INPUT (filter table): what a host firewall must let in. */
export function inputRules(host: Host, family: Family): string[] {
  const { mark, mask } = host.vars.tproxy;
  // After TPROXY a packet keeps its original destination (e.g. port 80 of the origin): the
  // mark, set by TPROXY and by DIVERT, is what tells intercepted packets apart.
  const out = [`-A ${INPUT} -p tcp -m mark --mark ${fwmarkSpec(mark, mask)} -j ACCEPT`];
  for (const a of wccpSources(host, family)) {
    out.push(`-A ${INPUT} -s ${a} -p gre -j ACCEPT`, `-A ${INPUT} -s ${a} -p udp -m udp --dport 2048 -j ACCEPT`);
  }
  return out;
}

/** Whether UDP/443 (QUIC) is rejected in the IP forward hook (routers; bridges: bridgeQuicRules). */
export const blocksQuic = (host: Host) => host.vars.tproxy.block_quic && host.kind === 'router';

/**
 * ebtables-nft's filter table, chain TPRUN_FORWARD: block_quic on a bridge with the iptables
 * backend. Bridged frames pass the bridge family's forward hook, never the IP one (br_netfilter's
 * net.bridge.bridge-nf-call-* stay 0 on tprun's bridges). ebtables-nft, not ebtables-legacy: it
 * comes with iptables (Debian 12 and 13), and the filter table's DROP is a plain nft drop there
 * (only the broute redirect form misbehaves in ebtables-nft).
 */
const ebForward: ChainDialect = {
  tool: 'ebtables-nft',
  table: 'filter',
  save: sh`ebtables-nft -t filter -L | ${EB_LIST_TO_SAVE}`,
  restoreKeep: sh`ebtables-nft-restore --noflush`,
  restoreAll: sh`ebtables-nft-restore`,
  hook: 'FORWARD',
  entry: FORWARD,
  declarations: [`:${FORWARD} RETURN`],
  commit: false,
  flushDeclared: true,
  normalise: normaliseEbRule,
};

/**
 * The wanted rules of the bridge's TPRUN_FORWARD (ebtables-nft filter): the bypasses RETURN
 * (bridged on, untouched), then UDP/443 of each family in tproxy.families is dropped. A drop,
 * not a reject: ebtables has no REJECT target (browsers fall back to TCP/443 once their QUIC
 * attempt times out). Empty where block_quic is off or the host is not a bridge.
 */
export function bridgeQuicRules(host: Host): string[] {
  if (!(host.vars.tproxy.block_quic && host.kind === 'bridge')) return [];
  const { families, bypass } = host.vars.tproxy;
  const out: string[] = [];
  const P = { ipv4: ['IPv4', 'ip'], ipv6: ['IPv6', 'ip6'] } as const;
  for (const b of bypass) {
    const addrs = [b.source, b.destination].filter((a): a is string => !!a);
    if (!addrs.length) {
      out.push(`-A ${FORWARD} -i ${b.interface} -j RETURN`);
      continue;
    }
    const f = familyOf(addrs[0]!.split('/')[0]!);
    if (!families.includes(f)) continue;
    const [p, pre] = P[f];
    const m = [`-p ${p}`, b.interface && `-i ${b.interface}`, b.source && `--${pre}-src ${b.source}`, b.destination && `--${pre}-dst ${b.destination}`];
    out.push(`-A ${FORWARD} ${m.filter(Boolean).join(' ')} -j RETURN`);
  }
  for (const f of FAMILIES.filter((x) => families.includes(x))) {
    const [p, pre] = P[f];
    out.push(`-A ${FORWARD} -p ${p} --${pre}-proto udp --${pre}-dport 443 -j DROP`);
  }
  return out;
}

/**
 * The wanted rules of TPRUN_FORWARD (filter table): QUIC (UDP/443) forwarded from the clients is
 * rejected, so browsers fall back to TCP/443 at once (a drop would make them wait) and are
 * intercepted. The bypasses come first, as in TPRUN_PREROUTING: bypassed traffic is not blocked.
 * Empty when block_quic is off (the chain is then not installed).
 */
export function forwardRules(host: Host, family: Family): string[] {
  if (!blocksQuic(host)) return [];
  const out: string[] = [];
  for (const b of host.vars.tproxy.bypass) {
    if ([b.source, b.destination].some((a) => a && familyOf(a) !== family)) continue;
    const m = [b.interface && `-i ${b.interface}`, b.source && `-s ${b.source}`, b.destination && `-d ${b.destination}`].filter(Boolean);
    out.push(`-A ${FORWARD} ${m.join(' ')} -j RETURN`);
  }
  out.push(`-A ${FORWARD} -p udp -m udp --dport 443 -j REJECT --reject-with ${family === 'ipv4' ? 'icmp-port-unreachable' : 'icmp6-port-unreachable'}`);
  return out;
}

function artifacts(host: Host): Artifact[] {
  const files: Artifact[] = host.vars.tproxy.families.map((f) => ({
    role: ROLE,
    path: rulesFile(f),
    mode: '0644',
    content: render('rules.eta', { host, tool: TOOL[f], rules: chainRules(host, f), input: inputRules(host, f), forward: forwardRules(host, f) }),
    install: true,
  }));
  const bridge = bridgeQuicRules(host);
  if (bridge.length)
    files.push({ role: ROLE, path: EB_FORWARD_FILE, mode: '0644', content: render('ebtables-forward.eta', { host, rules: bridge }), install: true });
  return files;
}

/** A hand-made TPROXY/DIVERT rule in PREROUTING intercepts besides tprun's chain. */
function foreignRules(host: Host, family: Family, table: SaveTable | null): Diagnostic[] {
  const pre = table?.rules.get('PREROUTING') ?? [];
  return pre.flatMap((r, i) =>
    r.trim() !== `-j ${CHAIN}` && /-j (TPROXY|DIVERT)\b|-m socket/.test(r)
      ? [
          {
            severity: 'warning' as const,
            host: host.name,
            role: ROLE,
            message: `${TOOL[family]} mangle PREROUTING rule ${i + 1} is not tprun's: "-A PREROUTING ${r}" (a hand-made TPROXY/DIVERT rule intercepts besides tprun's chain; remove it)`,
          },
        ]
      : [],
  );
}

/**
 * A firewall in an nftables table of its own (firewalld, a hand-written `inet filter`) has its
 * own input hook: an accept in iptables' filter table (TPRUN_INPUT) does not override its drop.
 * iptables-nft's own tables are `ip filter` and `ip6 filter`.
 */
function otherInputFirewalls(host: Host, chains: NftChain[] | null): Diagnostic[] {
  const { mark, mask } = host.vars.tproxy;
  return (chains ?? [])
    .filter(
      (c) => c.hook === 'input' && !(c.table === 'filter' && (c.family === 'ip' || c.family === 'ip6')) && (c.policy === 'drop' || c.table === 'firewalld'),
    )
    .map((c) => ({
      severity: 'warning' as const,
      host: host.name,
      role: ROLE,
      message: `nftables chain ${c.family} ${c.table} ${c.name} filters input on its own${c.policy === 'drop' ? ' (policy drop)' : ''}: tprun's accept in iptables' TPRUN_INPUT does not override it; it must accept the intercepted packets itself (e.g. "meta mark & ${hex(mask)} == ${hex(mark)} accept")`,
    }));
}

export const iptables = defineRole({
  name: ROLE,
  applies: () => true,
  // Both families are always read, so chains of a family dropped from the inventory are removed.
  facts: () => ({
    mangle: { ipv4: saveTable('iptables', 'mangle'), ipv6: saveTable('ip6tables', 'mangle') },
    filter: { ipv4: saveTable('iptables', 'filter'), ipv6: saveTable('ip6tables', 'filter') },
    version: { ipv4: toolVersion('iptables'), ipv6: toolVersion('ip6tables') },
    kernel: kernelConfig,
    release: kernelRelease,
    nft: nftChains,
    firewall: firewallFacts,
    bridgeFilter: ebtablesNftFilter,
  }),
  // On the nftables backend this role only removes its chains: no iptables needed.
  requirements: (host, f) => {
    const fams = backendOf(host, f.firewall).backend === 'iptables' ? host.vars.tproxy.families : [];
    const ebtables =
      fams.length && bridgeQuicRules(host).length
        ? [
            requirement(ROLE, {
              name: 'ebtables-nft (block_quic on a bridge)',
              found: f.bridgeFilter.tool ? 'ebtables-nft installed' : 'ebtables-nft not found',
              ok: f.bridgeFilter.tool,
              wanted: 'ebtables-nft',
              hint: `bridged UDP/443 is dropped in the bridge family (ebtables-nft comes with iptables 1.8: ${installCommand(packageFamily(f.release.text), { debian: 'iptables', rhel: 'iptables-ebtables' })}), or set tproxy.block_quic: false`,
            }),
          ]
        : [];
    const tools = [
      ...ebtables,
      ...fams.map((fam) => {
        const t = f.version[fam];
        return requirement(ROLE, {
          name: `${TOOL[fam]} >= 1.4.11`,
          found: t?.version ? t.text : `${TOOL[fam]} not found`,
          ok: !!t?.version && compareVersions(t.version, [1, 4, 11]) >= 0,
          wanted: '>= 1.4.11',
          hint: t?.version
            ? `the TPROXY rules need ${TOOL[fam]} 1.4.10 or later (the guide's minimum), and "-m socket --transparent" 1.4.11`
            : `install iptables (${installCommand(packageFamily(f.release.text), { debian: 'iptables', rhel: 'iptables-nft' })}), or set tproxy.backend: nftables (Debian 13 and RHEL install nftables, not iptables, by default)`,
        });
      }),
    ];
    // iptables-nft runs the socket match and the TPROXY target through nf_tables' compat layer.
    const nft = fams.some((fam) => /nf_tables/.test(f.version[fam]?.text ?? ''));
    const cfg = f.kernel;
    // Judged where the config shows nf_tables at all (a config without it gives no basis).
    if (!nft || cfg.source === 'none' || !cfg.options.NF_TABLES_INET) return tools;
    const v = cfg.options.NFT_COMPAT;
    return [
      ...tools,
      requirement(ROLE, {
        name: 'kernel CONFIG_NFT_COMPAT (iptables-nft)',
        found: v ? `CONFIG_NFT_COMPAT=${v} (${cfg.source})` : `not set (${cfg.source})`,
        ok: v === 'y' || v === 'm',
        wanted: 'y or m',
        hint: "this host's iptables is iptables-nft, which runs tprun's socket match and TPROXY target through nf_tables' compat layer: use a kernel with NFT_COMPAT, iptables-legacy, or tproxy.backend: nftables",
      }),
    ];
  },
  artifacts,
  owns: [...FAMILIES.map(rulesFile), EB_FORWARD_FILE],
  boot: (host) => [
    {
      order: 30,
      name: 'iptables',
      content: render('boot-iptables.sh.eta', {
        families: host.vars.tproxy.families.map((f) => ({ tool: TOOL[f], file: rulesFile(f) })),
        forward: blocksQuic(host),
        bridgeForward: bridgeQuicRules(host).length ? EB_FORWARD_FILE : null,
      }),
    },
  ],
  plan(host, f) {
    const on = backendOf(host, f.firewall).backend === 'iptables';
    const fams = on ? host.vars.tproxy.families : [];
    const changes = FAMILIES.flatMap((fam) => [
      chainChange(dialect(fam), ROLE, f.mangle[fam], fams.includes(fam) ? chainRules(host, fam) : null),
      chainChange(dialect(fam, 'filter'), ROLE, f.filter[fam], fams.includes(fam) ? inputRules(host, fam) : null),
      chainChange(dialect(fam, 'forward'), ROLE, f.filter[fam], fams.includes(fam) && blocksQuic(host) ? forwardRules(host, fam) : null),
    ]);
    const bridge = on ? bridgeQuicRules(host) : [];
    changes.push(chainChange(ebForward, ROLE, f.bridgeFilter.table, bridge.length ? bridge : null));
    return {
      changes: changes.filter((c) => c.before !== null || c.after !== null),
      diagnostics: [...FAMILIES.flatMap((fam) => foreignRules(host, fam, f.mangle[fam])), ...(on ? otherInputFirewalls(host, f.nft) : [])],
    };
  },
});
