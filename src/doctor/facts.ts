/**
 * What `tprun doctor` reads on a host, all in the one facts script of the host's round trip:
 * squid's logs, the firewall with its counters, policy routing, listening sockets, squid.conf,
 * sysctls, default routes, addresses and links, the audit log and the SELinux booleans, and the
 * whole ruleset (every nft table, every iptables table of each backend).
 * Every command is read-only.
 */
import { Fact, type RawFact } from '../facts/fact.ts';
import { ruleset } from '../firewall/ruleset/fact.ts';
import { parseSysctls } from '../facts/parsers.ts';
import { file, ipRoutes, ipRules, kernelConfig } from '../facts/shared.ts';
import type { Host } from '../inventory/types.ts';
import { parseLive } from '../firewall/nft.ts';
import { raw, sh } from '../shell.ts';
import {
  logLines,
  parseAddrs,
  parseForgeryAlerts,
  parseDefaultRoutes,
  parseFirewall,
  parseLinks,
  parseSelinux,
  parseSockets,
  parseSquidState,
} from './parse.ts';

/** The last value of a squid.conf directive ($1: directive, $2: file), as a shell function. */
const DIRECTIVE = raw(`directive() { sed -n "s/^[[:space:]]*$1[[:space:]]\\{1,\\}\\([^[:space:]]*\\).*/\\1/p" "$2" 2>/dev/null | tail -n 1; }`);

/** A log's tail; exit 3 when it cannot be read, 4 when squid.conf turns it off. */
const logTail = (id: string, directive: string, fallback: string, lines: number, conf: string) =>
  new Fact(
    id,
    sh`${DIRECTIVE}
f=$(directive ${directive} ${conf}); f=\${f#stdio:}; f=\${f#daemon:}; f=\${f:-${fallback}}
[ "$f" = none ] && exit 4
[ -r "$f" ] || exit 3
tail -n ${lines} "$f"`,
    (r: RawFact) => logLines(r),
  );

export const cacheLog = (conf: string) => logTail('doctor.cache.log', 'cache_log', '/var/log/squid/cache.log', 400, conf);
/**
 * Host header forgery alerts in cache.log since squid's last start or reconfigure, read from the
 * log's last 256 KB only (a busy proxy's log can be large): their count, the first and the last
 * alert, and the "on URL:" line that follows the last one (squid logs it apart when it answers 409).
 */
export const forgeryAlerts = (conf: string) =>
  new Fact(
    'doctor.cache.alerts',
    sh`${DIRECTIVE}
f=$(directive cache_log ${conf}); f=\${f#stdio:}; f=\${f#daemon:}; f=\${f:-/var/log/squid/cache.log}
[ "$f" = none ] && exit 4
[ -r "$f" ] || exit 3
tail -c 262144 "$f" | awk '
/Starting Squid Cache|Reconfiguring Squid Cache/ { n = 0; first = ""; next }
/SECURITY ALERT: Host header forgery detected/ { n++; if (first == "") first = $0; last = $0; url = ""; next }
/SECURITY ALERT: on URL:/ { url = $0 }
END { print "count " n + 0; if (n) { print "first " first; print "last " last; if (url != "") print "url " url } }'`,
    (r: RawFact) => parseForgeryAlerts(r),
  );

export const accessLog = (conf: string) => logTail('doctor.access.log', 'access_log', '/var/log/squid/access.log', 300, conf);

/** Both families' mangle, filter and nat tables with their packet counters. */
export const firewall = new Fact(
  'doctor.firewall',
  raw(`for t in iptables ip6tables; do for tb in mangle filter nat; do echo "@@section $t.$tb"; $t-save -c -t $tb 2>/dev/null; done; done`),
  ({ stdout }) => parseFirewall(stdout),
);

/** nft's `table inet tprun` with its named counters (the nftables backend); null when absent. */
export const nftTprun = new Fact('doctor.nft', raw('nft -j list table inet tprun 2>/dev/null'), (r) => (r.code === 0 ? parseLive(r.stdout) : null));

export const sockets = new Fact('doctor.sockets', raw(`echo '@@section tcp'; ss -ltnp; echo '@@section udp'; ss -uanp`), ({ stdout }) => parseSockets(stdout));

