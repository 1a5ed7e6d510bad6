#!/usr/bin/env node
// `npm pack` (prepack) and `npm run build`: compile src/ and roles/ to dist/ with tsc, and copy
// the files the modules read next to themselves (defaults, schemas, templates). Plain JavaScript,
// so it runs before anything is compiled.
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
rmSync(join(root, 'dist'), { recursive: true, force: true });
execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit' });
let copied = 0;
const copyAssets = (dir) => {
  for (const name of readdirSync(join(root, dir))) {
    const rel = join(dir, name);
    if (statSync(join(root, rel)).isDirectory()) copyAssets(rel);
    else if (!name.endsWith('.ts')) {
      cpSync(join(root, rel), join(root, 'dist', rel));
      copied++;
    }
  }
};
copyAssets('src');
copyAssets('roles');
// The inventory's validators as ajv standalone code: the installed package compiles no schema at
// run time (0.3 s of every command that reads an inventory, issue #24). Generated from dist/'s own
// schema files, so it is the schema the package holds; schema.ts uses it only while they match.
const { standaloneSource, STANDALONE_FILE } = await import(join(root, 'dist/src/inventory/schema.js'));
const { ROLES } = await import(join(root, 'dist/roles/registry.js'));
writeFileSync(join(root, 'dist/src/inventory', STANDALONE_FILE), standaloneSource(ROLES));
// The man page and shell completions, from the same command spec as --help.
const { manPage, bashCompletion, zshCompletion } = await import(join(root, 'dist/src/cli/docs.js'));
const { CLI } = await import(join(root, 'dist/src/cli/commands/index.js'));
const { VERSION } = await import(join(root, 'dist/src/version.js'));
mkdirSync(join(root, 'man'), { recursive: true });
mkdirSync(join(root, 'completions'), { recursive: true });
writeFileSync(join(root, 'man/tprun.1'), manPage(CLI, VERSION, new Date().toISOString().slice(0, 10)));
writeFileSync(join(root, 'completions/tprun.bash'), bashCompletion(CLI));
writeFileSync(join(root, 'completions/_tprun'), zshCompletion(CLI));
console.error(`build: dist/ written (${copied} assets copied, the inventory's validators generated), man/tprun.1, completions/tprun.bash and _tprun`);
