/**
 * ebtables (bridges): the guide's four broute rules per intercepted port move port-P frames
 * from bridging to routing ("redirect --redirect-target DROP"), so the router rules see them.
 * Bypass rules ACCEPT (keep bridging) before the DROPs, in both directions. tprun owns the chain TPRUN_BROUTING,
 * jumped to first from BROUTING, replaced whole with ebtables-restore --noflush (ebtables-legacy's
 * when the default ebtables has no broute table, as Debian 12's ebtables-nft 1.8.9).
 */
import { familyOf } from '../../src/inventory/address.ts';
import type { Host } from '../../src/inventory/types.ts';
import { defineRole, requirement } from '../../src/plan/role.ts';
import type { Check } from '../../src/plan/types.ts';
import { chainChange, type ChainDialect } from '../../src/resources/chain.ts';
import type { Artifact } from '../../src/resources/file.ts';
import { templates } from '../../src/render/templates.ts';
import { sh } from '../../src/shell.ts';
import { compareVersions, parseVersion } from '../../src/facts/parsers.ts';
import { broute, type Broute, EB_LIST_TO_SAVE, EBTABLES, ebtablesSave, ebtablesVersion } from './facts.ts';

const ROLE = 'ebtables';
const render = templates(import.meta.url);
export const CHAIN = 'TPRUN_BROUTING';
const RULES_FILE = '/etc/tprun/ebtables.rules';

/** ebtables prints options in its own order and protocol names in either case: compare as sorted option pairs. */
export function normaliseEbRule(rule: string): string {
  const t = rule.trim().split(/\s+/);
  const j = t.indexOf('-j');
  const head = j >= 0 ? t.slice(0, j) : t;
  const tail = j >= 0 ? t.slice(j) : [];
  const pairs: string[] = [];
  for (let i = 0; i < head.length; i++) {
    const w = head[i]!;
    if (w.startsWith('-') && head[i + 1] !== undefined && !head[i + 1]!.startsWith('-')) {
      const v = head[i + 1]!;
      pairs.push(`${w} ${w === '-p' || w === '--ip-proto' || w === '--ip6-proto' ? v.toLowerCase() : v}`);
      i++;
    } else pairs.push(w);
  }
  return [...pairs.sort(), ...tail].join(' ');
}

const dialect: ChainDialect = {
  tool: 'ebtables',
  table: 'broute',
  save: sh`${EBTABLES} -t broute -L | ${EB_LIST_TO_SAVE}`,
  restoreKeep: sh`${EBTABLES}-restore --noflush`,
  restoreAll: sh`${EBTABLES}-restore`,
  hook: 'BROUTING',
  entry: CHAIN,
  declarations: [`:${CHAIN} RETURN`],
  commit: false,
  // ebtables-legacy-restore --noflush does not flush a declared chain: flush it explicitly.
  flushDeclared: true,
  normalise: normaliseEbRule,
};

export function chainRules(host: Host): string[] {
  if (host.kind !== 'bridge') return [];
  const { client_interface: cif, internet_interface: iif } = host.bridge;
  const { families, bypass } = host.vars.tproxy;
  const ports = [...host.vars.tproxy.ports, ...host.vars.tproxy.https_ports];
  const out: string[] = [];
  for (const b of bypass) {
    const addrFam = [b.source, b.destination].filter((a): a is string => !!a).map(familyOf);
    const fams = addrFam.length ? [addrFam[0]!] : families;
    for (const f of fams) {
      if (!families.includes(f)) continue;
      const [p, pre] = f === 'ipv4' ? ['IPv4', 'ip'] : ['IPv6', 'ip6'];
      // Both directions: the replies (source and destination swapped) must stay bridged too,
      // or they match the "--ip-sport 80" DROP and are routed while the requests were bridged.
      const ways =
        b.source || b.destination
          ? [
              [b.source, b.destination],
              [b.destination, b.source],
            ]
          : [[undefined, undefined]];
      for (const [src, dst] of ways) {
        const m = [
          src || dst ? `-p ${p}` : '',
          b.interface ? `-i ${b.interface}` : '',
          src ? `--${pre}-src ${src}` : '',
          dst ? `--${pre}-dst ${dst}` : '',
        ].filter(Boolean);
        const rule = `-A ${CHAIN} ${m.join(' ')} -j ACCEPT`;
        if (!out.includes(rule)) out.push(rule);
      }
    }
  }
  for (const port of ports) {
    for (const [ifname, dir] of [
      [cif, 'dport'],
      [iif, 'sport'],
    ] as const) {
      if (families.includes('ipv6')) out.push(`-A ${CHAIN} -p IPv6 -i ${ifname} --ip6-proto tcp --ip6-${dir} ${port} -j redirect --redirect-target DROP`);
      if (families.includes('ipv4')) out.push(`-A ${CHAIN} -p IPv4 -i ${ifname} --ip-proto tcp --ip-${dir} ${port} -j redirect --redirect-target DROP`);
    }
  }
  return out;
}

function artifacts(host: Host): Artifact[] {
  return [{ role: ROLE, path: RULES_FILE, mode: '0644', content: render('rules.eta', { host, rules: chainRules(host) }), install: true }];
}

/** What the broute check found, naming ebtables-nft when it (not the kernel) lacks the table. */
function brouteFound(version: string, b: Broute): string {
  if (b.usable !== false) return b.usable === 'legacy' ? 'broute table usable through ebtables-legacy (the default ebtables has none)' : 'broute table usable';
  const nft = /nf_tables/.test(version) && compareVersions(parseVersion(version) ?? [0], [1, 8, 10]) < 0;
  return nft
    ? `ebtables-nft ${/\d+\.\d+\.\d+/.exec(version)?.[0] ?? ''} has no broute table (${b.said}): install/select ebtables-legacy (update-alternatives --set ebtables /usr/sbin/ebtables-legacy) or iptables >= 1.8.10`
    : `the kernel has no ebtables broute table (${b.said})`;
}

export const ebtables = defineRole({
  name: ROLE,
  applies: (host) => host.kind === 'bridge',
  facts: () => ({ version: ebtablesVersion, broute, save: ebtablesSave }),
  requirements(_host, f) {
    const checks: Check[] = [
      requirement(ROLE, {
        name: 'ebtables installed',
        found: f.version ?? 'ebtables not found',
        ok: f.version !== null,
        wanted: 'ebtables',
        hint: 'bridges move port-80 frames from bridging to routing with ebtables broute rules',
      }),
    ];
    if (f.version !== null) {
      checks.push(
        requirement(ROLE, {
          name: 'ebtables broute table',
          found: brouteFound(f.version, f.broute),
          ok: f.broute.usable !== false,
          wanted: 'broute table usable (CONFIG_BRIDGE_EBT_BROUTE, or an nftables bridge family with broute support)',
          hint: 'a bridge cannot hand frames to TPROXY without the broute table',
        }),
      );
    }
    return checks;
  },
  artifacts,
  boot: () => [{ order: 40, name: 'ebtables', content: render('boot-ebtables.sh.eta', { file: RULES_FILE }) }],
  plan: (host, f) => ({ changes: [chainChange(dialect, ROLE, f.save, chainRules(host))] }),
});
