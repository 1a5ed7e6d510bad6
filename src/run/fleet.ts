/** All selected hosts at once (--forks at a time), live progress with listr2, recap and exit code. */
import { Listr, type DefaultRenderer, type ListrTaskWrapper, type SimpleRenderer } from 'listr2';
import { EXIT, type CommonOptions } from '../cli/options.ts';
import type { Host, Inventory } from '../inventory/types.ts';
import type { Role } from '../plan/role.ts';
import { changesOf } from '../plan/types.ts';
import { recap, resultDetails, resultLine } from '../report/human.ts';
import { writeReports } from '../report/write.ts';
import { SshConnection, type Connection } from '../ssh/connection.ts';
import { prepareIdentities } from '../ssh/identity.ts';
import { VERSION } from '../version.ts';
import { runHost, type HostResult } from './host.ts';

export interface FleetRun {
  mode: 'check' | 'apply';
  inventory: Inventory;
  hosts: Host[];
  roles: Role[];
  options: CommonOptions;
  /** Tests pass scripted connections. */
  connect?: (host: Host) => Promise<Connection>;
  out?: NodeJS.WritableStream;
}

/** "iptables: 2 changes", one per role with something to change or unmet: compliant roles stay quiet. */
function roleSummaries(r: HostResult): string[] {
  const byRole = new Map<string, number>();
  for (const i of r.plan!.items) byRole.set(i.role, (byRole.get(i.role) ?? 0) + (i.action !== 'no-op' ? 1 : 0));
  const what = (role: string, n: number) => (role === 'kernel-check' ? `${n} requirement${n === 1 ? '' : 's'} unmet` : `${n} change${n === 1 ? '' : 's'}`);
  return [...byRole].filter(([, n]) => n > 0).map(([role, n]) => `${role}: ${what(role, n)}`);
}

export function exitCode(results: readonly HostResult[], mode: 'check' | 'apply'): number {
  const failed = results.some((r) => r.status === 'failed' || r.status === 'unreachable');
  const pending = mode === 'check' && results.some((r) => r.status === 'drifted');
  return failed && pending ? EXIT.changesAndFailed : failed ? EXIT.failed : pending ? EXIT.changes : EXIT.ok;
}

export async function runFleet(run: FleetRun): Promise<number> {
  // A report on stdout keeps stdout machine-readable: the human output moves to stderr.
  const out = run.out ?? (run.options.reports.some((r) => r.file === '-') ? process.stderr : process.stdout);
  const { options } = run;
  const connect = run.connect ?? ((h: Host) => SshConnection.open(h, { acceptNewHostKeys: options.acceptNewHostKeys }));
  // Passphrases are asked (once per key) before the progress display takes the terminal.
  if (!run.connect) await prepareIdentities(run.hosts);
  const started = new Date();
  const t0 = performance.now();
  const results = new Map<string, HostResult>();
  const live = out === process.stdout && process.stdout.isTTY && !options.quiet;
  const say = (line: string) => out.write(line + '\n');

  const tasks = new Listr(
    run.hosts.map((host) => ({
      title: host.name,
      task: async (_ctx: unknown, task: ListrTaskWrapper<unknown, typeof DefaultRenderer, typeof SimpleRenderer>) => {
        const r = await runHost(host, { mode: run.mode, roles: run.roles, connect, onPhase: (p) => (task.output = p) });
        results.set(host.name, r);
        task.title = resultLine(r);
        if (!live && !options.quiet) say(resultLine(r));
        if (r.status === 'failed' || r.status === 'unreachable') throw new Error(resultLine(r));
        // On a terminal, each host shows its roles as subtasks with what they found.
        if (live && r.plan) return task.newListr(roleSummaries(r).map((title) => ({ title, task: () => undefined })), { concurrent: true });
      },
    })),
    {
      concurrent: options.forks,
      exitOnError: false,
      renderer: live ? 'default' : 'silent',
      rendererOptions: { collapseErrors: false, collapseSubtasks: false, showErrorMessage: false },
    },
  );
  await tasks.run().catch(() => undefined);

  const ordered = run.hosts.map((h) => results.get(h.name)!).filter(Boolean);
  const seconds = (performance.now() - t0) / 1000;
  for (const r of ordered) {
    const details = resultDetails(r, { diff: options.diff, verbose: options.verbose });
    const interesting = r.status !== 'compliant' || options.verbose;
    if (details.length && interesting) {
      say(`\n${r.host} (${r.status}${r.plan ? `, ${changesOf(r.plan).length} change(s)` : ''}):`);
      details.forEach(say);
    }
  }
  say(recap(ordered, seconds).join('\n'));
  const code = exitCode(ordered, run.mode);
  writeReports(options.reports, { version: VERSION, mode: run.mode, inventory: run.inventory, hosts: run.hosts, roles: run.roles.map((r) => r.name), limit: options.limit, results: ordered, started, seconds, exitCode: code });
  return code;
}
