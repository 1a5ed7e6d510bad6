/** facts + inventory → plan. Pure: no I/O, so it is tested with recorded facts. */
import type { Facts, Probe } from '../facts/facts.ts';
import type { Host } from '../inventory/types.ts';
import type { Role } from './role.ts';
import type { Artifact, HostPlan } from './types.ts';

export function hostProbes(host: Host, roles: readonly Role[]): Probe[] {
  return roles.filter((r) => r.applies(host)).flatMap((r) => r.probes(host));
}

export function hostArtifacts(host: Host, roles: readonly Role[]): Artifact[] {
  return roles.filter((r) => r.applies(host)).flatMap((r) => r.artifacts(host));
}

export function planHost(host: Host, roles: readonly Role[], facts: Facts): HostPlan {
  const plan: HostPlan = { host: host.name, items: [], handlers: [], diagnostics: [] };
  for (const role of roles) {
    if (!role.applies(host)) continue;
    const rp = role.plan(host, facts);
    plan.items.push(...rp.items);
    plan.diagnostics.push(...rp.diagnostics);
    if (rp.blocked) {
      // kernel-check failed: report its findings, plan nothing that would change the host.
      plan.blocked = rp.blocked;
      return plan;
    }
    const notified = new Set(rp.items.filter((i) => i.action !== 'no-op' && i.notify).map((i) => i.notify));
    plan.handlers.push(...(rp.handlers ?? []).filter((h) => notified.has(h.name)));
  }
  return plan;
}
