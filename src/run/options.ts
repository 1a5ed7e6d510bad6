/**
 * Exit codes, as Puppet's with --detailed-exitcodes; scripts depend on them. 1 only before any host is
 * contacted; 2 drift found (check) or changes made (apply, when asked); 4 a failure; 6 both.
 */
export const EXIT = { ok: 0, invalid: 1, changes: 2, failed: 4, changesAndFailed: 6 } as const;

export const EXIT_TEXT = `Exit codes: 0 compliant/success, 1 bad invocation or inventory (no host contacted), 2 changes pending (check) or applied (apply with --detailed-exitcodes), 4 a host failed or was unreachable, or a report could not be written, 6 both 2 and 4.`;

/**
 * Measured (bench/RESULTS.md, forks sweep at 200 hosts): 50 took half the time of 100 on the
 * lab; fewer would be faster still there, where every sshd shares the controller's cores, but a
 * real network is latency-bound and 25 would mean 8 sequential waves for 200 hosts.
 */
export const DEFAULT_FORKS = 50;
