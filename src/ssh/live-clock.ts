/**
 * Deadlines on a clock that runs only while the controller's event loop does.
 *
 * A remote script's timeout is meant for the host's own work. With a plain setTimeout, a host whose
 * output took the controller 100 s to parse spent every other host's timeout too: their timers all
 * fired when the loop came back, before the answers already waiting in the sockets were read. This
 * clock advances in ticks of at most TICK_CAP ms, so a stall of the loop counts as one short tick,
 * and an expiry is decided after the poll phase (setImmediate), when pending input has been read.
 */
const TICK = 250;
const TICK_CAP = 1000;

interface Waiter {
  at: number;
  fire: () => void;
}

let now = 0;
let last = 0;
let timer: NodeJS.Timeout | undefined;
const waiters = new Set<Waiter>();

function tick(): void {
  const t = performance.now();
  now += Math.min(t - last, TICK_CAP);
  last = t;
  for (const w of waiters)
    if (w.at <= now) {
      waiters.delete(w);
      setImmediate(w.fire);
    }
  if (!waiters.size) stop();
}

function stop(): void {
  if (timer) clearInterval(timer);
  timer = undefined;
}

/** Calls fire after ms of live time; the returned function cancels it. */
export function liveDeadline(ms: number, fire: () => void): () => void {
  if (!timer) {
    last = performance.now();
    timer = setInterval(tick, TICK);
    // The clock alone never keeps the process alive: a run is waiting on its socket anyway.
    timer.unref();
  }
  let cancelled = false;
  const current = now + Math.min(performance.now() - last, TICK_CAP);
  const w: Waiter = { at: current + ms, fire: () => cancelled || fire() };
  waiters.add(w);
  return () => {
    cancelled = true;
    waiters.delete(w);
    if (!waiters.size) stop();
  };
}
