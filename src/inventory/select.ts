/** --limit for callers that want only the hosts: see pattern.ts for the forms (Ansible's patterns). */
import { selectPattern } from './pattern.ts';
import type { Host } from './types.ts';

/** The hosts a pattern selects, in inventory order; a pattern with a term that matches nothing selects nothing (the CLI names the term). */
export function selectHosts(hosts: readonly Host[], limit: string | undefined): Host[] {
  const r = selectPattern(hosts, limit);
  return r.errors.length ? [] : r.hosts;
}
