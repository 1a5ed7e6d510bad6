/**
 * iptables (and ip6tables): the guide's DIVERT chain and TPROXY rule, in tprun's own mangle
 * chains TPRUN_DIVERT and TPRUN_PREROUTING, jumped to first from PREROUTING. Bypass rules
 * RETURN before the socket match; the socket match (DIVERT) comes before TPROXY, or
 * "Traffic going through Squid but timing out". Chains are replaced whole and atomically
 * with iptables-restore --noflush; nobody else's rules are touched.
 */
import type { Diagnostic } from '../../src/diagnostics.ts';
import { parseSaveTable } from '../../src/facts/parsers.ts';
import { probes } from '../../src/facts/probes.ts';
import type { Facts } from '../../src/facts/facts.ts';
import type { Family, Host } from '../../src/inventory/types.ts';
import { fileItem, fileProbes, installed } from '../../src/plan/files.ts';
import { item, type Role } from '../../src/plan/role.ts';
import type { Artifact, Item } from '../../src/plan/types.ts';
import { renderTemplate } from '../../src/render/templates.ts';
import { hex } from '../routing/index.ts';
import { normaliseRule } from './rules.ts';
import { familyOf } from '../../src/inventory/address.ts';

export const DIVERT = 'TPRUN_DIVERT';
export const CHAIN = 'TPRUN_PREROUTING';
export const JUMP = `-I PREROUTING 1 -j ${CHAIN}`;
const TOOL: Record<Family, 'iptables' | 'ip6tables'> = { ipv4: 'iptables', ipv6: 'ip6tables' };
const rulesFile = (f: Family) => `/etc/tprun/${TOOL[f]}.rules`;


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

const canon = (line: string, family: Family) => {
  const m = /^-A (\S+) (.*)$/.exec(line)!;
  return `-A ${m[1]} ${normaliseRule(m[2]!, family)}`;
};

function artifacts(host: Host): Artifact[] {
  const fams = host.vars.tproxy.families;
  return [
    ...fams.map((f): Artifact => ({ role: 'iptables', path: rulesFile(f), mode: '0644', content: renderTemplate('iptables', 'rules.eta', { host, tool: TOOL[f], rules: chainRules(host, f) }), install: true })),
    { role: 'iptables', path: '/etc/tprun/boot.d/30-iptables.sh', mode: '0755', content: renderTemplate('iptables', 'boot-iptables.sh.eta', { families: fams.map((f) => ({ tool: TOOL[f], file: rulesFile(f) })) }), install: true },
  ];
}

/** What tprun owns in one family's mangle table now, as text lines comparable to the wanted ones. */
function actualState(facts: Facts, family: Family, diagnostics: Diagnostic[], host: string): { lines: string[] | null; jumps: number; jumpFirst: boolean } {
  const f = facts.get(`${TOOL[family]}.mangle`);
  const table = f.code === 0 ? parseSaveTable(f.stdout, 'mangle') : null;
  if (!table) return { lines: null, jumps: 0, jumpFirst: false };
  const pre = table.rules.get('PREROUTING') ?? [];
  const jumpAt = pre.map((r, i) => (r.trim() === `-j ${CHAIN}` ? i : -1)).filter((i) => i >= 0);
  pre.forEach((r, i) => {
    if (r.trim() !== `-j ${CHAIN}` && /-j (TPROXY|DIVERT)\b|-m socket/.test(r)) {
      diagnostics.push({ severity: 'warning', host, role: 'iptables', message: `${TOOL[family]} mangle PREROUTING rule ${i + 1} is not tprun's: "-A PREROUTING ${r}" (a hand-made TPROXY/DIVERT rule intercepts besides tprun's chain; remove it)` });
    }
  });
  const lines: string[] = [];
  jumpAt.forEach((i) => lines.push(i === 0 ? JUMP : `-A PREROUTING -j ${CHAIN}   # rule ${i + 1} of PREROUTING, not first`));
  for (const chain of [DIVERT, CHAIN]) {
    if (!table.chains.has(chain)) continue;
    for (const r of table.rules.get(chain) ?? []) lines.push(canon(`-A ${chain} ${r}`, family));
  }
  const owned = lines.length || table.chains.has(DIVERT) || table.chains.has(CHAIN);
  return { lines: owned ? lines : null, jumps: jumpAt.length, jumpFirst: jumpAt[0] === 0 };
}

function planFamily(host: Host, family: Family, wantedOn: boolean, facts: Facts, diagnostics: Diagnostic[]): Item {
  const tool = TOOL[family];
  const actual = actualState(facts, family, diagnostics, host.name);
  const want = wantedOn ? [JUMP, ...chainRules(host, family).map((l) => canon(l, family))] : null;
  const before = actual.lines ? actual.lines.join('\n') : null;
  const after = want ? want.join('\n') : null;
  const save = `"$TPRUN_TX/${tool}.mangle"`;
  const dropJumps = Array.from({ length: actual.jumps }, () => `-D PREROUTING -j ${CHAIN}`);
  const payload = want
    ? ['*mangle', `:${DIVERT} - [0:0]`, `:${CHAIN} - [0:0]`, ...chainRules(host, family), ...(actual.jumps === 1 && actual.jumpFirst ? [] : [...dropJumps, JUMP]), 'COMMIT']
    : ['*mangle', ...dropJumps, `-F ${CHAIN}`, `-F ${DIVERT}`, `-X ${CHAIN}`, `-X ${DIVERT}`, 'COMMIT'];
  return item({
    role: 'iptables',
    kind: 'firewall',
    id: `${tool} mangle ${CHAIN}`,
    before,
    after,
    commands: [`${tool}-save -t mangle > ${save}`, `${tool}-restore --noflush <<'TPRUN_RULES'\n${payload.join('\n')}\nTPRUN_RULES`],
    undo: [`[ ! -e ${save} ] || ${tool}-restore < ${save}`],
  });
}

export const iptables: Role = {
  name: 'iptables',
  applies: () => true,
  artifacts,
  // Both families are always read, so chains of a family dropped from the inventory are removed.
  probes: (host) => [probes.mangle('iptables'), probes.mangle('ip6tables'), ...fileProbes(artifacts(host))],
  plan(host, facts) {
    const diagnostics: Diagnostic[] = [];
    const fams = host.vars.tproxy.families;
    const items: Item[] = [];
    for (const f of ['ipv4', 'ipv6'] as const) {
      if (!fams.includes(f) && !facts.has(`${TOOL[f]}.mangle`)) continue;
      const it = planFamily(host, f, fams.includes(f), facts, diagnostics);
      if (it.before !== null || it.after !== null) items.push(it);
    }
    items.push(...installed(artifacts(host)).map((a) => fileItem(a, facts)));
    return { items, diagnostics };
  },
};
