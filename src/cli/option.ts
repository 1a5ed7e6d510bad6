/**
 * An option is declared once, with the parser of its value: help, completions, the man page,
 * the command line's checks and the typed value a command receives all come from that one
 * declaration. A command's parsed options are typed by construction (`Values<typeof options>`),
 * so a mistyped option name does not compile.
 */

export type Complete = 'file' | 'dir' | 'role' | 'host' | 'none' | 'report';

/** What the command line (or the environment) gave: absent, a flag, a value, or values. */
export type Raw = undefined | true | string | string[];

/** One sentence: what was wrong, naming where the value came from (--forks, TPRUN_FORKS). */
export interface Invalid {
  invalid: string;
}

export interface Option<N extends string = string, T = unknown> {
  name: N;
  short?: string;
  /** The value's placeholder; a flag has none. */
  arg?: string;
  multiple?: boolean;
  help: string;
  complete?: Complete;
  /** An environment variable read when the command line does not give the option. */
  env?: string;
  /** May be set in a config file (src/cli/config.ts): a habit of the operator's, not a per-run choice. */
  config?: boolean;
  /** The option's value from what was given (a flag: true or absent); `from` names where it came from. */
  read(raw: Raw, from: string): T | Invalid;
}

export const isInvalid = (v: unknown): v is Invalid => typeof v === 'object' && v !== null && 'invalid' in v && Object.keys(v).length === 1;

type Common<N extends string> = { name: N; short?: string; help: string; env?: string; config?: boolean };

/** A flag: true when given; from its environment variable, 1/true/yes or 0/false/no. */
export const flag = <N extends string>(o: Common<N>): Option<N, boolean> => ({
  ...o,
  read: (raw, from) => {
    if (typeof raw !== 'string') return raw === true;
    if (/^(1|true|yes)$/i.test(raw)) return true;
    if (/^(0|false|no)$/i.test(raw)) return false;
    return { invalid: `${from} is 1, true or yes (or 0, false or no), not "${raw}"` };
  },
});

/** A value, parsed; `undefined` when absent unless the option has a default. */
export function value<N extends string, T>(
  o: Common<N> & { arg: string; complete?: Complete; parse: (s: string, from: string) => T | Invalid },
): Option<N, T | undefined>;
export function value<N extends string, T>(
  o: Common<N> & { arg: string; complete?: Complete; parse: (s: string, from: string) => T | Invalid; default: T },
): Option<N, T>;
export function value<N extends string, T>(
  o: Common<N> & { arg: string; complete?: Complete; parse: (s: string, from: string) => T | Invalid; default?: T },
): Option<N, T | undefined> {
  const { parse, default: fallback, ...rest } = o;
  return { ...rest, read: (raw, from) => (typeof raw === 'string' ? parse(raw, from) : fallback) };
}

/** A repeatable value: every one parsed, in order. */
export function list<N extends string, T>(
  o: Common<N> & { arg: string; complete?: Complete; parse: (s: string, from: string) => T | Invalid },
): Option<N, T[]> {
  const { parse, ...rest } = o;
  return {
    ...rest,
    multiple: true,
    read: (raw, from) => {
      const out: T[] = [];
      for (const s of Array.isArray(raw) ? raw : typeof raw === 'string' ? [raw] : []) {
        const v = parse(s, from);
        if (isInvalid(v)) return v;
        out.push(v);
      }
      return out;
    },
  };
}

/** The usual sentence: `--forks takes a whole number of at least 1, not "x"`. */
export const takes =
  (what: string) =>
  (raw: string, from: string): Invalid => ({ invalid: `${from} takes ${what}, not "${raw}"` });

/** 'lock-timeout' → 'lockTimeout': the key a command reads the option by. */
type Camel<S extends string> = S extends `${infer H}-${infer T}` ? `${H}${Capitalize<Camel<T>>}` : S;

export const camel = <S extends string>(s: S): Camel<S> => s.replace(/-(\w)/g, (_, c: string) => c.toUpperCase()) as Camel<S>;

/** The values a command's options parse to, by camel-cased name. */
export type Values<O extends readonly Option[]> = { [X in O[number] as Camel<X['name']>]: X extends Option<string, infer T> ? T : never };
