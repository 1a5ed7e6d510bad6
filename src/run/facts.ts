/** `tprun facts`: one host's facts as the planner would read them, gathered in one round trip; nothing is planned. */
import { factsScript, parseFactsOutput, type RawFacts } from '../facts/fact.ts';
import type { Host } from '../inventory/types.ts';
import { hostFacts } from '../plan/planner.ts';
import type { Role } from '../role/contract.ts';
import { HostError, type Connection } from '../ssh/connection.ts';

export interface GatheredFacts {
  host: string;
  /** Parsed, by fact id (a Map becomes an object). */
  facts?: Record<string, unknown>;
  raw?: RawFacts;
  error?: string;
}

const plainData = (v: unknown): unknown =>
  v instanceof Map
    ? Object.fromEntries([...v].map(([k, x]) => [String(k), plainData(x)]))
    : v instanceof Set
      ? [...v].map(plainData)
      : Array.isArray(v)
        ? v.map(plainData)
        : v && typeof v === 'object'
          ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plainData(x)]))
          : v;

export async function gatherFacts(host: Host, roles: readonly Role[], connect: (h: Host) => Promise<Connection>): Promise<GatheredFacts> {
  let conn: Connection | undefined;
  try {
    conn = await connect(host);
    const list = hostFacts(host, roles);
    const r = await conn.run(factsScript(list));
    if (r.code !== 0) return { host: host.name, error: `the facts script exited ${r.code}${r.stderr.trim() ? `: ${r.stderr.trim().split('\n')[0]}` : ''}` };
    const raw = parseFactsOutput(r.stdout);
    const facts: Record<string, unknown> = {};
    for (const f of list) if (raw[f.id] && !(f.id in facts)) facts[f.id] = plainData(f.parse(raw[f.id]!));
    return { host: host.name, facts, raw };
  } catch (e) {
    return { host: host.name, error: e instanceof HostError ? `${e.step}: ${e.message}` : (e as Error).message };
  } finally {
    await conn?.close().catch(() => undefined);
  }
}
