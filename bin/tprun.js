#!/usr/bin/env node
// An installed package runs the compiled JavaScript in dist/ (no TypeScript compiler at run time).
// A clone (src/ present) runs the TypeScript sources through tsx, so it works without a build step
// and never runs a stale dist/ left by `npm pack`.
import { existsSync, readFileSync } from 'node:fs';

const args = process.argv.slice(2);
if (args.length === 1 && args[0] === '--version') {
  // Answered before anything is loaded: `tprun --version` costs little more than node itself.
  const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
  process.stdout.write(`tprun ${version}\n`);
} else {
  const sources = new URL('../src/cli/main.ts', import.meta.url);
  let main;
  if (existsSync(sources) || !existsSync(new URL('../dist/src/cli/main.js', import.meta.url))) {
    const { register } = await import('tsx/esm/api');
    register();
    ({ main } = await import(sources.href));
  } else ({ main } = await import('../dist/src/cli/main.js'));
  try {
    process.exitCode = await main(args);
  } catch (e) {
    // A bug or an unexpected system error: one line, never a stack (TPRUN_DEBUG=1 shows it).
    process.stderr.write(`tprun: ${process.env.TPRUN_DEBUG ? e.stack : (e?.message ?? String(e)).split('\n')[0]}\n`);
    process.exitCode = 1;
  }
}
