/** Exit codes are Puppet's detailed exit codes; scripts depend on them. */
export const EXIT = { ok: 0, invalid: 1, changes: 2, failed: 4, changesAndFailed: 6 } as const;

export interface CommonOptions {
  limit?: string;
  forks: number;
  reports: { format: 'json' | 'junit'; file: string }[];
  diff: boolean;
  verbose: boolean;
  quiet: boolean;
  acceptNewHostKeys: boolean;
}
