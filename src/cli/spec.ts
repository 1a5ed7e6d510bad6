/**
 * The command line, described once: --help, `tprun help COMMAND`, the parser's checks, the shell
 * completions and the man page are all generated from this.
 */
import { ROLE_NAMES } from '../../roles/registry.ts';

export interface OptionSpec {
  name: string;
  short?: string;
  /** The value's placeholder; a boolean flag has none. */
  arg?: string;
  multiple?: boolean;
  help: string;
  /** What the shell completes the value with. */
  complete?: 'file' | 'dir' | 'role' | 'host' | 'none';
}

export interface CommandSpec {
  name: string;
  /** Positional arguments as shown in usage. */
  args: string;
  summary: string;
  description: string;
  options: string[];
  /** Positional completion. */
  complete?: 'file' | 'command' | 'shell';
}

export const OPTIONS: OptionSpec[] = [
  {
    name: 'limit',
    short: 'l',
    arg: 'PATTERN',
    help: 'hosts to work on, as in Ansible: names, groups (all, routers, bridges, your own), globs (cache*, h[12]), ranges (h[1:3]), ~regex; a:b or a,b for both, !a to exclude, &g to intersect. A term that matches nothing is an error',
    complete: 'host',
  },
  { name: 'list-hosts', help: 'print the selected hosts, one per line, and exit; contacts no host' },
  { name: 'roles', arg: 'a,b', help: `only these roles (kernel-check always runs): ${ROLE_NAMES.join(', ')}`, complete: 'role' },
  { name: 'forks', short: 'f', arg: 'N', help: 'hosts worked on at once (default 50)', complete: 'none' },
  {
    name: 'serial',
    arg: 'N|P%[,...]',
    help: 'roll out in batches: 1,10%,100% is a canary host, then a tenth of the fleet, then the rest (the last size repeats); a batch starts when the one before it is done',
    complete: 'none',
  },
  {
    name: 'max-fail',
    arg: 'N|P%',
    help: 'a batch with more failed or unreachable hosts than this stops the rollout: no further host starts (default 0 with --serial)',
    complete: 'none',
  },
  {
    name: 'lock-timeout',
    arg: 'S',
    help: 'wait up to S seconds for a host locked by an apply (default 0: that host fails at once, naming who holds the lock; check and doctor give no verdict on a host an apply is changing)',
    complete: 'none',
  },
  {
    name: 'report',
    arg: 'FORMAT:FILE',
    multiple: true,
    help: 'json:FILE, junit:FILE or prom:FILE (Prometheus textfile), repeatable; FILE - is stdout',
    complete: 'file',
  },
  {
    name: 'out',
    arg: 'PATH',
    help: 'render: the directory to write to (default tprun-render); check: write the plan to this file, for review and apply --plan',
    complete: 'file',
  },
  {
    name: 'plan',
    arg: 'PLAN',
    help: 'apply exactly this reviewed plan (from check --out); a host whose settings or fresh plan differ is refused, saying what moved',
    complete: 'file',
  },
  { name: 'diff', short: 'D', help: 'show what would change as diffs' },
  { name: 'check', short: 'C', help: 'plan only, change nothing (as tprun check)' },
  { name: 'accept-new-host-keys', help: 'record unknown host keys in known_hosts (changed keys still fail)' },
  {
    name: 'probe',
    help: "prove interception on each host with a throwaway client and origin namespace pair (nothing leaves the host; docs/doctor.md); apply: after each host's change, rolling that host back when it fails",
  },
  { name: 'no-detailed-exitcodes', help: 'exit 0 rather than 2 when apply changed something' },
  { name: 'quiet', short: 'q', help: 'no per-host lines: the failed hosts and why, and the summary' },
  { name: 'verbose', short: 'v', help: 'show the commands run on each host' },
  { name: 'json', help: 'facts: print JSON (every fact parsed, by id) instead of one line per fact' },
  { name: 'no-color', help: 'no colours (also when NO_COLOR is set)' },
  { name: 'help', short: 'h', help: 'this text' },
  { name: 'version', help: 'print the version' },
];

