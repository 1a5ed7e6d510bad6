/**
 * A fact is a read-only probe (pyinfra-style): a shell command whose output a parser turns
 * into data. All probes of a host run in one remote script; parsing happens here.
 */
export interface Probe {
  id: string;
  /** POSIX sh; stderr is discarded unless the command redirects it. Must not change anything. */
  command: string;
}

export interface RawFact {
  stdout: string;
  code: number;
}

export type RawFacts = Record<string, RawFact>;

const BEGIN = '@@tprun-fact ';
const END = '@@tprun-rc ';

/** shell single-quote */
export const q = (s: string): string => (/^[A-Za-z0-9_./:=@%+,-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);

/** One script that runs every probe and frames each output with its id and exit code. */
export function factsScript(probes: readonly Probe[]): string {
  const seen = new Set<string>();
  const parts = ['export LC_ALL=C PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'];
  for (const p of probes) {
    if (seen.has(p.id)) continue;
    seen.add(p.id);
    parts.push(`echo ${q(BEGIN + p.id)}`, `( ${p.command}\n) 2>/dev/null`, `printf '\\n${END}%s\\n' $?`);
  }
  return parts.join('\n') + '\n';
}

/** Inverse of factsScript's framing. */
export function parseFactsOutput(out: string): RawFacts {
  const facts: RawFacts = {};
  let pos = 0;
  while (true) {
    const b = out.indexOf(BEGIN, pos);
    if (b < 0) break;
    const idEnd = out.indexOf('\n', b);
    const id = out.slice(b + BEGIN.length, idEnd);
    const e = out.indexOf('\n' + END, idEnd);
    if (e < 0) break;
    const rcEnd = out.indexOf('\n', e + 1 + END.length);
    facts[id] = { stdout: out.slice(idEnd + 1, e), code: Number(out.slice(e + 1 + END.length, rcEnd < 0 ? undefined : rcEnd)) };
    pos = rcEnd < 0 ? out.length : rcEnd;
  }
  return facts;
}

/** Read access to one host's raw facts, with the probes' parsers applied on demand. */
export class Facts {
  constructor(readonly raw: RawFacts) {}

  has(id: string): boolean {
    return id in this.raw;
  }

  get(id: string): RawFact {
    const f = this.raw[id];
    if (!f) throw new Error(`fact ${id} was not gathered (a role used a probe it did not declare)`);
    return f;
  }

  /** Content of a file probe, or null when the file does not exist. */
  file(path: string): string | null {
    const f = this.get(fileProbe(path).id);
    if (f.code !== 0) return null;
    return Buffer.from(f.stdout.replace(/\s+/g, ''), 'base64').toString('utf8');
  }
}

export const fileProbe = (path: string): Probe => ({ id: `file:${path}`, command: `[ -f ${q(path)} ] || exit 3; base64 < ${q(path)}` });
