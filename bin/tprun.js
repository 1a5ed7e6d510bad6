#!/usr/bin/env node
// Runs the TypeScript sources through tsx so a clone works without a build step.
import { register } from 'tsx/esm/api';
register();
const { main } = await import('../src/cli/main.ts');
try {
  process.exitCode = await main(process.argv.slice(2));
} catch (e) {
  // A bug, never a user's mistake (those are diagnostics): one line, the stack only on request.
  const { visible } = await import('../src/report/safe.ts');
  process.stderr.write(`tprun: internal error: ${visible(String(e?.message ?? e))} (set TPRUN_DEBUG=1 for the stack trace, and please report it)\n`);
  if (process.env.TPRUN_DEBUG) process.stderr.write(`${e?.stack ?? ''}\n`);
  process.exitCode = 1;
}
