/**
 * check --out PLAN, written as the run goes: each host's saved plan (its changes, what they were
 * computed from) goes to a spool as the host finishes, so the fleet can drop the host's plan; at
 * the end the file is written whole by rename, hosts in the selection's order, mode 0600 (a plan is
 * for its reviewers).
 */
import type { Host, Inventory } from '../inventory/types.ts';
import { newSalt, PLAN_VERSION, savedHost, type SavedPlan } from '../plan/reviewed.ts';
import type { ResultSink } from '../run/fleet.ts';
import { failureOf } from '../run/host.ts';
import { VERSION } from '../version.ts';
import { jsonEntry, jsonFrame, OrderedFile } from './stream.ts';

export interface PlanFileHead {
  inventory: Inventory;
  /** The selected hosts, in the order the file lists them. */
  hosts: Host[];
  roles: string[];
  limit?: string;
}

export interface PlanFile extends ResultSink {
  /** Writes the file; a sentence when it cannot be written. */
  finish(): string | undefined;
}

export function openPlanFile(file: string, head: PlanFileHead): PlanFile {
  const seal = { secrets: head.inventory.secrets ?? [], salt: newSalt() };
  const index = new Map(head.hosts.map((h, i) => [h.name, i]));
  const out = new OrderedFile(file, head.hosts.length, 0o600);
  let failure: unknown;
  return {
    hostDone(host, r) {
      const i = index.get(host.name);
      if (i === undefined || failure) return;
      try {
        const why = failureOf(r);
        const digest = r.status === 'unreachable' || r.status === 'skipped' ? undefined : r.factsDigest;
        out.put(i, jsonEntry(savedHost(host, r.status, r.plan, digest, seal, why ? `${why.step}: ${why.message}` : undefined), 2));
      } catch (e) {
        failure = e;
      }
    },
    finish() {
      const doc: Omit<SavedPlan, 'hosts'> = {
        planVersion: PLAN_VERSION,
        tprun: VERSION,
        created: new Date().toISOString(),
        salt: seal.salt,
        inventory: { path: head.inventory.path, files: head.inventory.files ?? [head.inventory.path], sha256: head.inventory.sha256 },
        selection: { ...(head.limit ? { limit: head.limit } : {}), roles: head.roles },
      };
      try {
        if (failure) throw failure;
        const f = jsonFrame(doc, 'hosts', head.hosts.length === 0);
        out.finish(f.head, f.separator, f.tail);
        return undefined;
      } catch (e) {
        out.discard();
        const err = e as NodeJS.ErrnoException;
        return `cannot write the plan ${file}: ${err.code ?? err.message.split('\n')[0]}`;
      }
    },
  };
}
