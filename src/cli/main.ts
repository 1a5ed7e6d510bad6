/** tprun's command line: thin command modules over load → plan → apply/report. */
import { formatDiagnostic, hasErrors, type Diagnostic } from '../diagnostics.ts';
import { expandInventoryPaths, loadInventories } from '../inventory/multi.ts';
import { destinationProblems } from '../report/destinations.ts';
import { groupsOf, selectPattern } from '../inventory/pattern.ts';
import type { Host, Inventory } from '../inventory/types.ts';
import { renderFiles, writeRendered } from '../render/render.ts';
import { initInventory } from './init.ts';
import { REPORT_FORMATS, type ReportTarget } from '../report/write.ts';
import { DEFAULT_FORKS, EXIT } from '../run/options.ts';
import { parseAmount, parseSerial } from '../run/rollout.ts';
import { VERSION } from '../version.ts';
import { ROLE_NAMES, selectRoles } from '../../roles/registry.ts';
import { parseCommandLine, UsageError } from './args.ts';
import { commandHelp, commandSpec, generalHelp } from './spec.ts';
import { parseSavedPlan, planMoved, settingsMoved, showLines, type SavedPlan } from '../plan/reviewed.ts';
import { readBounded } from '../files.ts';

/** A plan is JSON of every host's changes: 256 MiB holds a large fleet's. */
const MAX_PLAN_BYTES = 256 * 1024 * 1024;

function readPlan(file: string): SavedPlan | string {
  const r = readBounded(file === '-' ? 0 : file, MAX_PLAN_BYTES);
  if ('error' in r) return `${file}: cannot read the plan (${r.error})`;
  return parseSavedPlan(r.text, file);
}

function showPlan(positionals: string[]): number {
  if (positionals.length !== 1) return usageError('show takes one PLAN file', 'show');
  const plan = readPlan(positionals[0]!);
  if (typeof plan === 'string') return usageError(plan, 'show');
  process.stdout.write(showLines(plan).join('\n') + '\n');
  return EXIT.ok;
}

/** One line: what is wrong, and where the usage is. */
const usageError = (msg: string, command?: string): number => {
  process.stderr.write(`tprun: ${msg} (see "tprun help${command ? ` ${command}` : ''}")\n`);
  return EXIT.invalid;
};

function printDiagnostics(ds: readonly Diagnostic[]): void {
  for (const d of ds) process.stderr.write(formatDiagnostic(d) + '\n');
}

function loadOrReport(files: string[], plan?: { file: string; saved: SavedPlan }): Inventory | undefined {
  const file = files.join(' + ');
  const r = loadInventories(files);
  // An inventory named only by a plan must be the one the plan was made from, before a word of it is shown.
  if (plan && r.sha256 !== plan.saved.inventory.sha256) {
    process.stderr.write(
      `tprun: ${plan.file} was made from ${file} (sha256 ${plan.saved.inventory.sha256.slice(0, 12)}…), which ${r.sha256 ? `now has sha256 ${r.sha256.slice(0, 12)}…` : 'cannot be read'}: name the inventory to apply the plan with (tprun apply --plan PLAN INVENTORY)\n`,
    );
    return undefined;
  }
  printDiagnostics(r.diagnostics);
  if (!r.inventory || hasErrors(r.diagnostics)) {
    const n = r.diagnostics.filter((d) => d.severity === 'error').length;
    process.stderr.write(`${file}: ${n} error${n === 1 ? '' : 's'}; no host was contacted\n`);
    return undefined;
  }
  return r.inventory;
}

