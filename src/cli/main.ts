/** tprun's command line: thin command modules over load → plan → apply/report. */
import { parseArgs } from 'node:util';
import { formatDiagnostic, hasErrors, type Diagnostic } from '../diagnostics.ts';
import { loadInventory } from '../inventory/load.ts';
import { selectHosts } from '../inventory/select.ts';
import type { Inventory } from '../inventory/types.ts';
import { renderFiles, writeRendered } from '../render/render.ts';
import type { ReportTarget } from '../report/write.ts';
import { DEFAULT_FORKS, EXIT } from '../run/options.ts';
import { VERSION } from '../version.ts';
import { ROLE_NAMES, selectRoles } from '../../roles/registry.ts';

const HELP = `tprun ${VERSION}: deploy and audit Squid TPROXY interception proxies over SSH

Usage:
  tprun validate INVENTORY            schema and domain checks; contacts no host
  tprun render INVENTORY [--out DIR]  write every artifact per host and each WCCP router's config
  tprun check INVENTORY [--diff]      what apply would change; exit 2 when anything would
  tprun apply INVENTORY [--check] [--diff]
                                      apply the plan on every selected host
  tprun doctor INVENTORY              the guide's troubleshooting, read-only: findings with
                                      evidence, cause and fix (ids in docs/doctor.md)

Options:
  --limit PATTERN        hosts by name, glob (cache*) or group (routers, bridges); comma-separated
  --roles a,b            only these roles (kernel-check always runs): ${ROLE_NAMES.join(', ')}
  --forks N              hosts worked on at once (default 50)
  --report FORMAT:FILE   json:FILE or junit:FILE, repeatable; FILE - is stdout
  --diff                 show what would change as diffs
  --accept-new-host-keys record unknown host keys in known_hosts (changed keys still fail)
  --probe                doctor, check: prove interception on each host with a throwaway client
                         and origin namespace pair (nothing leaves the host); apply: the same
                         after each host's change, rolling that host back when it fails
  --lock-timeout S       apply: wait up to S seconds for a host locked by another apply
                         (default 0: that host fails at once, naming who holds the lock)
  -q, --quiet            no per-host lines, only the summary and problems
  -v, --verbose          show the commands run on each host
  -h, --help             this text
  --version              print the version

Exit codes: 0 compliant/success, 1 bad invocation or inventory, 2 changes pending,
4 a host failed or was unreachable (or its outcome is unknown, or the run was
interrupted; doctor: or has a finding), 6 both 2 and 4.`;

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      out: { type: 'string' },
      limit: { type: 'string' },
      roles: { type: 'string' },
      forks: { type: 'string' },
      report: { type: 'string', multiple: true },
      diff: { type: 'boolean' },
      check: { type: 'boolean' },
      'accept-new-host-keys': { type: 'boolean' },
      probe: { type: 'boolean' },
      'lock-timeout': { type: 'string' },
      quiet: { type: 'boolean', short: 'q' },
      verbose: { type: 'boolean', short: 'v' },
      help: { type: 'boolean', short: 'h' },
      version: { type: 'boolean' },
    },
  });
}

const usageError = (msg: string): number => {
  process.stderr.write(`tprun: ${msg}\nRun "tprun --help" for usage.\n`);
  return EXIT.invalid;
};

function printDiagnostics(ds: readonly Diagnostic[]): void {
  for (const d of ds) process.stderr.write(formatDiagnostic(d) + '\n');
}

function loadOrReport(file: string): Inventory | undefined {
  const r = loadInventory(file);
  printDiagnostics(r.diagnostics);
  if (!r.inventory || hasErrors(r.diagnostics)) {
    const n = r.diagnostics.filter((d) => d.severity === 'error').length;
    process.stderr.write(`${file}: ${n} error${n === 1 ? '' : 's'}; no host was contacted\n`);
    return undefined;
  }
  return r.inventory;
}

