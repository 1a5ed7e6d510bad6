/** A WCCP cache's GRE interface as `ip -d link show` describes it. */
import { Fact } from '../../src/facts/fact.ts';
import { parseGreLink } from '../../src/facts/parsers.ts';
import type { GreTunnel } from '../../src/resources/change.ts';
import { sh } from '../../src/shell.ts';

/** null: no such interface; `other`: an interface that is not a GRE tunnel (its first line). */
export const greLink = (name: string) =>
  new Fact<GreTunnel | { other: string } | null>(`link:${name}`, sh`ip -d link show ${name}`, (r) => {
    if (r.code !== 0) return null;
    return parseGreLink(r.stdout) ?? { other: r.stdout.split('\n')[0]!.trim() };
  });
