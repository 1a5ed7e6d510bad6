/**
 * eta for the files tprun installs, one instance per templates folder. Configuration files are
 * rendered as they are. Shell scripts (`*.sh.eta`) quote every `<%= %>` value as shell words
 * (a string or number one word, an array one word each, an `sh` value as it was built), so a
 * template is safe by construction, not because validation ran first; `<%~ %>` is for shell
 * text built on purpose.
 */
import { fileURLToPath } from 'node:url';
import { Eta } from 'eta';
import { Shell, sh } from '../shell.ts';

type Word = string | number | Shell | readonly (string | number | Shell)[];

/** A value in a shell template: quoted words (arrays as several), Shell values as they are. */
export function shellWords(value: unknown): string {
  if (typeof value === 'string' || typeof value === 'number' || value instanceof Shell || Array.isArray(value)) return sh`${value as Word}`.text;
  throw new Error(`a shell template got ${value === null ? 'null' : typeof value}, not words`);
}

/**
 * A renderer for the `templates/` folder beside a module: roles call
 * `const render = templates(import.meta.url)` and then `render('squid.conf.eta', data)`.
 */
export function templates(moduleUrl: string): (name: string, data: object) => string {
  const views = fileURLToPath(new URL('./templates/', moduleUrl));
  const config = new Eta({ views, autoEscape: false, autoTrim: false, cache: true });
  const shell = new Eta({ views, autoEscape: true, escapeFunction: shellWords, autoTrim: false, cache: true });
  return (name, data) => (name.endsWith('.sh.eta') ? shell : config).render(`./${name}`, data);
}
