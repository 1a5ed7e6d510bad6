/** The inventory's YAML document with positions, so every problem points at FILE:LINE:COL. */
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { createHash } from 'node:crypto';
import {
  isAlias,
  isCollection,
  isMap,
  isPair,
  isScalar,
  isSeq,
  LineCounter,
  parseDocument,
  visit,
  type Document,
  type Node,
  type Pair,
  type YAMLMap,
  type YAMLSeq,
} from 'yaml';
import type { Diagnostic, Position, Severity } from '../diagnostics.ts';
import { visible } from '../report/safe.ts';

export type PathSeg = string | number;

/** An inventory larger than this is refused before it is parsed (100,000 hosts fit in ~7 MB). */
export const MAX_INVENTORY_BYTES = 32 * 1024 * 1024;
/** How many nodes aliases may add to the document in all (the "billion laughs" guard). */
export const MAX_ALIAS_NODES = 1_000_000;

/** A key or value quoted in a message: bounded, one line. */
export function shown(value: string, max = 60): string {
  return visible(value.length > max ? value.slice(0, max) + '…' : value);
}

export class InventorySource {
  readonly lines = new LineCounter();
  readonly doc: Document;
  readonly sha256: string;
  /** Each map's keys → pairs, built on first lookup: a path costs O(depth), not O(keys). */
  private readonly index = new WeakMap<YAMLMap, Map<string, Pair>>();
  private readonly structure: Diagnostic[];
  /** Values tagged `!secret`, redacted wherever tprun shows or reports text. */
  readonly secrets: string[] = [];

  private constructor(
    readonly file: string,
    readonly text: string,
  ) {
    // uniqueKeys compares every key with every earlier one (quadratic): duplicates are found
    // below with a set instead. logLevel 'error': yaml must not print warnings itself.
    // merge: YAML merge keys (<<: *anchor), so shared blocks are written once.
    // `!secret "text"`: a string like any other, which reports and -v show as [redacted].
    const secret = { tag: '!secret', default: false, resolve: (value: string) => (this.secrets.push(value), value) };
    // `!secret [a, b]` (or a block list): every string in it is a secret; once a YAML warning, the
    // list stayed in clear.
    const secretList = {
      tag: '!secret',
      collection: 'seq' as const,
      default: false,
      resolve: (seq: YAMLSeq) => {
        for (const item of seq.items) if (isScalar(item) && typeof item.value === 'string') this.secrets.push(item.value);
        return seq;
      },
    };
    this.doc = parseDocument(text, {
      lineCounter: this.lines,
      uniqueKeys: false,
      prettyErrors: false,
      logLevel: 'error',
      customTags: [secret, secretList],
      merge: true,
    });
    this.sha256 = createHash('sha256').update(text).digest('hex');
    this.structure = this.doc.errors.length ? [] : this.structureDiagnostics();
  }

