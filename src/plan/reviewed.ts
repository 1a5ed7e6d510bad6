/**
 * Reviewed plans: `tprun check --out PLAN` saves what each host's plan was and what it was
 * computed from (the host's settings, the facts' digest, the inventory's); `tprun apply --plan
 * PLAN` applies a host only when its settings and its freshly planned changes are exactly those
 * saved, and otherwise refuses that host, saying what moved. `tprun show PLAN` renders it.
 */
import { createHash, randomBytes, scryptSync } from 'node:crypto';
import { createRequire } from 'node:module';
import type { Host } from '../inventory/types.ts';
import type { Change } from '../resources/change.ts';
import { changeDiff, changeLine, valueText } from '../resources/view.ts';
import { elideContent, mapStrings, redact, visible } from '../report/safe.ts';
import { changesOf, type HostPlan } from './types.ts';

/**
 * 2: what a plan shows is what it holds: secrets (the inventory's `!secret` values, squid's
 * credential options) never appear in it; each host carries a fingerprint of the clear values.
 */
export const PLAN_VERSION = 2;

/** A change as saved: exactly the fields `show` prints and apply compares with the fresh plan. */
export interface SavedChange {
  role: string;
  id: string;
  action: string;
  /** The summary line as check prints it. */
  line: string;
  diff: string[];
  commands: string[];
}

export interface SavedHost {
  name: string;
  address: string;
  status: string;
  /** The host's merged settings (address, kind, vars, WCCP peers), secrets redacted. */
  settings: Record<string, unknown>;
  /**
   * The settings and every change's before, after and commands in clear, hashed with the plan's
   * salt: with scrypt when anything was redacted (a secret cannot be guessed from the plan at
   * sha256 speed), else sha256. apply refuses a host whose fresh fingerprint differs.
   */
  fingerprint: string;
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
  /** Random, per plan: the fingerprints' salt. */
  salt: string;
  /** files: what the inventory was read from (several files, or a directory's); sha256: of those bytes. */
  inventory: { path: string; files: string[]; sha256: string };
  selection: { limit?: string; roles: string[] };
  hosts: SavedHost[];
}

/** What saving needs beyond the host: the inventory's secrets and the plan's salt. */
export interface Sealing {
  secrets: readonly string[];
  salt: string;
}

export const newSalt = (): string => randomBytes(16).toString('hex');

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

/** The change as shown: file contents (base64 in commands) and their digests are elided there; the diff shows them. */
export function savedChange(c: Change, secrets: readonly string[]): SavedChange {
  const commands = c.commands.map((x) => elideContent(x.text));
  return mapStrings({ role: c.role, id: c.id, action: c.action, line: changeLine(c), diff: changeDiff(c), commands }, (s) => redact(s, secrets));
}

function fingerprint(
  host: Host,
  plan: HostPlan | undefined,
  seal: Sealing,
): { fingerprint: string; settings: Record<string, unknown>; changes: SavedChange[] } {
  const clearSettings = hostSettings(host);
  const clearChanges = plan ? changesOf(plan) : [];
  const clear = JSON.stringify({
    settings: clearSettings,
    changes: clearChanges.map((c) => [c.id, c.action, valueText(c, 'before'), valueText(c, 'after'), c.commands.map((x) => x.text)]),
  });
  const settings = mapStrings(clearSettings, (s) => redact(s, seal.secrets));
  const changes = clearChanges.map((c) => savedChange(c, seal.secrets));
  const hidden = JSON.stringify(settings) !== JSON.stringify(clearSettings) || clear !== redact(clear, seal.secrets);
  return {
    fingerprint: hidden ? `scrypt:${scryptSync(clear, seal.salt, 32, { N: 1 << 14, r: 8, p: 1 }).toString('hex')}` : `sha256:${sha(seal.salt + clear)}`,
    settings,
    changes,
  };
}

