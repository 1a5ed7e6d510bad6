/**
 * Facts several roles read (kernel, policy routing, firewall tables, service manager, files).
 * Role-specific facts live in the role's folder. Ids are stable: recorded fixtures use them.
 */
import { raw, sh } from '../shell.ts';
import { Fact, stdoutIfOk } from './fact.ts';
import {
  parseIpRoutes,
  parseIpRules,
  parseKernelConfig,
  parseModules,
  parseSaveTable,
  parseSysctls,
  parseVersion,
  type IpRoute,
  type IpRule,
  type KernelConfig,
  type SaveTable,
} from './parsers.ts';

export type IpFlag = '-4' | '-6';

const KCONFIG =
  'NF_CONNTRACK|NETFILTER_TPROXY|NF_TPROXY_IPV4|NF_TPROXY_IPV6|NETFILTER_XT_MATCH_SOCKET|NETFILTER_XT_TARGET_TPROXY|NET_IPGRE|BRIDGE_NETFILTER|BRIDGE_EBT_BROUTE|BRIDGE_EBT_REDIRECT|NF_TABLES_INET|NFT_SOCKET|NFT_TPROXY|NFT_COMPAT';

/**
 * Shell: $r, the kernel's release as `uname -r` prints it, read by the shell itself: every process
 * the facts script starts is a fork and an exec on the host (its facts use builtins where they can).
 */
const RELEASE = 'IFS= read -r r < /proc/sys/kernel/osrelease || r=$(uname -r)';

export const kernelRelease = new Fact('kernel.release', raw(`${RELEASE}; printf '%s\\n' "$r"`), ({ stdout }) => ({
  text: stdout.trim(),
  version: parseVersion(stdout),
}));

export const kernelConfig = new Fact<KernelConfig>(
  'kernel.config',
  // gzip -cd, not zcat: zcat is a shell script that runs gzip (two processes).
  raw(`${RELEASE}
if [ -r /proc/config.gz ]; then echo source=/proc/config.gz; gzip -cd /proc/config.gz
elif [ -r "/boot/config-$r" ]; then echo "source=/boot/config-$r"; cat "/boot/config-$r"
else echo source=none; fi | grep -E '^(source=|CONFIG_(${KCONFIG})=)'`),
  ({ stdout }) => parseKernelConfig(stdout),
);

/** Fallback evidence when no kernel config is readable: module files and loaded modules. */
export const kernelModules = new Fact<Record<string, string>>(
  'kernel.modules',
  // /proc/modules read once by the shell (a grep per module was 7 processes).
  raw(`loaded=' '; while read -r n _; do loaded="$loaded$n "; done < /proc/modules
for m in nf_conntrack nf_tproxy_core nf_tproxy_ipv4 nf_tproxy_ipv6 xt_TPROXY xt_socket ip_gre; do
  if case $loaded in *" $m "*) true;; *) false;; esac; then echo "$m loaded"
  elif modinfo -F filename "$m" >/dev/null 2>&1; then echo "$m module"
  else echo "$m absent"; fi
done`),
  ({ stdout }) => parseModules(stdout),
);

export const serviceManager = new Fact<'systemd' | 'none'>('service.manager', raw('[ -d /run/systemd/system ] && echo systemd || echo none'), ({ stdout }) =>
  stdout.trim() === 'systemd' ? 'systemd' : 'none',
);

export const ipRules = (flag: IpFlag) =>
  new Fact<IpRule[]>(`ip${flag}.rules`, sh`ip ${flag} rule show`, ({ stdout }) => parseIpRules(stdout), { kind: 'ip.rules' });

/** A table that does not exist yet reads as empty. */
export const ipRoutes = (flag: IpFlag, table: number) =>
  new Fact<IpRoute[]>(`ip${flag}.routes.${table}`, sh`ip ${flag} route show table ${table}`, (r) => parseIpRoutes(stdoutIfOk(r) ?? ''), { kind: 'ip.routes' });

/** One table of `*-save` output; null when the tool or the table is missing. */
export const saveTable = (tool: 'iptables' | 'ip6tables', table: 'mangle' | 'filter') =>
  new Fact<SaveTable | null>(`${tool}.${table}`, sh`${tool}-save -t ${table}`, (r) => (r.code === 0 ? parseSaveTable(r.stdout, table) : null), {
    kind: 'iptables-save',
  });

/** A regular file's content (null: absent), read as base64 so any bytes survive the framing. */
export const file = (path: string) =>
  new Fact<string | null>(
    `file:${path}`,
    sh`[ -f ${path} ] || exit 3; base64 < ${path}`,
    (r) => (r.code === 0 ? Buffer.from(r.stdout.replace(/\s+/g, ''), 'base64').toString('utf8') : null),
    { kind: 'file' },
  );

export const symlink = (path: string) =>
  new Fact<string | null>(`symlink:${path}`, sh`readlink ${path}`, (r) => stdoutIfOk(r)?.trim() ?? null, { kind: 'symlink' });

/**
 * Shell: the line `k=value` of sysctl $k, or `k` alone when it cannot be read. The value is read
 * by the shell (a `cat` per key was a process each): its first line, as the parser reads it.
 */
export const READ_SYSCTL = `if [ -r "/proc/sys/$k" ]; then v=; IFS= read -r v < "/proc/sys/$k"; printf '%s=%s\\n' "$k" "$v"; else printf '%s\\n' "$k"; fi`;

/** Live values under /proc/sys; a key that cannot be read is null. */
export const sysctls = (paths: readonly string[]) =>
  new Fact<Map<string, string | null>>('sysctl.live', sh`for k in ${paths}; do ${raw(READ_SYSCTL)}; done`, ({ stdout }) => parseSysctls(stdout));
