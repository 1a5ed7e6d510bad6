/**
 * Reviewed plans: `tprun check --out PLAN` saves what each host's plan was and what it was
 * computed from (the host's settings, the facts' digest, the inventory's); `tprun apply --plan
 * PLAN` applies a host only when its settings and its freshly planned changes are exactly those
 * saved, and otherwise refuses that host, saying what moved. `tprun show PLAN` renders it.
 */
import { createHash } from 'node:crypto';
import type { RawFacts } from '../facts/fact.ts';
import type { Host } from '../inventory/types.ts';
import type { Change } from '../resources/change.ts';
import { changeDiff, changeLine, valueText } from '../resources/view.ts';
import { changesOf, type HostPlan } from './types.ts';

export const PLAN_VERSION = 1;

export interface SavedChange {
  role: string;
  id: string;
  action: string;
  /** The summary line as check prints it. */
  line: string;
  diff: string[];
  commands: string[];
  /** Digest of before, after and commands: the change is the same iff this is. */
  digest: string;
}

export interface SavedHost {
  name: string;
  address: string;
  status: string;
  /** The host's merged settings (address, kind, vars, WCCP peers) the plan was computed from. */
  settings: Record<string, unknown>;
  settingsDigest: string;
  /** sha256 of the facts as gathered (for the record: the plan, not the facts, must match). */
  factsDigest?: string;
  changes: SavedChange[];
  /** Why the host could not be planned (failed, unreachable, blocked). */
  error?: string;
}

export interface SavedPlan {
  planVersion: number;
  tprun: string;
  created: string;
  inventory: { path: string; sha256: string };
  selection: { limit?: string; roles: string[] };
  hosts: SavedHost[];
}

const sha = (v: unknown) =>
  createHash('sha256')
    .update(typeof v === 'string' ? v : JSON.stringify(v))
    .digest('hex');

/** What a host's plan depends on in the inventory. */
export function hostSettings(host: Host): Record<string, unknown> {
  return JSON.parse(
    JSON.stringify({ address: host.address, kind: host.kind, ...(host.kind === 'bridge' ? { bridge: host.bridge } : {}), vars: host.vars, wccp: host.wccp }),
  ) as Record<string, unknown>;
}

export function savedChange(c: Change): SavedChange {
  const commands = c.commands.map((x) => x.text);
  return {
    role: c.role,
    id: c.id,
    action: c.action,
    line: changeLine(c),
    diff: changeDiff(c),
    commands,
    digest: sha([c.id, c.action, valueText(c, 'before'), valueText(c, 'after'), commands]),
  };
}

export function savedHost(host: Host, status: string, plan: HostPlan | undefined, facts: RawFacts | undefined, error?: string): SavedHost {
  const settings = hostSettings(host);
  return {
    name: host.name,
    address: host.address,
    status,
    settings,
    settingsDigest: sha(settings),
    ...(facts ? { factsDigest: sha(facts) } : {}),
    changes: plan ? changesOf(plan).map(savedChange) : [],
    ...(error ? { error } : {}),
  };
}

/** Keys (dotted, at most three levels: vars.tproxy.ports) whose values differ between two settings objects. */
function movedKeys(a: unknown, b: unknown, prefix = '', depth = 0): string[] {
  if (JSON.stringify(a) === JSON.stringify(b)) return [];
  const isObj = (x: unknown) => x !== null && typeof x === 'object' && !Array.isArray(x);
  if (depth >= 3 || !isObj(a) || !isObj(b)) return [prefix || '(all)'];
  const keys = [...new Set([...Object.keys(a as object), ...Object.keys(b as object)])];
  return keys.flatMap((k) => movedKeys((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], prefix ? `${prefix}.${k}` : k, depth + 1));
}

/** Why a host's settings no longer match the saved plan, or undefined. */
export function settingsMoved(saved: SavedHost, host: Host): string | undefined {
  const now = hostSettings(host);
  if (sha(now) === saved.settingsDigest) return undefined;
  const keys = movedKeys(saved.settings, now).map((k) => k.replace(/^vars\./, ''));
  return `the inventory differs for ${host.name} since the plan: ${keys.join(', ')} changed`;
}

/** Why a fresh plan is not the saved one (what moved), or undefined when it is exactly the same. */
export function planMoved(saved: SavedHost, plan: HostPlan): string | undefined {
  const now = changesOf(plan).map(savedChange);
  const before = new Map(saved.changes.map((c) => [c.id, c]));
  const after = new Map(now.map((c) => [c.id, c]));
  const moved: string[] = [];
  for (const c of now) {
    const was = before.get(c.id);
    if (!was) moved.push(`new change ${c.line}`);
    else if (was.digest !== c.digest)
      moved.push(
        `${c.id} differs (now ${c.line}${c.action === 'update' && c.diff.length ? `, ${c.diff.filter((l) => /^[-+][^-+]/.test(l)).length} diff lines` : ''})`,
      );
  }
  for (const c of saved.changes) if (!after.has(c.id)) moved.push(`planned change ${c.id} is no longer needed`);
  const order = now.map((c) => c.id).join('\n') === saved.changes.map((c) => c.id).join('\n');
  if (!moved.length && !order) moved.push('the changes come in another order');
  return moved.length ? `the host changed since the plan (${saved.changes.length} planned, ${now.length} now): ${moved.join('; ')}` : undefined;
}

export function parseSavedPlan(text: string, file: string): SavedPlan | string {
  let doc: SavedPlan;
  try {
    doc = JSON.parse(text) as SavedPlan;
  } catch (e) {
    return `${file}: not a tprun plan (not JSON: ${(e as Error).message.split('\n')[0]})`;
  }
  if (!doc || typeof doc !== 'object' || typeof doc.planVersion !== 'number' || !Array.isArray(doc.hosts))
    return `${file}: not a tprun plan (no planVersion and hosts)`;
  if (doc.planVersion !== PLAN_VERSION) return `${file}: plan version ${doc.planVersion}; this tprun reads version ${PLAN_VERSION}`;
  return doc;
}

/** `tprun show PLAN`: as check --diff prints it. */
export function showLines(plan: SavedPlan): string[] {
  const out = [
    `plan of ${plan.created} by tprun ${plan.tprun}: ${plan.inventory.path} (sha256 ${plan.inventory.sha256.slice(0, 12)}…), roles ${plan.selection.roles.join(', ')}`,
  ];
  for (const h of plan.hosts) {
    const n = h.changes.length;
    out.push(`${h.name}: ${h.error ? `${h.status.toUpperCase()}: ${h.error}` : n ? `${n} change${n === 1 ? '' : 's'} planned` : 'compliant'}`);
    for (const c of h.changes) {
      out.push(`    ${c.line}`);
      if (c.diff.length && !c.line.includes(' → ')) out.push(...c.diff.map((l) => `        ${l}`));
    }
  }
  const changing = plan.hosts.filter((h) => h.changes.length).length;
  out.push(`${plan.hosts.length} host${plan.hosts.length === 1 ? '' : 's'}: ${changing} with changes, ${plan.hosts.filter((h) => h.error).length} not planned`);
  return out;
}
