/** Planner tests on recorded facts: the lab's h1, a copy with other settings, its plan and changes. */
import type { RawFacts } from '../src/facts/fact.ts';
import { loadInventory } from '../src/inventory/load.ts';
import type { Host } from '../src/inventory/types.ts';
import { planHost } from '../src/plan/planner.ts';
import { changesOf, type HostPlan } from '../src/plan/types.ts';
import { ROLES } from '../roles/registry.ts';

/** inventories/lab.yml's h1: the host the router recordings were taken from. */
export const h1 = loadInventory('inventories/lab.yml').inventory!.hosts.find((h) => h.name === 'h1')!;

/** A copy of a host with some settings changed. */
export function withVars(h: Host, patch: (h: Host) => void): Host {
  const c = structuredClone(h);
  patch(c);
  return c;
}

export const plan = (facts: RawFacts, host: Host = h1): HostPlan => planHost(host, ROLES, facts);

/** "update sysctl net.ipv4.ip_forward", one per change. */
export const changed = (p: HostPlan) => changesOf(p).map((i) => `${i.action} ${i.id}`);
