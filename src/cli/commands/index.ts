/**
 * The commands, in the order help lists them. Adding a command is a module beside this one and
 * a line here; help, completions and the man page follow.
 */
import { EXIT, EXIT_TEXT } from '../../run/options.ts';
import { VERSION } from '../../version.ts';
import { defineCommand, type Command } from '../command.ts';
import { bashCompletion, zshCompletion } from '../docs.ts';
import { version } from '../options.ts';
import { commandHelp, commandIn, describe, generalHelp, type CliSpec } from '../spec.ts';
import apply from './apply.ts';
import check from './check.ts';
import doctor from './doctor.ts';
import facts from './facts.ts';
import init from './init.ts';
import render from './render.ts';
import show from './show.ts';
import validate from './validate.ts';

// completion and help describe the command line itself, so they live with the list.
const completion = defineCommand({
  name: 'completion',
  args: 'bash|zsh',
  summary: 'print a shell completion script',
  description:
    'Prints the completion script for bash or zsh, generated from the same description as this help. bash: tprun completion bash > /etc/bash_completion.d/tprun; zsh: tprun completion zsh > "${fpath[1]}/_tprun".',
  options: [],
  complete: 'shell',
  run(ctx, args) {
    const shell = args.length === 1 ? args[0] : undefined;
    if (shell !== 'bash' && shell !== 'zsh') return ctx.usage('completion takes bash or zsh', 'completion');
    ctx.print(shell === 'bash' ? bashCompletion(CLI) : zshCompletion(CLI));
    return EXIT.ok;
  },
});

const help = defineCommand({
  name: 'help',
  args: '[COMMAND]',
  summary: "this text, or a command's",
  description: 'Prints the usage of tprun, or of one command.',
  options: [],
  complete: 'command',
  run(ctx, args) {
    if (args.length > 1) return ctx.usage(`help takes one command, not "${args.slice(1).join(' ')}"`);
    const topic = args[0];
    const spec = topic === undefined ? undefined : commandIn(CLI, topic);
    if (topic !== undefined && (!spec || spec.name === 'help')) return ctx.usage(`no help for "${topic}": not a command`);
    ctx.print(helpText(spec?.name) + '\n');
    return EXIT.ok;
  },
});

export const COMMANDS: readonly Command[] = [validate, render, check, apply, doctor, facts, init, show, completion, help];

export const CLI: CliSpec = describe(COMMANDS, version);

/** tprun's help, or a command's. */
export function helpText(command?: string): string {
  const spec = command === undefined ? undefined : commandIn(CLI, command);
  return spec ? commandHelp(spec, CLI) : generalHelp(VERSION, CLI, EXIT_TEXT);
}
