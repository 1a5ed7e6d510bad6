/** Inventory file → validated, merged hosts, or every problem at once with FILE:LINE:COL. */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { hasErrors, type Diagnostic } from '../diagnostics.ts';
import { deepMerge } from './merge.ts';
import { schemaDiagnostics } from './schema.ts';
import { domainDiagnostics } from './domain.ts';
import { InventorySource } from './source.ts';
import type { Host, HostVars, Inventory, WccpPeer, WccpService } from './types.ts';
import { ROLES } from '../../roles/registry.ts';
import type { Role } from '../role/contract.ts';

/** Built-in defaults: the shared ones, then each role's. */
export function builtinDefaults(roles: readonly Role[] = ROLES): HostVars {
  const shared = parseYaml(readFileSync(new URL('./defaults.yml', import.meta.url), 'utf8')) as unknown;
  return deepMerge<HostVars>(shared, ...roles.map((r) => r.settings?.defaults));
}

export interface RawInventory {
  defaults?: Record<string, unknown>;
  routers?: Record<string, Record<string, unknown>>;
  bridges?: Record<string, Record<string, unknown>>;
  wccp_peers?: Record<string, Record<string, unknown>>;
  groups?: Record<string, RawGroup>;
}

export interface RawGroup {
  hosts?: string[];
  children?: string[];
  vars?: Record<string, unknown>;
}

/** Each group's hosts, its children's included (a cycle stops at the group already seen). */
export function groupMembers(raw: RawInventory): Record<string, string[]> {
  const groups = raw.groups ?? {};
  // Depth-first with a stack of its own, in the order written: groups nested thousands deep must
  // not exhaust the call stack.
  const members = (root: string): string[] => {
    const out = new Set<string>();
    const seen = new Set<string>();
    const stack = [root];
    while (stack.length) {
      const g = stack.pop()!;
      if (seen.has(g) || !groups[g]) continue;
      seen.add(g);
      for (const h of groups[g].hosts ?? []) out.add(h);
      stack.push(...[...(groups[g].children ?? [])].reverse());
    }
    return [...out];
  };
  return Object.fromEntries(Object.keys(groups).map((g) => [g, members(g)]));
}

/** Per host, the vars of every group it is in: parents before children, then in the order written. */
function groupVarsByHost(raw: RawInventory, members: Record<string, string[]>): Map<string, unknown[]> {
  const groups = Object.keys(raw.groups ?? {});
  const parents = new Map<string, string[]>();
  for (const p of groups) for (const c of raw.groups![p]!.children ?? []) parents.set(c, [...(parents.get(c) ?? []), p]);
  // A group's depth: the longest chain of parents above it (a cycle counts as no parent), computed
  // with a stack of its own so that deep nesting cannot exhaust the call stack.
  const depths = new Map<string, number>();
  const depth = (root: string): number => {
    const onPath = new Set<string>();
    const stack: [string, boolean][] = [[root, false]];
    while (stack.length) {
      const [g, done] = stack.pop()!;
      if (done) {
        onPath.delete(g);
        const ps = (parents.get(g) ?? []).filter((p) => depths.has(p));
        depths.set(g, Math.max(-1, ...ps.map((p) => depths.get(p)!)) + 1);
        continue;
      }
      if (depths.has(g) || onPath.has(g)) continue;
      onPath.add(g);
      stack.push([g, true], ...(parents.get(g) ?? []).filter((p) => !depths.has(p) && !onPath.has(p)).map((p): [string, boolean] => [p, false]));
    }
    return depths.get(root)!;
  };
  const ordered = groups.map((g, i) => ({ g, i, d: depth(g) })).sort((a, b) => a.d - b.d || a.i - b.i);
  const out = new Map<string, unknown[]>();
  for (const { g } of ordered) for (const h of members[g]!) out.set(h, [...(out.get(h) ?? []), raw.groups![g]!.vars]);
  return out;
}

export interface LoadResult {
  inventory?: Inventory;
  diagnostics: Diagnostic[];
  /** sha256 of what was read, when every file could be read (valid or not). */
  sha256?: string;
}

