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

/**
 * The hosts whose facts make the list: every host of the shipped inventories, as written and
 * with the settings that make roles read more (the nftables backend, firewalld managed).
 */
function sampleHosts(): Host[] {
  const hosts = ['inventories/lab.yml', 'inventories/example.yml'].flatMap((f) => loadInventory(f).inventory!.hosts);
  return hosts.flatMap((h) => [h, { ...h, vars: { ...h.vars, tproxy: { ...h.vars.tproxy, backend: 'nftables' as const }, firewalld: 'manage' as const } }]);
}

/** Every fact the registered roles and doctor read on the sample hosts, by id. */
const FACTS: ReadonlyMap<string, Fact<unknown>> = new Map(sampleHosts().flatMap((h) => hostFacts(h, [...ROLES, doctorRole]).map((f) => [f.id, f] as const)));

/**
 * Every fact kind the registered roles and doctor read, collected from the roles themselves (a
 * new fact kind cannot go without a parser case: test/facts.test.ts), with one fact of each kind
 * to parse its cases. Each fact names its kind (Fact.kind), so no id is parsed back here.
 */
export const FACT_KINDS: Record<string, Fact<unknown>> = (() => {
  const kinds: Record<string, Fact<unknown>> = {};
  for (const f of FACTS.values()) kinds[f.kind] ??= f;
  return kinds;
})();

/** The kind of a recorded fact id: that of the fact a role reads under it (undefined: none does). */
export const kindOf = (id: string): string | undefined => FACTS.get(id)?.kind;

/** Parsed values as JSON (Maps become objects), so cases are plain files. */
export const asJson = (v: unknown): unknown => JSON.parse(JSON.stringify(v, (_k, x) => (x instanceof Map ? Object.fromEntries(x) : x)));
