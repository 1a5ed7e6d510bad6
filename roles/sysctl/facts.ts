/** What the sysctl role reads besides the live values: the persisted files, IPv6 router advertisements. */
import { Fact } from '../../src/facts/fact.ts';
import { parseSysctlFiles } from '../../src/facts/parsers.ts';
import { raw } from '../../src/shell.ts';

/**
 * Every persisted sysctl file in the order a boot applies them: sysctl.d files by name across
 * the directories (a name in /etc hides the same name further down), then /etc/sysctl.conf,
 * which `sysctl --system` reads last (Debian also links it as 99-sysctl.conf).
 */
export const sysctlFiles = new Fact(
  'sysctl.files',
  raw(`for d in /etc/sysctl.d /run/sysctl.d /usr/local/lib/sysctl.d /usr/lib/sysctl.d /lib/sysctl.d; do
  for f in "$d"/*.conf; do [ -e "$f" ] && printf '%s %s\\n' "\${f##*/}" "$f"; done
done | sort -s -u -k1,1 | while read -r n f; do printf '==> %s %s\\n' "$f" "$(readlink -f "$f")"; cat "$f"; echo; done
if [ -f /etc/sysctl.conf ]; then printf '==> /etc/sysctl.conf %s\\n' "$(readlink -f /etc/sysctl.conf)"; cat /etc/sysctl.conf; fi`),
  ({ stdout }) => parseSysctlFiles(stdout),
);

export interface RouterAdvertisements {
  /** interface → accept_ra */
  acceptRa: Map<string, string>;
  /** Interfaces whose IPv6 default route was learnt from a router advertisement. */
  raDefault: Set<string>;
}

/** accept_ra of every interface, and the IPv6 default routes learnt from router advertisements. */
export const routerAdvertisements = new Fact<RouterAdvertisements>(
  'ipv6.ra',
  // One grep for every interface, not a cat per interface.
  raw(`grep -H . /proc/sys/net/ipv6/conf/*/accept_ra 2>/dev/null | sed -n 's|^/proc/sys/net/ipv6/conf/\\(.*\\)/accept_ra:|accept_ra \\1 |p'
ip -6 route show default proto ra 2>/dev/null | sed -n 's/.* dev \\([^ ]*\\).*/ra_default \\1/p'`),
  ({ stdout }) => {
    const acceptRa = new Map<string, string>();
    const raDefault = new Set<string>();
    for (const line of stdout.split('\n')) {
      const [k, a, b] = line.trim().split(/\s+/);
      if (k === 'accept_ra' && a && b) acceptRa.set(a, b);
      if (k === 'ra_default' && a) raDefault.add(a);
    }
    return { acceptRa, raDefault };
  },
);