/** Whether squid runs, since when, how old squid.conf is, and its libcap at build and run time. */
export const squidState = (conf: string) =>
  new Fact(
    'doctor.squid',
    sh`${DIRECTIVE}
conf=${conf}
if command -v squid >/dev/null; then echo installed=yes; else echo installed=no; fi
if squid -k check -f "$conf" >/dev/null 2>&1; then echo running=yes; else echo running=no; fi
pf=$(directive pid_filename "$conf"); pf=\${pf:-/run/squid.pid}
pid=$(cat "$pf" 2>/dev/null)
if [ -n "$pid" ] && [ -r "/proc/$pid/stat" ]; then
  echo "pid=$pid"
  st=$(sed 's/.*) //' "/proc/$pid/stat" | awk '{print $20}'); bt=$(awk '/^btime/ {print $2}' /proc/stat); hz=$(getconf CLK_TCK 2>/dev/null || echo 100)
  echo "started=$((bt + st / hz))"
fi
echo "conf_mtime=$(stat -c %Y "$conf" 2>/dev/null)"
echo "now=$(date +%s)"
echo "tz=$(date +%z)"
s=$(command -v squid) && l=$(ldd "$s" 2>/dev/null | grep 'libcap\\.so' | head -n 1)
echo "ldd=\${l:-none}"
ldconfig -p 2>/dev/null | grep 'libcap\\.so' | sed 's/^[[:space:]]*/ldconfig=/'
true`,
    ({ stdout }) => parseSquidState(stdout),
  );

export const rpFilters = new Fact(
  'doctor.sysctl',
  raw(
    `for f in /proc/sys/net/ipv4/ip_forward /proc/sys/net/ipv4/conf/*/rp_filter; do [ -r "$f" ] && printf '%s=%s\\n' "\${f#/proc/sys/}" "$(cat "$f")"; done; true`,
  ),
  ({ stdout }) => parseSysctls(stdout),
);

export const defaultRoutes = new Fact(
  'doctor.default-routes',
  raw(`echo '@@section 4'; ip -4 route show default table main; echo '@@section 6'; ip -6 route show default table main`),
  ({ stdout }) => parseDefaultRoutes(stdout),
);

export const addrs = new Fact('doctor.addrs', raw('ip -o addr show'), ({ stdout }) => parseAddrs(stdout));
export const links = new Fact('doctor.links', raw('ip -o -d link show'), ({ stdout }) => parseLinks(stdout));

/** AVC denials for squid in the audit log; null when there is no readable audit log. */
export const auditDenials = new Fact(
  'doctor.audit',
  raw(`f=/var/log/audit/audit.log; [ -r "$f" ] || exit 3; grep -E 'avc: +denied' "$f" | grep -E 'comm="squid|scontext=[^ ]*squid_t' | tail -n 20`),
  (r) => logLines(r),
);

export const selinux = new Fact(
  'doctor.selinux',
  raw(`echo '@@section mode'; command -v getenforce >/dev/null && getenforce || echo absent
echo '@@section runtime'; command -v getsebool >/dev/null && getsebool squid_connect_any squid_use_tproxy 2>&1
echo '@@section persistent'
if ! command -v semanage >/dev/null; then echo absent
elif [ "$(getenforce 2>/dev/null)" != Disabled ]; then semanage boolean -l 2>/dev/null | grep -E '^squid_(connect_any|use_tproxy) '; fi
true`),
  ({ stdout }) => parseSelinux(stdout),
);

/** The whole tree, for one host: its policy routing table comes from the inventory. */
export function doctorFacts(host: Host) {
  const conf = host.vars.squid.config;
  const table = host.vars.tproxy.table;
  return {
    cacheLog: cacheLog(conf),
    forgery: forgeryAlerts(conf),
    accessLog: accessLog(conf),
    firewall,
    nft: nftTprun,
    sockets,
    squid: squidState(conf),
    squidConf: file(conf),
    sysctl: rpFilters,
    rules4: ipRules('-4'),
    rules6: ipRules('-6'),
    routes4: ipRoutes('-4', table),
    routes6: ipRoutes('-6', table),
    defaults: defaultRoutes,
    addrs,
    links,
    audit: auditDenials,
    selinux,
    kernel: kernelConfig,
    ruleset,
  };
}
