/** The view of `tprun facts`: what the planner would read, one line per fact or JSON. */
import type { Host } from '../../inventory/types.ts';
import type { Role } from '../../role/contract.ts';
import { gatherFacts } from '../../run/facts.ts';
import { EXIT } from '../../run/options.ts';
import { SshConnection, type Connection } from '../../ssh/connection.ts';
import { prepareIdentities } from '../../ssh/identity.ts';
import { mapStrings } from '../../report/safe.ts';
import type { RunContext } from '../context.ts';

export async function factsCommand(
  ctx: RunContext,
  hosts: readonly Host[],
  roles: readonly Role[],
  opts: { json: boolean; acceptNewHostKeys: boolean; connect?: (h: Host) => Promise<Connection> },
): Promise<number> {
  if (!opts.connect) await prepareIdentities(hosts);
  const connect = opts.connect ?? ((h: Host) => SshConnection.open(h, { acceptNewHostKeys: opts.acceptNewHostKeys }));
  const results = await Promise.all(hosts.map((h) => gatherFacts(h, roles, connect)));
  // Facts are host text: control characters made visible and every secret redacted, in both
  // forms (squid.conf echoes the inventory's `!secret` values back).
  if (opts.json) {
    const all = Object.fromEntries(results.map((r) => [r.host, r.error ? { error: r.error } : r.facts]));
    ctx.print(
      JSON.stringify(
        mapStrings(all, (s) => ctx.safe(s, '\n\t')),
        null,
        2,
      ) + '\n',
    );
  } else {
    for (const r of results) {
      ctx.saySafe(`${r.host}:${r.error ? ` FAILED: ${r.error}` : ''}`);
      for (const [id, v] of Object.entries(r.facts ?? {})) {
        const text = typeof v === 'string' ? (v.includes('\n') ? `(${v.split('\n').length} lines) ${JSON.stringify(v.slice(0, 60))}…` : v) : JSON.stringify(v);
        ctx.saySafe(`  ${id}: ${text.length > 160 ? text.slice(0, 157) + '...' : text}`);
      }
    }
  }
  return results.some((r) => r.error) ? EXIT.failed : EXIT.ok;
}
