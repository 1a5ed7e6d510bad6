/**
 * iptables (and ip6tables): the guide's DIVERT chain and TPROXY rule, in tprun's own mangle
 * chains TPRUN_DIVERT and TPRUN_PREROUTING, jumped to first from PREROUTING. Bypass rules
 * RETURN before the socket match; the socket match (DIVERT) comes before TPROXY, or
 * "Traffic going through Squid but timing out". Chains are replaced whole and atomically
 * with iptables-restore --noflush; nobody else's rules are touched.
 */
import type { Diagnostic } from '../../src/diagnostics.ts';
import { compareVersions, type SaveTable } from '../../src/facts/parsers.ts';
import { saveTable } from '../../src/facts/shared.ts';
import { familyOf } from '../../src/inventory/address.ts';
import { hex } from '../../src/inventory/mark.ts';
import { FAMILIES, type Family, type Host } from '../../src/inventory/types.ts';
import { defineRole, requirement } from '../../src/plan/role.ts';
import { chainChange, type ChainDialect } from '../../src/resources/chain.ts';
import type { Artifact } from '../../src/resources/file.ts';
import { templates } from '../../src/render/templates.ts';
import { sh } from '../../src/shell.ts';
import { toolVersion } from './facts.ts';
import { normaliseRule } from './rules.ts';

const ROLE = 'iptables';
const render = templates(import.meta.url);
export const DIVERT = 'TPRUN_DIVERT';
export const CHAIN = 'TPRUN_PREROUTING';
const TOOL: Record<Family, 'iptables' | 'ip6tables'> = { ipv4: 'iptables', ipv6: 'ip6tables' };
const rulesFile = (f: Family) => `/etc/tprun/${TOOL[f]}.rules`;

const dialect = (family: Family): ChainDialect => {
  const tool = TOOL[family];
  return {
    tool,
    table: 'mangle',
    save: sh`${tool}-save -t mangle`,
    restoreKeep: sh`${tool}-restore --noflush`,
    restoreAll: sh`${tool}-restore`,
    hook: 'PREROUTING',
    entry: CHAIN,
    declarations: [`:${DIVERT} - [0:0]`, `:${CHAIN} - [0:0]`],
    commit: true,
    normalise: (rule) => normaliseRule(rule, family),
  };
};

/** The wanted rules of tprun's two chains, as "-A CHAIN rule" lines in apply order. */
export function chainRules(host: Host, family: Family): string[] {
  const { mark, mask, ports, bypass } = host.vars.tproxy;
  const tmark = `${hex(mark)}/${hex(mask)}`;
  const out = [`-A ${DIVERT} -j MARK --set-xmark ${tmark}`, `-A ${DIVERT} -j ACCEPT`];
  for (const b of bypass) {
    if ([b.source, b.destination].some((a) => a && familyOf(a) !== family)) continue;
    const m = [b.interface && `-i ${b.interface}`, b.source && `-s ${b.source}`, b.destination && `-d ${b.destination}`].filter(Boolean);
    out.push(`-A ${CHAIN} ${m.join(' ')} -j RETURN`);
  }
  out.push(`-A ${CHAIN} -p tcp -m socket -j ${DIVERT}`);
  for (const p of ports) out.push(`-A ${CHAIN} -p tcp -m tcp --dport ${p} -j TPROXY --on-port ${host.vars.squid.tproxy_port} --tproxy-mark ${tmark}`);
  return out;
}

function artifacts(host: Host): Artifact[] {
  return host.vars.tproxy.families.map((f) => ({ role: ROLE, path: rulesFile(f), mode: '0644', content: render('rules.eta', { host, tool: TOOL[f], rules: chainRules(host, f) }), install: true }));
}

/** A hand-made TPROXY/DIVERT rule in PREROUTING intercepts besides tprun's chain. */
function foreignRules(host: Host, family: Family, table: SaveTable | null): Diagnostic[] {
  const pre = table?.rules.get('PREROUTING') ?? [];
  return pre.flatMap((r, i) =>
    r.trim() !== `-j ${CHAIN}` && /-j (TPROXY|DIVERT)\b|-m socket/.test(r)
      ? [{ severity: 'warning' as const, host: host.name, role: ROLE, message: `${TOOL[family]} mangle PREROUTING rule ${i + 1} is not tprun's: "-A PREROUTING ${r}" (a hand-made TPROXY/DIVERT rule intercepts besides tprun's chain; remove it)` }]
      : [],
  );
}

export const iptables = defineRole({
  name: ROLE,
  applies: () => true,
  // Both families are always read, so chains of a family dropped from the inventory are removed.
  facts: () => ({
    mangle: { ipv4: saveTable('iptables', 'mangle'), ipv6: saveTable('ip6tables', 'mangle') },
    version: { ipv4: toolVersion('iptables'), ipv6: toolVersion('ip6tables') },
  }),
  requirements: (host, f) =>
    host.vars.tproxy.families.map((fam) => {
      const t = f.version[fam];
      return requirement(ROLE, {
        name: `${TOOL[fam]} >= 1.4.10`,
        found: t?.version ? t.text : `${TOOL[fam]} not found`,
        ok: !!t?.version && compareVersions(t.version, [1, 4, 10]) >= 0,
        wanted: '>= 1.4.10',
        hint: `the TPROXY rules need ${TOOL[fam]} 1.4.10 or later`,
      });
    }),
  artifacts,
  boot: (host) => [
    { order: 30, name: 'iptables', content: render('boot-iptables.sh.eta', { families: host.vars.tproxy.families.map((f) => ({ tool: TOOL[f], file: rulesFile(f) })) }) },
  ],
  plan(host, f) {
    const fams = host.vars.tproxy.families;
    const changes = FAMILIES.map((fam) => chainChange(dialect(fam), ROLE, f.mangle[fam], fams.includes(fam) ? chainRules(host, fam) : null)).filter(
      (c) => c.before !== null || c.after !== null,
    );
    return { changes, diagnostics: FAMILIES.flatMap((fam) => foreignRules(host, fam, f.mangle[fam])) };
  },
});
