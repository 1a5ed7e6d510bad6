/**
 * sysctl: forwarding on; rp_filter 0 on default, all and every interface intercepted packets
 * arrive on ("The rp_filter settings ... will silently block TPROXY"): the TPROXY interfaces, a
 * bridge's ports, a WCCP cache's GRE interfaces; optional strict rp_filter elsewhere; on bridges
 * with br_netfilter loaded every net.bridge key 0. Set live and persisted in /etc/sysctl.d; a
 * persisted file applied after tprun's that sets one of its keys otherwise is an error.
 */
import type { Diagnostic } from '../../src/diagnostics.ts';
import type { SysctlFile } from '../../src/facts/parsers.ts';
import { serviceManager, sysctls } from '../../src/facts/shared.ts';
import type { Host } from '../../src/inventory/types.ts';
import { defineRole, settingsFiles, type ReportSetting } from '../../src/role/contract.ts';
import type { Change } from '../../src/resources/change.ts';
import type { Artifact } from '../../src/resources/file.ts';
import { displayKey, sysctlChange, type Setting } from '../../src/resources/sysctl.ts';
import { templates } from '../../src/render/templates.ts';
import { tunnels } from '../../src/inventory/interfaces.ts';
import { routerAdvertisements, sysctlFiles, type RouterAdvertisements } from './facts.ts';
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

/** A persisted setting, and how the live value is handled. */
export interface WantedSetting extends Setting {
  /**
   * live: set now, missing is an error; optional: set when the key exists (br_netfilter's keys);
   * persist: only persisted here (a GRE interface the wccp role creates and checks).
   */
  live: 'live' | 'optional' | 'persist';
}

export function settings(host: Host): WantedSetting[] {
  const { tproxy, sysctl } = host.vars;
  const s = (path: string, value: string, ifname?: string, live: WantedSetting['live'] = 'live'): WantedSetting => ({ path, value, ifname, live });
  const out: WantedSetting[] = [s('net/ipv4/ip_forward', '1')];
  if (tproxy.families.includes('ipv6')) out.push(s('net/ipv6/conf/all/forwarding', '1'));
  out.push(s('net/ipv4/conf/default/rp_filter', '0'), s('net/ipv4/conf/all/rp_filter', '0'));
  // Brouted frames reach the IP stack on the bridge port they arrived on.
  const ports = host.kind === 'bridge' ? [host.bridge.client_interface, host.bridge.internet_interface] : [];
  for (const ifname of new Set([...tproxy.interfaces, ...ports])) out.push(s(`net/ipv4/conf/${ifname}/rp_filter`, '0', ifname));
  // The GRE interface is created after this role runs and again at boot; udev re-applies
  // sysctl.d to new interfaces, so the key persisted here keeps systemd from resetting it.
  for (const t of tunnels(host)) out.push(s(`net/ipv4/conf/${t.name}/rp_filter`, '0', t.name, 'persist'));
  for (const ifname of sysctl.strict_rp_filter?.interfaces ?? []) {
    out.push(s(`net/ipv4/conf/${ifname}/rp_filter`, String(sysctl.strict_rp_filter!.value), ifname));
  }
  if (tproxy.families.includes('ipv6')) for (const ifname of sysctl.accept_ra ?? []) out.push(s(`net/ipv6/conf/${ifname}/accept_ra`, '2', ifname));
  if (host.kind === 'bridge') for (const k of BRIDGE_KEYS) out.push(s(`net/bridge/${k}`, '0', undefined, 'optional'));
  return out;
}

function artifacts(host: Host): Artifact[] {
  const setKeyword = host.vars.sysctl.set_keyword;
  // "-key = value": systemd-sysctl skips a key that does not exist (br_netfilter not loaded),
  // and its udev rule applies net.bridge.* when the module is loaded later.
  const lines = settings(host).map((s) => ({ key: `${s.live === 'optional' && !setKeyword ? '-' : ''}${displayKey(s)}`, value: s.value }));
  const content = render('sysctl.conf.eta', { host, setKeyword, settings: lines });
  return [{ role: ROLE, path: host.vars.sysctl.file, mode: '0644', content, install: true }];
}

