/**
 * nftables: the interception as native nft in `table inet tprun`, which tprun owns whole and is
 * nothing else's (model.ts holds the recipe). The table is replaced in one `nft -f` transaction,
 * checked with `nft -c` against the host's own nft and kernel first (in a throwaway network
 * namespace: NFT_CHECK), with a snapshot of the live table for the undo. The chosen backend is recorded in /etc/tprun/firewall-backend, and the boot
 * steps of both backends load only that one's rules.
 */
import { BACKEND_FILE, backendOf, firewallFacts, type BackendChoice } from '../../src/firewall/backend.ts';
import { NFT_CHECK } from '../../src/firewall/nft.ts';
import { Fact } from '../../src/facts/fact.ts';
import { installCommand, packageFamily } from '../../src/facts/family.ts';
import { file, kernelConfig, kernelRelease } from '../../src/facts/shared.ts';
import type { Host } from '../../src/inventory/types.ts';
import { defineRole, requirement } from '../../src/role/contract.ts';
import { change, type Change } from '../../src/resources/change.ts';
import { fileChange } from '../../src/resources/file.ts';
import type { KernelConfig } from '../../src/facts/parsers.ts';
import { heredoc, raw, sh } from '../../src/shell.ts';
import { BRIDGE_TABLE, bridgeQuicTable, parseTable, replaceScript, TABLE, tableLines, wantedTable, type NftTable } from './model.ts';

const ROLE = 'nftables';
export const NFT_FILE = '/etc/tprun/nftables.nft';
export const BOOT_FILE = '/etc/tprun/boot.d/31-nftables.sh';

export interface LiveTable {
  /** nft is installed. */
  nft: boolean;
  table: NftTable | null;
  /** nft's complaint when the table could not be listed (other than its absence). */
  error?: string;
}

/** `nft -j list table FAMILY NAME`, parsed once. */
const liveTable = (name: string) =>
  new Fact<LiveTable>(`nft.table.${name.replace(' ', '.')}`, raw(`command -v nft >/dev/null 2>&1 || exit 127; nft -j list table ${name} 2>&1`), (r) => {
    if (r.code === 127) return { nft: false, table: null };
    if (r.code !== 0) return /No such file|does not exist/i.test(r.stdout) ? { nft: true, table: null } : { nft: true, table: null, error: r.stdout.trim() };
    try {
      return { nft: true, table: parseTable(r.stdout) };
    } catch {
      return { nft: true, table: null, error: `nft -j printed no JSON: ${r.stdout.slice(0, 200)}` };
    }
  });
export const nftTable = liveTable(TABLE);
export const nftBridgeTable = liveTable(BRIDGE_TABLE);

const BOOT = `#!/bin/sh
# tprun nftables: load table ${TABLE} when nftables is the backend tprun applied last.
[ "$(cat ${BACKEND_FILE} 2>/dev/null)" = nftables ] || exit 0
nft -f ${NFT_FILE}
`;

/** The table change (TABLE, or BRIDGE_TABLE): one nft transaction, validated first, undone from the snapshot. */
export function tableChange(before: NftTable | null, after: NftTable | null, name = TABLE): Change {
  const snap = raw(`"$TPRUN_TX/nft.${name.replace(' ', '.')}"`);
  const script = replaceScript(after, name);
  const [fam, tab] = name.split(' ') as [string, string];
  return change({
    kind: 'nft-table',
    role: ROLE,
    id: `nft table ${name}`,
    before: before && tableLines(before),
    after: after && tableLines(after),
    commands: [
      // The snapshot: the table as nft lists it (counters included), or an empty file when absent.
      sh`{ nft list table ${fam} ${tab} 2>/dev/null || :; } > ${snap}.part && mv -f ${snap}.part ${snap}`,
      heredoc(NFT_CHECK, script),
      heredoc(sh`nft -f /dev/stdin`, script),
    ],
    undo: [
      sh`if [ -s ${snap} ]; then { printf ${raw(`'table ${name} {}\\ndelete table ${name}\\n'`)}; cat ${snap}; } | nft -f /dev/stdin; elif [ -e ${snap} ]; then nft delete table ${fam} ${tab} 2>/dev/null || :; fi`,
    ],
  });
}

