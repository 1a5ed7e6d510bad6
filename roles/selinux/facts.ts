/** SELinux's mode and the two booleans squid needs for TPROXY. */
import { Fact } from '../../src/facts/fact.ts';
import { parseSebool } from '../../src/facts/parsers.ts';
import { raw } from '../../src/shell.ts';

/** 'absent' when the tools are not installed. */
export const selinuxMode = new Fact('selinux.mode', raw('command -v getenforce >/dev/null || exit 127; getenforce'), (r) =>
  r.code === 0 ? r.stdout.trim() : 'absent',
);

export const selinuxBooleans = new Fact(
  'selinux.booleans',
  raw('command -v getsebool >/dev/null || exit 127; getsebool squid_connect_any squid_use_tproxy 2>&1'),
  ({ stdout }) => parseSebool(stdout),
);

/**
 * The booleans' persistent (boot-time) values: semanage's "(current, default)" column, else the
 * policy store's booleans.local (what `setsebool -P` writes). getsebool shows only the running value.
 */
export const selinuxPersistent = new Fact(
  'selinux.persistent',
  raw(`if command -v semanage >/dev/null; then echo source=semanage; semanage boolean -l -n 2>/dev/null | grep -E '^(squid_connect_any|squid_use_tproxy) '
else echo source=booleans.local; cat /var/lib/selinux/*/active/booleans.local /etc/selinux/*/modules/active/booleans.local 2>/dev/null; fi`),
  ({ stdout }) => parsePersistentBooleans(stdout),
);

/** "squid_use_tproxy (on , off) Allow ..." (semanage: current, default) or "squid_use_tproxy=1" (booleans.local). */
export function parsePersistentBooleans(text: string): { source: string; values: Map<string, 'on' | 'off'> } {
  const values = new Map<string, 'on' | 'off'>();
  let source = 'none';
  for (const line of text.split('\n')) {
    if (line.startsWith('source=')) source = line.slice(7).trim();
    const s = /^(\S+)\s+\(\s*(on|off)\s*,\s*(on|off)\s*\)/.exec(line);
    if (s) values.set(s[1]!, s[3] as 'on' | 'off');
    const l = /^(\S+?)\s*=\s*([01])\s*$/.exec(line.trim());
    if (l) values.set(l[1]!, l[2] === '1' ? 'on' : 'off');
  }
  return { source, values };
}
