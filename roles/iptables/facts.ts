/** The iptables tools' versions. */
import { Fact } from '../../src/facts/fact.ts';
import { parseSaveTable, parseVersion, type SaveTable } from '../../src/facts/parsers.ts';
import { EB_LIST_TO_SAVE } from '../../src/firewall/ebtables.ts';
import { sh } from '../../src/shell.ts';

export const toolVersion = (tool: 'iptables' | 'ip6tables') =>
  new Fact(`tool.${tool}`, sh`${tool} --version`, (r) => (r.code === 0 ? { text: r.stdout.trim(), version: parseVersion(r.stdout) } : null), {
    kind: 'tool.iptables',
  });

export interface NftChain {
  family: string;
  table: string;
  name: string;
  hook?: string;
  policy?: string;
}

/** Every nftables chain (`nft -j list chains`); null where nft is not installed. */
export const nftChains = new Fact<NftChain[] | null>('nft.chains', sh`command -v nft >/dev/null || exit 127; nft -j list chains`, (r) => {
  if (r.code !== 0) return null;
  try {
    const doc = JSON.parse(r.stdout) as { nftables?: { chain?: NftChain }[] };
    return (doc.nftables ?? []).flatMap((x) => (x.chain ? [x.chain] : []));
  } catch {
    return null;
  }
});

/**
 * ebtables-nft's filter table (what block_quic's bridge-family TPRUN_FORWARD lives in), in
 * ebtables-save's format; `tool` false where ebtables-nft is not installed. Listing it creates
 * nothing (checked on iptables 1.8.9).
 */
export const ebtablesNftFilter = new Fact<{ tool: boolean; table: SaveTable | null }>(
  'ebtables-nft.filter',
  sh`command -v ebtables-nft >/dev/null || exit 127; out=$(ebtables-nft -t filter -L 2>&1) || { printf '%s\\n' "$out"; exit 3; }; printf '%s\\n' "$out" | ${EB_LIST_TO_SAVE}`,
  (r) => ({ tool: r.code !== 127, table: r.code === 0 ? parseSaveTable(r.stdout, 'filter') : null }),
);
