/**
 * Progress views over a fleet run. On a terminal: listr2 tasks, one per host, with the roles
 * that change as subtasks. Otherwise: one plain line per host as it finishes.
 */
import { Listr, type ListrTaskWrapper, type DefaultRenderer, type SimpleRenderer } from 'listr2';
import type { Host } from '../inventory/types.ts';
import type { FleetObserver } from '../run/fleet.ts';
import type { HostResult } from '../run/host.ts';
import { resultLine, roleSummaries } from './human.ts';

export interface ProgressView extends FleetObserver {
  /** Resolves when the view has drawn its last frame. */
  finished(): Promise<void>;
  /** The run stopped waiting: every host gets its (possibly "outcome unknown") result. */
  abandon?(results: readonly HostResult[]): void;
}

export function plainView(say: (line: string) => void, secrets: readonly string[] = []): ProgressView {
  return { done: (_h, r) => say(resultLine(r, secrets)), finished: async () => undefined };
}

export const quietView = (): ProgressView => ({ finished: async () => undefined });

type Task = ListrTaskWrapper<unknown, typeof DefaultRenderer, typeof SimpleRenderer>;

export function liveView(hosts: readonly Host[], forks: number, secrets: readonly string[] = []): ProgressView {
  const waiting = new Map<string, { task?: Task; resolve: (r: HostResult) => void; result: Promise<HostResult> }>();
  for (const h of hosts) {
    let resolve!: (r: HostResult) => void;
    const result = new Promise<HostResult>((r) => (resolve = r));
    waiting.set(h.name, { resolve, result });
  }
  const list = new Listr(
    hosts.map((host) => ({
      title: host.name,
      task: async (_ctx: unknown, task: Task) => {
        const w = waiting.get(host.name)!;
        w.task = task;
        const r = await w.result;
        // resultLine makes a host's control characters visible: a title never carries an escape.
        task.title = resultLine(r, secrets);
        if (r.status === 'failed' || r.status === 'unreachable') throw new Error(resultLine(r, secrets));
        if (r.plan) return task.newListr(roleSummaries(r).map((title) => ({ title, task: () => undefined })), { concurrent: true });
      },
    })),
    // tprun handles Ctrl-C itself (src/cli/run.ts): listr2 must not exit the process.
    { concurrent: forks, exitOnError: false, registerSignalListeners: false, renderer: 'default', rendererOptions: { collapseErrors: false, collapseSubtasks: false, showErrorMessage: false } },
  );
  const running = list.run().catch(() => undefined);
  return {
    phase: (host, phase) => {
      const t = waiting.get(host.name)?.task;
      if (t) t.output = phase;
    },
    done: (host, r) => waiting.get(host.name)?.resolve(r),
    // On a second signal the run stops waiting: hosts without a result end their task too.
    abandon: (results: readonly HostResult[]) => {
      for (const r of results) waiting.get(r.host)?.resolve(r);
    },
    finished: async () => void (await running),
  };
}