function validate(h: Host, at: ReportSetting): void {
  // systemd-sysctl reads "key = value" only: a "set" line in a sysctl.d file is skipped at boot.
  if (h.vars.sysctl.set_keyword && /\/sysctl\.d\//.test(h.vars.sysctl.file))
    at(
      ['sysctl', 'set_keyword'],
      'error',
      `set_keyword writes "set key = value" lines, which systemd-sysctl ignores in ${h.vars.sysctl.file} (a sysctl.d file): forwarding and rp_filter would revert at the first reboot; use it only with a sysctl.file whose reader wants the keyword`,
    );
  h.vars.sysctl.strict_rp_filter?.interfaces.forEach((ifname, i) => {
    if (h.vars.tproxy.interfaces.includes(ifname)) {
      at(
        ['sysctl', 'strict_rp_filter', 'interfaces', i],
        'error',
        `${ifname} is a tproxy interface: its rp_filter must stay 0 ("The rp_filter settings will silently block TPROXY")`,
      );
    }
  });
}

const base = (p: string) => p.slice(p.lastIndexOf('/') + 1);
const globMatch = (pattern: string, path: string) => new RegExp(`^${pattern.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*')}$`).test(path);

/**
 * Persisted files a boot applies after tprun's that set one of its keys to another value
 * (Debian's 99-sysctl.conf → ../sysctl.conf comes after 90-tprun.conf): the live value is right
 * until the next boot, then interception stops.
 */
export function overriddenSettings(host: Host, files: SysctlFile[], wanted: WantedSetting[], manager: 'systemd' | 'none' = 'none'): Diagnostic[] {
  const mine = host.vars.sysctl.file;
  const seen = new Set<string>();
  // At boot systemd-sysctl applies only sysctl.d directories: /etc/sysctl.conf counts only through
  // a link there (Debian 12's 99-sysctl.conf; Debian 13 ships neither). Without systemd, procps'
  // `sysctl --system` reads it last.
  const applied = files.filter((f) => manager !== 'systemd' || f.path !== '/etc/sysctl.conf');
  const later = applied.filter((f) => {
    // /etc/sysctl.conf, read last by `sysctl --system`, is often also linked as 99-sysctl.conf.
    if (seen.has(f.target)) return false;
    seen.add(f.target);
    if (f.path === mine || f.target === mine) return false;
    if (mine === '/etc/sysctl.conf') return false;
    return f.path === '/etc/sysctl.conf' || base(f.path) > base(mine);
  });
  const out: Diagnostic[] = [];
  for (const s of wanted) {
    let last: { file: SysctlFile; value: string; key: string } | undefined;
    for (const f of later)
      for (const a of f.assignments) if (a.key === s.path || (a.key.includes('*') && globMatch(a.key, s.path))) last = { file: f, value: a.value, key: a.key };
    if (!last || last.value === s.value) continue;
    const where = last.file.target !== last.file.path ? `${last.file.path} (→ ${last.file.target})` : last.file.path;
    out.push({
      severity: 'error',
      host: host.name,
      role: ROLE,
      message: `${where} sets ${displayKey({ ...s, path: last.key })} = ${last.value} and is applied after ${mine}: at the next boot it overrides tprun's ${displayKey(s)} = ${s.value} (remove that line or set it to ${s.value})`,
    });
  }
  return out;
}

/** With forwarding on, Linux ignores router advertisements unless accept_ra is 2. */
function routerAdvertisementLoss(host: Host, ra: RouterAdvertisements): Diagnostic[] {
  if (!host.vars.tproxy.families.includes('ipv6')) return [];
  const listed = host.vars.sysctl.accept_ra ?? [];
  return [...ra.raDefault]
    .filter((ifname) => ra.acceptRa.get(ifname) === '1' && !listed.includes(ifname))
    .map((ifname) => ({
      severity: 'warning' as const,
      host: host.name,
      role: ROLE,
      message: `${ifname} has its IPv6 default route from router advertisements (accept_ra=1): with net.ipv6.conf.all.forwarding=1 the kernel ignores them and the route expires; list ${ifname} under sysctl.accept_ra (tprun sets accept_ra=2)`,
    }));
}

export const sysctl = defineRole({
  name: ROLE,
  settings: { key: 'sysctl', ...settingsFiles(import.meta.url), validate },
  applies: () => true,
  facts: (host) => ({
    live: sysctls(
      settings(host)
        .filter((s) => s.live !== 'persist')
        .map((s) => s.path),
    ),
    files: sysctlFiles,
    ra: routerAdvertisements,
    manager: serviceManager,
  }),
  artifacts,
  plan(host, f) {
    const diagnostics: Diagnostic[] = [];
    const changes: Change[] = [];
    let bridgeMissing = false;
    const wanted = settings(host);
    for (const s of wanted) {
      if (s.live === 'persist') continue;
      const before = f.live.get(s.path);
      if (before === null || before === undefined) {
        if (s.live === 'optional') bridgeMissing = true;
        else
          diagnostics.push({
            severity: 'error',
            host: host.name,
            role: ROLE,
            message: s.ifname
              ? `interface ${s.ifname} does not exist (no /proc/sys/${s.path}): fix tproxy.interfaces or sysctl.strict_rp_filter`
              : `/proc/sys/${s.path} is missing on this kernel`,
          });
        continue;
      }
      changes.push(sysctlChange(ROLE, s, before));
    }
    if (bridgeMissing) {
      diagnostics.push({
        severity: 'info',
        host: host.name,
        role: ROLE,
        message:
          'br_netfilter is not loaded (no /proc/sys/net/bridge): bridged frames skip iptables, nothing to zero; the net.bridge keys are persisted for when it is loaded',
      });
    }
    diagnostics.push(...overriddenSettings(host, f.files, wanted, f.manager), ...routerAdvertisementLoss(host, f.ra));
    return { changes, diagnostics };
  },
});
