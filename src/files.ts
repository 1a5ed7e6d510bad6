/**
 * Reading a file the operator names (a plan, an SSH config, known_hosts, an inventory): a regular
 * file of bounded size, never blocking on a FIFO or reading a device without end. Standard input
 * (fd 0) is read up to the same bound.
 */
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';

const PAUSE = new Int32Array(new SharedArrayBuffer(4));

export type Read = { text: string } | { error: string };

/** The file's text, or why it cannot be read (ENOENT, a FIFO, too large …), as a clause. */
export function readBounded(file: string | 0, maxBytes: number): Read {
  let fd: number;
  try {
    fd = file === 0 ? 0 : openSync(file, constants.O_RDONLY | constants.O_NONBLOCK | (constants.O_NOCTTY ?? 0));
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    return { error: err.code ?? err.message };
  }
  try {
    if (file !== 0) {
      const st = fstatSync(fd);
      if (st.isDirectory()) return { error: 'a directory, not a file' };
      if (!st.isFile()) return { error: 'not a regular file: a FIFO, socket or device' };
      if (st.size > maxBytes) return { error: `${st.size} bytes: larger than the ${maxBytes / 1024 / 1024} MiB limit` };
    }
    // Read at most maxBytes + 1: a file that grows while it is read (or stdin) is still bounded.
    const chunks: Buffer[] = [];
    let total = 0;
    const buf = Buffer.alloc(64 * 1024);
    for (;;) {
      let n: number;
      try {
        n = readSync(fd, buf, 0, buf.length, null);
      } catch (e) {
        // A non-blocking stdin with nothing yet: wait a moment instead of spinning a core.
        if ((e as NodeJS.ErrnoException).code === 'EAGAIN') {
          Atomics.wait(PAUSE, 0, 0, 10);
          continue;
        }
        throw e;
      }
      if (n <= 0) break;
      chunks.push(Buffer.from(buf.subarray(0, n)));
      total += n;
      if (total > maxBytes) return { error: `larger than the ${maxBytes / 1024 / 1024} MiB limit` };
    }
    return { text: Buffer.concat(chunks).toString('utf8') };
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    return { error: err.code ?? err.message };
  } finally {
    if (file !== 0) closeSync(fd);
  }
}
