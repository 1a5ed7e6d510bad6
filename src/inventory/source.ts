/** The inventory's YAML document with positions, so every problem points at FILE:LINE:COL. */
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { isMap, isPair, isScalar, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import type { Diagnostic, Position, Severity } from '../diagnostics.ts';

export type PathSeg = string | number;

export class InventorySource {
  readonly lines = new LineCounter();
  readonly doc: Document;
  readonly sha256: string;

  private constructor(readonly file: string, readonly text: string) {
    // merge: YAML merge keys (<<: *anchor), so shared blocks are written once.
    this.doc = parseDocument(text, { lineCounter: this.lines, uniqueKeys: true, prettyErrors: false, merge: true });
    this.sha256 = createHash('sha256').update(text).digest('hex');
  }

  static read(file: string): InventorySource | Diagnostic {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      return { severity: 'error', message: `${file}: cannot read the inventory (${err.code ?? err.message})` };
    }
    return new InventorySource(file, text);
  }

  static fromText(file: string, text: string): InventorySource {
    return new InventorySource(file, text);
  }

  positionOfOffset(offset: number): Position {
    const { line, col } = this.lines.linePos(offset);
    return { file: this.file, line, col };
  }

  /** The value node at a path, or the nearest existing ancestor. */
  node(path: readonly PathSeg[]): Node | undefined {
    for (let n = path.length; n >= 0; n--) {
      const node = this.doc.getIn(path.slice(0, n), true) as Node | undefined;
      if (node && typeof node === 'object' && 'range' in node) return node;
      if (n === 0) return this.doc.contents ?? undefined;
    }
    return undefined;
  }

  /** The key node of the last path segment inside its parent map (for unknown keys). */
  keyNode(path: readonly PathSeg[]): Node | undefined {
    const parent = this.doc.getIn(path.slice(0, -1), true);
    const last = path[path.length - 1];
    if (!isMap(parent)) return undefined;
    for (const item of parent.items) {
      if (isPair(item) && isScalar(item.key) && String(item.key.value) === String(last)) return item.key;
    }
    return undefined;
  }

  has(path: readonly PathSeg[]): boolean {
    return this.doc.hasIn(path);
  }

  at(path: readonly PathSeg[], key = false): Position {
    const node = (key ? this.keyNode(path) : undefined) ?? this.node(path);
    const offset = node?.range?.[0] ?? 0;
    return this.positionOfOffset(offset);
  }

  diag(severity: Severity, path: readonly PathSeg[], message: string, key = false): Diagnostic {
    return { severity, message, at: this.at(path, key) };
  }

  /** YAML syntax errors and duplicate keys, each with its position. */
  syntaxDiagnostics(): Diagnostic[] {
    const out: Diagnostic[] = [];
    for (const e of this.doc.errors) {
      const pos = this.positionOfOffset(e.pos[0]);
      const msg =
        e.code === 'DUPLICATE_KEY'
          ? `duplicate key "${/^\s*["']?([^"':\n]+)/.exec(this.text.slice(e.pos[0]))?.[1]?.trim() ?? ''}": a key may appear once in a mapping`
          : e.message.split('\n')[0];
      out.push({ severity: 'error', message: msg, at: pos });
    }
    for (const w of this.doc.warnings) {
      out.push({ severity: 'warning', message: w.message.split('\n')[0], at: this.positionOfOffset(w.pos[0]) });
    }
    return out;
  }
}
