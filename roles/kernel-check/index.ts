/**
 * kernel-check: read-only preflight from the guide's "Minimum Requirements" and
 * troubleshooting sections: the kernel's version and options. A failed requirement blocks
 * every change on the host. The tools' requirements (iptables, squid, ebtables) belong to the
 * roles that use them.
 */
import { compareVersions, type KernelConfig } from '../../src/facts/parsers.ts';
import { kernelConfig, kernelModules, kernelRelease } from '../../src/facts/shared.ts';
import type { Host } from '../../src/inventory/types.ts';
import { defineRole, requirement } from '../../src/role/contract.ts';
import type { Check } from '../../src/plan/types.ts';

const ROLE = 'kernel-check';

interface WantedOption {
  name: string;
  anyOf: string[];
  modules: string[];
}

/**
 * The options each kernel version has (y or m). The guide's list (NETFILTER_TPROXY) is that of
 * 2.6.28-3.12; 3.13 folded the TPROXY core into xt_TPROXY (NETFILTER_XT_TARGET_TPROXY alone);
 * 4.18 split it out again as NF_TPROXY_IPV4 and NF_TPROXY_IPV6.
 */
export function wantedOptions(kernel: readonly number[], v6: boolean): WantedOption[] {
  const base: WantedOption[] = [
    { name: 'NF_CONNTRACK', anyOf: ['NF_CONNTRACK'], modules: ['nf_conntrack'] },
    { name: 'NETFILTER_XT_MATCH_SOCKET', anyOf: ['NETFILTER_XT_MATCH_SOCKET'], modules: ['xt_socket'] },
    { name: 'NETFILTER_XT_TARGET_TPROXY', anyOf: ['NETFILTER_XT_TARGET_TPROXY'], modules: ['xt_TPROXY'] },
  ];
  if (compareVersions(kernel, [3, 13]) < 0)
    return [...base.slice(0, 1), { name: 'NETFILTER_TPROXY', anyOf: ['NETFILTER_TPROXY'], modules: ['nf_tproxy_core'] }, ...base.slice(1)];
  if (compareVersions(kernel, [4, 18]) < 0) return base;
  return [
    ...base.slice(0, 1),
    { name: 'NF_TPROXY_IPV4', anyOf: ['NF_TPROXY_IPV4'], modules: ['nf_tproxy_ipv4'] },
    ...(v6 ? [{ name: 'NF_TPROXY_IPV6', anyOf: ['NF_TPROXY_IPV6'], modules: ['nf_tproxy_ipv6'] }] : []),
    ...base.slice(1),
  ];
}

/** Kernel options: y or m, read from the kernel's config, else from its modules. */
function kernelOptions(host: Host, kernel: readonly number[], cfg: KernelConfig, mods: Record<string, string>): Check[] {
  const v6 = host.vars.tproxy.families.includes('ipv6');
  return wantedOptions(kernel, v6).map((w) => {
    if (cfg.source !== 'none') {
      const hit = w.anyOf.find((o) => cfg.options[o] === 'y' || cfg.options[o] === 'm');
      return requirement(ROLE, {
        name: `kernel CONFIG_${w.name}`,
        found: hit ? `CONFIG_${hit}=${cfg.options[hit]} (${cfg.source})` : `not set (${cfg.source})`,
        ok: !!hit,
        wanted: 'y or m',
        hint: `TPROXY on this kernel version needs ${wantedOptions(kernel, v6)
          .map((o) => o.name)
          .join(', ')} (the guide lists NETFILTER_TPROXY, which kernels 3.13 and later no longer have)`,
      });
    }
    const seen = w.modules.map((m) => [m, mods[m] ?? 'absent'] as const).find(([, s]) => s !== 'absent');
    return requirement(ROLE, {
      name: `kernel CONFIG_${w.name}`,
      found: seen
        ? `module ${seen[0]} ${seen[1] === 'loaded' ? 'loaded' : 'found by modinfo'} (no kernel config readable)`
        : `no kernel config readable and module ${w.modules.join('/')} not found (modinfo, /proc/modules)`,
      ok: !!seen,
      wanted: 'built in or available as a module',
      hint: 'TPROXY needs conntrack, the socket match and the TPROXY target in the kernel',
    });
  });
}

export const kernelCheck = defineRole({
  name: ROLE,
  applies: () => true,
  facts: () => ({ release: kernelRelease, config: kernelConfig, modules: kernelModules }),
  requirements(host, f) {
    const kernel = f.release.version ?? [0, 0, 0];
    return [
      // The guide's minimum for both families. 2.6.28-2.6.36 intercept, with ICMP and TIME_WAIT
      // bugs (and before 2.6.33 other rp_filter semantics); IPv6 TPROXY and the socket match's
      // --transparent, which tprun's rules use, arrived in 2.6.37.
      requirement(ROLE, {
        name: 'kernel >= 2.6.37',
        found: f.release.text,
        ok: compareVersions(kernel, [2, 6, 37]) >= 0,
        wanted: '>= 2.6.37',
        hint:
          compareVersions(kernel, [2, 6, 28]) < 0
            ? 'kernels "older than 2.6.28 are known to supply IPs wrongly to Squid"'
            : `the guide's minimum is Linux 2.6.37: "2.6.28 to 2.6.36 are known to have ICMP and TIME_WAIT issues", IPv6 TPROXY and "-m socket --transparent" need 2.6.37`,
      }),
      ...kernelOptions(host, kernel, f.config, f.modules),
    ];
  },
});
