/** What the squid role reads on a host: the build, its libcap, whether it runs. */
import { Fact, stdoutIfOk } from '../../src/facts/fact.ts';
import { parseLibcapPath, parseSquidV } from '../../src/facts/parsers.ts';
import { raw, sh } from '../../src/shell.ts';
import { FAMILIES, type Family } from '../../src/inventory/types.ts';

export const squidBuild = new Fact('squid.version', raw('command -v squid >/dev/null || exit 127; squid -v'), (r) => {
  const text = stdoutIfOk(r);
  return text === null ? null : parseSquidV(text);
});

export const squidLibcap = new Fact(
  'squid.libcap',
  // A running squid's own mapping first: ldd runs the dynamic loader (about 0.1 s of every check).
  raw(`s=$(command -v squid) || exit 127
p=
for pid in $(pidof squid 2>/dev/null); do p=$(grep -m 1 -o '/[^ ]*/libcap\\.so[^ ]*' "/proc/$pid/maps" 2>/dev/null) && break; done
[ -n "$p" ] || p=$(ldd "$s" | awk '/libcap\\.so/ {print $3; exit}')
[ -n "$p" ] || exit 3
readlink -f "$p"`),
  (r) => {
    const path = stdoutIfOk(r)?.trim();
    return path ? { path, version: parseLibcapPath(path) } : null;
  },
);

/** Where squid keeps its pid: pid_filename in squid.conf, else Debian's /run/squid.pid (shell, sets $pidf). */
export const squidPidFile = (config: string) =>
  sh`pidf=$(awk '$1 == "pid_filename" {p = $2} END {print p}' ${config} 2>/dev/null); [ -n "$pidf" ] && [ "$pidf" != none ] || pidf=/run/squid.pid`;

/** Which squid.conf the running squid loaded: recorded by tprun when it starts or reconfigures squid. */
export const LOADED = '/run/tprun/squid.loaded';

export interface SquidState {
  running: boolean;
  /** current: squid runs the squid.conf on disk; older: squid.conf changed since squid loaded it. */
  loaded: 'current' | 'older';
  /** The families squid's tproxy port listens for (a wildcard socket of ss's `*` serves both). */
  listening: Family[];
}

/**
 * Whether squid runs, with this squid.conf, listening on the tproxy port. Running is read from
 * the pid file (not `squid -k check`, which parses squid.conf and calls a live squid "stopped"
 * when the file is broken). The loaded configuration is tprun's record (pid and sha256 written
 * by the start and the reconfigure), else: squid started after squid.conf was last written; and
 * in any case older when squid's cache.log says it last read a configuration before squid.conf's
 * mtime (squidReadTime).
 */
/**
 * Families served by listening sockets as ss prints them: `*:P` is a dual-stack wildcard (both),
 * `[::]:P` an IPv6-only one (squid's wildcard after its IPv6 TPROXY probe failed shows as
 * `0.0.0.0:P`: IPv4 only, the case this exists for), `[addr]:P` IPv6, anything else IPv4.
 */
export function listenFamilies(locals: readonly string[]): Family[] {
  const out = new Set<Family>();
  for (const l of locals) {
    const host = l.slice(0, l.lastIndexOf(':'));
    if (host === '*') ['ipv4', 'ipv6'].forEach((f) => out.add(f as Family));
    else out.add(host.startsWith('[') ? 'ipv6' : 'ipv4');
  }
  return FAMILIES.filter((f) => out.has(f));
}

/**
 * Shell: $rd, when squid last read its configuration by its own word: the time of the last
 * "Starting Squid Cache" or "Reconfiguring Squid Cache" line of its cache.log (cache_log in
 * squid.conf, else Debian's /var/log/squid/cache.log; both logged at squid's default level: seen
 * with 5.7 in the lab, DBG_IMPORTANT in Squid 6's main.cc), as seconds; empty when the log has none (rotated since, or elsewhere). Squid's own
 * record, unlike tprun's: a hand `squid -k reconfigure` of an edited file, then the file put back
 * (same content, newer mtime), is seen. Read from the end (tac), so a big log costs little.
 */
export const squidReadTime = (config: string) =>
  sh`clog=$(awk '$1 == "cache_log" {p = $2} END {print p}' ${config} 2>/dev/null); [ -n "$clog" ] || clog=/var/log/squid/cache.log
${LOG_READ_TIME}`;

/**
 * Shell: squidReadTime's $rd from the cache.log at $clog. The matched line starts with its
 * 19-character time, which the shell cuts (a `cut` less).
 */
const LOG_READ_TIME =
  raw(`rd=$(tac "$clog" 2>/dev/null | grep -m 1 -E '^[0-9]{4}/[0-9]{2}/[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}.* (Starting|Reconfiguring) Squid Cache'); rd=\${rd%"\${rd#???????????????????}"}
[ -z "$rd" ] || rd=$(date -d "$rd" +%s 2>/dev/null)`);

