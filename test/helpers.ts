import { loadInventoryFromSource } from '../src/inventory/load.ts';
import { InventorySource } from '../src/inventory/source.ts';
import { formatDiagnostic } from '../src/diagnostics.ts';

export const load = (text: string, file = 'inv.yml') => loadInventoryFromSource(InventorySource.fromText(file, text));
export const messages = (text: string) => load(text).diagnostics.map(formatDiagnostic);

export const MINIMAL = `routers:
  c1: { address: 198.51.100.10 }
`;
