/** Colours that say the truth: compliant green, changed and drifted yellow, failed red. Off with NO_COLOR, --no-color, or no terminal. */
import type { HostStatus } from '../run/host.ts';

export type Style = 'red' | 'green' | 'yellow' | 'cyan' | 'bold' | 'dim';
export type Paint = (style: Style, text: string) => string;

const CODES: Record<Style, [number, number]> = { red: [31, 39], green: [32, 39], yellow: [33, 39], cyan: [36, 39], bold: [1, 22], dim: [2, 22] };

/** NO_COLOR (https://no-color.org): present and not empty turns colour off. */
export const noColorEnv = (env: NodeJS.ProcessEnv = process.env): boolean => !!env.NO_COLOR;

export function colorFor(stream: NodeJS.WritableStream, noColor: boolean, env: NodeJS.ProcessEnv = process.env): boolean {
  if (noColor || noColorEnv(env)) return false;
  return !!(stream as NodeJS.WriteStream).isTTY && env.TERM !== 'dumb';
}

export const painter = (on: boolean): Paint => (on ? (style, text) => `\x1b[${CODES[style][0]}m${text}\x1b[${CODES[style][1]}m` : (_style, text) => text);

export const STATUS_STYLE: Record<HostStatus, Style> = {
  compliant: 'green',
  changed: 'yellow',
  drifted: 'yellow',
  failed: 'red',
  unreachable: 'red',
  skipped: 'dim',
};

export const plain: Paint = painter(false);

/** A diff line's colour, as git paints it: added green, removed red, headers and hunks cyan. */
export const DIFF_STYLE: Record<'add' | 'del' | 'hunk', Style> = { add: 'green', del: 'red', hunk: 'cyan' };