const COMMON = ['no-color', 'help'];
const RUN = ['limit', 'list-hosts', 'roles', 'forks', 'report', 'diff', 'accept-new-host-keys', 'quiet', 'verbose', ...COMMON];

export const COMMANDS: CommandSpec[] = [
  {
    name: 'validate',
    args: 'INVENTORY...',
    summary: 'schema and domain checks; contacts no host',
    description:
      "Reads the inventory, checks it against the schema and the TPROXY guide's rules and reports every problem as FILE:LINE:COL. No host is contacted.",
    options: ['limit', 'list-hosts', ...COMMON],
    complete: 'file',
  },
  {
    name: 'render',
    args: 'INVENTORY...',
    summary: "write every artifact per host and each WCCP router's config",
    description:
      'Renders every file tprun would install on each selected host (squid.conf, boot scripts, sysctl.d, SELinux module source) and the IOS configuration of each WCCP router, under --out.',
    options: ['out', 'limit', 'list-hosts', 'roles', ...COMMON],
    complete: 'file',
  },
  {
    name: 'check',
    args: 'INVENTORY...',
    summary: 'what apply would change; exit 2 when anything would',
    description: "Gathers each selected host's facts over SSH, plans, and shows what apply would change. Changes nothing.",
    options: ['out', 'probe', 'lock-timeout', ...RUN],
    complete: 'file',
  },
  {
    name: 'apply',
    args: 'INVENTORY... | --plan PLAN [INVENTORY...]',
    summary: 'apply the plan on every selected host',
    description:
      "Gathers facts, plans and applies the changes on each selected host as one transaction, rolled back on failure, then verifies. Exits 2 when it changed something (Puppet's detailed exit codes) unless --no-detailed-exitcodes.",
    options: ['plan', 'check', 'probe', 'serial', 'max-fail', 'lock-timeout', 'no-detailed-exitcodes', ...RUN],
    complete: 'file',
  },
  {
    name: 'doctor',
    args: 'INVENTORY',
    summary: "the guide's troubleshooting, read-only: findings with evidence, cause and fix",
    description:
      "Reads each selected host's logs, counters, rules, routes, sockets and settings in one round trip and reports findings (ids TP0xx, documented in docs/doctor.md): what was seen, what it means, and the fix. Changes nothing; exits 4 when a host has a finding.",
    options: ['probe', 'lock-timeout', 'limit', 'list-hosts', 'forks', 'report', 'accept-new-host-keys', 'quiet', 'verbose', ...COMMON],
    complete: 'file',
  },
  {
    name: 'facts',
    args: 'INVENTORY...',
    summary: 'what tprun gathers from a host, as its planner reads it',
    description:
      'Connects to each selected host (usually one: --limit HOST), gathers every fact the selected roles read in one round trip and prints them parsed, by fact id. Plans and changes nothing.',
    options: ['limit', 'roles', 'json', 'accept-new-host-keys', ...COMMON],
    complete: 'file',
  },
  {
    name: 'init',
    args: '[FILE]',
    summary: 'write a starting inventory that editors check against the schema',
    description:
      "Writes the example inventory to FILE (default inventory.yml; - for standard output), its yaml-language-server $schema line pointing at this tprun's own schema file, so an editor completes and checks it wherever tprun is installed. Never overwrites a file.",
    options: [...COMMON],
    complete: 'file',
  },
  {
    name: 'show',
    args: 'PLAN',
    summary: 'print a saved plan as check --diff does',
    description: 'Prints a plan written by check --out: per host the changes planned, with their diffs, and what the plan was computed from. Contacts no host.',
    options: [...COMMON],
    complete: 'file',
  },
  {
    name: 'completion',
    args: 'bash|zsh',
    summary: 'print a shell completion script',
    description:
      'Prints the completion script for bash or zsh, generated from the same description as this help. bash: tprun completion bash > /etc/bash_completion.d/tprun; zsh: tprun completion zsh > "${fpath[1]}/_tprun".',
    options: [...COMMON],
    complete: 'shell',
  },
  {
    name: 'help',
    args: '[COMMAND]',
    summary: "this text, or a command's",
    description: 'Prints the usage of tprun, or of one command.',
    options: [...COMMON],
    complete: 'command',
  },
];