/** The kernel's nf_tables socket and tproxy expressions (y or m); unknown without a readable config. */
function kernelNft(k: KernelConfig) {
  const need = ['NF_TABLES_INET', 'NFT_SOCKET', 'NFT_TPROXY'];
  const known = k.source !== 'none';
  const missing = need.filter((o) => !['y', 'm'].includes(k.options[o] ?? ''));
  return requirement(ROLE, {
    name: 'kernel NFT_SOCKET and NFT_TPROXY',
    found: !known
      ? 'no kernel config readable'
      : missing.length
        ? `${missing.map((o) => `CONFIG_${o}`).join(', ')} not set (${k.source})`
        : need.map((o) => `${o}=${k.options[o]}`).join(' '),
    ok: !known || missing.length === 0,
    // Without a readable config tprun cannot tell; nft -c in the transaction still refuses.
    blocks: known,
    wanted: need.map((o) => `CONFIG_${o}=y|m`).join(', '),
    hint: "the nftables backend needs nf_tables' socket and tproxy expressions (Linux 4.18 and later); use tproxy.backend: iptables on this kernel",
  });
}

const choiceCheck = (c: BackendChoice) =>
  requirement(ROLE, { name: 'firewall backend', found: `${c.backend} (${c.reason})`, wanted: 'auto, iptables or nftables', ok: true, blocks: false });

export const nftables = defineRole({
  name: ROLE,
  applies: () => true,
  facts: () => ({
    firewall: firewallFacts,
    kernel: kernelConfig,
    release: kernelRelease,
    table: nftTable,
    bridgeTable: nftBridgeTable,
    nftFile: file(NFT_FILE),
    boot: file(BOOT_FILE),
    record: file(BACKEND_FILE),
  }),
  requirements(host, f) {
    const choice = backendOf(host, f.firewall);
    const out = [choiceCheck(choice)];
    if (choice.backend === 'nftables')
      out.push(
        requirement(ROLE, {
          name: 'nft',
          found: f.table.nft ? (f.table.error ? `nft fails: ${f.table.error}` : 'nft installed') : 'nft not found',
          ok: f.table.nft && !f.table.error,
          wanted: 'nft (nftables) with the socket and tproxy expressions',
          hint: `install nftables (${installCommand(packageFamily(f.release.text), { debian: 'nftables', rhel: 'nftables' })}), or set tproxy.backend: iptables`,
        }),
        kernelNft(f.kernel),
      );
    return out;
  },
  plan(host: Host, f) {
    const { backend } = backendOf(host, f.firewall);
    const on = backend === 'nftables';
    const want = on ? wantedTable(host) : null;
    const changes: Change[] = [];
    const mk = (path: string, content: string, mode = '0644') => ({ role: ROLE, path, mode, content, install: true });
    // The record is written once tprun has used nftables on the host, and kept true after.
    if (on || f.record !== null) changes.push(fileChange(mk(BACKEND_FILE, `${backend}\n`), f.record));
    const bridge = on ? bridgeQuicTable(host) : null;
    // One file, loaded at boot in one nft -f: the interception table, then block_quic's bridge table.
    const text = replaceScript(want) + (bridge ? replaceScript(bridge, BRIDGE_TABLE) : '');
    if (on) changes.push(fileChange(mk(NFT_FILE, text), f.nftFile), fileChange(mk(BOOT_FILE, BOOT, '0755'), f.boot));
    if (on || f.table.table) changes.push(tableChange(f.table.table, want));
    if (bridge || f.bridgeTable.table) changes.push(tableChange(f.bridgeTable.table, bridge, BRIDGE_TABLE));
    return { changes };
  },
});
