/**
 * The command line → a command, its positionals and its options parsed by their declarations
 * (with the environment for those that name a variable), or one sentence saying what is wrong.
 */
import { parseArgs } from 'node:util';
import type { Command } from './command.ts';
import { ConfigError, type Setting } from './config.ts';
import { CLI, COMMANDS } from './commands/index.ts';
import { camel, isInvalid, type Option, type Raw, type Values } from './option.ts';
import { help, noColor, version } from './options.ts';
import { commandIn, suggest } from './spec.ts';

export interface Parsed {
  command?: Command;
  positionals: string[];
  /** As given, by option name: --help, --version and --no-color among them. */
  raw: Record<string, Raw>;
}

export class UsageError extends Error {
  constructor(
    message: string,
    readonly command?: string,
  ) {
    super(message);
  }
}

const OPTIONS = CLI.options;

const config = Object.fromEntries(
  OPTIONS.map((o) => [o.name, { type: o.arg ? 'string' : 'boolean', multiple: !!o.multiple, ...(o.short ? { short: o.short } : {}) }]),
) as Parameters<typeof parseArgs>[0] extends infer P ? (P extends { options?: infer O } ? O : never) : never;

/**
 * Ansible's options that tprun has in another form: an operator's habit gets the way to say it
 * here instead of "unknown option".
 */
const ANSIBLE: Record<string, string> = {
  '-u': "the SSH user is the inventory's ssh.user (defaults:, a group or a host)",
  '--user': "the SSH user is the inventory's ssh.user (defaults:, a group or a host)",
  '-t': 'tprun selects roles, not tags: --roles a,b',
  '--tags': 'tprun selects roles, not tags: --roles a,b',
  '--skip-tags': 'tprun selects roles, not tags: --roles with the ones to run',
  '-i': 'the inventory is an argument: tprun check INVENTORY…',
  '--inventory': 'the inventory is an argument: tprun check INVENTORY…',
  '-b': "become is the inventory's ssh.become: true (passwordless sudo)",
  '--become': "become is the inventory's ssh.become: true (passwordless sudo)",
  '-k': "tprun logs in with keys (ssh.identity, the agent, or OpenSSH's default keys), never a password",
  '--ask-pass': "tprun logs in with keys (ssh.identity, the agent, or OpenSSH's default keys), never a password",
  '-e': 'settings live in the inventory (a later inventory file overrides an earlier one: tprun check base.yml site.yml)',
  '--extra-vars': 'settings live in the inventory (a later inventory file overrides an earlier one: tprun check base.yml site.yml)',
};

/** Throws UsageError with a one-line message. */
export function parseCommandLine(argv: readonly string[]): Parsed {
  const { tokens } = parseArgs({ args: [...argv], options: config, allowPositionals: true, strict: false, tokens: true });
  const positionals: string[] = [];
  const values: Record<string, Raw> = {};
  const options: { name: string; raw: string; value?: string; inline: boolean; index: number }[] = [];
  for (const t of tokens ?? []) {
    if (t.kind === 'positional') positionals.push(t.value);
    else if (t.kind === 'option') options.push({ name: t.name, raw: t.rawName, value: t.value, inline: !!t.inlineValue, index: t.index });
  }
  const command = positionals[0];
  const spec = command === undefined ? undefined : commandIn(CLI, command);
  if (command !== undefined && !spec) {
    const near = suggest(
      command,
      COMMANDS.map((c) => c.name),
    );
    throw new UsageError(`unknown command "${command}"${near ? `; did you mean "${near}"?` : ''} (commands: ${COMMANDS.map((c) => c.name).join(', ')})`);
  }
  const allowed = new Set(spec ? [...spec.options, 'version'] : OPTIONS.map((o) => o.name));
  const where = spec?.name;
  for (const o of options) {
    const known = OPTIONS.find((x) => x.name === o.name);
    if (!known) {
      const habit = ANSIBLE[o.raw];
      if (habit) throw new UsageError(`${spec ? `${where}: ` : ''}unknown option ${o.raw}: ${habit}`, spec?.name);
      const candidates = [...allowed].map((n) => `--${n}`);
      const near = o.raw.startsWith('--') ? suggest(o.raw, candidates) : undefined;
      throw new UsageError(`${spec ? `${where}: ` : ''}unknown option ${o.raw}${near ? `; did you mean ${near}?` : ''}`, spec?.name);
    }
    if (!allowed.has(o.name)) {
      const users = CLI.commands.filter((c) => c.options.includes(o.name)).map((c) => c.name);
      throw new UsageError(`${o.raw} is not an option of ${spec!.name} (it is one of ${users.join(', ')})`, spec?.name);
    }
    if (known.arg && (o.value === undefined || (!o.inline && o.value.startsWith('-') && o.value !== '-')))
      throw new UsageError(`${o.raw} needs a value (${known.arg})`, spec?.name);
    if (!known.arg && o.value !== undefined) throw new UsageError(`${o.raw} takes no value`, spec?.name);
    // A second --limit replaced the first without a word; patterns combine within one.
    if (!known.multiple && known.arg && values[o.name] !== undefined)
      throw new UsageError(
        `${o.raw} is given twice; give it once${o.name === 'limit' ? ' and combine patterns in it: a:b (either), a:&b (both), a:!b (a but not b)' : ''}`,
        spec?.name,
      );
    if (known.multiple) values[o.name] = [...((values[o.name] as string[] | undefined) ?? []), o.value!];
    else values[o.name] = known.arg ? o.value : true;
  }
  return { command: COMMANDS.find((c) => c.name === spec?.name), positionals: positionals.slice(1), raw: values };
}

/**
 * A command's options, each read by its own parser: from the command line, else from the
 * environment variable it names, else from the config file. Throws UsageError naming where a bad
 * value came from (ConfigError, FILE:LINE:COL first, when the config file gave it).
 */
export function readOptions<O extends readonly Option[]>(
  command: Command<O>,
  raw: Record<string, Raw>,
  env: NodeJS.ProcessEnv,
  config: ReadonlyMap<string, Setting> = new Map(),
): Values<O> {
  const out: Record<string, unknown> = {};
  for (const o of command.options) {
    const fromEnv = raw[o.name] === undefined && o.env !== undefined && env[o.env] !== undefined && env[o.env] !== '';
    const setting = raw[o.name] === undefined && !fromEnv ? config.get(o.name) : undefined;
    const v = setting ? o.read(setting.raw, setting.from) : o.read(fromEnv ? env[o.env!] : raw[o.name], fromEnv ? `${o.env} (environment)` : `--${o.name}`);
    if (isInvalid(v)) throw setting ? new ConfigError([v.invalid]) : new UsageError(v.invalid, command.name);
    out[camel(o.name)] = v;
  }
  return out as Values<O>;
}

/** What main handles before any command: --help, --version, --no-color. */
export const commonFlags = (raw: Record<string, Raw>) => ({
  help: raw[help.name] === true,
  version: raw[version.name] === true,
  noColor: raw[noColor.name] === true,
});
