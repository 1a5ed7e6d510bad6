/**
 * squid: tprun manages the whole squid.conf from a template (plus the inventory's squid.extra
 * lines) rather than a snippet: http_access is first-match, so the allow for the intercepted
 * clients only works if tprun controls where it stands relative to "deny all", and a whole
 * file makes any hand edit visible as drift. Every candidate is checked with
 * `squid -k parse` before it replaces the live file; a change reconfigures squid once.
 * A WCCP cache's wccp2_* lines are squid.conf lines too, so they are rendered here.
 */
import { compareVersions } from '../../src/facts/parsers.ts';
import { installCommand, packageFamily } from '../../src/facts/family.ts';
import { kernelRelease, serviceManager } from '../../src/facts/shared.ts';
import type { Host } from '../../src/inventory/types.ts';
import { change } from '../../src/resources/change.ts';
import type { Artifact } from '../../src/resources/file.ts';
import { defineRole, requirement, settingsFiles } from '../../src/role/contract.ts';
import { templates } from '../../src/render/templates.ts';
import { heredoc, raw, sh, type Shell } from '../../src/shell.ts';
import {
  LOADED,
  squidBuild,
  squidConfMode,
  squidEnabled,
  squidLibcap,
  squidLogs,
  squidPidFile,
  squidReadTime,
  squidRunning,
  type ConfMode,
  type SquidLogs,
} from './facts.ts';
import { file } from '../../src/facts/shared.ts';
import { validateSquid } from './validate.ts';
import './settings.ts';

const ROLE = 'squid';
const render = templates(import.meta.url);
const v = (s: readonly number[]) => s.join('.');

/**
 * squid -k parse echoes every line it reads ("Processing: …"), cache_peer logins and other
 * secrets included: its output stays in a variable, never in a file on the host, and the
 * operator gets only its complaints.
 */
const parse = (candidate: Shell) =>
  sh`tprun_parse=$(squid -k parse -f ${candidate} 2>&1 >/dev/null) || { tprun_parse=$(printf '%s\n' "$tprun_parse" | grep -v 'Processing: '); printf '%s\n' "$tprun_parse" | grep -E "FATAL|ERROR|unrecognized|Bungled" >&2 || printf '%s\n' "$tprun_parse" | tail -n 5 >&2; false; }`;

/** The squid.conf section for a WCCP cache, or '' when the host is behind no WCCP router. */
function wccpSection(host: Host): string {
  if (!host.wccp.length) return '';
  return render('squid-wccp.eta', { peers: host.wccp, services: host.wccp[0]!.services, ports: [...host.vars.tproxy.ports, ...host.vars.tproxy.https_ports] });
}

function artifacts(host: Host): Artifact[] {
  const squid = {
    ...host.vars.squid,
    // "This is now resolved by adding the no-tproxy flag to the cluster sibling cache_peer lines."
    siblings: host.vars.squid.siblings
      .map((s) => ({ http_port: 3128, icp_port: 0, ...s, options: s.options ?? [] }))
      .map((s) => ({ ...s, options: s.options.includes('no-tproxy') ? s.options : [...s.options, 'no-tproxy'] })),
  };
  const content = render('squid.conf.eta', { host, squid, wccp: wccpSection(host) });
  return [{ role: ROLE, path: host.vars.squid.config, mode: '0640', content, validate: parse, notify: 'squid-reload', install: true }];
}

/**
 * squid.conf sets logfile_rotate 0 (the distribution's logrotate rotates the logs and runs
 * `squid -k rotate` only to reopen them, as Debian's conf.d/debian.conf and RHEL's squid.conf
 * do): warnings where nothing rotates them, and for conf.d drop-ins tprun's whole squid.conf does
 * not include (Debian's stock debian.conf says only what tprun says).
 */
function logWarnings(host: Host, logs: SquidLogs) {
  const warn = (message: string) => ({ severity: 'warning' as const, host: host.name, role: ROLE, message });
  const own = host.vars.squid.extra.some((l) => /^\s*logfile_rotate\s/.test(l));
  const out = [];
  if (!logs.logrotate && !own)
    out.push(
      warn(
        "no /etc/logrotate.d/squid: squid.conf sets logfile_rotate 0 (the distribution's logrotate rotates squid's logs), so nothing rotates them here; install the package's logrotate rule, or set logfile_rotate N in squid.extra and run squid -k rotate from cron",
      ),
    );
  for (const f of logs.confd) {
    const lines = f.lines.filter((l) => !/^logfile_rotate\s+0$/.test(l));
    if (lines.length)
      out.push(
        warn(
          `${f.path} is not read: tprun's squid.conf is the whole file and includes no conf.d (${lines.length} line${lines.length === 1 ? '' : 's'} there, e.g. "${lines[0]!.slice(0, 80)}"); move them to squid.extra`,
        ),
      );
  }
  return out;
}

