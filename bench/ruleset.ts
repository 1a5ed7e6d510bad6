/**
 * `npm run bench:ruleset`: how long planning a host takes when its filter table holds a
 * fail2ban-sized chain (10,000, 50,000 and 150,000 REJECT rules, or --rules N,M), on the recorded
 * facts of the lab's router. Parsing and planning run on the controller's event loop, so this is
 * the time every other host of the run waits. Not a test: numbers go to bench/RESULTS.md by hand.
 */
import { edited } from '../test/facts.ts';
import { plan } from '../test/planning.ts';

/** "-A f2b-sshd -s 10.0.0.1/32 -j REJECT …" n times, and INPUT's jump to the chain. */
export function fail2banRules(n: number): string {
  const rules = [':f2b-sshd - [0:0]'];
  for (let i = 0; i < n; i++) rules.push(`-A f2b-sshd -s 10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}/32 -j REJECT --reject-with icmp-port-unreachable`);
  rules.push('-A INPUT -p tcp -m multiport --dports 22 -j f2b-sshd');
  return rules.join('\n');
}

/**
 * The same rules added to the filter table of every iptables-save text in the facts: the chain
 * declared with the others, its rules appended after tprun's (fail2ban's jump comes after
 * TPRUN_INPUT, which tprun keeps first).
 */
export const withRules = (rules: string) => (save: string) => {
  const [decl, ...body] = rules.split('\n');
  return save.replace(/(\*filter\n(?::[^\n]*\n)*)([\s\S]*?)COMMIT/, `$1${decl}\n$2${body.join('\n')}\nCOMMIT`);
};

const arg = process.argv.indexOf('--rules');
const sizes = arg > 0 ? process.argv[arg + 1]!.split(',').map(Number) : [10_000, 50_000, 150_000];
console.log('rules     plan ms   ms per 1,000 rules');
for (const n of sizes) {
  const add = withRules(fail2banRules(n));
  const facts = edited('router-compliant', { 'iptables.filter': add, 'firewall.ruleset': add });
  const t = performance.now();
  plan(facts);
  const ms = performance.now() - t;
  console.log(`${String(n).padStart(7)} ${ms.toFixed(0).padStart(9)} ${((ms / n) * 1000).toFixed(1).padStart(12)}`);
}