export async function main(argv: string[]): Promise<number> {
  let parsed: ReturnType<typeof parseCommandLine>;
  try {
    parsed = parseCommandLine(argv);
  } catch (e) {
    if (e instanceof UsageError) return usageError(e.message, e.command);
    throw e;
  }
  const { command, positionals, values } = parsed;
  const o = values as {
    out?: string;
    limit?: string;
    roles?: string;
    forks?: string;
    report?: string[];
    diff?: boolean;
    check?: boolean;
    'accept-new-host-keys'?: boolean;
    probe?: boolean;
    'list-hosts'?: boolean;
    json?: boolean;
    plan?: string;
    serial?: string;
    'max-fail'?: string;
    'lock-timeout'?: string;
    'no-detailed-exitcodes'?: boolean;
    'no-color'?: boolean;
    quiet?: boolean;
    verbose?: boolean;
    help?: boolean;
    version?: boolean;
  };
  // listr2's colours (colorette) read NO_COLOR when first loaded, after this.
  if (o['no-color']) process.env.NO_COLOR = '1';
  if (o.version) {
    process.stdout.write(`tprun ${VERSION}\n`);
    return EXIT.ok;
  }
  if (command === 'help' || (o.help && !command)) {
    const topic = command === 'help' ? positionals[0] : undefined;
    if (positionals.length > 1) return usageError(`help takes one command, not "${positionals.slice(1).join(' ')}"`);
    const spec = topic === undefined ? undefined : commandSpec(topic);
    if (topic !== undefined && (!spec || spec.name === 'help')) return usageError(`no help for "${topic}": not a command`);
    process.stdout.write((spec ? commandHelp(spec) : generalHelp(VERSION)) + '\n');
    return EXIT.ok;
  }
  if (!command) {
    process.stderr.write(generalHelp(VERSION) + '\n');
    return EXIT.invalid;
  }
  if (o.help) {
    process.stdout.write(commandHelp(commandSpec(command)!) + '\n');
    return EXIT.ok;
  }
  if (command === 'show') return showPlan(positionals);
  if (command === 'init') {
    if (positionals.length > 1) return usageError(`init takes one file, not "${positionals.join(' ')}"`, command);
    const r = initInventory(positionals[0] ?? 'inventory.yml');
    process[r.ok ? 'stdout' : 'stderr'].write(r.ok ? r.text : `tprun: ${r.text}\n`);
    return r.ok ? EXIT.ok : EXIT.invalid;
  }
  if (command === 'completion') {
    const { bashCompletion, zshCompletion } = await import('./docs.ts');
    if (positionals.length !== 1 || !['bash', 'zsh'].includes(positionals[0]!)) return usageError('completion takes bash or zsh', command);
    process.stdout.write(positionals[0] === 'bash' ? bashCompletion() : zshCompletion());
    return EXIT.ok;
  }
  let saved: SavedPlan | undefined;
  let inventoryFromPlan = false;
  if (o.plan !== undefined) {
    const p = readPlan(o.plan);
    if (typeof p === 'string') return usageError(p, command);
    saved = p;
    if (o.check || o.roles) return usageError(`--plan applies the plan as reviewed: it takes no ${o.check ? '--check' : '--roles'}`, command);
    if (!positionals.length) {
      positionals.push(...saved.inventory.files);
      inventoryFromPlan = true;
    }
  }
  if (!positionals.length) return usageError(`${command} needs an INVENTORY file (or several, or a directory; - for standard input)`, command);
  if (positionals.filter((p) => p === '-').length > 1) return usageError('standard input (-) can be read once', command);
  const file = positionals.join(' + ');

  let roleNames: string[] | undefined;
  if (o.roles) {
    roleNames = o.roles.split(',').map((s) => s.trim());
    const bad = roleNames.find((r) => !ROLE_NAMES.includes(r));
    if (bad) return usageError(`unknown role "${bad}" (roles: ${ROLE_NAMES.join(', ')})`, command);
  }
  const forks = o.forks === undefined ? DEFAULT_FORKS : Number(o.forks);
  if (!Number.isInteger(forks) || forks < 1) return usageError(`--forks takes a whole number of at least 1, not "${o.forks}"`, command);
  const serial = o.serial === undefined ? undefined : parseSerial(o.serial);
  if (o.serial !== undefined && !serial) return usageError(`--serial takes N, P% or a list such as 1,10%,100% (each at least 1), not "${o.serial}"`, command);
  const maxFail = o['max-fail'] === undefined ? undefined : parseAmount(o['max-fail']);
  if (o['max-fail'] !== undefined && !maxFail) return usageError(`--max-fail takes N or P%, not "${o['max-fail']}"`, command);
  const lockTimeout = o['lock-timeout'] === undefined ? 0 : Number(o['lock-timeout']);
  if (!Number.isFinite(lockTimeout) || lockTimeout < 0) return usageError(`--lock-timeout takes a number of seconds, not "${o['lock-timeout']}"`, command);
  const reports: ReportTarget[] = [];
  for (const r of o.report ?? []) {
    const m = /^(\w+):(.+)$/.exec(r);
    const format = REPORT_FORMATS.find((f) => f === m?.[1]);
    if (!m || !format) return usageError(`--report takes json:FILE, junit:FILE or prom:FILE, not "${r}"`, command);
    reports.push({ format, file: m[2]! });
  }
  // Before any host is contacted: a run must not touch the fleet and then fail to say what it did.
  const destinations = [
    ...reports.map((r) => ({ what: `the ${r.format} report`, file: r.file })),
    ...(command === 'check' && o.out !== undefined ? [{ what: 'the plan (--out)', file: o.out }] : []),
  ];
  const problems = destinationProblems(destinations, [...expandInventoryPaths(positionals).files, ...(o.plan !== undefined ? [o.plan] : [])]);
  if (problems.length) {
    for (const p of problems.slice(0, -1)) process.stderr.write(`tprun: ${p}\n`);
    return usageError(problems.at(-1)!, command);
  }

  const inventory = loadOrReport(positionals, inventoryFromPlan && saved ? { file: o.plan!, saved } : undefined);
  if (!inventory) return EXIT.invalid;
  const selected = selectPattern(inventory.hosts, o.limit, groupsOf(inventory.hosts, inventory.groups));
  if (selected.errors.length) {
    for (const e of selected.errors.slice(0, -1)) process.stderr.write(`tprun: ${e}\n`);
    return usageError(`${selected.errors.at(-1)!} of ${file}`, command);
  }
  const hosts = selected.hosts;
  if (o.limit !== undefined && !hosts.length) return usageError(`--limit "${o.limit}" leaves no host of ${file}`, command);
  if (o['list-hosts']) {
    for (const h of hosts) process.stdout.write(`${h.name}\n`);
    return EXIT.ok;
  }
  const roles = selectRoles(saved ? saved.selection.roles : roleNames);

  if (command === 'validate') {
    process.stdout.write(
      `${file}: valid (${inventory.hosts.filter((h) => h.kind === 'router').length} routers, ${inventory.hosts.filter((h) => h.kind === 'bridge').length} bridges, ${inventory.peers.length} WCCP peers)\n`,
    );
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
    const { runDoctor } = await import('./doctor.ts');
    return runDoctor({
      inventory,
      hosts,
      limit: o.limit,
      forks,
      reports,
      quiet: !!o.quiet,
      verbose: !!o.verbose,
      acceptNewHostKeys: !!o['accept-new-host-keys'],
      probe: !!o.probe,
      lockTimeout,
    });
  }
  const planned = saved && new Map(saved.hosts.map((h) => [h.name, h]));
  if (saved && !hosts.some((h) => planned!.has(h.name)))
    return usageError(`no host of ${o.plan} is in ${file}${o.limit ? ` with --limit "${o.limit}"` : ''}`, command);
  // A host of the plan the inventory no longer has: failed without contact, in the recap and the reports.
  const refused = (saved?.hosts ?? [])
    .filter((h) => !inventory.hosts.some((x) => x.name === h.name))
    .map((h) => ({
      host: { ...h.settings, name: h.name, address: h.address } as unknown as Host,
      reason: `in the plan but no longer in ${file}: not applied`,
    }));
  const seal = saved && { secrets: inventory.secrets ?? [], salt: saved.salt };
  if (command === 'facts') {
    const { factsCommand } = await import('./facts.ts');
    return factsCommand(hosts, roles, { json: !!o.json, acceptNewHostKeys: !!o['accept-new-host-keys'], secrets: inventory.secrets ?? [] });
  }
  const { runCommand } = await import('./run.ts');
  return runCommand({
    mode: command === 'check' || o.check ? 'check' : 'apply',
    inventory,
    hosts: saved ? hosts.filter((h) => planned!.has(h.name)) : hosts,
    approve: seal
      ? (host, plan) => settingsMoved(planned!.get(host.name)!, host, seal.secrets) ?? planMoved(planned!.get(host.name)!, host, plan, seal)
      : undefined,
    refused,
    roles,
    options: {
      limit: o.limit,
      forks,
      reports,
      diff: !!o.diff,
      verbose: !!o.verbose,
      quiet: !!o.quiet,
      acceptNewHostKeys: !!o['accept-new-host-keys'],
      detailedExitCodes: !o['no-detailed-exitcodes'],
      noColor: !!o['no-color'],
      serial,
      maxFail,
      planOut: command === 'check' ? o.out : undefined,
      lockTimeout,
      probe: !!o.probe,
    },
  });
}
