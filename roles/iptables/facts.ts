/** The iptables tools' versions. */
import { Fact } from '../../src/facts/fact.ts';
import { parseVersion } from '../../src/facts/parsers.ts';
import { sh } from '../../src/shell.ts';

export const toolVersion = (tool: 'iptables' | 'ip6tables') =>
  new Fact(`tool.${tool}`, sh`${tool} --version`, (r) => (r.code === 0 ? { text: r.stdout.trim(), version: parseVersion(r.stdout) } : null));

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
