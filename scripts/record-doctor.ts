// Records one host's raw doctor facts (the exact text each command printed) as a test fixture.
// Usage (in the lab's controller namespace): node --import tsx scripts/record-doctor.ts INVENTORY HOST OUT.json
import { writeFileSync } from 'node:fs';
import { factsScript, parseFactsOutput } from '../src/facts/fact.ts';
import { doctorRole } from '../src/doctor/role.ts';
import { loadInventory } from '../src/inventory/load.ts';
import { hostFacts } from '../src/plan/planner.ts';
import { SshConnection } from '../src/ssh/connection.ts';

const [file, name, out] = process.argv.slice(2);
const host = loadInventory(file!).inventory?.hosts.find((h) => h.name === name);
if (!host || !out) throw new Error('usage: record-doctor.ts INVENTORY HOST OUT.json');
const conn = await SshConnection.open(host, { acceptNewHostKeys: false });
const r = await conn.run(factsScript(hostFacts(host, [doctorRole])));
await conn.close();
writeFileSync(out, JSON.stringify(parseFactsOutput(r.stdout), null, 1) + '\n');
console.log(`recorded ${Object.keys(parseFactsOutput(r.stdout)).length} doctor facts of ${name} to ${out}`);
