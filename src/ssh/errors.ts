import { homedir } from 'node:os';

/** A problem with one host: which step, and whether the host could not be reached at all. */
export class HostError extends Error {
  constructor(
    readonly step: string,
    message: string,
    readonly unreachable = false,
    /** The connection died or timed out: whatever the remote side was doing, its end was not seen. */
    readonly lost = false,
  ) {
    super(message);
  }
}

export const expandHome = (p: string) => (p === '~' || p.startsWith('~/') ? homedir() + p.slice(1) : p);
