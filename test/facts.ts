/** Recorded facts (test/fixtures/facts/*.json, captured from lab hosts by scripts/record-facts.ts) and edits of them. */
import { readFileSync } from 'node:fs';
import type { RawFacts } from '../src/facts/fact.ts';
import { FACT } from '../src/protocol.ts';

export const recorded = (name: string): RawFacts => JSON.parse(readFileSync(`test/fixtures/facts/${name}.json`, 'utf8')) as RawFacts;

/** A copy of recorded facts with some facts' output replaced or edited. */
export function edited(name: string, edits: Record<string, string | ((s: string) => string) | { stdout: string; code: number }>): RawFacts {
  const raw = structuredClone(recorded(name));
  for (const [id, e] of Object.entries(edits)) {
    if (typeof e === 'object') raw[id] = e;
    else raw[id] = { code: raw[id]?.code ?? 0, stdout: typeof e === 'function' ? e(raw[id]?.stdout ?? '') : e };
  }
  return raw;
}

/** Edit a recorded file fact's content (files are stored base64 as the fact's command prints them). */
export const fileEdit = (fn: (content: string) => string) => (b64: string) =>
  Buffer.from(fn(Buffer.from(b64.replace(/\s+/g, ''), 'base64').toString('utf8'))).toString('base64');

/** Recorded facts framed as the remote facts script prints them, for scripted connections. */
export const framed = (raw: RawFacts): string =>
  Object.entries(raw)
    .map(([id, f]) => `${FACT.begin}${id}\n${f.stdout}\n${FACT.rc}${f.code}\n`)
    .join('');