export const squidRunning = (config: string, tproxyPort: number) =>
  new Fact(
    'squid.running',
    // squidPidFile and squidReadTime in one awk, the one-line files read by the shell and
    // sha256sum's digest cut by it: every process here is a fork and an exec on the host.
    sh`command -v squid >/dev/null || exit 127
cf=$(awk '$1 == "pid_filename" {p = $2} $1 == "cache_log" {c = $2} END {print p " " c}' ${config} 2>/dev/null); pidf=\${cf%% *}; clog=\${cf#* }
[ -n "$pidf" ] && [ "$pidf" != none ] || pidf=/run/squid.pid
pid=; IFS= read -r pid < "$pidf"
if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; then echo "state stopped"; exit 3; fi
sum=$(sha256sum < ${config}); sum=\${sum%% *}
rec=; IFS= read -r rec < ${LOADED}
if [ -n "$rec" ] && [ "\${rec%% *}" = "$pid" ]; then
  [ "\${rec#* }" = "$sum" ] && l=current || l=older
else
  hz=$(getconf CLK_TCK); bt=$(awk '/^btime/ {print $2}' /proc/stat); st=$(sed 's/.*) //' /proc/$pid/stat | cut -d' ' -f20)
  [ "$(stat -c %Y ${config})" -le $((bt + st / hz)) ] && l=current || l=older
fi
[ -n "$clog" ] || clog=/var/log/squid/cache.log
${LOG_READ_TIME}
[ -n "$rd" ] && [ "$(stat -c %Y ${config})" -gt "$rd" ] && l=older
echo "state running"; echo "loaded $l"
ss -ltnH ${`sport = :${tproxyPort}`} 2>/dev/null | while read -r _ _ _ l _; do printf 'listen %s\\n' "$l"; done`,
    (r): SquidState => {
      if (r.code !== 0) return { running: false, loaded: 'current', listening: [] };
      return {
        running: /^state running$/m.test(r.stdout),
        loaded: /^loaded older$/m.test(r.stdout) ? 'older' : 'current',
        listening: listenFamilies([...r.stdout.matchAll(/^listen (\S+)$/gm)].map((m) => m[1]!)),
      };
    },
  );

/**
 * Whether squid starts at boot: `systemctl is-enabled squid` (enabled, disabled, masked, …); null
 * without systemd, where tprun does not manage boot-time start (containers, the namespace lab).
 */
export const squidEnabled = new Fact<string | null>(
  'squid.enabled',
  raw('[ -d /run/systemd/system ] || exit 3; systemctl is-enabled squid 2>/dev/null; exit 0'),
  (r) => (r.code === 0 ? r.stdout.trim().split('\n')[0] || 'not-found' : null),
);

/** How the host rotates squid's logs, and the conf.d drop-ins its distribution's squid.conf would include. */
export interface SquidLogs {
  /** The logrotate rule for squid (the Debian and RHEL packages ship /etc/logrotate.d/squid), or null. */
  logrotate: string | null;
  /** Each SQUIDCONF_DIR/conf.d/*.conf with its lines that are neither comments nor blank. */
  confd: { path: string; lines: string[] }[];
}

export const squidLogs = (config: string) =>
  new Fact(
    'squid.logs',
    sh`[ -f /etc/logrotate.d/squid ] && echo "logrotate /etc/logrotate.d/squid"
for f in "$(dirname ${config})"/conf.d/*.conf; do [ -f "$f" ] || continue; echo "confd $f"; grep -vE '^[[:space:]]*(#|$)' "$f" | sed 's/^/  /'; done
true`,
    ({ stdout }): SquidLogs => {
      const out: SquidLogs = { logrotate: /^logrotate (.+)$/m.exec(stdout)?.[1] ?? null, confd: [] };
      for (const line of stdout.split('\n')) {
        if (line.startsWith('confd ')) out.confd.push({ path: line.slice(6), lines: [] });
        else if (line.startsWith('  ') && out.confd.length) out.confd.at(-1)!.lines.push(line.trim());
      }
      return out;
    },
  );

/** squid.conf's mode, owner and group (null: no file), and the group squid runs as (null: unknown). */
export interface ConfMode {
  group: string | null;
  file: { mode: string; owner: string; group: string } | null;
}

/**
 * The group squid runs as: cache_effective_group, else the primary group of cache_effective_user
 * (from squid.extra, else the build's --with-default-user: proxy on Debian, squid on RHEL).
 */
export const squidConfMode = (config: string, user: string | undefined, group: string | undefined) =>
  new Fact(
    'squid.conf-mode',
    sh`g=${group ?? ''}; u=${user ?? ''}
if [ -z "$u" ]; then
  # The configure option cut out of squid -v's words by the shell (was tr and sed).
  set -f; IFS=' 
'; for w in $(squid -v 2>/dev/null); do case $w in "'--with-default-user="*"'") u=\${w#"'--with-default-user="}; u=\${u%"'"};; esac; done; unset IFS; set +f
fi
[ -n "$g" ] || g=$(id -gn "\${u:-nobody}" 2>/dev/null)
echo "group $g"
[ -f ${config} ] && echo "file $(stat -c '%a %U %G' ${config})"
true`,
    ({ stdout }): ConfMode => {
      const g = /^group (\S+)$/m.exec(stdout)?.[1] ?? null;
      const f = /^file (\d+) (\S+) (\S+)$/m.exec(stdout);
      return { group: g, file: f ? { mode: f[1]!.padStart(4, '0'), owner: f[2]!, group: f[3]! } : null };
    },
  );