const SERVICE_DEFAULTS: Record<'80' | '90', Omit<WccpService, 'id'>> = {
  '80': { flags: ['src_ip_hash'], priority: 240 },
  '90': { flags: ['dst_ip_hash', 'ports_source'], priority: 240 },
};

function peersOf(raw: RawInventory): WccpPeer[] {
  return Object.entries(raw.wccp_peers ?? {}).map(([name, p]) => {
    const services = (p.services ?? {}) as Record<string, Partial<WccpService>>;
    return {
      name,
      address: p.address as string,
      // Routers send GRE from their router ID (usually a loopback), not from the address squid contacts.
      router_id: (p.router_id as string | undefined) ?? (p.address as string),
      caches: (p.caches as string[]) ?? [],
      customer_interfaces: (p.customer_interfaces as string[]) ?? [],
      proxy_interfaces: (p.proxy_interfaces as string[]) ?? [],
      services: (['80', '90'] as const).map((id) => ({ id: Number(id), ...SERVICE_DEFAULTS[id], ...services[id] })),
    };
  });
}

/** Merge defaults into each host. Assumes the raw document passed the schema. */
export function buildHosts(raw: RawInventory, base: HostVars = builtinDefaults()): { hosts: Host[]; peers: WccpPeer[] } {
  const peers = peersOf(raw);
  const members = groupMembers(raw);
  const groupVars = groupVarsByHost(raw, members);
  const hosts: Host[] = [];
  const strip = (h: Record<string, unknown>) => {
    const { address: _a, bridge: _b, ...vars } = h;
    return vars;
  };
  // Each cache's peers by name (a Map: linear in hosts × caches, and names are plain data).
  const peersOfCache = new Map<string, WccpPeer[]>();
  for (const p of peers) for (const c of new Set(p.caches)) peersOfCache.set(c, [...(peersOfCache.get(c) ?? []), p]);
  // The built-in and inventory defaults are merged once, not once per host.
  const shared = deepMerge<HostVars>(base, raw.defaults);
  for (const [kind, group] of [
    ['router', raw.routers],
    ['bridge', raw.bridges],
  ] as const) {
    for (const [name, h] of Object.entries(group ?? {})) {
      const vars = deepMerge<HostVars>(shared, ...(groupVars.get(name) ?? []), strip(h));
      // The mask defaults to the mark: `mark: 2` means --tproxy-mark 0x2/0x2 and fwmark 0x2/0x2.
      vars.tproxy.mask ??= vars.tproxy.mark;
      // QUIC (UDP/443) is a hole only where TLS is intercepted: without https_ports, TCP/443 is
      // not inspected either, and blocking QUIC would only move HTTPS from UDP to TCP.
      vars.tproxy.block_quic ??= vars.tproxy.https_ports.length > 0;
      const wccp = peersOfCache.get(name) ?? [];
      const common = { name, address: h.address as string, vars, wccp };
      hosts.push(kind === 'router' ? { ...common, kind } : { ...common, kind, bridge: h.bridge as { client_interface: string; internet_interface: string } });
    }
  }
  return { hosts, peers };
}

/** Group members and children must exist; a group may not contain itself; built-in names are taken. */
function groupDiagnostics(src: InventorySource, raw: RawInventory, hostNames: string[]): Diagnostic[] {
  const out: Diagnostic[] = [];
  const groups = raw.groups ?? {};
  for (const [g, def] of Object.entries(groups)) {
    if (['all', 'routers', 'bridges', 'ungrouped'].includes(g))
      out.push(src.diag('error', ['groups', g], `"${g}" is a built-in group: choose another name`, true));
    if (hostNames.includes(g)) out.push(src.diag('error', ['groups', g], `group "${g}" has the name of a host: --limit could not tell them apart`, true));
    (def.hosts ?? []).forEach((h, i) => {
      if (!hostNames.includes(h)) out.push(src.diag('error', ['groups', g, 'hosts', i], `group ${g}: no host "${h}" in routers or bridges`));
    });
    (def.children ?? []).forEach((c, i) => {
      if (!groups[c]) out.push(src.diag('error', ['groups', g, 'children', i], `group ${g}: no group "${c}" under groups`));
    });
    const reaches = (from: string): boolean => {
      const seen = new Set<string>();
      const stack = [from];
      while (stack.length) {
        for (const c of groups[stack.pop()!]?.children ?? []) {
          if (c === g) return true;
          if (!seen.has(c)) {
            seen.add(c);
            stack.push(c);
          }
        }
      }
      return false;
    };
    if (reaches(g)) out.push(src.diag('error', ['groups', g, 'children'], `group ${g} contains itself through its children`));
  }
  return out;
}

