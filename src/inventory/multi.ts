/**
 * Inventories for fleets: several files, or a directory of them (*.yml, *.yaml in name order), or
 * standard input (-), merged in order: mappings deep-merge (a later file's key wins, a host
 * defined twice merges), lists are replaced. Keys starting with x- are extension keys for your
 * own use (anchors to merge with <<, notes): they are dropped before validation. Every problem
 * still points at FILE:LINE:COL in the file that set the value.
 */
import { createHash } from 'node:crypto';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Node } from 'yaml';
import type { Diagnostic, Position, Severity } from '../diagnostics.ts';
import { loadInventoryFromSource, type LoadResult } from './load.ts';
import { InventorySource, MAX_INVENTORY_BYTES, type PathSeg } from './source.ts';
import { readBounded } from '../files.ts';

const isMap = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Drop x- extension keys at any depth. */
export function dropExtensionKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(dropExtensionKeys);
  if (!isMap(v)) return v;
  return Object.fromEntries(
    Object.entries(v)
      .filter(([k]) => !k.startsWith('x-'))
      .map(([k, x]) => [k, dropExtensionKeys(x)]),
  );
}

function mergeInto(a: unknown, b: unknown): unknown {
  if (!isMap(a) || !isMap(b)) return b === undefined ? a : b;
  const out: Record<string, unknown> = { ...a };
  // defineProperty: a key named __proto__ stays a key.
  for (const [k, v] of Object.entries(b))
    Object.defineProperty(out, k, { value: Object.hasOwn(out, k) ? mergeInto(out[k], v) : v, enumerable: true, writable: true, configurable: true });
  return out;
}

/** Files named on the command line, a directory's *.yml / *.yaml in name order, or - for stdin. */
export function expandInventoryPaths(paths: readonly string[]): { files: string[]; diagnostics: Diagnostic[] } {
  const files: string[] = [];
  const diagnostics: Diagnostic[] = [];
  for (const p of paths) {
    if (p === '-') {
      files.push(p);
      continue;
    }
    let dir = false;
    try {
      dir = statSync(p).isDirectory();
    } catch {
      files.push(p); // reading it reports the problem
      continue;
    }
    if (!dir) files.push(p);
    else {
      const inside = readdirSync(p)
        .filter((f) => /\.ya?ml$/.test(f) && !f.startsWith('.'))
        .sort()
        .map((f) => join(p, f));
      if (!inside.length) diagnostics.push({ severity: 'error', message: `${p}: a directory with no *.yml or *.yaml inventory file` });
      files.push(...inside);
    }
  }
  return { files, diagnostics };
}

/** The merged inventory, answering positions from the file that set each value (the last one that has it). */
export class MergedSource {
  readonly sha256: string;
  readonly text: string;
  readonly lines: InventorySource['lines'];
  readonly secrets: string[];

  constructor(
    readonly file: string,
    readonly sources: InventorySource[],
  ) {
    this.text = sources.map((s) => s.text).join('\n');
    this.sha256 =
      sources.length === 1
        ? sources[0]!.sha256
        : createHash('sha256')
            .update(sources.map((s) => `${s.file}\0${s.sha256}\n`).join(''))
            .digest('hex');
    this.lines = sources[0]!.lines;
    this.secrets = sources.flatMap((s) => s.secrets);
  }

  /** Each file's data (its own alias limits apply), merged in order, x- keys dropped. */
  data(): { value: unknown } | { diagnostic: Diagnostic } {
    let merged: unknown = {};
    for (const s of this.sources) {
      const d = s.data();
      if ('diagnostic' in d) return d;
      merged = mergeInto(merged, d.value ?? {});
    }
    return { value: dropExtensionKeys(merged) };
  }

  /** The source that set this path: the last file that has it, else the last with its nearest ancestor. */
  private owner(path: readonly PathSeg[]): InventorySource {
    for (let n = path.length; n >= 0; n--) {
      const p = path.slice(0, n);
      for (let i = this.sources.length - 1; i >= 0; i--) if (n === 0 || this.sources[i]!.has(p)) return this.sources[i]!;
    }
    return this.sources[0]!;
  }

  positionOfOffset(offset: number): Position {
    return this.sources[0]!.positionOfOffset(offset);
  }
  node(path: readonly PathSeg[]): Node | undefined {
    return this.owner(path).node(path);
  }
  keyNode(path: readonly PathSeg[]): Node | undefined {
    return this.owner(path).keyNode(path);
  }
  has(path: readonly PathSeg[]): boolean {
    return this.sources.some((s) => s.has(path));
  }
  at(path: readonly PathSeg[], key = false): Position {
    return this.owner(path).at(path, key);
  }
  diag(severity: Severity, path: readonly PathSeg[], message: string, key = false): Diagnostic {
    return { severity, message, at: this.at(path, key) };
  }
  syntaxDiagnostics(): Diagnostic[] {
    return this.sources.flatMap((s) => s.syntaxDiagnostics());
  }
}

/** Several files, directories or stdin (-) → one validated inventory. */
/** Standard input, bounded as an inventory file is (an endless pipe must not exhaust tprun). */
function readStdinBounded(): string {
  const r = readBounded(0, MAX_INVENTORY_BYTES);
  if ('error' in r) throw Object.assign(new Error(r.error), { code: r.error });
  return r.text;
}

export function loadInventories(paths: readonly string[], readStdin: () => string = readStdinBounded): LoadResult {
  const { files, diagnostics } = expandInventoryPaths(paths);
  if (diagnostics.length) return { diagnostics };
  const sources: InventorySource[] = [];
  for (const f of files) {
    if (f === '-') {
      let text: string;
      try {
        text = readStdin();
      } catch (e) {
        return {
          diagnostics: [
            { severity: 'error', message: `-: cannot read the inventory from standard input (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})` },
          ],
        };
      }
      sources.push(InventorySource.fromText('-', text));
      continue;
    }
    const s = InventorySource.read(f);
    if (!(s instanceof InventorySource)) return { diagnostics: [s] };
    sources.push(s);
  }
  const name = paths.length === 1 ? paths[0]! : paths.join(' + ');
  const merged = new MergedSource(name, sources);
  const r = loadInventoryFromSource(merged as unknown as InventorySource);
  if (r.inventory) r.inventory.files = [...paths];
  return { ...r, sha256: merged.sha256 };
}
