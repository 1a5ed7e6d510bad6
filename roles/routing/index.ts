/**
 * routing: packets carrying the TPROXY mark are looked up in tprun's table, whose only route
 * is `local default`, so they are delivered to squid's socket instead of forwarded.
 * tprun owns the tables it is given and its mark: other routes in those tables, and other rules
 * pointing at them or matching the mark, go.
 */
import type { Diagnostic } from '../../src/diagnostics.ts';
import { parseIpRoutes, parseIpRules } from '../../src/facts/parsers.ts';
import { probes } from '../../src/facts/probes.ts';
import type { Facts } from '../../src/facts/facts.ts';
import type { Family, Host } from '../../src/inventory/types.ts';
import { fileItem, fileProbes, installed } from '../../src/plan/files.ts';
import { item, type Role } from '../../src/plan/role.ts';
import type { Artifact, Item } from '../../src/plan/types.ts';
import { renderTemplate } from '../../src/render/templates.ts';

export const FLAG: Record<Family, '-4' | '-6'> = { ipv4: '-4', ipv6: '-6' };
const UNIT = '/etc/systemd/system/tprun-boot.service';
const UNIT_LINK = '/etc/systemd/system/multi-user.target.wants/tprun-boot.service';

export const hex = (n: number) => '0x' + n.toString(16);
/** As `ip rule show` prints it: the mask only when it is not all ones. */
export const fwmarkSpec = (mark: number, mask: number) => (mask === 0xffffffff ? hex(mark) : `${hex(mark)}/${hex(mask)}`);

export interface Wanted {
  rules: string[];
  /** table → routes ("local default dev lo") */
  routes: Map<number, string[]>;
}

export function wanted(host: Host): Wanted {
  const { mark, mask, table, per_interface_tables, interfaces } = host.vars.tproxy;
  const fw = `fwmark ${fwmarkSpec(mark, mask)}`;
  if (!per_interface_tables) {
    // Linux rejects a second `local default` route in one table, and one is enough: the
    // device of a local route does not limit which interface's packets it delivers.
    return { rules: [`${fw} lookup ${table}`], routes: new Map([[table, [`local default dev ${interfaces[0]}`]]]) };
  }
  return {
    rules: interfaces.map((ifname, i) => `${fw} iif ${ifname} lookup ${table + i}`),
    routes: new Map(interfaces.map((ifname, i) => [table + i, [`local default dev ${ifname}`]])),
  };
}

function artifacts(host: Host): Artifact[] {
  const w = wanted(host);
  const rules = host.vars.tproxy.families.flatMap((f) => w.rules.map((spec) => ({ flag: FLAG[f], spec })));
  const routes = host.vars.tproxy.families.flatMap((f) => [...w.routes].flatMap(([t, rs]) => rs.map((r) => ({ flag: FLAG[f], spec: `${r} table ${t}` }))));
  return [
    { role: 'routing', path: '/etc/tprun/boot.d/20-routing.sh', mode: '0755', content: renderTemplate('routing', 'boot-routing.sh.eta', { markHex: hex(host.vars.tproxy.mark), rules, routes }), install: true },
    { role: 'routing', path: '/etc/tprun/boot.sh', mode: '0755', content: renderTemplate('routing', 'boot.sh.eta', {}), install: true },
    { role: 'routing', path: UNIT, mode: '0644', content: renderTemplate('routing', 'tprun-boot.service.eta', {}), install: true },
  ];
}

