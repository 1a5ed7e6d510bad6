#!/usr/bin/env node
// Runs the TypeScript sources through tsx so a clone works without a build step.
import { register } from 'tsx/esm/api';
register();
const { main } = await import('../src/cli/main.ts');
const code = await main(process.argv.slice(2));
process.exitCode = code;
// After an interrupted run, connections to hosts whose transactions go on may still be open:
// they must not keep tprun alive (the transactions do not need it).
setTimeout(() => process.exit(code), 3000).unref();
