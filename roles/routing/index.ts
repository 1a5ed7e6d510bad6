/**
 * routing: packets carrying the TPROXY mark are looked up in tprun's table, whose only route
 * is `local default`, so they are delivered to squid's socket instead of forwarded.
 * tprun owns the tables it is given and its mark: other routes in those tables, and other rules
 * pointing at them or matching the mark, go.
 */
import type { Diagnostic } from '../../src/diagnostics.ts';
import type { IpRoute, IpRule } from '../../src/facts/parsers.ts';
import { ipRoutes, ipRules, type IpFlag } from '../../src/facts/shared.ts';
import { fwmarkSpec, hex, sameMark } from '../../src/inventory/mark.ts';
import type { Family, Host } from '../../src/inventory/types.ts';
import { defineRole } from '../../src/role/contract.ts';
import { change, type Change } from '../../src/resources/change.ts';
import { templates } from '../../src/render/templates.ts';
import { sh } from '../../src/shell.ts';
import { receivingInterfaces } from '../../src/inventory/interfaces.ts';

const ROLE = 'routing';
const render = templates(import.meta.url);
export const FLAG: Record<Family, IpFlag> = { ipv4: '-4', ipv6: '-6' };

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
  // An `iif` rule matches only packets that arrive on that interface: one per receiving
  // interface, client side and server side (validate rejects lo, which never receives them).
  const ifs = receivingInterfaces(host);
  return {
    rules: ifs.map((ifname, i) => `${fw} iif ${ifname} lookup ${table + i}`),
    routes: new Map(ifs.map((ifname, i) => [table + i, [`local default dev ${ifname}`]])),
  };
}

/** Words of a spec, each quoted: a spec read from the host never reaches the shell as code. */
const words = (spec: string) => spec.split(/\s+/).filter(Boolean);

function planFamily(host: Host, family: Family, rules: IpRule[], routesByTable: Record<string, IpRoute[]>, diagnostics: Diagnostic[]): Change[] {
  const flag = FLAG[family];
  const w = wanted(host);
  const tables = new Set([...w.routes.keys()].map(String));
  const changes: Change[] = [];
  const { mark, mask } = host.vars.tproxy;
  // Owned: rules into tprun's tables, and rules on tprun's mark into any other table (left over
  // from an earlier table number, they would steal the TPROXY-marked packets).
  const ownsMark = (r: IpRule) => sameMark(r.fwmark, mark) && sameMark(r.fwmask ?? 0xffffffff, mask);
  const unmatched = rules.filter((r) => tables.has(r.table) || ownsMark(r));
  for (const spec of w.rules) {
    const at = unmatched.findIndex((r) => r.spec === spec);
    const found = at >= 0 ? unmatched.splice(at, 1)[0] : undefined;
    changes.push(
      change({
        kind: 'ip-rule',
        role: ROLE,
        id: `ip ${flag} rule ${spec}`,
        before: found ? spec : null,
        after: spec,
        commands: [sh`ip ${flag} rule add ${words(spec)}`],
        undo: [sh`ip ${flag} rule del ${words(spec)}`],
      }),
    );
  }
  for (const r of unmatched) {
    changes.push(
      change({
        kind: 'ip-rule',
        role: ROLE,
        id: `ip ${flag} rule ${r.priority}: ${r.spec}`,
        before: r.spec,
        after: null,
        commands: [sh`ip ${flag} rule del pref ${r.priority} ${words(r.spec)}`],
        undo: [sh`ip ${flag} rule add pref ${r.priority} ${words(r.spec)}`],
      }),
    );
  }
  for (const [table, routes] of w.routes) {
    const have = [...(routesByTable[String(table)] ?? [])];
    const take = (pred: (r: IpRoute) => boolean) => {
      const at = have.findIndex(pred);
      return at >= 0 ? have.splice(at, 1)[0] : undefined;
    };
    for (const spec of routes) {
      const found = take((r) => r.spec === spec);
      // `route replace` swaps a route with the same type and destination (another device) in
      // place: that is an update of the one route, undone by putting the old one back.
      const [type, dst] = words(spec);
      const other = found ? undefined : take((r) => r.type === type && r.dst === dst);
      const undo = other ? [sh`ip ${flag} route replace ${words(other.spec)} table ${table}`] : [sh`ip ${flag} route del ${words(spec)} table ${table}`];
      if (other?.type === 'local' && other.dst === 'default') {
        diagnostics.push({
          severity: 'info',
          host: host.name,
          role: ROLE,
          message: `table ${table} (${family}) has another local default route (${other.spec}); tprun replaces it: "Some OS block multiple interfaces being linked to the table"`,
        });
      }
      changes.push(
        change({
          kind: 'ip-route',
          role: ROLE,
          id: `ip ${flag} route table ${table} ${spec}`,
          before: found ? spec : (other?.spec ?? null),
          after: spec,
          commands: [sh`ip ${flag} route replace ${words(spec)} table ${table}`],
          undo,
        }),
      );
    }
    for (const r of have) {
      changes.push(
        change({
          kind: 'ip-route',
          role: ROLE,
          id: `ip ${flag} route table ${table} ${r.spec}`,
          before: r.spec,
          after: null,
          commands: [sh`ip ${flag} route del ${words(r.spec)} table ${table}`],
          undo: [sh`ip ${flag} route add ${words(r.spec)} table ${table}`],
        }),
      );
      if (r.type === 'local' && r.dst === 'default') {
        diagnostics.push({
          severity: 'info',
          host: host.name,
          role: ROLE,
          message: `table ${table} (${family}) has another local default route (${r.spec}); tprun replaces it: "Some OS block multiple interfaces being linked to the table"`,
        });
      }
    }
  }
  return changes;
}

