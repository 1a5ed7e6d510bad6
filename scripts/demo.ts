// The demo on the built-in lab: tprun configures router h1 (and h2) from inventories/lab.yml,
// then a client behind h1 fetches a page from the origin and we show what proves interception.
import { spawnSync } from 'node:child_process';
import * as lab from '../test/lab/lab.ts';

const args = process.argv.slice(2);
if (args.includes('--down')) {
  lab.down();
  console.log('lab is down');
  process.exit(0);
}
const problem = lab.preflight();
if (problem) {
  console.error(`demo: ${problem}`);
  process.exit(1);
}
const step = (s: string) => console.log(`\n\x1b[1m== ${s}\x1b[0m`);
const tprun = (...a: string[]) =>
  spawnSync('ip', ['netns', 'exec', lab.CTL, process.execPath, 'bin/tprun.js', ...a], { stdio: 'inherit', env: { ...process.env, SSH_AUTH_SOCK: '' } }).status;

step('lab: 2 router hosts with sshd, a client and an origin behind h1 (network namespaces)');
lab.up({ hosts: 2, proof: true });
const before = lab.clientGet(4);
console.log(`before: client → http://${lab.ORIGIN4}/ : ${before.body.trim()} (Via: ${before.via ?? 'none'})`);

step('tprun apply inventories/lab.yml');
const applied = tprun('apply', 'inventories/lab.yml');
// 0: applied, changes or not (2 only with --detailed-exitcodes).
if (applied !== 2 && applied !== 0) {
  console.error(`demo: tprun apply exited ${applied}`);
  process.exit(1);
}

step("proof: the origin sees the client's own address, squid is in the path");
let ok = true;
for (const fam of [4, 6] as const) {
  const r = lab.clientGet(fam);
  const want = fam === 4 ? lab.CLIENT4 : lab.CLIENT6;
  const good = r.status === 200 && r.body.trim() === `origin saw ${want}` && !!r.via;
  ok &&= good;
  console.log(`IPv${fam}: client ${want} → origin ${fam === 4 ? lab.ORIGIN4 : lab.ORIGIN6}: "${r.body.trim()}", Via: ${r.via ?? 'none'} ${good ? '✔' : '✘'}`);
}
const log = lab.onHost(1, 'tail -n 2 /var/log/squid/access.log').out.trim();
console.log(`squid access.log on h1:\n${log.replace(/^/gm, '  ')}`);

step('tprun check inventories/lab.yml (a second look: zero drift expected)');
const checked = tprun('check', 'inventories/lab.yml');

console.log(`\nThe lab stays up (state in ${lab.STATE}). Take it down with: npm run demo -- --down`);
process.exit(ok && checked === 0 ? 0 : 1);
