/** SELinux's mode and the two booleans squid needs for TPROXY. */
import { Fact } from '../../src/facts/fact.ts';
import { parseSebool } from '../../src/facts/parsers.ts';
import { raw } from '../../src/shell.ts';

/** 'absent' when the tools are not installed. */
export const selinuxMode = new Fact('selinux.mode', raw('command -v getenforce >/dev/null || exit 127; getenforce'), (r) => (r.code === 0 ? r.stdout.trim() : 'absent'));

export const selinuxBooleans = new Fact('selinux.booleans', raw('command -v getsebool >/dev/null || exit 127; getsebool squid_connect_any squid_use_tproxy 2>&1'), ({ stdout }) => parseSebool(stdout));
