/**
 * Progress views over a fleet run. On a terminal: listr2 tasks, one per host, with the roles
 * that change as subtasks. Otherwise: one plain line per host, in inventory order (a host's line
 * waits for the hosts before it), so two runs over the same state print the same lines.
 */
import { Listr, ListrDefaultRendererLogLevels, type ListrTaskWrapper, type DefaultRenderer, type SimpleRenderer } from 'listr2';
import type { Host } from '../inventory/types.ts';
import type { FleetObserver } from '../run/fleet.ts';
import type { HostResult } from '../run/host.ts';
import { plain, type Paint } from './color.ts';
import { resultLine, roleSummaries } from './human.ts';

export interface ProgressView extends FleetObserver {
  /** Resolves when the view has drawn its last frame. */
  finished(): Promise<void>;
  /** The run stopped waiting: every host gets its (possibly "outcome unknown") result. */
  abandon?(results: readonly HostResult[]): void;
}

export function plainView(hosts: readonly Host[], say: (line: string) => void, paint: Paint = plain, secrets: readonly string[] = []): ProgressView {
  // A host's line, not its result, waits for the hosts before it: no plan is held here.
  const lines = new Map<string, string>();
  let next = 0;
  const flush = () => {
    for (; next < hosts.length && lines.has(hosts[next]!.name); next++) {
      say(lines.get(hosts[next]!.name)!);
      lines.delete(hosts[next]!.name);
    }
  };
  return {
    done: (h, r) => {
      lines.set(h.name, resultLine(r, { paint, secrets }));
      flush();
    },
    finished: async () => flush(),
  };
}

/** Narrower than this, listr2's wrapping breaks (width 0 gives one character per line): use the plain view. */
export const LIVE_MIN_COLUMNS = 40;

export const quietView = (): ProgressView => ({ finished: async () => undefined });

type Task = ListrTaskWrapper<unknown, typeof DefaultRenderer, typeof SimpleRenderer>;

/** A drifted host is not a success: listr2's "skipped" state, drawn as a yellow "!", is how it shows. */
export function liveView(hosts: readonly Host[], forks: number, paint: Paint = plain, secrets: readonly string[] = []): ProgressView {
  // What a task draws of its host, computed when the host is done: no plan waits for listr2.
  interface Drawn {
    status: HostResult['status'];
    line: string;
    roles?: string[];
  }
  const drawn = (r: HostResult): Drawn => ({ status: r.status, line: resultLine(r, { paint, secrets }), ...(r.plan ? { roles: roleSummaries(r) } : {}) });
  const waiting = new Map<string, { task?: Task; resolve: (r: Drawn) => void; result: Promise<Drawn> }>();
  for (const h of hosts) {
    let resolve!: (r: Drawn) => void;
    const result = new Promise<Drawn>((r) => (resolve = r));
    waiting.set(h.name, { resolve, result });
  }
  const list = new Listr(
    hosts.map((host) => ({
      title: host.name,
      task: async (_ctx: unknown, task: Task) => {
        const w = waiting.get(host.name)!;
        w.task = task;
        const r = await w.result;
        waiting.delete(host.name);
        // resultLine makes a host's control characters visible: a title never carries an escape.
        task.title = r.line;
        if (r.status === 'failed' || r.status === 'unreachable') throw new Error(r.line);
        if (r.status === 'drifted' || r.status === 'skipped') task.skip(r.line);
        if (r.roles)
          return task.newListr(
            r.roles.map((title) => ({ title, task: () => undefined })),
            { concurrent: true },
          );
      },
    })),
    // tprun handles Ctrl-C itself (src/cli/context.ts): listr2 must not exit the process.
    {
      concurrent: forks,
      exitOnError: false,
      registerSignalListeners: false,
      renderer: 'default',
      rendererOptions: {
        collapseErrors: false,
        collapseSubtasks: false,
        showErrorMessage: false,
        collapseSkips: false,
        suffixSkips: false,
        icon: { [ListrDefaultRendererLogLevels.SKIPPED_WITHOUT_COLLAPSE]: '!', [ListrDefaultRendererLogLevels.SKIPPED_WITH_COLLAPSE]: '!' },
      },
    },
  );
  const running = list.run().catch(() => undefined);
  return {
    phase: (host, phase) => {
      const t = waiting.get(host.name)?.task;
      if (t) t.output = phase;
    },
    done: (host, r) => waiting.get(host.name)?.resolve(drawn(r)),
    // On a second signal the run stops waiting: hosts without a result end their task too.
    abandon: (results: readonly HostResult[]) => {
      for (const r of results) waiting.get(r.host)?.resolve(drawn(r));
    },
    finished: async () => void (await running),
  };
}
