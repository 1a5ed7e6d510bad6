/** `tprun render`: every artifact per host and each role's inventory-wide files, from the inventory alone. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import type { Inventory } from '../inventory/types.ts';
import { hostArtifacts } from '../plan/planner.ts';
import type { Role } from '../role/contract.ts';

export interface RenderedFile {
  /** Relative to the output directory: HOST/<absolute path on the host>, or e.g. wccp/PEER.ios */
  path: string;
  content: string;
  mode: string;
}

export function renderFiles(inv: Inventory, roles: readonly Role[]): RenderedFile[] {
  const out: RenderedFile[] = [];
  for (const h of inv.hosts) {
    for (const a of hostArtifacts(h, roles)) out.push({ path: join(h.name, a.path), content: a.content, mode: a.mode });
  }
  for (const r of roles) for (const f of r.inventoryFiles(inv)) out.push({ ...f, mode: '0644' });
  return out.sort((a, b) => a.path.localeCompare(b.path));
}

/** Where a rendered file goes: inside outDir, or an error (never a path that climbs out). */
export function renderTarget(outDir: string, path: string): string {
  const root = resolve(outDir);
  const target = resolve(root, path);
  const rel = relative(root, target);
  if (!rel || rel.startsWith('..') || isAbsolute(rel)) throw new Error(`refusing to write ${JSON.stringify(path)}: it is outside ${outDir}`);
  return target;
}

export function writeRendered(files: RenderedFile[], outDir: string): void {
  // Every path is checked before anything is written.
  const targets = files.map((f) => renderTarget(outDir, f.path));
  files.forEach((f, i) => {
    const target = targets[i]!;
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, f.content, { mode: parseInt(f.mode, 8) });
  });
}
