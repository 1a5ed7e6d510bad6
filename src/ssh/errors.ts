import { homedir } from 'node:os';

/** A problem with one host: which step, and whether the host could not be reached at all. */
export class HostError extends Error {
  /** The host could not be reached at all (no connection, no authentication). */
  readonly unreachable: boolean;
  /** The connection died or timed out: whatever the remote side was doing, its end was not seen. */
  readonly lost: boolean;
  constructor(
    readonly step: string,
    message: string,
    how: { unreachable?: boolean; lost?: boolean } = {},
  ) {
    super(message);
    this.unreachable = how.unreachable ?? false;
    this.lost = how.lost ?? false;
  }
}

export const expandHome = (p: string) => (p === '~' || p.startsWith('~/') ? homedir() + p.slice(1) : p);
