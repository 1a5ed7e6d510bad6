/** `tprun facts INVENTORY --limit HOST [--json]`: print what the planner would read. */
import type { Host } from '../inventory/types.ts';
import type { Role } from '../plan/role.ts';
import { gatherFacts } from '../run/facts.ts';
import { EXIT } from '../run/options.ts';
import { SshConnection, type Connection } from '../ssh/connection.ts';
import { prepareIdentities } from '../ssh/identity.ts';
import { mapStrings, redact, visible } from '../report/safe.ts';

export async function factsCommand(
  hosts: readonly Host[],
  roles: readonly Role[],
  opts: { json: boolean; acceptNewHostKeys: boolean; secrets?: readonly string[]; connect?: (h: Host) => Promise<Connection>; out?: NodeJS.WritableStream },
): Promise<number> {
  const out = opts.out ?? process.stdout;
  if (!opts.connect) await prepareIdentities(hosts);
  const connect = opts.connect ?? ((h: Host) => SshConnection.open(h, { acceptNewHostKeys: opts.acceptNewHostKeys }));
  const results = await Promise.all(hosts.map((h) => gatherFacts(h, roles, connect)));
  // Facts are host text: control characters made visible, credentials redacted, in both forms.
  // The inventory's `!secret` values too, as check redacts them (squid.conf echoes them back).
  const clean = (s: string) => visible(redact(s, opts.secrets), '\n\t');
  if (opts.json) {
    const all = Object.fromEntries(results.map((r) => [r.host, r.error ? { error: r.error } : r.facts]));
    out.write(JSON.stringify(mapStrings(all, clean), null, 2) + '\n');
  } else {
    const say = (line: string) => out.write(visible(redact(line, opts.secrets)) + '\n');
    for (const r of results) {
      say(`${r.host}:${r.error ? ` FAILED: ${r.error}` : ''}`);
      for (const [id, v] of Object.entries(r.facts ?? {})) {
        const text = typeof v === 'string' ? (v.includes('\n') ? `(${v.split('\n').length} lines) ${JSON.stringify(v.slice(0, 60))}…` : v) : JSON.stringify(v);
        say(`  ${id}: ${text.length > 160 ? text.slice(0, 157) + '...' : text}`);
      }
    }
  }
  return results.some((r) => r.error) ? EXIT.failed : EXIT.ok;
}
