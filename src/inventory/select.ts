/** --limit: host names, shell-style globs (* ?) and the group names routers / bridges, comma-separated. */
import type { Host } from './types.ts';

const globToRegExp = (g: string) => new RegExp('^' + g.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.') + '$');

export function selectHosts(hosts: readonly Host[], limit: string | undefined): Host[] {
  if (!limit) return [...hosts];
  const pats = limit.split(',').map((s) => s.trim()).filter(Boolean);
  return hosts.filter((h) =>
    pats.some((p) => (p === 'routers' && h.kind === 'router') || (p === 'bridges' && h.kind === 'bridge') || globToRegExp(p).test(h.name)),
  );
}