export async function main(argv: string[]): Promise<number> {
  let args: ReturnType<typeof parse>;
  try {
    args = parse(argv);
  } catch (e) {
    return usageError((e as Error).message);
  }
  const { values: o, positionals } = args;
  if (o.version) {
    process.stdout.write(`tprun ${VERSION}\n`);
    return EXIT.ok;
  }
  const [command, file, ...rest] = positionals;
  if (o.help || !command) {
    process.stdout.write(HELP + '\n');
    return o.help ? EXIT.ok : EXIT.invalid;
  }
  if (!['validate', 'render', 'check', 'apply', 'doctor'].includes(command)) return usageError(`unknown command "${command}"`);
  if (!file) return usageError(`${command} needs an INVENTORY file`);
  if (rest.length) return usageError(`unexpected argument "${rest[0]}"`);

  let roleNames: string[] | undefined;
  if (o.roles) {
    roleNames = o.roles.split(',').map((s) => s.trim());
    const bad = roleNames.find((r) => !ROLE_NAMES.includes(r));
    if (bad) return usageError(`unknown role "${bad}" (roles: ${ROLE_NAMES.join(', ')})`);
  }
  const forks = o.forks === undefined ? DEFAULT_FORKS : Number(o.forks);
  if (!Number.isInteger(forks) || forks < 1) return usageError(`--forks takes a whole number of at least 1, not "${o.forks}"`);
  const lockTimeout = o['lock-timeout'] === undefined ? 0 : Number(o['lock-timeout']);
  if (!Number.isFinite(lockTimeout) || lockTimeout < 0) return usageError(`--lock-timeout takes a number of seconds, not "${o['lock-timeout']}"`);
  const reports: ReportTarget[] = [];
  for (const r of o.report ?? []) {
    const m = /^(json|junit):(.+)$/.exec(r);
    if (!m) return usageError(`--report takes json:FILE or junit:FILE, not "${r}"`);
    reports.push({ format: m[1] as 'json' | 'junit', file: m[2]! });
  }

  const inventory = loadOrReport(file);
  if (!inventory) return EXIT.invalid;
  const hosts = selectHosts(inventory.hosts, o.limit);
  if (o.limit && hosts.length === 0) return usageError(`--limit "${o.limit}" matches no host of ${file}`);
  const roles = selectRoles(roleNames);

  if (o.probe && !['doctor', 'check', 'apply'].includes(command)) return usageError(`--probe works with doctor, check and apply, not ${command}`);
  if (command === 'validate') {
    process.stdout.write(`${file}: valid (${inventory.hosts.filter((h) => h.kind === 'router').length} routers, ${inventory.hosts.filter((h) => h.kind === 'bridge').length} bridges, ${inventory.peers.length} WCCP peers)\n`);
    return EXIT.ok;
  }
  if (command === 'render') {
    const outDir = o.out ?? 'tprun-render';
    const files = renderFiles({ ...inventory, hosts }, roles);
    try {
      writeRendered(files, outDir);
    } catch (e) {
      process.stderr.write(`tprun: ${(e as Error).message}\n`);
      return EXIT.invalid;
    }
    for (const f of files) process.stdout.write(`${outDir}/${f.path}\n`);
    return EXIT.ok;
  }
  if (command === 'doctor') {
    if (o.roles || o.diff || o.check) return usageError(`doctor takes no ${o.roles ? '--roles' : o.diff ? '--diff' : '--check'}`);
    const { runDoctor } = await import('./doctor.ts');
    return runDoctor({ inventory, hosts, limit: o.limit, forks, reports, quiet: !!o.quiet, verbose: !!o.verbose, acceptNewHostKeys: !!o['accept-new-host-keys'], probe: !!o.probe });
  }
  const { runCommand } = await import('./run.ts');
  return runCommand({
    mode: command === 'check' || o.check ? 'check' : 'apply',
    inventory,
    hosts,
    roles,
    options: { limit: o.limit, forks, reports, diff: !!o.diff, verbose: !!o.verbose, quiet: !!o.quiet, acceptNewHostKeys: !!o['accept-new-host-keys'], lockTimeout, probe: !!o.probe },
  });
}
