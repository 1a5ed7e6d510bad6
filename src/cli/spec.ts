/**
 * The command line described: --help, `tprun help COMMAND`, the shell completions and the man
 * page are rendered from the commands' own declarations (src/cli/commands/), which the registry
 * (src/cli/commands/index.ts) turns into this description.
 */
import { createRequire } from 'node:module';
import type { Command } from './command.ts';
import type { Option } from './option.ts';
import { COMMON } from './options.ts';

/** An option as help shows it (its parser left out). */
export type OptionSpec = Omit<Option, 'read'>;

export interface CommandSpec {
  name: string;
  /** Positional arguments as shown in usage. */
  args: string;
  summary: string;
  description: string;
  /** Names of the options it takes, --no-color and --help included. */
  options: string[];
  /** Positional completion. */
  complete?: 'file' | 'command' | 'shell';
  footer?: string;
}

export interface CliSpec {
  commands: readonly CommandSpec[];
  /** Every option once, in the order of their first use. */
  options: readonly OptionSpec[];
}

export function describe(commands: readonly Command[], version: Option): CliSpec {
  const options = new Map<string, OptionSpec>();
  const specs = commands.map((c): CommandSpec => {
    const all = [...c.options, ...COMMON];
    for (const o of all) if (!options.has(o.name)) options.set(o.name, o);
    return {
      name: c.name,
      args: c.args,
      summary: c.summary,
      description: c.description,
      options: all.map((o) => o.name),
      complete: c.complete,
      footer: c.footer,
    };
  });
  options.set(version.name, version);
  return { commands: specs, options: [...options.values()] };
}

export const optionIn = (cli: CliSpec, name: string): OptionSpec => cli.options.find((o) => o.name === name)!;
export const commandIn = (cli: CliSpec, name: string): CommandSpec | undefined => cli.commands.find((c) => c.name === name);

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

/** An option's help, and the environment variable that gives it when the command line does not. */
export const optionHelp = (o: OptionSpec): string =>
  [o.help, o.env && `${o.env} in the environment sets it too`, o.config && 'settable in tprun.config.yml'].filter(Boolean).join('; ');

function optionLines(opts: readonly OptionSpec[]): string[] {
  const col = Math.max(...opts.map((o) => flag(o).length)) + 4;
  return opts.map((o) => `  ${flag(o).padEnd(col - 2)}${wrap(optionHelp(o), Math.max(20, WIDTH - col), col).join('\n')}`);
}

export function generalHelp(version: string, cli: CliSpec, exitText: string): string {
  const width = Math.max(...cli.commands.map((c) => `${c.name} ${c.args}`.length)) + 2;
  return [
    `tprun ${version}: deploy and audit Squid TPROXY interception proxies over SSH`,
    '',
    'Usage:',
    ...cli.commands.map((c) => `  tprun ${`${c.name} ${c.args}`.padEnd(width)}${wrap(c.summary, Math.max(20, WIDTH - 8 - width), 8 + width).join('\n')}`),
    '',
    'Options (each command takes those its help lists):',
    ...optionLines(cli.options),
    '',
    'INVENTORY is one or more YAML files or directories of them, merged in order; - reads standard input.',
    'Run "tprun help COMMAND" for one command.',
    '',
    ...wrap(exitText),
  ].join('\n');
}

export function commandHelp(c: CommandSpec, cli: CliSpec): string {
  return [
    `Usage: tprun ${c.name} ${c.args} [options]`,
    '',
    ...wrap(c.description),
    '',
    'Options:',
    ...optionLines(c.options.map((n) => optionIn(cli, n))),
    ...(c.footer ? ['', ...wrap(c.footer)] : []),
  ].join('\n');
}

/** The closest known word, when it is close enough to be a likely typo. */
export function suggest(word: string, known: readonly string[]): string | undefined {
  // Damerau: a swap of two neighbours (chekc) is one typo, not two.
  // Required here, for a mistyped word only: not a cost of every start.
  const levenshtein = createRequire(import.meta.url)('damerau-levenshtein') as typeof import('damerau-levenshtein');
  const distance = (a: string, b: string) => levenshtein(a, b).steps;
  let best: { w: string; d: number } | undefined;
  for (const k of known) {
    const d = k.startsWith(word) && word.length >= 3 ? 0.5 : distance(word, k);
    if (!best || d < best.d) best = { w: k, d };
  }
  return best && best.d <= Math.max(1, Math.min(2, Math.floor(word.length / 3))) ? best.w : undefined;
}
