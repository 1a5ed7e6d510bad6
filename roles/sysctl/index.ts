/**
 * sysctl: forwarding on; rp_filter 0 on default, all and each TPROXY interface ("The rp_filter
 * settings ... will silently block TPROXY"); optional strict rp_filter elsewhere; on bridges
 * every net.bridge key 0. Set live and persisted in /etc/sysctl.d.
 */
import type { Diagnostic } from '../../src/diagnostics.ts';
import { sysctls } from '../../src/facts/shared.ts';
import type { Host } from '../../src/inventory/types.ts';
import { defineRole, settingsFiles, type ReportSetting } from '../../src/plan/role.ts';
import type { Change } from '../../src/resources/change.ts';
import type { Artifact } from '../../src/resources/file.ts';
import { displayKey, sysctlChange, type Setting } from '../../src/resources/sysctl.ts';
import { templates } from '../../src/render/templates.ts';
import './settings.ts';

const ROLE = 'sysctl';
const render = templates(import.meta.url);

/** The keys under /proc/sys/net/bridge that br_netfilter creates; the guide sets them all to 0. */
export const BRIDGE_KEYS = [
  'bridge-nf-call-arptables',
  'bridge-nf-call-ip6tables',
  'bridge-nf-call-iptables',
  'bridge-nf-filter-pppoe-tagged',
  'bridge-nf-filter-vlan-tagged',
  'bridge-nf-pass-vlan-input-dev',
];

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
  const content = render('sysctl.conf.eta', { host, setKeyword: host.vars.sysctl.set_keyword, settings: settings(host).map((s) => ({ key: displayKey(s), value: s.value })) });
  return [{ role: ROLE, path: host.vars.sysctl.file, mode: '0644', content, install: true }];
}

function validate(h: Host, at: ReportSetting): void {
  h.vars.sysctl.strict_rp_filter?.interfaces.forEach((ifname, i) => {
    if (h.vars.tproxy.interfaces.includes(ifname)) {
      at(['sysctl', 'strict_rp_filter', 'interfaces', i], 'error', `${ifname} is a tproxy interface: its rp_filter must stay 0 ("The rp_filter settings will silently block TPROXY")`);
    }
  });
}

export const sysctl = defineRole({
  name: ROLE,
  settings: { key: 'sysctl', ...settingsFiles(import.meta.url), validate },
  applies: () => true,
  facts: (host) => ({ live: sysctls(settings(host).map((s) => s.path)) }),
  artifacts,
  plan(host, f) {
    const diagnostics: Diagnostic[] = [];
    const changes: Change[] = [];
    let bridgeMissing = false;
    for (const s of settings(host)) {
      const before = f.live.get(s.path);
      if (before === null || before === undefined) {
        if (s.path.startsWith('net/bridge/')) bridgeMissing = true;
        else
          diagnostics.push({
            severity: 'error',
            host: host.name,
            role: ROLE,
            message: s.ifname ? `interface ${s.ifname} does not exist (no /proc/sys/${s.path}): fix tproxy.interfaces or sysctl.strict_rp_filter` : `/proc/sys/${s.path} is missing on this kernel`,
          });
        continue;
      }
      changes.push(sysctlChange(ROLE, s, before));
    }
    if (bridgeMissing) {
      diagnostics.push({ severity: 'error', host: host.name, role: ROLE, message: '/proc/sys/net/bridge is missing: load bridge netfilter (modprobe br_netfilter, and list it in /etc/modules-load.d) so its keys can be set to 0' });
    }
    return { changes, diagnostics };
  },
});
