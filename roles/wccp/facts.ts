/** A WCCP cache's GRE interface as `ip -d link show` describes it. */
import { Fact } from '../../src/facts/fact.ts';
import { parseGreLink, parseSysctls } from '../../src/facts/parsers.ts';
import type { GreTunnel } from '../../src/resources/change.ts';
import { raw, sh } from '../../src/shell.ts';
import { READ_SYSCTL } from '../../src/facts/shared.ts';

/** null: no such interface; `other`: an interface that is not a GRE tunnel (its first line). */
export const greLink = (name: string) =>
  new Fact<GreTunnel | { other: string } | null>(
    `link:${name}`,
    sh`ip -d link show ${name}`,
    (r) => {
      if (r.code !== 0) return null;
      return parseGreLink(r.stdout) ?? { other: r.stdout.split('\n')[0]!.trim() };
    },
    { kind: 'link' },
  );

/** rp_filter of the GRE interfaces (its own id: the sysctl role's live fact reads other keys). */
export const greRpFilter = (names: readonly string[]) =>
  new Fact<Map<string, string | null>>('wccp.rp_filter', sh`for i in ${names}; do k=net/ipv4/conf/$i/rp_filter; ${raw(READ_SYSCTL)}; done`, ({ stdout }) =>
    parseSysctls(stdout),
  );
