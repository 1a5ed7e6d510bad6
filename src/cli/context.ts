/**
 * One place owns what every command shares, as Terraform's View does: the streams, colour, the
 * secrets never shown, signals, reports and the exit code. Commands and their views write
 * through it; tests give it their own streams.
 */
import type { Host, Inventory } from '../inventory/types.ts';
import { colorFor, painter, type Paint } from '../report/color.ts';
import { redact, visible } from '../report/safe.ts';
import type { ReportHead, RunEnd } from '../report/summary.ts';
import { openReports, type ReportSink, type ReportTarget } from '../report/write.ts';
import { EXIT } from '../run/options.ts';

export interface Io {
  out: NodeJS.WritableStream;
  err: NodeJS.WritableStream;
  env: NodeJS.ProcessEnv;
  /** Where a config file is looked for (tests give their own; the process's otherwise). */
  cwd?: string;
}

/** What a command was asked to do about output, common to all. */
export interface OutputOptions {
  noColor?: boolean;
  reports?: readonly ReportTarget[];
}

const SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM'];

export class RunContext {
  private hidden: string[] = [];
  private losses = 0;
  readonly reports: readonly ReportTarget[];
  /** Human output: stdout, unless a report goes there (stdout stays machine-readable). */
  readonly human: NodeJS.WritableStream;
  readonly paint: Paint;

  constructor(
    readonly io: Io,
    options: OutputOptions = {},
  ) {
    this.reports = options.reports ?? [];
    this.human = this.reports.some((r) => r.file === '-') ? io.err : io.out;
    this.paint = painter(colorFor(this.human, !!options.noColor, io.env));
  }

  static ofProcess(options: OutputOptions = {}): RunContext {
    return new RunContext({ out: process.stdout, err: process.stderr, env: process.env }, options);
  }

  /** The terminal human output goes to (the live view draws there), or undefined. */
  terminal(): NodeJS.WriteStream | undefined {
    const tty = this.human as NodeJS.WriteStream;
    return tty.isTTY ? tty : undefined;
  }

  /**
   * From here on, never shown, reported or written: the inventory's `!secret` values and the
   * passphrases of the identities its hosts use (read from the environment variables they name).
   */
  protect(inventory: Inventory, hosts: readonly Host[] = inventory.hosts): void {
    const passphrases = hosts.flatMap((h) => {
      const v = h.vars.ssh.passphrase_env;
      const p = v ? this.io.env[v] : undefined;
      return p ? [p] : [];
    });
    this.hide([...(inventory.secrets ?? []), ...passphrases]);
  }

  hide(values: readonly string[]): void {
    this.hidden = [...new Set([...this.hidden, ...values])];
  }

  get secrets(): readonly string[] {
    return this.hidden;
  }

  /** Text from a host or an inventory: secrets redacted, control characters made visible (`keep`: allowed ones). */
  safe(text: string, keep?: string): string {
    return visible(redact(text, this.hidden), keep);
  }

  /** A line of human output. */
  say(line: string): void {
    this.human.write(line + '\n');
  }

  /** A line of human output that carries host or inventory text. */
  saySafe(line: string): void {
    this.say(this.safe(line));
  }

  /** Output a program reads (JSON, a list of hosts): always stdout. */
  print(text: string): void {
    this.io.out.write(text);
  }

  warn(message: string): void {
    this.io.err.write(`tprun: ${message}\n`);
  }

  /** A mistake in the command line: one line, where the usage is, and exit 1. */
  /** Bad input with a place (FILE:LINE:COL: message), one per line: exit 1, nothing contacted. */
  invalid(lines: readonly string[]): number {
    // Lines may quote the file (a key, a value): its control characters made visible, as usage's.
    for (const l of lines) this.io.err.write(`${visible(l, '\n')}\n`);
    return EXIT.invalid;
  }

  usage(message: string, command?: string): number {
    // The message may quote what was given (an argument, an environment variable): shown safely.
    this.io.err.write(`tprun: ${visible(message)} (see "tprun help${command ? ` ${command}` : ''}")\n`);
    return EXIT.invalid;
  }

  /**
   * Something the run was asked to write was lost (a report, a plan): said at once, and the exit
   * code gets the failure bit, because a scheduled run must notice. Hosts were contacted: never 1.
   */
  lost(message: string): void {
    this.losses++;
    this.warn(message);
  }

  /** The reports asked for, opened before the run: each host's entry is written as it finishes. */
  openReports(head: Omit<ReportHead, 'secrets'>): Promise<ReportSink> {
    return openReports(this.reports, { ...head, secrets: [...this.hidden] }, this.io.out);
  }

  /** The reports written whole at the run's end; each one lost is said and counted. */
  async finishReports(sink: ReportSink, end: RunEnd): Promise<void> {
    for (const e of await sink.finish(end)) this.lost(e);
  }

  /** The exit code of a run that contacted hosts: its own, with the failure bit for anything lost. */
  exit(code: number): number {
    return this.losses ? code | EXIT.failed : code;
  }

  /** Ctrl-C and SIGTERM go to `handler` until the returned function is called. */
  onSignals(handler: (signal: NodeJS.Signals) => void): () => void {
    for (const s of SIGNALS) process.on(s, handler);
    return () => {
      for (const s of SIGNALS) process.off(s, handler);
    };
  }
}
