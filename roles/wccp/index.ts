/**
 * wccp: for caches behind WCCPv2 routers. The host gets a GRE interface per router to
 * receive redirected packets; each router gets a configuration to review and paste. (The
 * wccp2_* lines of squid.conf are rendered by the squid role, which owns that file.)
 */
import type { Diagnostic } from '../../src/diagnostics.ts';
import { kernelConfig, kernelModules } from '../../src/facts/shared.ts';
import type { Host } from '../../src/inventory/types.ts';
import { tunnels } from '../../src/inventory/interfaces.ts';
import { defineRole, settingsFiles } from '../../src/role/contract.ts';
import type { Change } from '../../src/resources/change.ts';
import { greLinkChange } from '../../src/resources/link.ts';
import { templates } from '../../src/render/templates.ts';
import { sh } from '../../src/shell.ts';
import { greLink, greRpFilter } from './facts.ts';
import { sysctlChange } from '../../src/resources/sysctl.ts';
import './settings.ts';

const ROLE = 'wccp';
const render = templates(import.meta.url);

export const wccp = defineRole({
  name: ROLE,
  settings: { key: 'wccp', ...settingsFiles(import.meta.url) },
  applies: (host) => host.wccp.length > 0,
  facts: (host) => ({
    config: kernelConfig,
    modules: kernelModules,
    links: Object.fromEntries(tunnels(host).map((t) => [t.name, greLink(t.name)])),
    rpFilter: greRpFilter(tunnels(host).map((t) => t.name)),
  }),
  boot: (host) => [{ order: 10, name: 'wccp', content: render('boot-wccp.sh.eta', { tunnels: tunnels(host) }) }],
  inventoryFiles: (inv) =>
    inv.peers.map((peer) => ({
      path: `wccp/${peer.name}.ios`,
      content: render('router.ios.eta', { peer, caches: peer.caches.map((c) => inv.hosts.find((h) => h.name === c)).filter((h): h is Host => !!h) }),
    })),
  plan(host, f) {
    const diagnostics: Diagnostic[] = [];
    const changes: Change[] = [];
    const gre = f.config.source !== 'none' ? ['y', 'm'].includes(f.config.options.NET_IPGRE ?? '') : (f.modules.ip_gre ?? 'absent') !== 'absent';
    for (const t of tunnels(host)) {
      const before = f.links[t.name] ?? null;
      if (!gre && before === null) {
        diagnostics.push({
          severity: 'error',
          host: host.name,
          role: ROLE,
          message: `cannot create GRE interface ${t.name} for WCCP router ${t.remote}: the kernel has no GRE driver (CONFIG_NET_IPGRE is not set${f.config.source !== 'none' ? ` in ${f.config.source}` : ''}); redirected packets cannot be received`,
        });
        continue;
      }
      const path = `net/ipv4/conf/${t.name}/rp_filter`;
      changes.push(greLinkChange(ROLE, t.name, { remote: t.remote, local: t.local }, before, [sh`echo 0 > ${`/proc/sys/${path}`}`]));
      // An existing tunnel's rp_filter is checked like any sysctl: systemd/udev may have reset it.
      const live = f.rpFilter.get(path);
      if (before !== null && live !== null && live !== undefined) changes.push(sysctlChange(ROLE, { path, value: '0', ifname: t.name }, live));
    }
    return { changes, diagnostics };
  },
});
