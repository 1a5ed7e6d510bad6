/**
 * Bridges: the guide's four broute rules per intercepted port move port-P frames from bridging
 * to routing, so the router rules (DIVERT, TPROXY) see them. Bypass rules ACCEPT (keep bridging)
 * before them, in both directions. Two implementations, chosen from facts (chooseBroute; the boot
 * script decides the same way on the host):
 * - ebtables-legacy: tprun's chain TPRUN_BROUTING, jumped to first from BROUTING, its rules
 *   `-j redirect --redirect-target DROP`, replaced whole with ebtables-legacy-restore --noflush;
 * - native nftables: `table bridge tprun`, the same rules with `meta pkttype set host` (what the
 *   redirect target did) and `meta broute set 1`, replaced whole in one nft transaction.
 * Never ebtables-nft (Debian 13's default ebtables): there the redirect form is a real drop. A
 * TPRUN_BROUTING found in ebtables-nft is removed (it black-holes port 80), and the other
 * implementation's rules too.
 */
import { familyOf } from '../../src/inventory/address.ts';
import type { Host } from '../../src/inventory/types.ts';
import { defineRole, requirement } from '../../src/role/contract.ts';
import type { Check } from '../../src/plan/types.ts';
import { chainChange, type ChainDialect } from '../../src/resources/chain.ts';
import type { Artifact } from '../../src/resources/file.ts';
import { templates } from '../../src/render/templates.ts';
import { sh } from '../../src/shell.ts';
import { brouteFacts, chooseBroute, CHOOSE_SHELL, ebtablesNftSave, ebtablesSave, normaliseNftRule, nftBrouteTable } from './facts.ts';
import { EB_LIST_TO_SAVE, normaliseEbRule } from '../../src/firewall/ebtables.ts';
import { NFT_CHECK } from '../../src/firewall/nft.ts';

export { normaliseEbRule };
import { change, type Change } from '../../src/resources/change.ts';
import { heredoc, raw } from '../../src/shell.ts';

const ROLE = 'ebtables';
const render = templates(import.meta.url);
export const CHAIN = 'TPRUN_BROUTING';
const RULES_FILE = '/etc/tprun/ebtables.rules';
const NFT_FILE = '/etc/tprun/broute.nft';

/** tprun's chain in one ebtables binary's broute table (ebtables-legacy, or ebtables-nft only to remove it). */
const ebDialect = (bin: 'ebtables-legacy' | 'ebtables-nft', tool: string): ChainDialect => ({
  tool,
  table: 'broute',
  save: sh`${raw(bin)} -t broute -L | ${EB_LIST_TO_SAVE}`,
  restoreKeep: sh`${raw(bin)}-restore --noflush`,
  restoreAll: sh`${raw(bin)}-restore`,
  hook: 'BROUTING',
  entry: CHAIN,
  declarations: [`:${CHAIN} RETURN`],
  commit: false,
  // ebtables-legacy-restore --noflush does not flush a declared chain: flush it explicitly.
  flushDeclared: true,
  normalise: normaliseEbRule,
});
const legacyDialect = ebDialect('ebtables-legacy', 'ebtables');
const nftCompatDialect = ebDialect('ebtables-nft', 'ebtables-nft');

/** One broute rule, before it is written for ebtables or nft. */
type BrouteRule =
  | { accept: true; fam?: 'ipv4' | 'ipv6'; iif?: string; src?: string; dst?: string }
  | { accept: false; fam: 'ipv4' | 'ipv6'; iif: string; dir: 'dport' | 'sport'; port: number };

export function brouteRules(host: Host): BrouteRule[] {
  if (host.kind !== 'bridge') return [];
  const { client_interface: cif, internet_interface: iif } = host.bridge;
  const { families, bypass } = host.vars.tproxy;
  const ports = [...host.vars.tproxy.ports, ...host.vars.tproxy.https_ports];
  const out: BrouteRule[] = [];
  const seen = new Set<string>();
  for (const b of bypass) {
    const addrFam = [b.source, b.destination].filter((a): a is string => !!a).map(familyOf);
    const fams = addrFam.length ? [addrFam[0]!] : families;
    for (const f of fams) {
      if (!families.includes(f)) continue;
      // Both directions: the replies (source and destination swapped) must stay bridged too,
      // or they match the "--ip-sport 80" rule and are routed while the requests were bridged.
      const ways =
        b.source || b.destination
          ? [
              [b.source, b.destination],
              [b.destination, b.source],
            ]
          : [[undefined, undefined]];
      for (const [src, dst] of ways) {
        const r: BrouteRule = {
          accept: true,
          ...(src || dst ? { fam: f } : {}),
          ...(b.interface ? { iif: b.interface } : {}),
          ...(src ? { src } : {}),
          ...(dst ? { dst } : {}),
        };
        const key = JSON.stringify(r);
        if (!seen.has(key)) out.push(r);
        seen.add(key);
      }
    }
  }
  for (const port of ports) {
    for (const [ifname, dir] of [
      [cif, 'dport'],
      [iif, 'sport'],
    ] as const) {
      if (families.includes('ipv6')) out.push({ accept: false, fam: 'ipv6', iif: ifname, dir, port });
      if (families.includes('ipv4')) out.push({ accept: false, fam: 'ipv4', iif: ifname, dir, port });
    }
  }
  return out;
}