  /** Reads a regular file of at most MAX_INVENTORY_BYTES, never blocking on a FIFO or device. */
  /**
   * `name`: how messages call the file (the path as the operator gave it), when `file` is resolved;
   * `what`: what the file is to the operator (the config file reads the same YAML).
   */
  static read(file: string, maxBytes = MAX_INVENTORY_BYTES, name = file, what = 'inventory'): InventorySource | Diagnostic {
    const fail = (why: string): Diagnostic => ({ severity: 'error', message: `${name}: cannot read the ${what} (${why})` });
    let fd: number;
    try {
      fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK | (constants.O_NOCTTY ?? 0));
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      return fail(err.code ?? err.message);
    }
    try {
      const st = fstatSync(fd);
      if (st.isDirectory()) return fail('a directory, not a file');
      if (!st.isFile()) return fail(`not a regular file: a FIFO, socket or device is not ${/^[aeiou]/.test(what) ? 'an' : 'a'} ${what}`);
      if (st.size > maxBytes) return fail(`${st.size} bytes: larger than the ${maxBytes / 1024 / 1024} MiB limit`);
      // Read at most maxBytes + 1: a file that grows while it is read is still refused.
      const buf = Buffer.alloc(Math.min(st.size, maxBytes) + 1);
      let n = 0;
      for (let r; n < buf.length && (r = readSync(fd, buf, n, buf.length - n, null)) > 0;) n += r;
      if (n > maxBytes) return fail(`larger than the ${maxBytes / 1024 / 1024} MiB limit`);
      return new InventorySource(name, buf.subarray(0, n).toString('utf8'));
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      return fail(err.code ?? err.message);
    } finally {
      closeSync(fd);
    }
  }

  static fromText(file: string, text: string): InventorySource {
    return new InventorySource(file, text);
  }

  positionOfOffset(offset: number): Position {
    const { line, col } = this.lines.linePos(offset);
    return { file: this.file, line, col };
  }

  private pairs(map: YAMLMap): Map<string, Pair> {
    let m = this.index.get(map);
    if (!m) {
      m = new Map();
      for (const item of map.items) {
        if (!isPair(item)) continue;
        const k = isScalar(item.key) ? String(item.key.value) : String(item.key);
        if (!m.has(k)) m.set(k, item);
      }
      this.index.set(map, m);
    }
    return m;
  }

  /** The nodes along a path as far as it exists: [pair of the last found key, node]. */
  private walk(path: readonly PathSeg[]): { node: Node | undefined; pair?: Pair; depth: number } {
    let node = this.doc.contents ?? undefined;
    let pair: Pair | undefined;
    let depth = 0;
    for (const seg of path) {
      let next: Node | undefined;
      pair = undefined;
      if (isMap(node)) {
        pair = this.pairs(node).get(String(seg));
        next = (pair?.value ?? undefined) as Node | undefined;
      } else if (isCollection(node) && typeof seg === 'number') {
        next = node.items[seg] as Node | undefined;
      }
      if (!next || !isNodeWithRange(next)) {
        if (pair && depth === path.length - 1) return { node, pair, depth };
        return { node, depth };
      }
      node = next;
      depth++;
    }
    return { node, pair, depth };
  }

  /** The value node at a path, or the nearest existing ancestor. */
  node(path: readonly PathSeg[]): Node | undefined {
    return this.walk(path).node;
  }

  /** The key node of the last path segment inside its parent map (for unknown keys). */
  keyNode(path: readonly PathSeg[]): Node | undefined {
    if (!path.length) return undefined;
    const parent = this.walk(path.slice(0, -1));
    if (parent.depth !== path.length - 1 || !isMap(parent.node)) return undefined;
    const key = this.pairs(parent.node).get(String(path[path.length - 1]))?.key;
    return isNodeWithRange(key) ? key : undefined;
  }

  has(path: readonly PathSeg[]): boolean {
    if (!path.length) return this.doc.contents != null;
    const parent = this.walk(path.slice(0, -1));
    if (parent.depth !== path.length - 1) return false;
    const last = path[path.length - 1]!;
    if (isMap(parent.node)) return this.pairs(parent.node).has(String(last));
    return isCollection(parent.node) && typeof last === 'number' && last < parent.node.items.length;
  }

  at(path: readonly PathSeg[], key = false): Position {
    const node = (key ? this.keyNode(path) : undefined) ?? this.node(path);
    const offset = node?.range?.[0] ?? 0;
    return this.positionOfOffset(offset);
  }

  diag(severity: Severity, path: readonly PathSeg[], message: string, key = false): Diagnostic {
    return { severity, message, at: this.at(path, key) };
  }

  /**
   * What the YAML parser does not check itself, each at its position: duplicate keys (with a
   * set per map: linear), keys that are not plain scalars, aliases used before their anchor.
   */
  private structureDiagnostics(): Diagnostic[] {
    const out: Diagnostic[] = [];
    const anchors = new Set<string>();
    const at = (node: Node | null | undefined) => this.positionOfOffset(node?.range?.[0] ?? 0);
    visit(this.doc, {
      Node: (_k, node) => {
        if (isAlias(node)) {
          if (!anchors.has(node.source))
            out.push({
              severity: 'error',
              message: `alias *${shown(node.source)} is used before its anchor &${shown(node.source)} (or has none): an anchor must come first`,
              at: at(node),
            });
          return;
        }
        if (node.anchor) anchors.add(node.anchor);
        if (!isMap(node)) return;
        const seen = new Set<string>();
        for (const item of node.items) {
          if (!isScalar(item.key)) {
            out.push({ severity: 'error', message: 'a key must be a plain name, not a list, mapping or alias', at: at((item.key ?? item.value) as Node) });
            continue;
          }
          const k = String(item.key.value);
          if (seen.has(k)) out.push({ severity: 'error', message: `duplicate key "${shown(k)}": a key may appear once in a mapping`, at: at(item.key) });
          seen.add(k);
        }
      },
    });
    return out;
  }

  /**
   * YAML syntax errors, duplicate keys and alias problems, each with its position, the line quoted
   * and a caret under the column. The YAML library's raw reports are reshaped where they mislead:
   * a bad indentation points at the key, not at column 1, and says the columns; every tab that
   * indents is one error, and the indentation errors that follow from the tabs are left out.
   */
  syntaxDiagnostics(): Diagnostic[] {
    const out: Diagnostic[] = [];
    const tabs = this.doc.errors.filter((e) => e.code === 'TAB_AS_INDENT');
    const firstTab = tabs.length ? this.lines.linePos(tabs[0]!.pos[0]).line : Infinity;
    const cascade = new Set(['BAD_INDENT', 'BLOCK_AS_IMPLICIT_KEY', 'MULTILINE_IMPLICIT_KEY', 'MISSING_CHAR', 'UNEXPECTED_TOKEN']);
    for (const e of this.doc.errors) {
      let offset = e.pos[0];
      let message = e.message.split('\n')[0]!;
      if (e.code === 'MULTIPLE_DOCS') message = 'an inventory is one YAML document: this "---" starts a second one';
      else if (e.code === 'TAB_AS_INDENT') {
        if (e !== tabs[0]) continue;
        const more = tabs.slice(1).map((t) => this.lines.linePos(t.pos[0]).line);
        message = `a tab indents this line${more.length ? ` (and line${more.length > 1 ? 's' : ''} ${more.join(', ')})` : ''}: YAML indents with spaces only`;
      } else if (cascade.has(e.code) && this.lines.linePos(offset).line > firstTab) continue;
      // "Nested mappings are not allowed in compact mappings" is the same mistake, said worse.
      else if (e.code === 'BLOCK_AS_IMPLICIT_KEY' && this.doc.errors.some((x) => x.code === 'MULTILINE_IMPLICIT_KEY' && x.pos[0] === e.pos[0])) continue;
      else if (e.code === 'BAD_INDENT' && /^Flow (map|sequence) in block collection/.test(message)) ({ offset, message } = this.unclosedFlow(offset, message));
      else if (e.code === 'BAD_INDENT' && /same column/.test(message)) ({ offset, message } = this.badIndent(offset, message));
      else if (e.code === 'BLOCK_AS_IMPLICIT_KEY' || e.code === 'MULTILINE_IMPLICIT_KEY') ({ offset, message } = this.overIndent(e.pos, message));
      const at = this.positionOfOffset(offset);
      // One mistake, one error: the library often reports a second at the same place.
      if (out.some((d) => d.at?.line === at.line && d.at.col === at.col)) continue;
      out.push({ severity: 'error', message, at, detail: this.quote(at) });
    }
    out.push(...this.structure);
    for (const w of this.doc.warnings) {
      out.push({ severity: 'warning', message: w.message.split('\n')[0]!, at: this.positionOfOffset(w.pos[0]) });
    }
    return out;
  }

  /** The line at a position, numbered, and a caret under its column. */
  quote(at: Position): string {
    const line = this.text.split('\n', at.line)[at.line - 1] ?? '';
    const shown = line.replace(/\t/g, ' ').replace(/\r$/, '');
    const gutter = String(at.line);
    return `${gutter} | ${shown}\n${' '.repeat(gutter.length)} | ${' '.repeat(Math.max(0, at.col - 1))}^`;
  }

  /** An unclosed { or [: point at it, not at the line where YAML gave up. */
  private unclosedFlow(offset: number, fallback: string): { offset: number; message: string } {
    const open: number[] = [];
    let quote = '';
    for (let i = 0; i < offset; i++) {
      const c = this.text[i]!;
      const after = i === 0 || /[\s{[,]/.test(this.text[i - 1]!);
      if (quote === '#') {
        if (c === '\n') quote = '';
      } else if (quote) {
        if (c === quote) quote = '';
      } else if ((c === '"' || c === "'") && after) quote = c;
      else if (c === '#' && after) quote = '#';
      else if (c === '{' || c === '[') open.push(i);
      else if (c === '}' || c === ']') open.pop();
    }
    const at = open.pop();
    if (at === undefined) return { offset, message: fallback };
    const kind = this.text[at] === '{' ? ['mapping', '}'] : ['list', ']'];
    return {
      offset: at,
      message: `this ${this.text[at]} is never closed: a flow ${kind[0]} ends with ${kind[1]} on its last line or on a line indented deeper than its key`,
    };
  }

  /**
   * A line indented deeper than the key above it continues that key's value ("address: 10.0.0.1
   * tproxy"), which YAML then refuses as a multi-line key: say which line and why.
   */
  private overIndent([start, end]: [number, number], fallback: string): { offset: number; message: string } {
    const first = this.lines.linePos(start).line;
    const last = this.lines.linePos(Math.max(start, end - 1)).line;
    if (last === first) return { offset: start, message: fallback };
    const lines = this.text.split('\n', last);
    const indent = (l: string) => l.length - l.trimStart().length;
    const here = lines[last - 1]!;
    return {
      offset: this.lines.lineStarts[last - 1]! + indent(here),
      message: `this line starts at column ${indent(here) + 1}, deeper than the key on line ${first} (column ${indent(lines[first - 1]!) + 1}), so YAML reads it as part of that key's value: indent it as its sibling keys are`,
    };
  }

  /** "key starts at column 4; line 5 above it at column 5" instead of "must start at the same column". */
  private badIndent(offset: number, fallback: string): { offset: number; message: string } {
    const { line } = this.lines.linePos(offset);
    const lines = this.text.split('\n', line);
    const indent = (l: string) => l.length - l.trimStart().length;
    const here = lines[line - 1] ?? '';
    const key = this.lines.lineStarts[line - 1]! + indent(here);
    let above = line - 1;
    while (above > 0 && !(lines[above - 1] ?? '').trim()) above--;
    const prev = lines[above - 1];
    if (prev === undefined || !here.trim()) return { offset, message: fallback };
    return {
      offset: key,
      message: `this line starts at column ${indent(here) + 1}, line ${above} above it at column ${indent(prev) + 1}: the keys of one mapping start at the same column`,
    };
  }

  /**
   * The document as plain data, or a diagnostic when its aliases expand too far. Converted here
   * rather than by yaml's toJS, which looks for each alias's anchor through the whole document
   * (quadratic with an alias per host) and counts uses, not size: an alias is the value of its
   * anchor (shared, never copied), and what aliases add may not exceed MAX_ALIAS_NODES nodes.
   */
  data(): { value: unknown } | { diagnostic: Diagnostic } {
    const anchors = new Map<string, { value: unknown; size: number }>();
    let added = 0;
    class TooMuch extends Error {
      constructor(
        readonly node: Node,
        why: string,
      ) {
        super(why);
      }
    }
    const convert = (node: unknown): { value: unknown; size: number } => {
      let out: { value: unknown; size: number };
      if (isAlias(node)) {
        const target = anchors.get(node.source);
        if (!target)
          throw new TooMuch(node, `alias *${shown(node.source)} refers to a node that is not complete where it is used (an anchor on an enclosing node)`);
        added += target.size;
        if (added > MAX_ALIAS_NODES)
          throw new TooMuch(node, `aliases expand to more than ${MAX_ALIAS_NODES} nodes: write the values out or use fewer nested aliases`);
        return target;
      }
      if (isMap(node)) {
        const obj: Record<string, unknown> = {};
        let size = 1;
        const merged: unknown[] = [];
        for (const pair of node.items) {
          // With merge: true, yaml gives a merge key (<<) a symbol for its value.
          const isMerge = isScalar(pair.key) && typeof pair.key.value === 'symbol' && pair.key.value.description === '<<';
          const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
          const v = convert(pair.value);
          size += 1 + v.size;
          // YAML merge keys (<<: *anchor or a list of them): their keys, where the map has none of its own.
          if (isMerge) {
            merged.push(...(Array.isArray(v.value) ? v.value : [v.value]));
            continue;
          }
          // defineProperty: a key named __proto__ stays a key.
          Object.defineProperty(obj, key, { value: v.value, enumerable: true, writable: true, configurable: true });
        }
        for (const m of merged) {
          if (!m || typeof m !== 'object' || Array.isArray(m)) continue;
          for (const [k, x] of Object.entries(m))
            if (!Object.hasOwn(obj, k)) Object.defineProperty(obj, k, { value: x, enumerable: true, writable: true, configurable: true });
        }
        out = { value: obj, size };
      } else if (isSeq(node)) {
        const arr: unknown[] = [];
        let size = 1;
        for (const item of node.items) {
          const v = convert(item);
          size += v.size;
          arr.push(v.value);
        }
        out = { value: arr, size };
      } else if (isScalar(node)) {
        out = { value: node.value, size: 1 };
      } else {
        out = { value: null, size: 1 };
      }
      const anchor = (node as Node | null)?.anchor;
      if (anchor) anchors.set(anchor, out);
      return out;
    };
    try {
      return { value: convert(this.doc.contents).value };
    } catch (e) {
      if (!(e instanceof TooMuch)) throw e;
      return { diagnostic: { severity: 'error', message: e.message, at: this.positionOfOffset(e.node.range?.[0] ?? 0) } };
    }
  }
}

function isNodeWithRange(n: unknown): n is Node {
  return typeof n === 'object' && n !== null && 'range' in n && !!(n as Node).range;
}
