/** Scripted hosts for fleet and command tests: each name behaves as told, no SSH involved. */
import { Writable } from 'node:stream';
import { RunContext } from '../src/cli/context.ts';
import type { ReportTarget } from '../src/report/write.ts';
import type { RawFacts } from '../src/facts/fact.ts';
import { loadInventory } from '../src/inventory/load.ts';
import type { Host } from '../src/inventory/types.ts';
import { HostError, type Connection, type RunResult } from '../src/ssh/connection.ts';
import { fileEdit, framed, recorded } from './facts.ts';
import { STEP, TX } from '../src/protocol.ts';

/** h1's recorded facts, as a host of another name would report them (its files name it). */
export function factsAs(name: string, which: 'router-compliant' | 'router-fresh'): RawFacts {
  const raw = recorded(which);
  if (name === 'h1') return raw;
  for (const [id, f] of Object.entries(raw)) {
    if (id.startsWith('file:') && f.code === 0 && f.stdout.trim()) f.stdout = fileEdit((c) => c.replace(/\bh1\b/g, name))(f.stdout);
  }
  return raw;
}

/** compliant; drifted (applies cleanly); broken (its change fails and is rolled back); down (unreachable). */
export type Behaviour = 'compliant' | 'drifted' | 'broken' | 'down';

export class ScriptedConnection implements Connection {
  roundTrips = 0;
  scripts: string[] = [];
  constructor(
    private facts: () => RawFacts,
    private onChange: (script: string) => RunResult,
    private delayMs = 0,
  ) {}
  async run(script: string): Promise<RunResult> {
    this.roundTrips++;
    this.scripts.push(script);
    if (this.delayMs) await new Promise((r) => setTimeout(r, this.delayMs));
    if (!script.includes(TX.started)) return { stdout: framed(this.facts()), stderr: '', code: 0 };
    // The start script: the runner's body travels in base64; its journal comes back between these lines.
    const body = Buffer.from(/<<'TPRUN_B64'[^\n]*\n([\s\S]*?)\nTPRUN_B64/.exec(script)![1]!.replace(/\n/g, ''), 'base64').toString('utf8');
    const r = this.onChange(body);
    return { ...r, stdout: `${TX.started}r1 123\n${r.stdout}${TX.followEnd}\n` };
  }
  async close() {}
}

export const labHost = (): Host => loadInventory('inventories/lab.yml').inventory!.hosts[0]!;

/** Hosts named as given, each a copy of the lab's h1 (the recorded facts are h1's). */
export const hostsNamed = (...names: string[]): Host[] => names.map((name) => ({ ...labHost(), name }));

export interface Fleet {
  connect: (host: Host) => Promise<Connection>;
  /** Hosts a change script was sent to. */
  changed: string[];
  /** Hosts connected to. */
  contacted: string[];
  /** Change what a host reports from now on (someone edited it by hand). */
  tamper: (name: string, edit: (raw: RawFacts) => RawFacts) => void;
}

/** A fleet whose hosts behave as `plan` says; `delays` (ms per host) reorders completion. */
export function scriptedFleet(plan: Record<string, Behaviour>, delays: Record<string, number> = {}): Fleet {
  const tampered = new Map<string, (raw: RawFacts) => RawFacts>();
  const fleet: Fleet = { changed: [], contacted: [], connect: async () => assertNever(), tamper: (n, e) => void tampered.set(n, e) };
  const state = new Map<string, 'fresh' | 'compliant'>();
  fleet.connect = async (host) => {
    fleet.contacted.push(host.name);
    const b = plan[host.name] ?? 'compliant';
    if (b === 'down') throw new HostError('connect', `cannot connect to ${host.address}: ECONNREFUSED`, { unreachable: true });
    if (!state.has(host.name)) state.set(host.name, b === 'compliant' ? 'compliant' : 'fresh');
    return new ScriptedConnection(
      () => (tampered.get(host.name) ?? ((x: RawFacts) => x))(factsAs(host.name, state.get(host.name) === 'compliant' ? 'router-compliant' : 'router-fresh')),
      () => {
        fleet.changed.push(host.name);
        if (b === 'broken') {
          const lines = [`${STEP.step}0`, `${STEP.fail}0`, `${STEP.stderr}boom: no such table`, `${STEP.undo}0`, `${STEP.undone}0`, `${STEP.end}rolled-back`];
          return { stdout: lines.join('\n') + '\n', stderr: '', code: 1 };
        }
        state.set(host.name, 'compliant');
        return { stdout: `${STEP.step}0\n${STEP.verify}\n${framed(factsAs(host.name, 'router-compliant'))}${STEP.end}committed\n`, stderr: '', code: 0 };
      },
      delays[host.name] ?? 0,
    );
  };
  return fleet;
}

function assertNever(): never {
  throw new Error('unreachable');
}

/** A stream that keeps what is written, optionally pretending to be a terminal. */
export function capture(isTTY = false): Writable & { text: () => string; isTTY: boolean } {
  const chunks: string[] = [];
  const w = new Writable({
    write(chunk, _enc, cb) {
      chunks.push(String(chunk));
      cb();
    },
  }) as Writable & { text: () => string; isTTY: boolean };
  w.text = () => chunks.join('');
  w.isTTY = isTTY;
  return w;
}

/** A command's context over test streams: no process stream is replaced. */
export const contextOf = (
  out: NodeJS.WritableStream = capture(),
  err: NodeJS.WritableStream = capture(),
  o: { reports?: ReportTarget[]; noColor?: boolean } = {},
) => new RunContext({ out, err, env: {} }, o);