/** The last value squid.extra gives a directive (squid takes the last one). */
const lastDirective = (host: Host, name: string) =>
  host.vars.squid.extra
    .map((l) => new RegExp(`^\\s*${name}\\s+(\\S+)`).exec(l)?.[1])
    .filter((x) => x !== undefined)
    .at(-1);

/**
 * squid.conf is 0640 root:<squid's group>: it may hold cache_peer logins, and squid reads it
 * through its group. A rewrite leaves root:root 0640 (the candidate is chmod'ed, written by
 * root), so a changed file always gets its group back; check calls any other mode drift.
 */
function confMode(host: Host, m: ConfMode, rewritten: boolean) {
  const conf = host.vars.squid.config;
  if (!m.group)
    return {
      changes: [],
      diagnostics: [
        {
          severity: 'warning' as const,
          host: host.name,
          role: ROLE,
          message: `cannot tell squid's group (no cache_effective_user's group on the host): ${conf} stays root's`,
        },
      ],
    };
  const now = rewritten ? { mode: '0640', owner: 'root', group: 'root' } : m.file;
  const before = now ? `${now.mode} ${now.owner}:${now.group}` : null;
  const after = `0640 root:${m.group}`;
  return {
    changes: [
      change({
        kind: 'file-mode',
        role: ROLE,
        id: `file-mode ${conf}`,
        before,
        after,
        commands: [sh`chown ${`root:${m.group}`} ${conf} && chmod 0640 ${conf}`],
        undo: now ? [sh`chown ${`${now.owner}:${now.group}`} ${conf} && chmod ${now.mode} ${conf}`] : [],
      }),
    ],
    diagnostics: [],
  };
}

/** Wait until squid answers `-k check`, or fail with the end of its log. */
const waitRunning = (conf: string) =>
  sh`i=0; until squid -k check -f ${conf} >/dev/null 2>&1; do i=$((i+1)); [ $i -ge 50 ] && { echo "squid did not start" >&2; tail -n 20 /var/log/squid/cache.log >&2 2>/dev/null; exit 1; }; sleep 0.2; done`;

/** Wait until something listens on the tproxy port (squid binds it after a start or reconfigure). */
const waitListening = (port: number) =>
  sh`i=0; until ss -ltnH ${`sport = :${port}`} | grep -q .; do i=$((i+1)); [ $i -ge 75 ] && { echo ${`squid is not listening on the tproxy port ${port}`} >&2; tail -n 20 /var/log/squid/cache.log >&2 2>/dev/null; exit 1; }; sleep 0.2; done`;

/**
 * After a reconfigure (a signal: squid rereads later), until squid's cache.log says it read a
 * configuration no older than squid.conf (squidReadTime); no wait where the log has no such line.
 */
const waitReread = (conf: string) =>
  sh`${squidReadTime(conf)}; i=0; while [ -n "$rd" ] && [ "$(stat -c %Y ${conf})" -gt "$rd" ]; do i=$((i+1)); [ $i -ge 75 ] && { echo "squid did not reread squid.conf (its cache.log has no Reconfiguring line since)" >&2; exit 1; }; sleep 0.2; ${squidReadTime(conf)}; done`;

/** Record which squid.conf the running squid loaded (its pid and the file's sha256): the running fact reads it. */
const recordLoaded = (conf: string) =>
  sh`${squidPidFile(conf)}; mkdir -p /run/tprun && printf '%s %s\n' "$(cat "$pidf")" "$(sha256sum < ${conf} | cut -c1-64)" > ${LOADED + '.new'} && mv -f ${LOADED + '.new'} ${LOADED}`;

/**
 * After every undo of a rollback (src/apply/script.ts runs "$TPRUN_TX/after-rollback"): a running
 * squid rereads the restored squid.conf, so it never runs a configuration that is not on disk.
 */