/** The rules as ebtables(-legacy) lines of tprun's chain. */
export function chainRules(host: Host): string[] {
  return brouteRules(host).map((r) => {
    const [p, pre] = r.fam === 'ipv6' ? ['IPv6', 'ip6'] : ['IPv4', 'ip'];
    if (r.accept) {
      const m = [r.fam ? `-p ${p}` : '', r.iif ? `-i ${r.iif}` : '', r.src ? `--${pre}-src ${r.src}` : '', r.dst ? `--${pre}-dst ${r.dst}` : ''].filter(
        Boolean,
      );
      return `-A ${CHAIN} ${m.join(' ')} -j ACCEPT`;
    }
    return `-A ${CHAIN} -p ${p} -i ${r.iif} --${pre}-proto tcp --${pre}-${r.dir} ${r.port} -j redirect --redirect-target DROP`;
  });
}

/** The same rules for nftables' bridge family, in the form `nft list` prints them. */
export function nftRules(host: Host): string[] {
  return brouteRules(host).map((r) => {
    const pre = r.fam === 'ipv6' ? 'ip6' : 'ip';
    const iif = r.iif ? `iifname "${r.iif}" ` : '';
    if (r.accept) return `${iif}${r.src ? `${pre} saddr ${r.src} ` : ''}${r.dst ? `${pre} daddr ${r.dst} ` : ''}counter accept`;
    const proto = r.fam === 'ipv6' ? 'ip6 nexthdr tcp' : 'ip protocol tcp';
    // meta pkttype set host: what ebtables' redirect target did (the IP stack takes the frame as its own).
    return `${iif}${proto} tcp ${r.dir} ${r.port} counter meta pkttype set host meta broute set 1 accept`;
  });
}

const NFT_RESET = 'table bridge tprun\ndelete table bridge tprun\n';

/** /etc/tprun/broute.nft: replaces tprun's table whole (nft -f is one transaction). */
export function nftFile(host: Host): string {
  return `# tprun broute rules for ${host.name} (nftables): port-P frames leave the bridge and are routed.\n${NFT_RESET}table bridge tprun {\n\tchain brouting {\n\t\ttype filter hook prerouting priority dstnat; policy accept;\n${nftRules(
    host,
  )
    .map((r) => `\t\t${r}\n`)
    .join('')}\t}\n}\n`;
}

/** tprun's nft table: created/replaced whole, or deleted; its old listing saved for the undo. */
function nftChange(host: Host, actual: string[] | null, wanted: string[] | null): Change {
  const state = (rules: string[]) => ({ hookChain: 'bridge prerouting', entry: 'tprun brouting', hook: 'first' as const, rules: rules.map(normaliseNftRule) });
  const saved = raw('"$TPRUN_TX/nft.bridge-tprun"');
  const script = wanted ? nftFile(host) : NFT_RESET;
  return change({
    kind: 'chain',
    role: ROLE,
    id: 'nft bridge tprun',
    before: actual ? state(actual) : null,
    after: wanted ? state(wanted) : null,
    commands: [
      sh`{ nft list table bridge tprun 2>/dev/null || :; } > ${saved}.part && mv -f ${saved}.part ${saved}`,
      // Checked by the host's nft and kernel (meta broute needs 6.4+) before the swap.
      heredoc(NFT_CHECK, script),
      heredoc(raw('nft -f -'), script),
    ],
    undo: [sh`[ ! -e ${saved} ] || { printf ${NFT_RESET} | nft -f - && { [ ! -s ${saved} ] || nft -f ${saved}; }; }`],
  });
}

function artifacts(host: Host): Artifact[] {
  // Both, whichever is used: the boot script chooses on the host, as chooseBroute did at apply.
  return [
    { role: ROLE, path: RULES_FILE, mode: '0644', content: render('rules.eta', { host, rules: chainRules(host) }), install: true },
    { role: ROLE, path: NFT_FILE, mode: '0644', content: nftFile(host), install: true },
  ];
}

export const ebtables = defineRole({
  name: ROLE,
  applies: (host) => host.kind === 'bridge',
  facts: () => ({ broute: brouteFacts, save: ebtablesSave, nftCompatSave: ebtablesNftSave, nftTable: nftBrouteTable }),
  requirements(_host, f) {
    const c = chooseBroute(f.broute);
    const checks: Check[] = [
      requirement(ROLE, {
        name: 'bridge broute',
        found: c.found,
        ok: c.impl !== null,
        wanted: 'ebtables-legacy with a broute table, or nftables bridge meta broute (nftables >= 1.0.8, Linux >= 6.4)',
        hint: `a bridge cannot hand port-80 frames to TPROXY without broute: ${'hint' in c ? c.hint : ''}`,
      }),
    ];
    return checks;
  },
  artifacts,
  boot: () => [{ order: 40, name: 'ebtables', content: render('boot-ebtables.sh.eta', { file: RULES_FILE, nft: NFT_FILE, choose: CHOOSE_SHELL }) }],
  plan: (host, f) => {
    const impl = chooseBroute(f.broute).impl;
    return {
      changes: [
        chainChange(legacyDialect, ROLE, f.save, impl === 'legacy' ? chainRules(host) : null),
        // ebtables-nft runs the redirect form as a real drop: never wanted there.
        chainChange(nftCompatDialect, ROLE, f.nftCompatSave, null),
        nftChange(host, f.nftTable, impl === 'nft' ? nftRules(host) : null),
      ],
    };
  },
});
