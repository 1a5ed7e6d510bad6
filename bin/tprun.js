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
  const fromSources = existsSync(new URL('../src/cli/main.ts', import.meta.url)) || !existsSync(new URL('../dist/bundle/tprun.js', import.meta.url));
  if (fromSources) {
    const { register } = await import('tsx/esm/api');
    register();
  }
  // The package's one bundle (scripts/build.mjs) exports both; a clone imports each source.
  const module = (path) => (fromSources ? `../src/${path}.ts` : '../dist/bundle/tprun.js');
  const { main } = await import(module('cli/main'));
  let code = 1;
  try {
    code = await main(args);
  } catch (e) {
    // A bug, never a user's mistake (those are diagnostics): one line, the stack only on request.
    const { visible } = await import(module('report/safe'));
    process.stderr.write(`tprun: internal error: ${visible(String(e?.message ?? e))} (set TPRUN_DEBUG=1 for the stack trace, and please report it)\n`);
    if (process.env.TPRUN_DEBUG) process.stderr.write(`${e?.stack ?? ''}\n`);
  }
  process.exitCode = code;
  // After an interrupted run, connections to hosts whose transactions go on may still be open:
  // they must not keep tprun alive (the transactions do not need it).
  setTimeout(() => process.exit(code), 3000).unref();
}
