#!/usr/bin/env node
// Runs the TypeScript sources through tsx so a clone works without a build step.
import { register } from 'tsx/esm/api';
register();
const { main } = await import('../src/cli/main.ts');
let code = 1;
try {
  code = await main(process.argv.slice(2));
} catch (e) {
  // A bug, never a user's mistake (those are diagnostics): one line, the stack only on request.
  const { visible } = await import('../src/report/safe.ts');
  process.stderr.write(`tprun: internal error: ${visible(String(e?.message ?? e))} (set TPRUN_DEBUG=1 for the stack trace, and please report it)\n`);
  if (process.env.TPRUN_DEBUG) process.stderr.write(`${e?.stack ?? ''}\n`);
}
process.exitCode = code;
// After an interrupted run, connections to hosts whose transactions go on may still be open:
// they must not keep tprun alive (the transactions do not need it).
setTimeout(() => process.exit(code), 3000).unref();
