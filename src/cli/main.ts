/** tprun's command line: parse, then one command module runs over a RunContext (src/cli/commands/). */
import { EXIT } from '../run/options.ts';
import { VERSION } from '../version.ts';
import { commonFlags, parseCommandLine, readOptions, UsageError } from './args.ts';
import { COMMANDS, helpText } from './commands/index.ts';
import { ConfigError, readConfig } from './config.ts';
import { RunContext, type Io } from './context.ts';
import type { ReportTarget } from '../report/write.ts';

/** Every option of every command, with its parser: a config file's values are checked by them. */
const CLI_OPTIONS = [...new Map(COMMANDS.flatMap((c) => c.options).map((o) => [o.name, o])).values()];
const PROCESS_IO: Io = { out: process.stdout, err: process.stderr, env: process.env };

/** Tests pass their own streams and environment. */
export async function main(argv: string[], io: Io = PROCESS_IO): Promise<number> {
  const bare = new RunContext(io);
  try {
    const { command, positionals, raw } = parseCommandLine(argv);
    const flags = commonFlags(raw);
    // listr2's colours (colorette) read NO_COLOR when first loaded, after this.
    if (flags.noColor && io === PROCESS_IO) process.env.NO_COLOR = '1';
    if (flags.version) {
      bare.print(`tprun ${VERSION}\n`);
      return EXIT.ok;
    }
    if (!command) {
      if (flags.help) {
        bare.print(helpText() + '\n');
        return EXIT.ok;
      }
      io.err.write(helpText() + '\n');
      return EXIT.invalid;
    }
    if (flags.help) {
      bare.print(helpText(command.name === 'help' ? undefined : command.name) + '\n');
      return EXIT.ok;
    }
    const options = readOptions(command, raw, io.env, readConfig(CLI_OPTIONS, io.env, io.cwd ?? process.cwd()));
    const reports = (options as { report?: ReportTarget[] }).report;
    const ctx = new RunContext(io, { noColor: flags.noColor, reports });
    return await command.run(ctx, positionals, options);
  } catch (e) {
    if (e instanceof UsageError) return bare.usage(e.message, e.command);
    if (e instanceof ConfigError) return bare.invalid(e.lines);
    throw e;
  }
}
