/** facts + inventory → plan. Pure: no I/O, so it is tested with recorded facts. */
import { parseTree, type Fact, type RawFacts } from '../facts/fact.ts';
import { file } from '../facts/shared.ts';
import type { Host } from '../inventory/types.ts';
import type { Change, Handler } from '../resources/change.ts';
import { fileChange, fileRemoval, type Artifact } from '../resources/file.ts';
import { bootEnabled, bootRunner, bootSteps, daemonReload, unitLink } from './boot.ts';
import type { Role } from '../role/contract.ts';
import { blockersOf, type Check, type HostPlan } from './types.ts';

const applicable = (host: Host, roles: readonly Role[]) => roles.filter((r) => r.applies(host));

/** Per role, the files it installs (its artifacts, then its boot steps); then the boot runner. */
function installedFiles(host: Host, roles: readonly Role[]): { role: Role | null; files: Artifact[] }[] {
  const per = applicable(host, roles).map((role) => ({
    role,
    files: [...role.artifacts(host), ...bootSteps(role, host)].filter((a) => a.install),
  }));
  const anyBoot = applicable(host, roles).some((r) => r.boot(host).length > 0);
  return anyBoot ? [...per, { role: null, files: bootRunner() }] : per;
}

/** The files a role owns and does not install now (`installed`: its files, as installedFiles has them). */
const unwanted = (role: Role, installed: readonly Artifact[] = []): string[] => role.owns.filter((p) => !installed.some((a) => a.path === p));

/** Every file of the selected roles, installed or only rendered for review (`tprun render`). */
export function hostArtifacts(host: Host, roles: readonly Role[]): Artifact[] {
  const rendered = applicable(host, roles).flatMap((r) => r.artifacts(host).filter((a) => !a.install));
  return [...installedFiles(host, roles).flatMap((x) => x.files), ...rendered];
}

/** Every fact the plan reads: the roles' own, the installed files', the boot link. */
export function hostFacts(host: Host, roles: readonly Role[]): Fact<unknown>[] {
  const files = installedFiles(host, roles);
  const boot = files.some((x) => x.role === null) ? [unitLink] : [];
  const gone = files.flatMap((x) => (x.role ? unwanted(x.role, x.files).map((p) => file(p)) : []));
  return [...applicable(host, roles).flatMap((r) => r.facts(host)), ...files.flatMap((x) => x.files.map((a) => file(a.path))), ...gone, ...boot];
}

export function planHost(host: Host, roles: readonly Role[], raw: RawFacts): HostPlan {
  const evaluated = applicable(host, roles).map((role) => ({ role, ...role.evaluate(host, raw) }));
  const checks: Check[] = evaluated.flatMap((e) => e.checks);
  const plan: HostPlan = { host: host.name, resources: [], checks, handlers: [], diagnostics: [] };
  // A host that fails a requirement gets no change at all: its checks say why.
  if (blockersOf(plan).length) return plan;

  const files = new Map(installedFiles(host, roles).map((x) => [x.role?.name ?? null, x.files]));
  const fileChanges = (name: string | null): Change[] => (files.get(name) ?? []).map((a) => fileChange(a, parseTree(file(a.path), raw)));
  for (const { role, plan: planRole } of evaluated) {
    const rp = planRole();
    // Files first: a service started by this role reads the file it just got.
    const removed = unwanted(role, files.get(role.name)).flatMap((p) => {
      const before = parseTree(file(p), raw);
      return before === null ? [] : [fileRemoval(role.name, p, before)];
    });
    const changes = [...fileChanges(role.name), ...removed, ...rp.changes];
    plan.resources.push(...changes);
    plan.diagnostics.push(...(rp.diagnostics ?? []));
    const notified = new Set(changes.filter((c) => c.action !== 'no-op' && c.notify).map((c) => c.notify));
    plan.handlers.push(...(rp.handlers ?? []).filter((h: Handler) => notified.has(h.name)));
  }
  if (files.has(null)) {
    const changes = fileChanges(null);
    plan.resources.push(...changes, bootEnabled(parseTree(unitLink, raw)));
    if (changes.some((c) => c.action !== 'no-op' && c.notify === 'systemd-daemon-reload')) plan.handlers.push(daemonReload);
  }
  return plan;
}