export function savedHost(host: Host, status: string, plan: HostPlan | undefined, factsDigest: string | undefined, seal: Sealing, error?: string): SavedHost {
  const f = fingerprint(host, plan, seal);
  return {
    name: host.name,
    address: host.address,
    status,
    settings: f.settings,
    fingerprint: f.fingerprint,
    ...(factsDigest ? { factsDigest } : {}),
    changes: f.changes,
    ...(error ? { error: redact(error, seal.secrets) } : {}),
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

/** Why a host's settings no longer match the saved plan, or undefined (secrets compare in planMoved's fingerprint). */
export function settingsMoved(saved: SavedHost, host: Host, secrets: readonly string[] = []): string | undefined {
  const now = mapStrings(hostSettings(host), (s) => redact(s, secrets));
  if (JSON.stringify(now) === JSON.stringify(saved.settings)) return undefined;
  const keys = movedKeys(saved.settings, now).map((k) => k.replace(/^vars\./, ''));
  return `the inventory differs for ${host.name} since the plan: ${keys.join(', ')} changed`;
}

const FIELDS = ['role', 'action', 'line', 'diff', 'commands'] as const;

/**
 * Why a fresh plan is not the saved one (what moved), or undefined when it is exactly the same:
 * every field `show` prints, and the clear values behind the redacted ones (the fingerprint).
 */
export function planMoved(saved: SavedHost, host: Host, plan: HostPlan, seal: Sealing): string | undefined {
  const fresh = fingerprint(host, plan, seal);
  const now = fresh.changes;
  const before = new Map(saved.changes.map((c) => [c.id, c]));
  const after = new Map(now.map((c) => [c.id, c]));
  const moved: string[] = [];
  for (const c of now) {
    const was = before.get(c.id);
    if (!was) moved.push(`new change ${c.line}`);
    else {
      const fields = FIELDS.filter((k) => JSON.stringify(was[k]) !== JSON.stringify(c[k]));
      if (fields.length)
        moved.push(
          `${c.id} differs in ${fields.join(', ')} (now ${c.line}${c.action === 'update' && c.diff.length ? `, ${c.diff.filter((l) => /^[-+][^-+]/.test(l)).length} diff lines` : ''})`,
        );
    }
  }
  for (const c of saved.changes) if (!after.has(c.id)) moved.push(`planned change ${c.id} is no longer needed`);
  const order = now.map((c) => c.id).join('\n') === saved.changes.map((c) => c.id).join('\n');
  if (!moved.length && !order) moved.push('the changes come in another order');
  if (!moved.length && fresh.fingerprint !== saved.fingerprint) moved.push('a value the plan does not show (a secret) differs');
  return moved.length ? `the host changed since the plan (${saved.changes.length} planned, ${now.length} now): ${moved.join('; ')}` : undefined;
}

const strings = { type: 'array', items: { type: 'string' } } as const;
const PLAN_SCHEMA = {
  type: 'object',
  required: ['planVersion', 'tprun', 'created', 'salt', 'inventory', 'selection', 'hosts'],
  properties: {
    planVersion: { const: PLAN_VERSION },
    tprun: { type: 'string' },
    created: { type: 'string' },
    salt: { type: 'string', pattern: '^[0-9a-f]{32}$' },
    inventory: {
      type: 'object',
      required: ['path', 'files', 'sha256'],
      properties: { path: { type: 'string' }, files: { ...strings, minItems: 1 }, sha256: { type: 'string', pattern: '^[0-9a-f]{64}$' } },
    },
    selection: { type: 'object', required: ['roles'], properties: { limit: { type: 'string' }, roles: strings } },
    hosts: {
      type: 'array',
      items: {
        type: 'object',
        required: ['name', 'address', 'status', 'settings', 'fingerprint', 'changes'],
        properties: {
          name: { type: 'string' },
          address: { type: 'string' },
          status: { type: 'string' },
          settings: { type: 'object' },
          fingerprint: { type: 'string', pattern: '^(sha256|scrypt):[0-9a-f]{64}$' },
          factsDigest: { type: 'string' },
          error: { type: 'string' },
          changes: {
            type: 'array',
            items: {
              type: 'object',
              required: ['role', 'id', 'action', 'line', 'diff', 'commands'],
              properties: {
                role: { type: 'string' },
                id: { type: 'string' },
                action: { type: 'string' },
                line: { type: 'string' },
                diff: strings,
                commands: strings,
              },
            },
          },
        },
      },
    },
  },
} as const;

// ajv's 2020 build is CommonJS: required when a plan is read, as only apply --plan and show read
// one (every other command loads this module, and ajv is a tenth of a second to load).
const require = createRequire(import.meta.url);
const ajvCtor = () => {
  const m = require('ajv/dist/2020.js') as { default?: unknown };
  return (m.default ?? m) as new (o: object) => import('ajv/dist/2020.js').default;
};
let validatePlan: ReturnType<import('ajv/dist/2020.js').default['compile']> | undefined;

export function parseSavedPlan(text: string, file: string): SavedPlan | string {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    return `${file}: not a tprun plan (not JSON: ${visible((e as Error).message.split('\n')[0] ?? '')})`;
  }
  const version = (doc as { planVersion?: unknown } | null)?.planVersion;
  if (typeof version === 'number' && version !== PLAN_VERSION) return `${file}: plan version ${version}; this tprun reads version ${PLAN_VERSION}`;
  validatePlan ??= new (ajvCtor())({ allErrors: false, strict: false }).compile(PLAN_SCHEMA);
  if (!validatePlan(doc)) {
    const e = validatePlan.errors?.[0];
    return `${file}: not a tprun plan (${visible(`${e?.instancePath || '/'} ${e?.message ?? 'is malformed'}`)})`;
  }
  return doc as SavedPlan;
}

/** `tprun show PLAN`: as check --diff prints it, control characters made visible. */
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
  return out.map((l) => visible(l));
}
