/**
 * `tprun init [FILE]`: the example inventory as a starting point, its `$schema` line pointing at
 * the schema of this tprun (the example's own relative path works only inside a clone).
 */
import { fileURLToPath } from 'node:url';
import { existsSync, lstatSync, readFileSync } from 'node:fs';
import { packageFile } from '../version.ts';
import { writeByRename } from '../report/write.ts';
import { destinationProblems } from '../report/destinations.ts';

const SCHEMA_LINE = /^# yaml-language-server: \$schema=.*$/m;

/** The example with its $schema line made absolute. */
export function starterInventory(): string {
  const schema = fileURLToPath(packageFile('schemas/inventory.schema.json'));
  return readFileSync(packageFile('inventories/example.yml'), 'utf8').replace(SCHEMA_LINE, `# yaml-language-server: $schema=${schema}`);
}

/** Writes it; ok with what to print, or one sentence. */
export function initInventory(file: string): { ok: boolean; text: string } {
  const text = starterInventory();
  if (file === '-') return { ok: true, text };
  if (existsSync(file) || isLink(file))
    return { ok: false, text: `${file} exists: init never overwrites a file (give another name, or - for standard output)` };
  const problems = destinationProblems([{ what: 'the inventory', file }], []);
  if (problems.length) return { ok: false, text: problems[0]! };
  writeByRename(file, text);
  return { ok: true, text: `${file}: written from the example; edit it, then tprun validate ${file}\n` };
}

function isLink(file: string): boolean {
  try {
    return lstatSync(file).isSymbolicLink();
  } catch {
    return false;
  }
}
