/**
 * A report written as hosts finish, without its size in the heap: each host's entry goes to a
 * spool file (opened, then unlinked at once, so nothing is left behind whatever happens) as soon as
 * the host is done, in whatever order hosts finish; at the end the head, the entries in inventory
 * order and the tail go to a new file beside the target, renamed over it (writeByRename's rule: a
 * reader never sees half a report, and a killed run leaves the previous report whole). What the heap
 * keeps per host is an offset and a length.
 */
import { closeSync, openSync, readSync, renameSync, rmSync, unlinkSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

function writeAll(fd: number, data: Buffer): void {
  for (let at = 0; at < data.length;) at += writeSync(fd, data, at, data.length - at);
}

export class OrderedFile {
  private spool: number | undefined;
  private end = 0;
  private readonly offsets: Float64Array;
  private readonly lengths: Float64Array;
  /** The first error (the spool could not be opened or written): finish() throws it. */
  private failure: Error | undefined;

  /**
   * @param file the target, or - for standard output (then the spool lives in the temporary directory)
   * @param count how many entries there will be (index 0 … count-1)
   */
  constructor(
    readonly file: string,
    count: number,
    private readonly mode = 0o644,
    /** Where `-` goes (tests and the command layer give their own stream). */
    private readonly stdout: NodeJS.WritableStream = process.stdout,
  ) {
    this.offsets = new Float64Array(count).fill(-1);
    this.lengths = new Float64Array(count);
    const spool = file === '-' ? join(tmpdir(), `tprun-report-${process.pid}-${Math.random().toString(36).slice(2)}`) : `${file}.tprun-${process.pid}.spool`;
    let fd: number | undefined;
    try {
      fd = openSync(spool, 'wx+', 0o600);
      unlinkSync(spool);
      this.spool = fd;
    } catch (e) {
      if (fd !== undefined) {
        closeSync(fd);
        rmSync(spool, { force: true });
      }
      this.fail(e as Error);
    }
  }

  private fail(e: Error): void {
    this.failure ??= e;
    if (this.spool !== undefined) closeSync(this.spool);
    this.spool = undefined;
  }

  /** Entry `index`, as it will appear in the file. A second put for the same index replaces the first. */
  put(index: number, text: string): void {
    if (this.spool === undefined) return;
    const data = Buffer.from(text, 'utf8');
    try {
      writeAll(this.spool, data);
    } catch (e) {
      this.fail(e as Error);
      return;
    }
    this.offsets[index] = this.end;
    this.lengths[index] = data.length;
    this.end += data.length;
  }

  has(index: number): boolean {
    return this.offsets[index]! >= 0;
  }

  /** Writes head, the entries in index order joined by `separator`, then tail; renames into place. Throws what failed. */
  finish(head: string, separator: string, tail: string): void {
    try {
      if (this.failure) throw this.failure;
      const spool = this.spool!;
      const emit = (out: (b: Buffer) => void) => {
        out(Buffer.from(head, 'utf8'));
        const sep = Buffer.from(separator, 'utf8');
        for (let i = 0, first = true; i < this.offsets.length; i++) {
          if (this.offsets[i]! < 0) continue;
          if (!first) out(sep);
          first = false;
          const buf = Buffer.allocUnsafe(this.lengths[i]!);
          for (let got = 0; got < buf.length;) {
            const n = readSync(spool, buf, got, buf.length - got, this.offsets[i]! + got);
            if (n === 0) throw new Error('the report spool ended early');
            got += n;
          }
          out(buf);
        }
        out(Buffer.from(tail, 'utf8'));
      };
      if (this.file === '-') {
        emit((b) => this.stdout.write(b));
        return;
      }
      const tmp = `${this.file}.tprun-${process.pid}`;
      try {
        const fd = openSync(tmp, 'wx', this.mode);
        try {
          emit((b) => writeAll(fd, b));
        } finally {
          closeSync(fd);
        }
        renameSync(tmp, this.file);
      } finally {
        rmSync(tmp, { force: true });
      }
    } finally {
      if (this.spool !== undefined) closeSync(this.spool);
      this.spool = undefined;
    }
  }

  /** Gives up: the spool goes, the target is never touched. */
  discard(): void {
    if (this.spool !== undefined) closeSync(this.spool);
    this.spool = undefined;
  }
}

/** `JSON.stringify(value, null, 2)` of an array element at nesting depth `depth` (2 spaces a level), as it appears inside its parent. */
export const jsonEntry = (value: unknown, depth: number): string => {
  const pad = ' '.repeat(2 * depth);
  return pad + JSON.stringify(value, null, 2).replace(/\n/g, '\n' + pad);
};

/**
 * A top-level object whose last key is an array filled entry by entry: head, separator and tail
 * such that head + entries.join(separator) + tail is `JSON.stringify(obj, null, 2) + '\n'` with
 * `obj[key]` the entries (JSON strings hold no raw newline, so indenting after each \n is exact).
 */
export function jsonFrame(rest: object, key: string, empty: boolean): { head: string; separator: string; tail: string } {
  const text = JSON.stringify({ ...rest, [key]: [] }, null, 2);
  if (empty) return { head: text + '\n', separator: '', tail: '' };
  const open = `${JSON.stringify(key)}: []\n}`;
  if (!text.endsWith(open)) throw new Error(`jsonFrame: ${key} is not the last key`);
  return { head: text.slice(0, -open.length) + `${JSON.stringify(key)}: [\n`, separator: ',\n', tail: '\n  ]\n}\n' };
}