/** systemd-networkd's drop-in: leave foreign routing-policy rules and routes (tprun's) alone. */
export const NETWORKD_DROPIN = '/etc/systemd/networkd.conf.d/90-tprun.conf';

export const routing = defineRole({
  name: ROLE,
  applies: () => true,
  artifacts: (host) => [
    { role: ROLE, path: NETWORKD_DROPIN, mode: '0644', content: render('networkd.conf.eta', { host, table: host.vars.tproxy.table }), install: true },
  ],
  facts: (host) => {
    const tables = [...wanted(host).routes.keys()];
    const fams = host.vars.tproxy.families;
    return Object.fromEntries(
      fams.map((f) => [f, { rules: ipRules(FLAG[f]), routes: Object.fromEntries(tables.map((t) => [String(t), ipRoutes(FLAG[f], t)])) }]),
    ) as Record<Family, { rules: ReturnType<typeof ipRules>; routes: Record<string, ReturnType<typeof ipRoutes>> }>;
  },
  boot(host) {
    const w = wanted(host);
    const fams = host.vars.tproxy.families;
    const rules = fams.flatMap((f) => w.rules.map((spec) => ({ flag: FLAG[f], spec: words(spec) })));
    const routes = fams.flatMap((f) => [...w.routes].flatMap(([t, rs]) => rs.map((r) => ({ flag: FLAG[f], spec: [...words(r), 'table', t] }))));
    return [{ order: 20, name: 'routing', content: render('boot-routing.sh.eta', { markHex: hex(host.vars.tproxy.mark), rules, routes }) }];
  },
  plan(host, f) {
    const diagnostics: Diagnostic[] = [];
    const { interfaces, per_interface_tables, table, families } = host.vars.tproxy;
    if (!per_interface_tables && interfaces.length > 1) {
      diagnostics.push({
        severity: 'info',
        host: host.name,
        role: ROLE,
        message: `one table (${table}) for ${interfaces.join(', ')}: its local default route uses ${interfaces[0]}; set tproxy.per_interface_tables on systems that "require that each receiving interface have its own unique table"`,
      });
    }
    const changes = families.flatMap((fam) => planFamily(host, fam, f[fam].rules, f[fam].routes, diagnostics));
    return { changes, diagnostics };
  },
});
