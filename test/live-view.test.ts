/**
 * The live view on a terminal (issue #23, "a fleet-sized live view"): listr2 drawing on a stream
 * that says it is a terminal. Later canary batches wait (never spin) and a batch the rollout never
 * reached is one line; "N of M done" per batch; a fleet taller than the terminal gets one line
 * per fork, not per host.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runFleetCommand } from '../src/cli/views/fleet.ts';
import type { Host } from '../src/inventory/types.ts';
import { Interrupt } from '../src/run/fleet.ts';
import { parseSerial } from '../src/run/rollout.ts';
import { ROLES } from '../roles/registry.ts';
import { capture, contextOf, hostsNamed, scriptedFleet, type Behaviour } from './scripted.ts';

const ANSI = /\x1b\[[0-9;?]*[A-Za-z]/g;
const terminal = (rows: number) => Object.assign(capture(true), { columns: 120, rows });

/** Runs a fleet on a pretend terminal; `hold` keeps that host's connection waiting until `release`. */
function start(plan: Record<string, Behaviour>, rows: number, options: { forks: number; serial?: string }, hold?: string, interrupt?: Interrupt) {
  const hosts: Host[] = hostsNamed(...Object.keys(plan));
  const fleet = scriptedFleet(plan);
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  const reached = new Set<string>();
  const connect = async (h: Host) => {
    reached.add(h.name);
    if (h.name === hold) await held;
    return fleet.connect(h);
  };
  const tty = terminal(rows);
  const done = runFleetCommand(contextOf(tty, capture()), {
    mode: 'apply',
    inventory: { path: 'inv.yml', sha256: '0'.repeat(64), hosts, peers: [], secrets: [] },
    hosts,
    roles: [...ROLES],
    connect,
    interrupt,
    options: {
      forks: options.forks,
      diff: false,
      verbose: false,
      quiet: false,
      acceptNewHostKeys: false,
      ...(options.serial ? { serial: parseSerial(options.serial) } : {}),
    },
  });
  const text = () => tty.text().replace(ANSI, '');
  /** Until the view has drawn `what` (listr2 draws on its own timer). */
  const drawn = async (what: RegExp) => {
    for (let i = 0; i < 200 && !what.test(text()); i++) await new Promise((r) => setTimeout(r, 25));
    // A view that never draws it fails the test, and the held host is let go so the run can end.
    if (!what.test(text())) release();
    assert.match(text(), what);
  };
  /** Until the fleet has started that host. */
  const started = async (name: string) => {
    for (let i = 0; i < 200 && !reached.has(name); i++) await new Promise((r) => setTimeout(r, 25));
    assert.ok(reached.has(name), `${name} never started`);
  };
  return { done, release, text, drawn, started };
}

test('a canary rollout: later batches wait without a spinner, a batch never reached is one line, N of M counted', async () => {
  const run = start({ c1: 'broken', c2: 'drifted', c3: 'drifted', c4: 'drifted' }, 40, { forks: 5, serial: '1,100%' }, 'c1');
  await run.drawn(/batch 1 of 2, 1 host: 0 of 1 done/);
  const during = run.text();
  assert.match(during, /batch 2 of 2, 3 hosts: 0 of 3 done, waiting/);
  assert.not.match(during, /c2/, 'no host of the waiting batch is drawn, so none spins');
  run.release();
  assert.is(await run.done, 4);
  const out = run.text();
  assert.match(out, /batch 1 of 2, 1 host: 1 of 1 done \(1 failed\)/);
  assert.match(out, /! batch 2 of 2, 3 hosts: 3 of 3 done \(3 never touched\)\n +! the rollout stopped before this batch\n/);
  // The hosts never touched are named once, by the recap, never one line each.
  assert.not.match(out, /c[234]: never touched/);
  assert.is(out.match(/never touched: c2, c3, c4/g)?.length, 1);
});

test('a fleet taller than the terminal: one line per fork with the host it works on, the rest counted', async () => {
  const names = Array.from({ length: 12 }, (_, i) => `n${String(i + 1).padStart(2, '0')}`);
  const plan = Object.fromEntries(names.map((n) => [n, n === 'n05' ? 'drifted' : 'compliant'])) as Record<string, Behaviour>;
  const run = start(plan, 12, { forks: 3 }, 'n01');
  await run.drawn(/fork 1: n01: connect/);
  run.release();
  assert.is(await run.done, 0);
  const out = run.text();
  assert.match(out, /12 hosts: 12 of 12 done \(/);
  assert.match(out, /11 compliant, 1 changed|1 changed, 11 compliant/);
  assert.match(out, /fork 3: /);
  assert.not.match(out, /fork 4: /, 'three forks, three lines');
  // No line per waiting host was ever drawn.
  assert.not.match(out, /n12: waiting/);
});

test('one Ctrl-C: no new transaction starts, the hosts never started end their lines, the view ends', async () => {
  const interrupt = new Interrupt();
  const run = start({ a: 'drifted', b: 'drifted', c: 'drifted' }, 40, { forks: 1 }, 'a', interrupt);
  await run.started('a');
  interrupt.signal();
  run.release();
  // Before, the view waited for b and c forever: this await never returned.
  assert.is(await run.done, 4);
  const out = run.text();
  assert.match(out, /a: FAILED at interrupted: interrupted before its transaction started/);
  assert.match(out, /b: FAILED at interrupted: not started: the run was interrupted/);
  assert.match(out, /c: FAILED at interrupted: not started/);
  assert.match(out, /3 hosts: 3 of 3 done \(3 failed\)/);
});

test.run();
