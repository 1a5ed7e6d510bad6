/** `tprun doctor`: the guide's troubleshooting on every selected host, read-only. */
import { defineCommand } from '../command.ts';
import { reportWrites, selectHosts } from '../load.ts';
import { acceptNewHostKeys, forks, limit, listHosts, lockTimeout, probe, quiet, report, verbose } from '../options.ts';

export const doctorCommand = defineCommand({
  name: 'doctor',
  args: 'INVENTORY',
  summary: "the guide's troubleshooting, read-only: findings with evidence, cause and fix",
  description:
    "Reads each selected host's logs, counters, rules, routes, sockets and settings in one round trip and reports findings (ids TP0xx, documented in docs/doctor.md): what was seen, what it means, and the fix. Changes nothing; exits 4 when a host has a finding.",
  options: [probe, lockTimeout, limit, listHosts, forks, report, acceptNewHostKeys, quiet, verbose],
  complete: 'file',
  async run(ctx, args, o) {
    const s = selectHosts(ctx, args, { command: 'doctor', limit: o.limit, listHosts: o.listHosts, writes: reportWrites(ctx) });
    if ('exit' in s) return s.exit;
    const { runDoctor } = await import('../views/doctor.ts');
    return runDoctor(ctx, {
      inventory: s.inventory,
      hosts: s.hosts,
      limit: o.limit,
      forks: o.forks,
      quiet: o.quiet,
      verbose: o.verbose,
      acceptNewHostKeys: o.acceptNewHostKeys,
      probe: o.probe,
      lockTimeout: o.lockTimeout,
    });
  },
});

export default doctorCommand;
