import { existsSync, readFileSync } from 'node:fs';

/** package.json is one level up from src/, two from the compiled dist/src/. */
const pkg = [new URL('../package.json', import.meta.url), new URL('../../package.json', import.meta.url)].find(
  (u) => existsSync(u) && (JSON.parse(readFileSync(u, 'utf8')) as { name?: string }).name === 'tprun',
)!;
export const VERSION = (JSON.parse(readFileSync(pkg, 'utf8')) as { version: string }).version;

/** A file of the package (a clone or the installed one), by its path in the package. */
export const packageFile = (path: string): URL => new URL(path, pkg);
