/**
 * The progress view on a terminal: listr2 tasks, one per host, with the roles that change as
 * subtasks. Apart from ./live.ts so that runs without a terminal (cron, CI, the bench) never
 * load listr2.
 */
import { DefaultRenderer, Listr, ListrDefaultRendererLogLevels, ListrLogger, ProcessOutput, type ListrTaskWrapper, type SimpleRenderer } from 'listr2';
import type { Host } from '../inventory/types.ts';
import type { KeptResult } from '../run/host.ts';
import { plain, STATUS_STYLE, type Paint } from './color.ts';
import { visible } from './safe.ts';
import { resultLine, roleSummaries } from './human.ts';
import type { ProgressView } from './live.ts';

type Task = ListrTaskWrapper<unknown, typeof DefaultRenderer, typeof SimpleRenderer>;

export interface LiveOptions {
  forks: number;
  /** The rollout's batch sizes (--serial), in order; one batch when absent. */
  batches?: readonly number[];
  /** The terminal the view draws on (listr2 writes nowhere else). */
  stream: NodeJS.WriteStream;
  paint?: Paint;
  secrets?: readonly string[];
}

/**
 * listr2's default renderer, on the terminal the caller chose: listr2 would fall back to its
 * line-by-line renderer whenever process.stdout is not a terminal, even when the view draws on
 * stderr (a report on stdout) or on a test's pretend terminal.
 */
class TerminalRenderer extends DefaultRenderer {
  static override nonTTY = true;
}

/** Lines the view keeps for itself around the hosts: its counters, the shell's prompt, a margin. */
const CHROME_ROWS = 6;

/** What a task draws of its host, computed when the host is done: no plan waits for listr2. */
interface Drawn {
  status: KeptResult['status'];
  line: string;
  roles?: string[];
}

/**
 * The live view on a terminal: one task per rollout batch, each counting its hosts done ("N of
 * M"), so a batch the rollout has not reached waits (drawn as waiting, never spinning) and a
 * batch a stopped rollout never touched is one line. Within a batch, one line per host while the
 * batch fits the terminal; past that (a fleet), one line per fork showing the host it works on,
 * and the finished hosts only in the counts: the recap then details every host worth a look.
 * A drifted host is not a success: listr2's "skipped" state, drawn as a yellow "!", is how it shows.
 */
