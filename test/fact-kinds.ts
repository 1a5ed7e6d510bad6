/**
 * Every fact kind with a parser, keyed by the folder its recorded cases live in
 * (test/facts/<kind>/<case>.json): `{ id, stdout, code, parsed }`, as pyinfra's tests/facts.
 */
import type { Fact } from '../src/facts/fact.ts';
import { file, ipRoutes, ipRules, kernelConfig, kernelModules, kernelRelease, saveTable, serviceManager, symlink, sysctls } from '../src/facts/shared.ts';
import { brouteFacts, ebtablesNftSave, ebtablesSave, ebtablesVersion, nftBrouteTable } from '../roles/ebtables/facts.ts';
import { ruleset } from '../src/firewall/ruleset/fact.ts';
import { firewalldFacts } from '../src/firewall/firewalld.ts';
import { toolVersion } from '../roles/iptables/facts.ts';
import { selinuxBooleans, selinuxMode, selinuxPersistent } from '../roles/selinux/facts.ts';
import { routerAdvertisements, sysctlFiles } from '../roles/sysctl/facts.ts';
import { squidBuild, squidEnabled, squidLibcap, squidRunning } from '../roles/squid/facts.ts';
import { greLink, greRpFilter } from '../roles/wccp/facts.ts';

/** The kind of a recorded fact id: its variable parts (path, table, family) dropped. */
export function kindOf(id: string): string {
  const m = /^(file|symlink|link):/.exec(id);
  if (m) return m[1]!;
  if (/^ip-[46]\.rules$/.test(id)) return 'ip.rules';
  if (/^ip-[46]\.routes\.\d+$/.test(id)) return 'ip.routes';
  if (/^ip6?tables\.(mangle|filter)$/.test(id)) return 'iptables-save';
  if (/^tool\.ip6?tables$/.test(id)) return 'tool.iptables';
  return id;
}

export const FACT_KINDS: Record<string, Fact<unknown>> = {
  file: file('/x'),
  symlink: symlink('/x'),
  link: greLink('wccp0'),
  'ip.rules': ipRules('-4'),
  'ip.routes': ipRoutes('-4', 100),
  'iptables-save': saveTable('iptables', 'mangle'),
  'tool.iptables': toolVersion('iptables'),
  'kernel.release': kernelRelease,
  'kernel.config': kernelConfig,
  'kernel.modules': kernelModules,
  'service.manager': serviceManager,
  'sysctl.live': sysctls([]),
  'squid.version': squidBuild,
  'squid.libcap': squidLibcap,
  'squid.enabled': squidEnabled,
  'squid.running': squidRunning('/etc/squid/squid.conf', 3129),
  'selinux.mode': selinuxMode,
  'selinux.booleans': selinuxBooleans,
  'selinux.persistent': selinuxPersistent,
  'sysctl.files': sysctlFiles,
  'ipv6.ra': routerAdvertisements,
  'wccp.rp_filter': greRpFilter(['wccp0']),
  'tool.ebtables': ebtablesVersion,
  'bridge.broute': brouteFacts,
  'ebtables.save': ebtablesSave,
  'firewall.ruleset': ruleset,
  'firewalld.state': firewalldFacts,
  'ebtables-nft.save': ebtablesNftSave,
  'nft.bridge-tprun': nftBrouteTable,
};

/** Parsed values as JSON (Maps become objects), so cases are plain files. */
export const asJson = (v: unknown): unknown => JSON.parse(JSON.stringify(v, (_k, x) => (x instanceof Map ? Object.fromEntries(x) : x)));
