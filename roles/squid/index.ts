/**
 * squid: tprun manages the whole squid.conf from a template (plus the inventory's squid.extra
 * lines) rather than a snippet: http_access is first-match, so the allow for the intercepted
 * clients only works if tprun controls where it stands relative to "deny all", and a whole
 * file makes any hand edit visible as drift. Every candidate is checked with
 * `squid -k parse` before it replaces the live file; a change reconfigures squid once.
 */
import { q } from '../../src/facts/facts.ts';
import { probes } from '../../src/facts/probes.ts';
import type { Host } from '../../src/inventory/types.ts';
import { fileItem, fileProbes, installed } from '../../src/plan/files.ts';
import { item, type Role } from '../../src/plan/role.ts';
import type { Artifact, Item } from '../../src/plan/types.ts';
import { renderTemplate } from '../../src/render/templates.ts';
import { squidWccpSection } from '../wccp/index.ts';

/** squid -k parse echoes every line it reads; the operator needs only its complaints. */
const PARSE =
  'squid -k parse -f %s >/dev/null 2>"$TPRUN_TX/squid-parse.err" || { grep -E "FATAL|ERROR|unrecognized|Bungled" "$TPRUN_TX/squid-parse.err" >&2 || tail -n 5 "$TPRUN_TX/squid-parse.err" >&2; false; }';

function artifacts(host: Host): Artifact[] {
  const squid = {
    ...host.vars.squid,
    // "This is now resolved by adding the no-tproxy flag to the cluster sibling cache_peer lines."
    siblings: host.vars.squid.siblings.map((s) => ({ ...s, options: s.options.includes('no-tproxy') ? s.options : [...s.options, 'no-tproxy'] })),
  };
  const content = renderTemplate('squid', 'squid.conf.eta', { host, squid, wccp: squidWccpSection(host) });
  return [{ role: 'squid', path: host.vars.squid.config, mode: '0644', content, validate: PARSE, notify: 'squid-reload', install: true }];
}

/** Wait until squid answers `-k check`, or fail with the end of its log. */
const waitRunning = (conf: string) =>
  `i=0; until squid -k check -f ${conf} >/dev/null 2>&1; do i=$((i+1)); [ $i -ge 50 ] && { echo "squid did not start" >&2; tail -n 20 /var/log/squid/cache.log >&2 2>/dev/null; exit 1; }; sleep 0.2; done`;

export const squid: Role = {
  name: 'squid',
  applies: () => true,
  artifacts,
  probes: (host) => [probes.serviceManager, probes.squidRunning(host.vars.squid.config), ...fileProbes(artifacts(host))],
  plan(host, facts) {
    const conf = q(host.vars.squid.config);
    const systemd = facts.get('service.manager').stdout.trim() === 'systemd';
    const running = facts.get('squid.running').code === 0;
    const items: Item[] = installed(artifacts(host)).map((a) => fileItem(a, facts));
    // Real proxy hosts run systemd; containers and the lab do not: start squid directly there.
    const start = systemd ? ['systemctl start squid', 'echo "squid: started with systemctl"'] : [`squid -f ${conf}`, 'echo "squid: started with squid -f (no systemd)"'];
    const stop = systemd ? ['systemctl stop squid'] : [`squid -k kill -f ${conf} || true`];
    items.push(item({ role: 'squid', kind: 'service', id: 'service squid running', before: running ? 'running' : 'stopped', after: 'running', commands: [...start, waitRunning(conf)], undo: stop }));
    const reload = systemd ? 'systemctl reload squid' : `squid -k reconfigure -f ${conf}`;
    return {
      items,
      diagnostics: [],
      // A stopped squid reads the new file when it starts, so only a running one is reconfigured.
      handlers: running ? [{ id: 'handler squid reconfigure', name: 'squid-reload', commands: [reload, 'sleep 0.5', waitRunning(conf)], undo: [reload] }] : [],
    };
  },
};
