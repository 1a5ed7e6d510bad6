/**
 * A fact is a read-only command plus a parser with a result type (pyinfra's model). A role
 * declares the facts it reads as a tree of named facts; its planner receives the tree parsed,
 * so reading a fact it did not declare does not compile. Every fact of a host is gathered by
 * one remote script; facts with the same id (shared ones) run once.
 */
import { FACT, PRELUDE } from '../protocol.ts';
import { quote, type Shell } from '../shell.ts';

export interface RawFact {
  stdout: string;
  code: number;
}

export type RawFacts = Record<string, RawFact>;

export class Fact<T> {
  /**
   * What parses it, whatever its id's variable part (path, table, family): facts of one kind
   * share their parser and their recorded cases (test/facts/<kind>/). The id when it has none.
   */
  readonly kind: string;
  constructor(
    /** Stable id: the key in recorded fixtures and in the facts script's framing. */
    readonly id: string,
    /** POSIX sh, read-only; stderr is discarded unless the command redirects it. */
    readonly command: Shell,
    readonly parse: (raw: RawFact) => T,
    opts: { kind?: string } = {},
  ) {
    this.kind = opts.kind ?? id;
  }
}

export type FactTree = Fact<unknown> | { readonly [name: string]: FactTree };

export type Parsed<F> = F extends Fact<infer T> ? T : { readonly [K in keyof F]: Parsed<F[K]> };

/** A fact the host's answer lacks: the script was cut short or the output was tampered with. */
export class MissingFact extends Error {
  constructor(readonly id: string) {
    super(`the host's answer lacks fact ${id} (the facts script was cut short?)`);
  }
}

export function factList(tree: FactTree): Fact<unknown>[] {
  if (tree instanceof Fact) return [tree];
  return Object.values(tree).flatMap(factList);
}

export function parseTree<F extends FactTree>(tree: F, raw: RawFacts): Parsed<F> {
  if (tree instanceof Fact) {
    const r = Object.hasOwn(raw, tree.id) ? raw[tree.id] : undefined;
    if (!r) throw new MissingFact(tree.id);
    return tree.parse(r) as Parsed<F>;
  }
  return Object.fromEntries(Object.entries(tree).map(([k, v]) => [k, parseTree(v, raw)])) as Parsed<F>;
}

/** One script that runs every fact and frames each output with its id and exit code. */
export function factsScript(facts: readonly Fact<unknown>[]): string {
  const seen = new Set<string>();
  const parts = [PRELUDE];
  for (const f of facts) {
    if (seen.has(f.id)) continue;
    seen.add(f.id);
    parts.push(`echo ${quote(FACT.begin + f.id)}`, `( ${f.command.text}\n) 2>/dev/null`, `printf '\\n${FACT.rc}%s\\n' $?`);
  }
  return parts.join('\n') + '\n';
}

/** Inverse of factsScript's framing. */
export function parseFactsOutput(out: string): RawFacts {
  // Entries, then fromEntries: an id such as "__proto__" stays a plain key.
  const facts: [string, RawFact][] = [];
  let pos = 0;
  while (true) {
    const b = out.indexOf(FACT.begin, pos);
    if (b < 0) break;
    const idEnd = out.indexOf('\n', b);
    if (idEnd < 0) break;
    const id = out.slice(b + FACT.begin.length, idEnd);
    const e = out.indexOf('\n' + FACT.rc, idEnd);
    if (e < 0) break;
    const rcEnd = out.indexOf('\n', e + 1 + FACT.rc.length);
    facts.push([id, { stdout: out.slice(idEnd + 1, e), code: Number(out.slice(e + 1 + FACT.rc.length, rcEnd < 0 ? undefined : rcEnd)) }]);
    pos = rcEnd < 0 ? out.length : rcEnd;
  }
  return Object.fromEntries(facts);
}

/** Parsers that share a shape. */
export const stdoutIfOk = ({ stdout, code }: RawFact): string | null => (code === 0 ? stdout : null);
