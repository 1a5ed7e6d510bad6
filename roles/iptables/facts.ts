/** The iptables tools' versions. */
import { Fact } from '../../src/facts/fact.ts';
import { parseVersion } from '../../src/facts/parsers.ts';
import { sh } from '../../src/shell.ts';

export const toolVersion = (tool: 'iptables' | 'ip6tables') =>
  new Fact(`tool.${tool}`, sh`${tool} --version`, (r) => (r.code === 0 ? { text: r.stdout.trim(), version: parseVersion(r.stdout) } : null));
