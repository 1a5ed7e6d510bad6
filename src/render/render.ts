/** `tprun render`: every artifact per host and each role's inventory-wide files, from the inventory alone. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Inventory } from '../inventory/types.ts';
import { hostArtifacts } from '../plan/planner.ts';
import type { Role } from '../plan/role.ts';

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

export function writeRendered(files: RenderedFile[], outDir: string): void {
  for (const f of files) {
    const target = join(outDir, f.path);
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, f.content, { mode: parseInt(f.mode, 8) });
  }
}
