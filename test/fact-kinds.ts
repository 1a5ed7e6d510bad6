/**
 * Every fact kind with a parser, keyed by the folder its recorded cases live in
 * (test/facts/<kind>/<case>.json): `{ id, stdout, code, parsed }`, as pyinfra's tests/facts.
 */
import type { Fact } from '../src/facts/fact.ts';
import { doctorRole } from '../src/doctor/role.ts';
import type { Host } from '../src/inventory/types.ts';
import { loadInventory } from '../src/inventory/load.ts';
import { hostFacts } from '../src/plan/planner.ts';
import { ROLES } from '../roles/registry.ts';

/** The kind of a recorded fact id: its variable parts (path, table, family) dropped. */
export function kindOf(id: string): string {
  const m = /^(file|symlink|link):/.exec(id);
  if (m) return m[1]!;
  if (/^ip-[46]\.rules$/.test(id)) return 'ip.rules';
  if (/^ip-[46]\.routes\.\d+$/.test(id)) return 'ip.routes';
  if (/^ip6?tables\.(mangle|filter)$/.test(id)) return 'iptables-save';
  if (/^tool\.ip6?tables$/.test(id)) return 'tool.iptables';
  return id;
}

/**
 * The hosts whose facts make the list: every host of the shipped inventories, as written and
 * with the settings that make roles read more (the nftables backend, firewalld managed).
 */
function sampleHosts(): Host[] {
  const hosts = ['inventories/lab.yml', 'inventories/example.yml'].flatMap((f) => loadInventory(f).inventory!.hosts);
  return hosts.flatMap((h) => [h, { ...h, vars: { ...h.vars, tproxy: { ...h.vars.tproxy, backend: 'nftables' as const }, firewalld: 'manage' as const } }]);
}

/**
 * Every fact kind the registered roles and doctor read, collected from the roles themselves (a
 * new fact kind cannot go without a parser case: test/facts.test.ts), with one fact of each kind
 * to parse its cases. A GRE link exists only on a WCCP cache, whose sample is added by name.
 */
export const FACT_KINDS: Record<string, Fact<unknown>> = (() => {
  const kinds: Record<string, Fact<unknown>> = {};
  for (const h of sampleHosts()) for (const f of hostFacts(h, [...ROLES, doctorRole])) kinds[kindOf(f.id)] ??= f;
  return kinds;
})();

/** Parsed values as JSON (Maps become objects), so cases are plain files. */
export const asJson = (v: unknown): unknown => JSON.parse(JSON.stringify(v, (_k, x) => (x instanceof Map ? Object.fromEntries(x) : x)));
