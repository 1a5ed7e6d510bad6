/**
 * Progress views over a fleet run. On a terminal: listr2 tasks, one per host, with the roles
 * that change as subtasks. Otherwise: one plain line per host, in inventory order (a host's line
 * waits for the hosts before it), so two runs over the same state print the same lines. The
 * terminal's view is ./listr.ts, imported only when one is drawn (listr2 is 0.05 s to load).
 */
import type { Host } from '../inventory/types.ts';
import type { FleetObserver } from '../run/fleet.ts';
import type { KeptResult } from '../run/host.ts';
import { plain, type Paint } from './color.ts';
import { resultLine } from './human.ts';

export interface ProgressView extends FleetObserver {
  /** Resolves when the view has drawn its last frame. */
  finished(): Promise<void>;
  /** The run stopped waiting: every host gets its (possibly "outcome unknown") result. */
  abandon?(results: readonly KeptResult[]): void;
}

/**
 * Lines per host, printed in inventory order as hosts finish in any order: a host's lines wait
 * for the hosts before it (only its text is held, never its plan), so two runs over the same
 * state print the same lines.
 */
export function inventoryOrder(hosts: readonly Host[], say: (line: string) => void) {
  const held = new Map<string, readonly string[]>();
  const index = new Map(hosts.map((h, i) => [h.name, i]));
  let next = 0;
  const flush = () => {
    for (; next < hosts.length && held.has(hosts[next]!.name); next++) {
      held.get(hosts[next]!.name)!.forEach(say);
      held.delete(hosts[next]!.name);
    }
  };
  return {
    put(host: string, lines: readonly string[]) {
      if ((index.get(host) ?? -1) < next || held.has(host)) return;
      held.set(host, lines);
      flush();
    },
    has: (host: string) => held.has(host) || (index.get(host) ?? Infinity) < next,
  };
}

export function plainView(hosts: readonly Host[], say: (line: string) => void, paint: Paint = plain, secrets: readonly string[] = []): ProgressView {
  const order = inventoryOrder(hosts, say);
  return {
    done: (h, r) => order.put(h.name, [resultLine(r, { paint, secrets })]),
    // Hosts a signal kept from starting have a result but no line yet: the lines after them wait for it.
    abandon: (results) => {
      for (const r of results) if (!order.has(r.host)) order.put(r.host, [resultLine(r, { paint, secrets })]);
    },
    finished: async () => undefined,
  };
}

/** Narrower than this, listr2's wrapping breaks (width 0 gives one character per line): use the plain view. */
export const LIVE_MIN_COLUMNS = 40;

export const quietView = (): ProgressView => ({ finished: async () => undefined });
