/** The probes roles declare. Commands are read-only; parsers live in parsers.ts. */
import { q, type Probe } from './facts.ts';

const KCONFIG = 'NF_CONNTRACK|NETFILTER_TPROXY|NF_TPROXY_IPV4|NF_TPROXY_IPV6|NETFILTER_XT_MATCH_SOCKET|NETFILTER_XT_TARGET_TPROXY|NET_IPGRE|BRIDGE_NETFILTER|BRIDGE_EBT_BROUTE|BRIDGE_EBT_REDIRECT';

/** Shell: the ebtables command whose broute table works (the default one, else ebtables-legacy); append -save/-restore for those. */
export const EBTABLES = '"$(for t in ebtables ebtables-legacy; do command -v $t >/dev/null 2>&1 && $t -t broute -L >/dev/null 2>&1 && { echo $t; exit 0; }; done; echo ebtables)"';

/**
 * awk: `ebtables -t TABLE -L` into ebtables-save's format, one table. Not ebtables-save itself:
 * Debian 12's ebtables-legacy-save runs /usr/sbin/ebtables, which is ebtables-nft.
 */
export const EB_LIST_TO_SAVE = `awk '/^Bridge table: /{print "*" $3; next} /^Bridge chain: /{c=$3; sub(/,$/,"",c); chains=chains ":" c " " $NF "\\n"; next} /^$/{next} {sub(/ +$/,""); rules=rules "-A " c " " $0 "\\n"} END{printf "%s%s", chains, rules}'`;

export const probes = {
  kernelRelease: { id: 'kernel.release', command: 'uname -r' },
  kernelConfig: {
    id: 'kernel.config',
    command: `r=$(uname -r)
if [ -r /proc/config.gz ]; then echo source=/proc/config.gz; zcat /proc/config.gz
elif [ -r "/boot/config-$r" ]; then echo "source=/boot/config-$r"; cat "/boot/config-$r"
else echo source=none; fi | grep -E '^(source=|CONFIG_(${KCONFIG})=)'`,
  },
  /** Fallback evidence when no kernel config is readable: module files and loaded modules. */
  kernelModules: {
    id: 'kernel.modules',
    command: `for m in nf_conntrack nf_tproxy_ipv4 nf_tproxy_ipv6 xt_TPROXY xt_socket ip_gre; do
  if grep -q "^$m " /proc/modules 2>/dev/null; then echo "$m loaded"
  elif modinfo -F filename "$m" >/dev/null 2>&1; then echo "$m module"
  else echo "$m absent"; fi
done`,
  },
  iptablesVersion: { id: 'tool.iptables', command: 'iptables --version' },
  ip6tablesVersion: { id: 'tool.ip6tables', command: 'ip6tables --version' },
  ebtablesVersion: { id: 'tool.ebtables', command: 'ebtables --version' },
  /** The default ebtables, else ebtables-legacy: Debian 12's default ebtables-nft 1.8.9 has no broute table. */
  ebtablesBroute: {
    id: 'ebtables.broute',
    command: `command -v ebtables >/dev/null || exit 127
ebtables -t broute -L 2>&1 && exit 0
r=$?
if command -v ebtables-legacy >/dev/null && ebtables-legacy -t broute -L >/dev/null 2>&1; then echo 'ebtables-legacy: broute table usable'; exit 0; fi
exit $r`,
  },
  ebtablesSave: { id: 'ebtables.save', command: `command -v ebtables >/dev/null || exit 127; out=$(${EBTABLES} -t broute -L 2>&1) || { printf '%s\\n' "$out"; exit 3; }; printf '%s\\n' "$out" | ${EB_LIST_TO_SAVE}` },
  squidVersion: { id: 'squid.version', command: 'command -v squid >/dev/null || exit 127; squid -v' },
  squidLibcap: {
    id: 'squid.libcap',
    command: `s=$(command -v squid) || exit 127
p=$(ldd "$s" | awk '/libcap\\.so/ {print $3; exit}')
[ -n "$p" ] || exit 3
readlink -f "$p"`,
  },
  interfaces: { id: 'net.interfaces', command: 'ls -1 /sys/class/net' },
  bridgeSysctls: { id: 'sysctl.bridge', command: '[ -d /proc/sys/net/bridge ] || exit 3; ls -1 /proc/sys/net/bridge' },
  rules: (flag: '-4' | '-6'): Probe => ({ id: `ip${flag}.rules`, command: `ip ${flag} rule show` }),
  routes: (flag: '-4' | '-6', table: number): Probe => ({ id: `ip${flag}.routes.${table}`, command: `ip ${flag} route show table ${table}` }),
  mangle: (tool: 'iptables' | 'ip6tables'): Probe => ({ id: `${tool}.mangle`, command: `${tool}-save -t mangle` }),
  selinuxMode: { id: 'selinux.mode', command: 'command -v getenforce >/dev/null || exit 127; getenforce' },
  /** Runtime values (getsebool), then the persistent ones libsemanage keeps (setsebool -P) as "persistent NAME=0|1". */
  selinuxBooleans: {
    id: 'selinux.booleans',
    command: `command -v getsebool >/dev/null || exit 127
getsebool squid_connect_any squid_use_tproxy 2>&1; rc=$?
t=$(sed -n 's/^SELINUXTYPE=//p' /etc/selinux/config 2>/dev/null)
f=/var/lib/selinux/\${t:-targeted}/active/booleans.local
echo "persistent-store $f"
[ ! -r "$f" ] || sed -n 's/^\\(squid_connect_any\\|squid_use_tproxy\\)=/persistent \\1=/p' "$f"
exit $rc`,
  },
  serviceManager: { id: 'service.manager', command: '[ -d /run/systemd/system ] && echo systemd || echo none' },
  squidRunning: (config: string): Probe => ({ id: 'squid.running', command: `command -v squid >/dev/null || exit 127; squid -k check -f ${q(config)} 2>&1` }),
  symlink: (path: string): Probe => ({ id: `symlink:${path}`, command: `readlink ${q(path)}` }),
  link: (name: string): Probe => ({ id: `link:${name}`, command: `ip -d link show ${q(name)}` }),
  sysctls: (paths: readonly string[]): Probe => ({
    id: 'sysctl.live',
    command: `for k in ${paths.map(q).join(' ')}; do if [ -r "/proc/sys/$k" ]; then printf '%s=%s\\n' "$k" "$(cat "/proc/sys/$k")"; else printf '%s\\n' "$k"; fi; done`,
  }),
} as const;
