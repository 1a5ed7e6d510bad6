#!/usr/bin/env node
// `npm pack` (prepack / postpack): the published package.json carries no development scripts
// (prepare runs patch-package and sets the clone's git hooks; npm warns about it on install) and no
// devDependencies. npm reads package.json for the tarball after prepack and runs postpack from the
// manifest it read first, so strip writes the published form and restore puts the clone's back.
// Plain JavaScript, like build.mjs: it runs before anything is compiled.
import { copyFileSync, existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const manifest = join(root, 'package.json');
const kept = join(root, 'package.json.tprun-dev');

if (process.argv[2] === 'strip') {
  // A pack killed before postpack left the clone's manifest here: that one is the original.
  if (!existsSync(kept)) copyFileSync(manifest, kept);
  const { scripts: _scripts, devDependencies: _dev, ...published } = JSON.parse(readFileSync(kept, 'utf8'));
  writeFileSync(manifest, JSON.stringify(published, null, 2) + '\n');
} else if (process.argv[2] === 'restore') {
  if (existsSync(kept)) renameSync(kept, manifest);
} else {
  console.error('usage: pack-manifest.mjs strip|restore');
  process.exit(2);
}
