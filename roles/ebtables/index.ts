/**
 * ebtables (bridges): the guide's four broute rules per intercepted port move port-P frames
 * from bridging to routing ("redirect --redirect-target DROP"), so the router rules see them.
 * Bypass rules ACCEPT (keep bridging) before the DROPs. tprun owns the chain TPRUN_BROUTING,
 * jumped to first from BROUTING, replaced whole with ebtables-restore --noflush.
 */
import type { Diagnostic } from '../../src/diagnostics.ts';
import { parseSaveTable } from '../../src/facts/parsers.ts';
import { EB_LIST_TO_SAVE, EBTABLES, probes } from '../../src/facts/probes.ts';
import type { Host } from '../../src/inventory/types.ts';
import { familyOf } from '../../src/inventory/address.ts';
import { fileItem, fileProbes, installed } from '../../src/plan/files.ts';
import { item, type Role } from '../../src/plan/role.ts';
import type { Artifact, Item } from '../../src/plan/types.ts';
import { renderTemplate } from '../../src/render/templates.ts';

export const CHAIN = 'TPRUN_BROUTING';
export const JUMP = `-I BROUTING 1 -j ${CHAIN}`;
const RULES_FILE = '/etc/tprun/ebtables.rules';

export function chainRules(host: Host): string[] {
  if (host.kind !== 'bridge') return [];
  const { client_interface: cif, internet_interface: iif } = host.bridge;
  const { ports, families, bypass } = host.vars.tproxy;
  const out: string[] = [];
  // A bypass covers both directions of the conversation: the replies (source and destination
  // swapped, arriving on the other side) must not meet the --ip-sport DROP and be routed.
  const other = (i: string | undefined) => (i === undefined ? undefined : i === cif ? iif : i === iif ? cif : null);
  for (const b0 of bypass) {
    const back = other(b0.interface);
    const both = back === null || (!b0.source && !b0.destination) ? [b0] : [b0, { ...b0, source: b0.destination, destination: b0.source, interface: back }];
    for (const b of both) {
      const addrFam = [b.source, b.destination].filter((a): a is string => !!a).map(familyOf);
      const fams = addrFam.length ? [addrFam[0]!] : families;
      for (const f of fams) {
        if (!families.includes(f)) continue;
        const [p, pre] = f === 'ipv4' ? ['IPv4', 'ip'] : ['IPv6', 'ip6'];
        const m = [b.source || b.destination ? `-p ${p}` : '', b.interface ? `-i ${b.interface}` : '', b.source ? `--${pre}-src ${b.source}` : '', b.destination ? `--${pre}-dst ${b.destination}` : ''].filter(Boolean);
        const rule = `-A ${CHAIN} ${m.join(' ')} -j ACCEPT`;
        if (!out.includes(rule)) out.push(rule);
      }
    }
  }
  for (const port of ports) {
    for (const [ifname, dir] of [[cif, 'dport'], [iif, 'sport']] as const) {
      if (families.includes('ipv6')) out.push(`-A ${CHAIN} -p IPv6 -i ${ifname} --ip6-proto tcp --ip6-${dir} ${port} -j redirect --redirect-target DROP`);
      if (families.includes('ipv4')) out.push(`-A ${CHAIN} -p IPv4 -i ${ifname} --ip-proto tcp --ip-${dir} ${port} -j redirect --redirect-target DROP`);
    }
  }
  return out;
}

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

const canon = (line: string) => {
  const m = /^-A (\S+) (.*)$/.exec(line)!;
  return `-A ${m[1]} ${normaliseEbRule(m[2]!)}`;
};

function artifacts(host: Host): Artifact[] {
  if (host.kind !== 'bridge') return [];
  return [
    { role: 'ebtables', path: RULES_FILE, mode: '0644', content: renderTemplate('ebtables', 'rules.eta', { host, rules: chainRules(host) }), install: true },
    { role: 'ebtables', path: '/etc/tprun/boot.d/40-ebtables.sh', mode: '0755', content: renderTemplate('ebtables', 'boot-ebtables.sh.eta', { file: RULES_FILE }), install: true },
  ];
}

export const ebtables: Role = {
  name: 'ebtables',
  applies: (host) => host.kind === 'bridge',
  artifacts,
  probes: (host) => [probes.ebtablesSave, ...fileProbes(artifacts(host))],
  plan(host, facts) {
    const diagnostics: Diagnostic[] = [];
    const f = facts.get('ebtables.save');
    const table = f.code === 0 ? parseSaveTable(f.stdout, 'broute') : null;
    const brouting = table?.rules.get('BROUTING') ?? [];
    const jumps = brouting.map((r, i) => (r.trim() === `-j ${CHAIN}` ? i : -1)).filter((i) => i >= 0);
    const lines: string[] = jumps.map((i) => (i === 0 ? JUMP : `-A BROUTING -j ${CHAIN}   # rule ${i + 1} of BROUTING, not first`));
    if (table?.chains.has(CHAIN)) lines.push(...(table.rules.get(CHAIN) ?? []).map((r) => canon(`-A ${CHAIN} ${r}`)));
    const before = table?.chains.has(CHAIN) || jumps.length ? lines.join('\n') : null;
    const wanted = chainRules(host);
    const after = [JUMP, ...wanted.map(canon)].join('\n');
    const payload = ['*broute', `:${CHAIN} RETURN`, `-F ${CHAIN}`, ...wanted, ...(jumps.length === 1 && jumps[0] === 0 ? [] : [...jumps.map(() => `-D BROUTING -j ${CHAIN}`), JUMP])];
    const items: Item[] = [
      item({
        role: 'ebtables',
        kind: 'ebtables',
        id: `ebtables broute ${CHAIN}`,
        before,
        after,
        commands: [`${EBTABLES} -t broute -L | ${EB_LIST_TO_SAVE} > "$TPRUN_TX/ebtables.save"`, `${EBTABLES}-restore --noflush <<'TPRUN_RULES'\n${payload.join('\n')}\nTPRUN_RULES`],
        undo: [`[ ! -e "$TPRUN_TX/ebtables.save" ] || ${EBTABLES}-restore < "$TPRUN_TX/ebtables.save"`],
      }),
      ...installed(artifacts(host)).map((a) => fileItem(a, facts)),
    ];
    return { items, diagnostics };
  },
};