const byPosition = (a: Diagnostic, b: Diagnostic) => (a.at?.line ?? 0) - (b.at?.line ?? 0) || (a.at?.col ?? 0) - (b.at?.col ?? 0);

/** A value inherited from `defaults:` is reported once, not once per host. */
function uniqueDiagnostics(ds: Diagnostic[]): Diagnostic[] {
  const seen = new Set<string>();
  return ds.filter((d) => {
    const id = `${d.at?.line}:${d.at?.col}:${d.message}`;
    if (seen.has(id)) return false;
    seen.add(id);
    return true;
  });
}

export function loadInventoryFromSource(src: InventorySource, roles: readonly Role[] = ROLES): LoadResult {
  const syntax = src.syntaxDiagnostics();
  if (hasErrors(syntax)) return { diagnostics: syntax };
  const parsed = src.data();
  if ('diagnostic' in parsed) return { diagnostics: [...syntax, parsed.diagnostic] };
  const data = parsed.value ?? {};
  if (typeof data !== 'object' || Array.isArray(data)) {
    return { diagnostics: [src.diag('error', [], 'the inventory must be a mapping with routers, bridges, defaults and wccp_peers')] };
  }
  const raw = data as RawInventory;
  const schema = schemaDiagnostics(src, raw, roles);
  // Domain checks need well-typed values: run them on every host and peer the schema passed,
  // so one broken host does not hide another host's problems.
  const sound = !schema.broken.has('') && !schema.broken.has('defaults') && !schema.broken.has('routers') && !schema.broken.has('bridges');
  let domain: Diagnostic[] = [];
  let built: ReturnType<typeof buildHosts> | undefined;
  if (sound) {
    const keep = <T>(group: string, m: Record<string, T> | undefined) =>
      m ? Object.fromEntries(Object.entries(m).filter(([n]) => !schema.broken.has(`${group}/${n}`))) : undefined;
    const pruned: RawInventory = {
      defaults: raw.defaults,
      routers: keep('routers', raw.routers),
      bridges: keep('bridges', raw.bridges),
      wccp_peers: schema.broken.has('wccp_peers') ? undefined : keep('wccp_peers', raw.wccp_peers),
      groups: schema.broken.has('groups') ? undefined : keep('groups', raw.groups),
    };
    built = buildHosts(pruned, builtinDefaults(roles));
    const allNames = [...Object.keys(raw.routers ?? {}), ...Object.keys(raw.bridges ?? {})];
    domain = [...domainDiagnostics(src, pruned, built.hosts, built.peers, roles, allNames), ...groupDiagnostics(src, pruned, allNames)];
  }
  const diagnostics = uniqueDiagnostics([...syntax, ...schema.diagnostics, ...domain]).sort(byPosition);
  if (hasErrors(diagnostics) || !built) return { diagnostics };
  return {
    inventory: { path: src.file, sha256: src.sha256, hosts: built.hosts, peers: built.peers, secrets: [...src.secrets], groups: groupMembers(raw) },
    diagnostics,
  };
}

export function loadInventory(file: string, roles: readonly Role[] = ROLES): LoadResult {
  const src = InventorySource.read(file);
  if (!(src instanceof InventorySource)) return { diagnostics: [src] };
  return loadInventoryFromSource(src, roles);
}
