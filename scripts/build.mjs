#!/usr/bin/env node
// `npm pack` (prepack) and `npm run build`: compile src/ and roles/ to dist/ with tsc, copy the
// files the modules read next to themselves (defaults, schemas, templates), and bundle the
// modules into dist/bundle/. Plain JavaScript, so it runs before anything is compiled.
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import * as esbuild from 'esbuild';

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
// tprun's own modules as one bundle (dist/bundle/: an entry, and a chunk for each view a command
// imports lazily, by esbuild's code splitting): node loads about 25 files where it loaded 130, a
// fifth of every command's start (bench/RESULTS.md, issue #24). Dependencies stay in node_modules.
// A module that finds files next to itself (templates, schemas, the probe, package.json) keeps
// its own URL: its import.meta.url becomes the path it had in dist/, where those files still are.
const dist = join(root, 'dist');
const bundleDir = join(dist, 'bundle');
const ownUrl = {
  name: 'own-module-url',
  setup(build) {
    build.onLoad({ filter: /\.js$/ }, ({ path }) => {
      if (!path.startsWith(`${dist}/`)) return undefined;
      const url = `new URL(${JSON.stringify(relative(bundleDir, path))}, import.meta.url).href`;
      return { contents: readFileSync(path, 'utf8').replaceAll('import.meta.url', url), loader: 'js' };
    });
  },
};
const bundled = await esbuild.build({
  stdin: {
    contents: "export { main } from './src/cli/main.js';\nexport { visible } from './src/report/safe.js';\n",
    resolveDir: dist,
    sourcefile: 'tprun-entry.js',
    loader: 'js',
  },
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  packages: 'external',
  outdir: bundleDir,
  entryNames: 'tprun',
  chunkNames: 'chunk-[hash]',
  plugins: [ownUrl],
  logLevel: 'warning',
  metafile: true,
});
// The compiled modules were a step: the package runs the bundle, and keeps one copy of the code.
const dropCompiled = (dir) => {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) dropCompiled(path);
    else if (name.endsWith('.js')) rmSync(path);
  }
};
dropCompiled(join(dist, 'src'));
dropCompiled(join(dist, 'roles'));
const modules = Object.keys(bundled.metafile.inputs).length - 1;
console.error(
  `build: dist/ written (${copied} assets copied, the inventory's validators generated, ${modules} modules bundled), man/tprun.1, completions/tprun.bash and _tprun`,
);
