/**
 * sysctl: forwarding on; rp_filter 0 on default, all and each TPROXY interface ("The rp_filter
 * settings ... will silently block TPROXY"); optional strict rp_filter elsewhere; on bridges
 * every net.bridge key 0. Set live and persisted in /etc/sysctl.d.
 */
import type { Diagnostic } from '../../src/diagnostics.ts';
import { q } from '../../src/facts/facts.ts';
import { parseSysctls } from '../../src/facts/parsers.ts';
import { probes } from '../../src/facts/probes.ts';
import type { Host } from '../../src/inventory/types.ts';
import { fileItem, fileProbes, installed } from '../../src/plan/files.ts';
import { item, type Role } from '../../src/plan/role.ts';
import type { Artifact } from '../../src/plan/types.ts';
import { renderTemplate } from '../../src/render/templates.ts';

/** The keys under /proc/sys/net/bridge that br_netfilter creates; the guide sets them all to 0. */
export const BRIDGE_KEYS = [
  'bridge-nf-call-arptables',
  'bridge-nf-call-ip6tables',
  'bridge-nf-call-iptables',
  'bridge-nf-filter-pppoe-tagged',
  'bridge-nf-filter-vlan-tagged',
  'bridge-nf-pass-vlan-input-dev',
];

export interface Setting {
  /** Path under /proc/sys. */
  path: string;
  value: string;
  /** Which interface the key belongs to, for a clear message when it is missing. */
  ifname?: string;
}

/** sysctl's dotted name, or the slash form when an interface name has a dot (eth0.100). */
export const displayKey = (s: Setting) => (s.ifname?.includes('.') ? s.path : s.path.replaceAll('/', '.'));

export function settings(host: Host): Setting[] {
  const { tproxy, sysctl } = host.vars;
  const out: Setting[] = [{ path: 'net/ipv4/ip_forward', value: '1' }];
  if (tproxy.families.includes('ipv6')) out.push({ path: 'net/ipv6/conf/all/forwarding', value: '1' });
  out.push({ path: 'net/ipv4/conf/default/rp_filter', value: '0' }, { path: 'net/ipv4/conf/all/rp_filter', value: '0' });
  for (const ifname of tproxy.interfaces) out.push({ path: `net/ipv4/conf/${ifname}/rp_filter`, value: '0', ifname });
  for (const ifname of sysctl.strict_rp_filter?.interfaces ?? []) {
    out.push({ path: `net/ipv4/conf/${ifname}/rp_filter`, value: String(sysctl.strict_rp_filter!.value), ifname });
  }
  if (host.kind === 'bridge') for (const k of BRIDGE_KEYS) out.push({ path: `net/bridge/${k}`, value: '0' });
  return out;
}

function artifacts(host: Host): Artifact[] {
  const content = renderTemplate('sysctl', 'sysctl.conf.eta', {
    host,
    setKeyword: host.vars.sysctl.set_keyword,
    settings: settings(host).map((s) => ({ key: displayKey(s), value: s.value })),
  });
  return [{ role: 'sysctl', path: host.vars.sysctl.file, mode: '0644', content, install: true }];
}

export const sysctl: Role = {
  name: 'sysctl',
  applies: () => true,
  artifacts,
  probes: (host) => [probes.sysctls(settings(host).map((s) => s.path)), ...fileProbes(artifacts(host))],
  plan(host, facts) {
    const live = parseSysctls(facts.get('sysctl.live').stdout);
    const diagnostics: Diagnostic[] = [];
    const items = [];
    let bridgeMissing = false;
    for (const s of settings(host)) {
      const before = live.get(s.path);
      if (before === null || before === undefined) {
        if (s.path.startsWith('net/bridge/')) bridgeMissing = true;
        else diagnostics.push({ severity: 'error', host: host.name, role: 'sysctl', message: s.ifname ? `interface ${s.ifname} does not exist (no /proc/sys/${s.path}): fix tproxy.interfaces or sysctl.strict_rp_filter` : `/proc/sys/${s.path} is missing on this kernel` });
        continue;
      }
      const file = `/proc/sys/${s.path}`;
      items.push(item({ role: 'sysctl', kind: 'sysctl', id: `sysctl ${displayKey(s)}`, before, after: s.value, commands: [`echo ${s.value} > ${q(file)}`], undo: [`echo ${q(before)} > ${q(file)}`] }));
    }
    // Without br_netfilter (Debian 12's default) bridged frames never reach iptables: what the keys at 0 ensure.
    // The persisted file still sets them when the module is loaded at boot.
    if (bridgeMissing) diagnostics.push({ severity: 'warning', host: host.name, role: 'sysctl', message: '/proc/sys/net/bridge is missing (br_netfilter not loaded): bridged frames bypass iptables already, as the net.bridge keys at 0 would make them; if br_netfilter gets loaded later, its keys are 1 until /etc/sysctl.d is applied again' });
    items.push(...installed(artifacts(host)).map((a) => fileItem(a, facts)));
    return { items, diagnostics };
  },
};
