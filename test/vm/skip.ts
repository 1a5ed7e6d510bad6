/** Shared by the VM suites: one-line skip reason, timing, and a lab brought up in a before hook. */
import type { Test } from 'uvu';
import { preflight } from './vmlab.ts';

/** Why the VM tests cannot run here (one line), or undefined. scripts/test.sh runs scripts/ensure-vm-deps.sh first. */
export function skipReason(): string | undefined {
  return preflight();
}

export async function timed<T>(f: () => Promise<T> | T): Promise<{ value: T; seconds: number }> {
  const t0 = Date.now();
  const value = await f();
  return { value, seconds: (Date.now() - t0) / 1000 };
}

/**
 * Run `up` as the suite's before hook, keeping what it throws: uvu swallows an error thrown by a
 * before hook (its runner returns from a finally block), so a lab that never came up showed as
 * "(0 / N)" with no reason. Here each test then fails with that error instead.
 */
export function beforeLab(test: Test, up: () => Promise<void>): void {
  let failed: unknown;
  let t0 = Date.now();
  test.before(async () => {
    try {
      await up();
    } catch (e) {
      failed = e;
      console.error(`  the VM lab did not come up: ${e instanceof Error ? e.message : String(e)}`);
    }
  });
  test.before.each(() => {
    t0 = Date.now();
    if (failed) throw failed;
  });
  // Each test's seconds in the log: where the VM side's time goes (issue #25), run after run.
  test.after.each((ctx) => {
    const name = String((ctx as { __test__?: string }).__test__ ?? '');
    console.log(`  [${((Date.now() - t0) / 1000).toFixed(1)} s] ${name.length > 90 ? `${name.slice(0, 90)}…` : name}`);
  });
}
