/** What check and apply share: the options of a fleet run and how they reach its view. */
import type { Values } from '../option.ts';
import { acceptNewHostKeys, diff, forks, limit, listHosts, quiet, report, roles, verbose } from '../options.ts';
import type { FleetOptions } from '../views/fleet.ts';

export const RUN = [limit, listHosts, roles, forks, report, diff, acceptNewHostKeys, quiet, verbose] as const;

export const fleetOptions = (o: Values<typeof RUN>): FleetOptions => ({
  limit: o.limit,
  forks: o.forks,
  diff: o.diff,
  verbose: o.verbose,
  quiet: o.quiet,
  acceptNewHostKeys: o.acceptNewHostKeys,
});
