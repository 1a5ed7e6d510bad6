/** `tprun check` and `tprun apply`: run the fleet, show it through a view, write the reports. */
import type { Host, Inventory } from '../inventory/types.ts';
import type { Role } from '../plan/role.ts';
import { summaryLines } from '../report/human.ts';
import { liveView, plainView, quietView } from '../report/live.ts';
import { writeReports, type ReportTarget } from '../report/write.ts';
import { runFleet, type FleetRun, type Mode } from '../run/fleet.ts';
import { VERSION } from '../version.ts';

export interface CommandOptions {
  limit?: string;
  forks: number;
  reports: ReportTarget[];
  diff: boolean;
  verbose: boolean;
  quiet: boolean;
  acceptNewHostKeys: boolean;
}

export interface CommandRun {
  mode: Mode;
  inventory: Inventory;
  hosts: Host[];
  roles: Role[];
  options: CommandOptions;
  /** Tests pass scripted connections and their own output stream. */
  connect?: FleetRun['connect'];
  out?: NodeJS.WritableStream;
}

export async function runCommand(run: CommandRun): Promise<number> {
  const { options } = run;
  // A report on stdout keeps stdout machine-readable: the human output moves to stderr.
  const out = run.out ?? (options.reports.some((r) => r.file === '-') ? process.stderr : process.stdout);
  const say = (line: string) => out.write(line + '\n');
  // Never shown or reported: the inventory's `!secret` values and the identities' passphrases.
  const passphrases = run.hosts.map((h) => h.vars.ssh.passphrase_env).flatMap((v) => (v && process.env[v] ? [process.env[v]!] : []));
  const secrets = [...(run.inventory.secrets ?? []), ...passphrases];
  const live = out === process.stdout && process.stdout.isTTY && !options.quiet;
  const view = options.quiet ? quietView() : live ? liveView(run.hosts, options.forks, secrets) : plainView(say, secrets);
  const outcome = await runFleet({ mode: run.mode, hosts: run.hosts, roles: run.roles, forks: options.forks, acceptNewHostKeys: options.acceptNewHostKeys, connect: run.connect, observer: view });
  await view.finished();
  summaryLines(outcome.results, outcome.seconds, { ...options, secrets }).forEach(say);
  writeReports(options.reports, {
    version: VERSION,
    mode: run.mode,
    inventory: run.inventory,
    hosts: run.hosts,
    roles: run.roles.map((r) => r.name),
    limit: options.limit,
    results: outcome.results,
    started: outcome.started,
    seconds: outcome.seconds,
    exitCode: outcome.exitCode,
    secrets,
  });
  return outcome.exitCode;
}
