/** A GRE tunnel interface; its undo puts back what was there: nothing, or the old tunnel. */
import { sh, type Shell } from '../shell.ts';
import { change, type Change, type GreTunnel } from './change.ts';

const create = (name: string, t: GreTunnel): Shell[] => [sh`ip tunnel add ${name} mode gre remote ${t.remote} local ${t.local}`, sh`ip link set ${name} up`];

/** `extra` runs after the tunnel is up (e.g. its rp_filter). */
export function greLinkChange(role: string, name: string, wanted: GreTunnel, actual: GreTunnel | { other: string } | null, extra: Shell[] = []): Change {
  const replace = actual === null ? [] : [sh`ip tunnel del ${name}`];
  const restore = actual && 'remote' in actual ? create(name, actual) : [];
  return change({
    kind: 'link',
    role,
    id: `link ${name}`,
    before: actual,
    after: wanted,
    commands: [...replace, ...create(name, wanted), ...extra],
    undo: [sh`ip tunnel del ${name} 2>/dev/null || true`, ...restore],
  });
}
