// `node --import tsx scripts/lab.ts up [N] | down`: the lab by hand.
import { down, preflight, up } from '../test/lab/lab.ts';
const [cmd, n] = process.argv.slice(2);
const problem = preflight();
if (problem) {
  console.error(`lab: ${problem}`);
  process.exit(1);
}
if (cmd === 'up') {
  up({ hosts: Number(n ?? 2), proof: true, wccp: false });
  console.log(`lab up: ${n ?? 2} hosts`);
} else if (cmd === 'down') {
  down();
  console.log('lab down');
} else {
  console.error('usage: scripts/lab.ts up [N] | down');
  process.exit(1);
}
