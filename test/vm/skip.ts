/** Shared by the VM suites: one-line skip reason, and timing. */
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