const reloadAfterRollback = (reload: Shell, conf: string) =>
  heredoc(
    sh`cat >> "$TPRUN_TX/after-rollback"`,
    `${squidPidFile(conf).text}; if [ -s "$pidf" ] && kill -0 "$(cat "$pidf")" 2>/dev/null; then ${reload.text} && sleep 0.5 && ${recordLoaded(conf).text}; fi`,
  );

/**
 * Stop squid only if this transaction started it: the start step marks that squid was stopped
 * before it; a squid running now was started by it (the host's lock keeps other applies out).
 * Its pid and its children are stopped by pid, never by name, and never with a broken -f file.
 */
const stopIfStartedHere = (conf: string, systemd: boolean) =>
  systemd
    ? sh`[ -e "$TPRUN_TX/squid.was-stopped" ] || exit 0; systemctl stop squid`
    : sh`[ -e "$TPRUN_TX/squid.was-stopped" ] || exit 0; ${squidPidFile(conf)}; p=$(cat "$pidf" 2>/dev/null); [ -n "$p" ] && kill -0 "$p" 2>/dev/null || exit 0
kids=$(for s in /proc/[0-9]*/stat; do set -- $(sed 's/.*) //' "$s" 2>/dev/null); [ "$2" = "$p" ] && basename "$(dirname "$s")"; done)
kill -TERM $p $kids 2>/dev/null; i=0; while kill -0 $p 2>/dev/null && [ $i -lt 25 ]; do sleep 0.2; i=$((i+1)); done
kill -KILL $p $kids 2>/dev/null; rm -f "$pidf"; true`;

/**
 * squid starts at boot: tprun-boot restores the TPROXY rules at boot, so a squid left disabled
 * would black-hole the intercepted ports after a reboot. Only where systemd runs (null: no systemd).
 */
function bootStart(state: string | null) {
  if (state === null) return [];
  const undo = state === 'masked' ? [raw('systemctl mask squid')] : state === 'disabled' ? [raw('systemctl disable squid')] : [];
  const commands = [...(state === 'masked' ? [raw('systemctl unmask squid')] : []), raw('systemctl enable squid')];
  // "static", "indirect", "alias" and friends start squid through another unit: left alone.
  const after = state === 'disabled' || state === 'masked' || state === 'not-found' ? 'enabled' : state;
  return [change({ kind: 'service', role: ROLE, id: 'service squid enabled', before: state, after, commands, undo })];
}

