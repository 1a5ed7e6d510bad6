/**
 * A command is a module (src/cli/commands/NAME.ts) that declares its usage and its options and
 * runs with them parsed: `run` receives `Values<typeof options>`, typed by construction.
 */
import type { RunContext } from './context.ts';
import type { Option, Values } from './option.ts';

export interface Command<O extends readonly Option[] = readonly Option[]> {
  name: string;
  /** Positional arguments as shown in usage. */
  args: string;
  summary: string;
  description: string;
  /** The options it takes, besides --no-color and --help, which every command takes. */
  options: O;
  /** Positional completion. */
  complete?: 'file' | 'command' | 'shell';
  /** Shown after the options in its help. */
  footer?: string;
  /** Its exit code. Method syntax: a command of any options fits the registry's list. */
  run(ctx: RunContext, args: string[], options: Values<O>): Promise<number> | number;
}

/**
 * Modules name the command (`export const checkCommand = defineCommand(...)`, then `export
 * default checkCommand`): with `export default defineCommand(...)` tsc 5.9 leaves a dynamic
 * import's .ts unrewritten, and the installed package fails to load the command's view
 * (test/pack.test.ts catches it).
 */
export const defineCommand = <const O extends readonly Option[]>(c: Command<O>): Command<O> => c;
