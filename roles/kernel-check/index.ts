/**
 * kernel-check: read-only preflight from the guide's "Minimum Requirements" and
 * troubleshooting sections: the kernel's version and options. A failed requirement blocks
 * every change on the host. The tools' requirements (iptables, squid, ebtables) belong to the
 * roles that use them.
 */
import { compareVersions, type KernelConfig } from '../../src/facts/parsers.ts';
import { kernelConfig, kernelModules, kernelRelease } from '../../src/facts/shared.ts';
import type { Host } from '../../src/inventory/types.ts';
import { defineRole, requirement } from '../../src/plan/role.ts';
import type { Check } from '../../src/plan/types.ts';

const ROLE = 'kernel-check';

/** Kernel options: y or m. Newer kernels split NETFILTER_TPROXY into NF_TPROXY_IPV4/IPV6. */
function kernelOptions(host: Host, cfg: KernelConfig, mods: Record<string, string>): Check[] {
  const v6 = host.vars.tproxy.families.includes('ipv6');
  const wanted: { name: string; anyOf: string[]; modules: string[] }[] = [
    { name: 'NF_CONNTRACK', anyOf: ['NF_CONNTRACK'], modules: ['nf_conntrack'] },
    { name: 'NETFILTER_TPROXY', anyOf: ['NETFILTER_TPROXY', 'NF_TPROXY_IPV4'], modules: ['nf_tproxy_ipv4'] },
    ...(v6 ? [{ name: 'NF_TPROXY_IPV6', anyOf: ['NETFILTER_TPROXY', 'NF_TPROXY_IPV6'], modules: ['nf_tproxy_ipv6'] }] : []),
    { name: 'NETFILTER_XT_MATCH_SOCKET', anyOf: ['NETFILTER_XT_MATCH_SOCKET'], modules: ['xt_socket'] },
    { name: 'NETFILTER_XT_TARGET_TPROXY', anyOf: ['NETFILTER_XT_TARGET_TPROXY'], modules: ['xt_TPROXY'] },
  ];
  return wanted.map((w) => {
    if (cfg.source !== 'none') {
      const hit = w.anyOf.find((o) => cfg.options[o] === 'y' || cfg.options[o] === 'm');
      return requirement(ROLE, {
        name: `kernel CONFIG_${w.name}`,
        found: hit ? `CONFIG_${hit}=${cfg.options[hit]} (${cfg.source})` : `not set (${cfg.source})`,
        ok: !!hit,
        wanted: 'y or m',
        hint: 'TPROXY "Requires kernel built with the configuration options" NF_CONNTRACK, NETFILTER_TPROXY, NETFILTER_XT_MATCH_SOCKET, NETFILTER_XT_TARGET_TPROXY',
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

/** Kernel ranges the guide warns about: they work, with known problems (non-blocking checks). */
function kernelWarnings(host: Host, text: string, kernel: number[]): Check[] {
  const between = (lo: number, hi: number) => compareVersions(kernel, [2, 6, lo]) >= 0 && compareVersions(kernel, [2, 6, hi]) <= 0;
  const warn = (name: string, range: [number, number], on: boolean, hint: string) =>
    requirement(ROLE, { name, found: text, ok: !(on && between(...range)), wanted: `outside 2.6.${range[0]}-2.6.${range[1]}`, hint, blocks: false });
  return [
    warn('kernel rp_filter semantics', [28, 32], true, `"2.6.28 to 2.6.32 have different rp_filter configuration": rp_filter 0 may not behave as on newer kernels`),
    warn('kernel ICMP and TIME_WAIT handling', [28, 36], true, `"2.6.28 to 2.6.36 are known to have ICMP and TIME_WAIT issues"`),
    warn('kernel bridging', [32, 34], host.kind === 'bridge', `"2.6.32 to 2.6.34 have bridging issues on some systems"`),
  ];
}

export const kernelCheck = defineRole({
  name: ROLE,
  applies: () => true,
  facts: () => ({ release: kernelRelease, config: kernelConfig, modules: kernelModules }),
  requirements(host, f) {
    const kernel = f.release.version ?? [0, 0, 0];
    const v6 = host.vars.tproxy.families.includes('ipv6');
    return [
      requirement(ROLE, {
        name: 'kernel >= 2.6.28',
        found: f.release.text,
        ok: compareVersions(kernel, [2, 6, 28]) >= 0,
        wanted: '>= 2.6.28',
        hint: 'kernels "older than 2.6.28 are known to supply IPs wrongly to Squid"',
      }),
      ...(v6
        ? [requirement(ROLE, { name: 'kernel >= 2.6.37 for IPv6', found: f.release.text, ok: compareVersions(kernel, [2, 6, 37]) >= 0, wanted: '>= 2.6.37', hint: "the guide's minimum for IPv6 TPROXY is Linux 2.6.37" })]
        : []),
      ...kernelOptions(host, f.config, f.modules),
      ...kernelWarnings(host, f.release.text, kernel),
    ];
  },
});