export function liveView(hosts: readonly Host[], o: LiveOptions): ProgressView {
  const paint = o.paint ?? plain;
  const secrets = o.secrets ?? [];
  const drawn = (r: KeptResult): Drawn => ({ status: r.status, line: resultLine(r, { paint, secrets }), ...(r.plan ? { roles: roleSummaries(r) } : {}) });
  const sizes = o.batches?.length ? o.batches : [hosts.length];
  const room = Math.max(1, (o.stream.rows || 24) - CHROME_ROWS - sizes.length);

  // Per host: its result (once), and the first sign of life (a phase or its result).
  interface Slot {
    batch: number;
    resolve: (r: Drawn) => void;
    result: Promise<Drawn>;
    started: () => void;
    startedOr: Promise<void>;
    task?: Task;
    lane?: number;
  }
  const slots = new Map<string, Slot>();
  const batchOf: Host[][] = [];
  let first = 0;
  for (const [b, size] of sizes.entries()) {
    batchOf.push(hosts.slice(first, first + size));
    for (const h of batchOf[b]!) {
      let resolve!: (r: Drawn) => void;
      let started!: () => void;
      const result = new Promise<Drawn>((r) => (resolve = r));
      const startedOr = new Promise<void>((r) => (started = r));
      slots.set(h.name, { batch: b, resolve, result, started, startedOr });
    }
    first += size;
  }
  const counts = sizes.map(() => new Map<KeptResult['status'], number>());
  const batchTasks: (Task | undefined)[] = sizes.map(() => undefined);
  const doneIn = (b: number) => [...counts[b]!.values()].reduce((a, n) => a + n, 0);
  const countText = (b: number) => {
    const parts = [...counts[b]!].map(([s, n]) => paint(STATUS_STYLE[s], `${n} ${s === 'skipped' ? 'never touched' : s}`));
    return parts.length ? ` (${parts.join(', ')})` : '';
  };
  const batchTitle = (b: number) => {
    const size = sizes[b]!;
    const head = sizes.length === 1 ? `${size} host${size === 1 ? '' : 's'}` : `batch ${b + 1} of ${sizes.length}, ${size} host${size === 1 ? '' : 's'}`;
    return `${head}: ${doneIn(b)} of ${size} done${countText(b)}`;
  };
  const retitle = (b: number) => {
    const t = batchTasks[b];
    if (t) t.title = batchTitle(b);
  };

  // Fleet-sized batches: forks lanes, each showing the host it works on.
  const lanes: (Task | undefined)[] = [];
  const laneHost: (string | undefined)[] = [];
  const takeLane = (name: string, slot: Slot) => {
    if (slot.lane !== undefined) return slot.lane;
    let i = laneHost.findIndex((x) => x === undefined);
    if (i < 0) i = laneHost.push(undefined) - 1;
    laneHost[i] = name;
    slot.lane = i;
    return i;
  };

  const hostTask = (host: Host) => ({
    title: `${visible(host.name)}: waiting`,
    task: async (_ctx: unknown, task: Task) => {
      const slot = slots.get(host.name)!;
      slot.task = task;
      task.title = visible(host.name);
      const r = await slot.result;
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
  });

  /** What lane i shows: the host it works on and its phase, or the last host it finished. */
  const laneText: string[] = [];
  const drawLane = (i: number, text: string) => {
    laneText[i] = text;
    const t = lanes[i];
    if (t) t.title = text;
  };
  const laneTask = (b: number, i: number) => ({
    title: 'waiting for a host',
    task: async (_ctx: unknown, task: Task) => {
      lanes[i] = task;
      // Hosts may have started before listr2 started this task.
      if (laneText[i]) task.title = laneText[i];
      await Promise.all(batchOf[b]!.map((h) => slots.get(h.name)!.result));
      lanes[i] = undefined;
      task.title = `fork ${i + 1}: done`;
    },
  });

  const list = new Listr(
    sizes.map((size, b) => ({
      title: `${batchTitle(b)}, waiting`,
      task: async (_ctx: unknown, task: Task) => {
        batchTasks[b] = task;
        retitle(b);
        const members = batchOf[b]!;
        // A batch a stopped rollout never reached: its hosts all come back "never touched", at once.
        await Promise.race(members.map((h) => slots.get(h.name)!.startedOr));
        const firstDone = await Promise.race([...members.map((h) => slots.get(h.name)!.result), Promise.resolve(undefined)]);
        if (firstDone?.status === 'skipped') {
          await Promise.all(members.map((h) => slots.get(h.name)!.result));
          task.skip('the rollout stopped before this batch');
          return;
        }
        const fits = size <= room;
        return task.newListr(fits ? members.map(hostTask) : Array.from({ length: Math.min(o.forks, size, room) }, (_, i) => laneTask(b, i)), {
          concurrent: fits ? o.forks : true,
          exitOnError: false,
        });
      },
    })),
    // tprun handles Ctrl-C itself (src/cli/context.ts): listr2 must not exit the process.
    {
      concurrent: false,
      exitOnError: false,
      registerSignalListeners: false,
      renderer: TerminalRenderer,
      rendererOptions: {
        collapseErrors: false,
        collapseSubtasks: false,
        showErrorMessage: false,
        collapseSkips: false,
        suffixSkips: false,
        icon: { [ListrDefaultRendererLogLevels.SKIPPED_WITHOUT_COLLAPSE]: '!', [ListrDefaultRendererLogLevels.SKIPPED_WITH_COLLAPSE]: '!' },
        // The terminal the context chose (stderr when a report takes stdout). listr2 holds back
        // what the other stream gets while it draws, and writes it after: never two hijacks of one stream.
        logger: new ListrLogger({
          useIcons: true,
          toStderr: [],
          processOutput: new ProcessOutput(o.stream, o.stream === process.stderr ? process.stdout : process.stderr),
        }),
      },
    },
  );
  const running = list.run().catch(() => undefined);
  const settle = (host: Host | string, r: KeptResult) => {
    const slot = slots.get(typeof host === 'string' ? host : host.name);
    if (!slot) return;
    slot.started();
    const d = drawn(r);
    slot.resolve(d);
    const m = counts[slot.batch]!;
    m.set(r.status, (m.get(r.status) ?? 0) + 1);
    if (slot.lane !== undefined) {
      laneHost[slot.lane] = undefined;
      drawLane(slot.lane, `fork ${slot.lane + 1}: ${d.line}`);
    }
    retitle(slot.batch);
  };
  const settled = new Set<string>();
  return {
    phase: (host, phase) => {
      const slot = slots.get(host.name);
      if (!slot) return;
      slot.started();
      if (slot.task) slot.task.output = phase;
      else if (sizes[slot.batch]! > room) drawLane(takeLane(host.name, slot), `fork ${(slot.lane ?? 0) + 1}: ${visible(host.name)}: ${phase}`);
    },
    done: (host, r) => {
      if (settled.has(host.name)) return;
      settled.add(host.name);
      settle(host, r);
    },
    // After the run, and on a second signal: hosts without a result end their task too.
    abandon: (results: readonly KeptResult[]) => {
      for (const r of results) {
        if (settled.has(r.host)) continue;
        settled.add(r.host);
        settle(r.host, r);
      }
    },
    finished: async () => void (await running),
  };
}
