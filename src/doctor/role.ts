/**
 * Doctor as a role outside the registry: its facts are the doctor facts (gathered in the host's
 * one round trip like any role's), its requirements are one check per finding id, and it plans
 * no change. So `tprun doctor` runs through the same fleet, reports and exit codes as `check`:
 * a finding is a failed check (TP017 and TP018 are warnings).
 */
import type { Host } from '../inventory/types.ts';
import { defineRole, type Role } from '../role/contract.ts';
import type { Check } from '../plan/types.ts';
import { CATALOG, CODES, type Code } from './catalog.ts';
import { diagnose, lifeEvidence, type Finding } from './diagnose.ts';
import { doctorFacts } from './facts.ts';

export const DOCTOR = 'doctor';

/** A check that is a doctor finding keeps its evidence, cause and fix apart too (reports read found/hint). */
export interface FindingCheck extends Check {
  code: Code;
  evidence: string[];
  cause: string;
  fix: string;
}

/** Every doctor check carries its id's code as a value, passing ones too. */
export type DoctorCheck = Check & { code: Code };
export const isDoctorCheck = (c: Check): c is DoctorCheck => c.role === DOCTOR && typeof (c as Partial<DoctorCheck>).code === 'string';

export const isFinding = (c: Check): c is FindingCheck => c.role === DOCTOR && Array.isArray((c as FindingCheck).evidence);

export function findingCheck(f: Finding): FindingCheck {
  const e = CATALOG[f.code];
  const cause = f.cause ?? e.cause;
  const fix = f.fix ?? e.fix;
  const name = `${f.code} ${e.title}`;
  return {
    role: DOCTOR,
    id: name,
    name,
    found: f.evidence.join('; '),
    wanted: e.healthy,
    ok: false,
    blocks: f.blocks ?? e.blocks,
    hint: `${cause} Fix: ${fix}`,
    code: f.code,
    evidence: f.evidence,
    cause,
    fix,
  };
}

/** One check per id: failed ones are the findings, the rest pass (so JUnit and JSON list every check). */
export function doctorChecks(host: Host, findings: readonly Finding[], life: string): DoctorCheck[] {
  const failed = new Map<Code, FindingCheck>();
  for (const f of findings) {
    const c = findingCheck(f);
    const prev = failed.get(f.code);
    failed.set(f.code, prev ? { ...prev, evidence: [...prev.evidence, ...c.evidence], found: `${prev.found}; ${c.found}` } : c);
  }
  return CODES.filter((code) => code !== 'TP050').map((code) => {
    const e = CATALOG[code];
    // Named by what was verified: a passing JUnit test titled with the failure ("the fwmark
    // policy rule is missing", green) read as a failure.
    const name = `${code} ${e.healthy}`;
    return (
      failed.get(code) ?? {
        role: DOCTOR,
        id: name,
        name,
        found: code === 'TP017' || code === 'TP018' ? life : 'not seen',
        wanted: e.healthy,
        ok: true,
        blocks: e.blocks,
        code,
      }
    );
  });
}

export const doctorRole: Role = defineRole({
  name: DOCTOR,
  applies: () => true,
  facts: doctorFacts,
  requirements: (host, f) => doctorChecks(host, diagnose(host, f), lifeEvidence(host, f)),
});
