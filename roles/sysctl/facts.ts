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
  // Three processes whatever the number of files (was a readlink and a cat per file): one
  // readlink for every file, one awk prints each "==> FILE TARGET" header (an empty file's too)
  // and the content, then a blank line after each sysctl.d file.
  raw(`set --
while read -r n f; do [ -n "$f" ] && set -- "$@" "$f"; done <<EOF
$(for d in /etc/sysctl.d /run/sysctl.d /usr/local/lib/sysctl.d /usr/lib/sysctl.d /lib/sysctl.d; do
  for f in "$d"/*.conf; do [ -e "$f" ] && printf '%s %s\\n' "\${f##*/}" "$f"; done
done | sort -s -u -k1,1)
EOF
n=$#
[ -f /etc/sysctl.conf ] && set -- "$@" /etc/sysctl.conf
[ $# -gt 0 ] || exit 0
R=$(readlink -f -- "$@") awk -v n="$n" 'function next_(f) { while (j < ARGC - 1) { if (j && j <= n) print ""; j++; printf "==> %s %s\\n", ARGV[j], r[j]; if (ARGV[j] == f) return } }
BEGIN { split(ENVIRON["R"], r, "\\n") }
FNR == 1 { next_(FILENAME) }
{ print }
END { next_(""); if (j && j <= n) print "" }' "$@"`),
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
  // Read by the shell: a process per interface (cat), then grep and sed, were the host's cost.
  raw(`for f in /proc/sys/net/ipv6/conf/*/accept_ra; do v=; IFS= read -r v < "$f"; [ -n "$v" ] || continue; i=\${f#/proc/sys/net/ipv6/conf/}; printf 'accept_ra %s %s\\n' "\${i%/accept_ra}" "$v"; done
ip -6 route show default proto ra 2>/dev/null | while IFS= read -r l; do case $l in *" dev "*) d=\${l##* dev }; printf 'ra_default %s\\n' "\${d%% *}";; esac; done`),
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