export const squid = defineRole({
  name: ROLE,
  settings: { key: 'squid', ...settingsFiles(import.meta.url), validate: validateSquid },
  applies: () => true,
  facts: (host) => ({
    manager: serviceManager,
    running: squidRunning(host.vars.squid.config, host.vars.squid.tproxy_port),
    build: squidBuild,
    libcap: squidLibcap,
    enabled: squidEnabled,
    logs: squidLogs(host.vars.squid.config),
    confMode: squidConfMode(host.vars.squid.config, lastDirective(host, 'cache_effective_user'), lastDirective(host, 'cache_effective_group')),
    conf: file(host.vars.squid.config),
    kernel: kernelRelease,
  }),
  requirements(host, f) {
    const b = f.build;
    const checks = [
      requirement(ROLE, {
        name: 'squid >= 3.2',
        found: b?.version ? `squid ${v(b.version)}` : 'squid not installed',
        ok: !!b?.version && compareVersions(b.version, [3, 2]) >= 0,
        wanted: `>= 3.2 (install squid: ${installCommand(packageFamily(f.kernel.text), { debian: 'squid', rhel: 'squid' })})`,
        hint: 'the tproxy http_port flag arrived in Squid 3.1, but the rendered squid.conf uses the built-in localhost and manager ACLs of Squid 3.2 and later (3.1 cannot parse it)',
      }),
    ];
    if (!b) return checks;
    if (host.vars.squid.https_tproxy_port !== undefined) {
      const tls = b.configureOptions.find((o) => o === '--with-openssl' || o.startsWith('--with-openssl=') || o === '--enable-ssl');
      checks.push(
        requirement(ROLE, {
          name: 'squid built with OpenSSL (for squid.https_tproxy_port)',
          found:
            tls ??
            `not in squid -v configure options${b.configureOptions.includes('--with-gnutls') ? ' (built with --with-gnutls, which has no ssl-bump)' : ''}`,
          ok: !!tls,
          wanted: '--with-openssl',
          hint: 'an intercepting https_port needs ssl-bump, which only an OpenSSL build of squid has (Debian: the squid-openssl package)',
        }),
      );
    }
    const nf = b.configureOptions.includes('--enable-linux-netfilter');
    checks.push(
      requirement(ROLE, {
        name: 'squid built with --enable-linux-netfilter',
        found: nf ? '--enable-linux-netfilter' : 'not in squid -v configure options',
        ok: nf,
        wanted: '--enable-linux-netfilter',
        hint: 'the tproxy option on http_port exists only with --enable-linux-netfilter',
      }),
      requirement(ROLE, {
        name: 'squid linked with libcap >= 2.09',
        found: f.libcap?.version ? `libcap ${v(f.libcap.version)} (${f.libcap.path})` : 'squid is not linked with libcap',
        ok: !!f.libcap?.version && compareVersions(f.libcap.version, [2, 9]) >= 0,
        wanted: 'libcap >= 2.09',
        hint: 'without libcap squid logs "Stopping full transparency: Missing needed capability support" and cannot spoof the client address',
      }),
    );
    return checks;
  },
  artifacts,
  plan(host, f) {
    const conf = host.vars.squid.config;
    const systemd = f.manager === 'systemd';
    const mode = confMode(host, f.confMode, f.conf !== artifacts(host)[0]!.content);
    const diagnostics = [
      ...mode.diagnostics,
      ...logWarnings(host, f.logs),
      ...(f.build?.configureOptions.includes('--enable-tproxy')
        ? [
            {
              severity: 'warning' as const,
              host: host.name,
              role: ROLE,
              message: 'squid is built with the obsolete --enable-tproxy (legacy TPROXY v2); it is not needed for TPROXY v4',
            },
          ]
        : []),
    ];
    // Real proxy hosts run systemd; containers and the lab do not: start squid directly there.
    const port = host.vars.squid.tproxy_port;
    const reload = systemd ? raw('systemctl reload squid') : sh`squid -k reconfigure -f ${conf}`;
    const start = systemd
      ? [raw('systemctl start squid'), raw('echo "squid: started with systemctl"')]
      : [sh`squid -f ${conf}`, raw('echo "squid: started with squid -f (no systemd)"')];
    // "running" means: running this squid.conf and listening on the tproxy port.
    // Per family: squid can bind a wildcard tproxy port for IPv4 only (its IPv6 TPROXY probe
    // failed, said at debug level only), and TPROXY then drops every intercepted IPv6 connection.
    const s = f.running;
    const deaf = host.vars.tproxy.families.filter((x) => !s.listening.includes(x));
    const before = !s.running
      ? 'stopped'
      : s.loaded === 'older'
        ? 'running an older squid.conf'
        : deaf.length === host.vars.tproxy.families.length
          ? `running, not listening on ${port}`
          : deaf.length
            ? `running, not listening on ${port} for ${deaf.map((x) => (x === 'ipv4' ? 'IPv4' : 'IPv6')).join(', ')}`
            : 'running';
    // A running squid rereads squid.conf; done once it says so, runs and listens, and recorded.
    const reconfigure = [
      reloadAfterRollback(reload, conf),
      reload,
      raw('sleep 0.5'),
      waitReread(conf),
      waitRunning(conf),
      waitListening(port),
      recordLoaded(conf),
    ];
    const commands = !s.running
      ? [raw(': > "$TPRUN_TX/squid.was-stopped"'), ...start, waitRunning(conf), waitListening(port), recordLoaded(conf)]
      : [...reconfigure, raw('echo "squid: reconfigured (it ran an older squid.conf or did not listen)"')];
    const running = change({
      kind: 'service',
      role: ROLE,
      id: 'service squid running',
      before,
      after: 'running',
      commands,
      undo: !s.running ? [stopIfStartedHere(conf, systemd)] : [],
    });
    return {
      changes: [...mode.changes, running, ...bootStart(f.enabled)],
      diagnostics,
      // A stopped squid reads the new file when it starts, so only a running one is reconfigured.
      handlers: s.running
        ? [
            {
              id: 'handler squid reconfigure',
              name: 'squid-reload',
              commands: reconfigure,
              undo: [],
            },
          ]
        : [],
    };
  },
});
