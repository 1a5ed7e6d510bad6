/**
 * wccp: for caches behind WCCPv2 routers. squid.conf gets wccp2_router and the two dynamic
 * services (rendered into the squid role's file); the host gets a GRE interface per router to
 * receive redirected packets; each router gets a configuration to review and paste.
 */
import type { Diagnostic } from '../../src/diagnostics.ts';
import { q } from '../../src/facts/facts.ts';
import { parseGreLink, parseKernelConfig, parseModules } from '../../src/facts/parsers.ts';
import { probes } from '../../src/facts/probes.ts';
import type { Host, Inventory, WccpPeer } from '../../src/inventory/types.ts';
import { fileItem, fileProbes, installed } from '../../src/plan/files.ts';
import { item, type Role } from '../../src/plan/role.ts';
import type { Artifact, Item } from '../../src/plan/types.ts';
import { renderTemplate } from '../../src/render/templates.ts';

export interface Tunnel {
  name: string;
  remote: string;
  local: string;
}

export function tunnels(host: Host): Tunnel[] {
  return host.wccp.map((p, i) => ({ name: i === 0 ? host.vars.wccp.interface : `${host.vars.wccp.interface}${i}`, remote: p.address, local: host.address }));
}

/** The squid.conf section for a WCCP cache, or '' when the host is behind no WCCP router. */
export function squidWccpSection(host: Host): string {
  if (!host.wccp.length) return '';
  return renderTemplate('wccp', 'squid-wccp.eta', { peers: host.wccp, services: host.wccp[0]!.services, ports: host.vars.tproxy.ports });
}

/** Per WCCP router: the IOS configuration to paste. */
export function routerConfig(peer: WccpPeer, inv: Pick<Inventory, 'hosts'>): string {
  const caches = peer.caches.map((c) => inv.hosts.find((h) => h.name === c)).filter((h): h is Host => !!h);
  return renderTemplate('wccp', 'router.ios.eta', { peer, caches });
}

function artifacts(host: Host): Artifact[] {
  if (!host.wccp.length) return [];
  return [{ role: 'wccp', path: '/etc/tprun/boot.d/10-wccp.sh', mode: '0755', content: renderTemplate('wccp', 'boot-wccp.sh.eta', { tunnels: tunnels(host) }), install: true }];
}

export const wccp: Role = {
  name: 'wccp',
  applies: (host) => host.wccp.length > 0,
  artifacts,
  probes: (host) => [probes.kernelConfig, probes.kernelModules, ...tunnels(host).map((t) => probes.link(t.name)), ...fileProbes(artifacts(host))],
  plan(host, facts) {
    const diagnostics: Diagnostic[] = [];
    const items: Item[] = [];
    const cfg = parseKernelConfig(facts.get('kernel.config').stdout);
    const mods = parseModules(facts.get('kernel.modules').stdout);
    const gre = cfg.source !== 'none' ? ['y', 'm'].includes(cfg.options.NET_IPGRE ?? '') : (mods.ip_gre ?? 'absent') !== 'absent';
    for (const t of tunnels(host)) {
      const link = facts.get(`link:${t.name}`);
      const before = link.code === 0 ? (parseGreLink(link.stdout) ?? link.stdout.split('\n')[0]!.trim()) : null;
      const after = `gre remote ${t.remote} local ${t.local}`;
      if (!gre && before === null) {
        diagnostics.push({ severity: 'error', host: host.name, role: 'wccp', message: `cannot create GRE interface ${t.name} for WCCP router ${t.remote}: the kernel has no GRE driver (CONFIG_NET_IPGRE is not set${cfg.source !== 'none' ? ` in ${cfg.source}` : ''}); redirected packets cannot be received` });
        continue;
      }
      const n = q(t.name);
      const create = [`ip tunnel add ${n} mode gre remote ${t.remote} local ${t.local}`, `ip link set ${n} up`, `echo 0 > /proc/sys/net/ipv4/conf/${t.name}/rp_filter`];
      // Undo puts back what was there: nothing, or the tunnel with its old ends.
      const old = before && /^gre remote (\S+) local (\S+)$/.exec(before);
      const restore = old ? [`ip tunnel add ${n} mode gre remote ${old[1]} local ${old[2]}`, `ip link set ${n} up`] : [];
      items.push(item({ role: 'wccp', kind: 'link', id: `link ${t.name}`, before, after, commands: before === null ? create : [`ip tunnel del ${n}`, ...create], undo: [`ip tunnel del ${n} 2>/dev/null || true`, ...restore] }));
    }
    items.push(...installed(artifacts(host)).map((a) => fileItem(a, facts)));
    return { items, diagnostics };
  },
};
