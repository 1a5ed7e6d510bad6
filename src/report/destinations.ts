/**
 * Where reports and plans go, checked before any host is contacted: a run must not touch a whole
 * fleet and then fail to say what it did. Each problem is one sentence.
 */
import { accessSync, constants, lstatSync, realpathSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

export interface Destination {
  /** What is written there, for the sentence: "the json report", "the plan". */
  what: string;
  /** A path, or - for standard output. */
  file: string;
}

/** The path a destination names, with its directory's links resolved (the file itself may be new). */
function canonical(file: string): string {
  const abs = resolve(file);
  try {
    return resolve(realpathSync(dirname(abs)), abs.slice(dirname(abs).length + 1));
  } catch {
    return abs;
  }
}

/** Problems with the destinations, given the files the run reads (they must never be overwritten). */
export function destinationProblems(destinations: readonly Destination[], inputs: readonly string[]): string[] {
  const problems: string[] = [];
  const stdout = destinations.filter((d) => d.file === '-');
  if (stdout.length > 1) problems.push(`${stdout.map((d) => d.what).join(' and ')} would both go to standard output (-): give each its own file`);
  const read = new Map<string, string>();
  for (const f of inputs) {
    if (f === '-') continue;
    try {
      read.set(realpathSync(f), f);
    } catch {
      read.set(resolve(f), f);
    }
  }
  const seen = new Map<string, Destination>();
  for (const d of destinations) {
    if (d.file === '-') continue;
    const path = canonical(d.file);
    const twice = seen.get(path);
    if (twice) problems.push(`${twice.what} and ${d.what} are both ${d.file}: give each its own file`);
    seen.set(path, d);
    let target = path;
    try {
      if (lstatSync(path).isSymbolicLink()) target = realpathSync(path);
    } catch {
      /* a dangling link or no file: nothing is read from it */
    }
    const input = read.get(path) ?? read.get(target);
    if (input) {
      problems.push(`${d.what} ${d.file} is ${input}, which this run reads: give it another file`);
      continue;
    }
    const dir = dirname(path);
    let dirStat;
    try {
      dirStat = statSync(dir);
    } catch (e) {
      problems.push(`${d.what} ${d.file}: its directory ${dir} does not exist (${(e as NodeJS.ErrnoException).code ?? 'unreadable'}); create it first`);
      continue;
    }
    if (!dirStat.isDirectory()) {
      problems.push(`${d.what} ${d.file}: ${dir} is not a directory`);
      continue;
    }
    try {
      accessSync(dir, constants.W_OK);
    } catch {
      problems.push(`${d.what} ${d.file}: the directory ${dir} is not writable`);
      continue;
    }
    try {
      const st = lstatSync(path);
      if (!st.isFile() && !st.isSymbolicLink())
        problems.push(`${d.what} ${d.file} exists and is not a regular file (a directory, FIFO or device): give a file`);
    } catch {
      /* a new file */
    }
  }
  return problems;
}