function planFamily(host: Host, family: Family, facts: Facts, diagnostics: Diagnostic[]): Item[] {
  const flag = FLAG[family];
  const w = wanted(host);
  const tables = new Set([...w.routes.keys()].map(String));
  const items: Item[] = [];
  const { mark, mask } = host.vars.tproxy;
  // Owned: rules into tprun's tables, and rules on tprun's mark into any other table (left over
  // from an earlier table number, they would steal the TPROXY-marked packets).
  const ownsMark = (r: ReturnType<typeof parseIpRules>[number]) => r.fwmark === mark && (r.fwmask ?? 0xffffffff) === mask;
  const actual = parseIpRules(facts.get(`ip${flag}.rules`).stdout).filter((r) => tables.has(r.table) || ownsMark(r));
  const unmatched = [...actual];
  for (const spec of w.rules) {
    const at = unmatched.findIndex((r) => r.spec === spec);
    const found = at >= 0 ? unmatched.splice(at, 1)[0] : undefined;
    items.push(item({ role: 'routing', kind: 'ip-rule', id: `ip ${flag} rule ${spec}`, before: found ? spec : null, after: spec, commands: [`ip ${flag} rule add ${spec}`], undo: [`ip ${flag} rule del ${spec}`] }));
  }
  for (const r of unmatched) {
    items.push(item({ role: 'routing', kind: 'ip-rule', id: `ip ${flag} rule ${r.priority}: ${r.spec}`, before: r.spec, after: null, commands: [`ip ${flag} rule del pref ${r.priority} ${r.spec}`], undo: [`ip ${flag} rule add pref ${r.priority} ${r.spec}`] }));
  }
  for (const [table, routes] of w.routes) {
    const probe = facts.get(`ip${flag}.routes.${table}`);
    const have = parseIpRoutes(probe.code === 0 ? probe.stdout : '');
    for (const spec of routes) {
      const found = have.some((r) => r.spec === spec);
      items.push(item({ role: 'routing', kind: 'ip-route', id: `ip ${flag} route table ${table} ${spec}`, before: found ? spec : null, after: spec, commands: [`ip ${flag} route replace ${spec} table ${table}`], undo: [`ip ${flag} route del ${spec} table ${table}`] }));
    }
    for (const r of have.filter((r) => !routes.includes(r.spec))) {
      items.push(item({ role: 'routing', kind: 'ip-route', id: `ip ${flag} route table ${table} ${r.spec}`, before: r.spec, after: null, commands: [`ip ${flag} route del ${r.spec} table ${table}`], undo: [`ip ${flag} route add ${r.spec} table ${table}`] }));
      if (r.type === 'local' && r.dst === 'default') {
        diagnostics.push({ severity: 'info', host: host.name, role: 'routing', message: `table ${table} (${family}) has another local default route (${r.spec}); tprun replaces it: "Some OS block multiple interfaces being linked to the table"` });
      }
    }
  }
  return items;
}

export const routing: Role = {
  name: 'routing',
  applies: () => true,
  artifacts,
  probes: (host) => [
    ...host.vars.tproxy.families.flatMap((f) => [probes.rules(FLAG[f]), ...[...wanted(host).routes.keys()].map((t) => probes.routes(FLAG[f], t))]),
    probes.symlink(UNIT_LINK),
    ...fileProbes(artifacts(host)),
  ],
  plan(host, facts) {
    const diagnostics: Diagnostic[] = [];
    const { interfaces, per_interface_tables, table } = host.vars.tproxy;
    if (!per_interface_tables && interfaces.length > 1) {
      diagnostics.push({ severity: 'info', host: host.name, role: 'routing', message: `one table (${table}) for ${interfaces.join(', ')}: its local default route uses ${interfaces[0]}; set tproxy.per_interface_tables on systems that "require that each receiving interface have its own unique table"` });
    }
    const items = host.vars.tproxy.families.flatMap((f) => planFamily(host, f, facts, diagnostics));
    items.push(...installed(artifacts(host)).map((a) => fileItem(a, facts)));
    const link = facts.get(`symlink:${UNIT_LINK}`);
    items.push(item({ role: 'routing', kind: 'service', id: 'service tprun-boot enabled', before: link.code === 0 ? link.stdout.trim() : null, after: UNIT, commands: [`mkdir -p ${UNIT_LINK.replace(/\/[^/]+$/, '')}`, `ln -sfn ${UNIT} ${UNIT_LINK}`], undo: [`rm -f ${UNIT_LINK}`] }));
    return { items, diagnostics };
  },
};
