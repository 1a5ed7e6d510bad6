/**
 * host-firewall: the firewalls tprun does not own (firewalld, a hand-written nft table, iptables
 * rules in raw, mangle, nat or filter of either backend). Read-only: it reads the whole ruleset
 * and turns every chain that would drop or reject an intercepted packet into a blocking check,
 * so such a host is never called compliant; a chain that only may drop it (a match the
 * evaluator cannot decide) is a warning that says what it could not decide. With `firewalld:
 * manage`, a finding in firewalld's own table does not block while the firewalld role's plan
 * still changes firewalld (this apply fixes it, and check is not compliant until it has); once
 * nothing is left to change, a finding there blocks like any other.
 */
import { firewalldFacts, firewalldPending, firewalldPlan, rpfilterFor } from '../../src/firewall/firewalld.ts';
import { evaluate, fixHint } from '../../src/firewall/ruleset/evaluate.ts';
import { ruleset } from '../../src/firewall/ruleset/fact.ts';
import { findingText, interceptionOf } from '../../src/firewall/ruleset/intercept.ts';
import { defineRole, requirement } from '../../src/role/contract.ts';
import type { Check } from '../../src/plan/types.ts';

const ROLE = 'host-firewall';
const WANTED = 'every chain at prerouting and input lets the intercepted packets through';

export const hostFirewall = defineRole({
  name: ROLE,
  applies: () => true,
  facts: () => ({ ruleset, firewalld: firewalldFacts }),
  requirements(host, f) {
    const ic = interceptionOf(host);
    const findings = evaluate(f.ruleset, ic);
    const fw = firewalldPlan(host, f.firewalld);
    const managed = fw.active && firewalldPending(fw);
    // The value that passes marked packets on this firewalld (no before 2.2), when it runs.
    const rp = f.firewalld.state === 'running' && f.firewalld.version ? rpfilterFor(f.firewalld.version) : undefined;
    const checks: Check[] = findings.map((x) => {
      const fixing = managed && x.source === 'nft' && x.tableName === 'firewalld';
      return requirement(ROLE, {
        name: `host firewall passes intercepted packets: ${x.table} chain ${x.chain}${x.rule === null ? ' policy' : `: ${x.rule}`}`,
        found: findingText(x),
        wanted: WANTED,
        ok: false,
        blocks: x.certainty === 'drops' && !fixing,
        hint: fixing ? `firewalld: manage: the firewalld role changes this in this apply (${fixHint(x, ic, rp)})` : fixHint(x, ic, rp),
      });
    });
    for (const u of f.ruleset.unreadable)
      checks.push(
        requirement(ROLE, {
          name: 'host firewall readable',
          found: u,
          wanted: 'nft -j list ruleset (nftables 0.9 or later) to judge the nft tables',
          ok: false,
          blocks: false,
          hint: 'tprun cannot tell whether these tables drop intercepted packets',
        }),
      );
    if (!checks.length)
      checks.push(
        requirement(ROLE, {
          name: 'host firewall passes intercepted packets',
          found: `no chain drops them (${f.ruleset.tables.length} tables read)`,
          wanted: WANTED,
          ok: true,
        }),
      );
    return checks;
  },
});