export const EXIT_TEXT = `Exit codes (Puppet's detailed exit codes): 0 compliant/success, 1 bad invocation or inventory (no host contacted), 2 changes pending (check) or applied (apply), 4 a host failed or was unreachable, or a report could not be written, 6 both 2 and 4.`;

export const optionSpec = (name: string): OptionSpec => OPTIONS.find((o) => o.name === name)!;
export const commandSpec = (name: string): CommandSpec | undefined => COMMANDS.find((c) => c.name === name);

const flag = (o: OptionSpec) => `${o.short ? `-${o.short}, ` : ''}--${o.name}${o.arg ? ` ${o.arg}` : ''}`;

/** Help is wrapped to 80 columns (or a narrower terminal's width, down to 40). */
const WIDTH = Math.max(40, Math.min(80, process.stdout.columns || 80));

/** Lines of at most `width` characters; lines after the first are indented by `indent`. */
export function wrap(text: string, width = WIDTH, indent = 0): string[] {
  const out: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line && line.length + 1 + word.length > width) {
      out.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) out.push(line);
  return out.map((l, i) => (i ? ' '.repeat(indent) + l : l));
}

function optionLines(names: readonly string[]): string[] {
  const opts = names.map(optionSpec);
  const col = Math.max(...opts.map((o) => flag(o).length)) + 4;
  return opts.map((o) => `  ${flag(o).padEnd(col - 2)}${wrap(o.help, Math.max(20, WIDTH - col), col).join('\n')}`);
}

export function generalHelp(version: string): string {
  const width = Math.max(...COMMANDS.map((c) => `${c.name} ${c.args}`.length)) + 2;
  return [
    `tprun ${version}: deploy and audit Squid TPROXY interception proxies over SSH`,
    '',
    'Usage:',
    ...COMMANDS.map((c) => `  tprun ${`${c.name} ${c.args}`.padEnd(width)}${wrap(c.summary, Math.max(20, WIDTH - 8 - width), 8 + width).join('\n')}`),
    '',
    'Options (each command takes those its help lists):',
    ...optionLines(OPTIONS.map((o) => o.name)),
    '',
    'INVENTORY is one or more YAML files or directories of them, merged in order; - reads standard input.',
    'Run "tprun help COMMAND" for one command.',
    '',
    ...wrap(EXIT_TEXT),
  ].join('\n');
}

export function commandHelp(c: CommandSpec): string {
  return [
    `Usage: tprun ${c.name} ${c.args} [options]`,
    '',
    ...wrap(c.description),
    '',
    'Options:',
    ...optionLines(c.options),
    ...(c.name === 'check' || c.name === 'apply' ? ['', ...wrap(EXIT_TEXT)] : []),
  ].join('\n');
}

/** The closest known word, when it is close enough to be a likely typo. */
export function suggest(word: string, known: readonly string[]): string | undefined {
  const distance = (a: string, b: string) => {
    const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
    for (let j = 1; j <= b.length; j++) d[0]![j] = j;
    for (let i = 1; i <= a.length; i++)
      for (let j = 1; j <= b.length; j++) d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    return d[a.length]![b.length]!;
  };
  let best: { w: string; d: number } | undefined;
  for (const k of known) {
    const d = k.startsWith(word) && word.length >= 3 ? 0.5 : distance(word, k);
    if (!best || d < best.d) best = { w: k, d };
  }
  return best && best.d <= Math.max(1, Math.min(2, Math.floor(word.length / 3))) ? best.w : undefined;
}
