/**
 * kernel-check: read-only preflight from the guide's "Minimum Requirements" and
 * troubleshooting sections. A failed requirement blocks every other role on the host.
 */
import type { Diagnostic } from '../../src/diagnostics.ts';
import type { Facts } from '../../src/facts/facts.ts';
import { compareVersions, parseKernelConfig, parseLibcapPath, parseModules, parseSquidV, parseVersion } from '../../src/facts/parsers.ts';
import { probes } from '../../src/facts/probes.ts';
import type { Host } from '../../src/inventory/types.ts';
import { item, type Role, type RolePlan } from '../../src/plan/role.ts';
import type { Item } from '../../src/plan/types.ts';

const v = (s: readonly number[]) => s.join('.');

interface Requirement {
  name: string;
  /** What was found, as text. */
  found: string;
  ok: boolean;
  wanted: string;
  /** Why it matters, quoting the guide. */
  why: string;
}

function requirementItem(r: Requirement): Item {
  return item({ role: 'kernel-check', kind: 'requirement', id: `require ${r.name}`, before: r.found, after: r.ok ? r.found : r.wanted });
}

/** Kernel options: y or m. Newer kernels split NETFILTER_TPROXY into NF_TPROXY_IPV4/IPV6. */
function kernelOptions(host: Host, facts: Facts, reqs: Requirement[]): void {
  const cfg = parseKernelConfig(facts.get('kernel.config').stdout);
  const mods = parseModules(facts.get('kernel.modules').stdout);
  const v6 = host.vars.tproxy.families.includes('ipv6');
  const wanted: { name: string; anyOf: string[]; modules: string[] }[] = [
    { name: 'NF_CONNTRACK', anyOf: ['NF_CONNTRACK'], modules: ['nf_conntrack'] },
    { name: 'NETFILTER_TPROXY', anyOf: ['NETFILTER_TPROXY', 'NF_TPROXY_IPV4'], modules: ['nf_tproxy_ipv4'] },
    ...(v6 ? [{ name: 'NF_TPROXY_IPV6', anyOf: ['NETFILTER_TPROXY', 'NF_TPROXY_IPV6'], modules: ['nf_tproxy_ipv6'] }] : []),
    { name: 'NETFILTER_XT_MATCH_SOCKET', anyOf: ['NETFILTER_XT_MATCH_SOCKET'], modules: ['xt_socket'] },
    { name: 'NETFILTER_XT_TARGET_TPROXY', anyOf: ['NETFILTER_XT_TARGET_TPROXY'], modules: ['xt_TPROXY'] },
  ];
  for (const w of wanted) {
    if (cfg.source !== 'none') {
      const hit = w.anyOf.find((o) => cfg.options[o] === 'y' || cfg.options[o] === 'm');
      reqs.push({
        name: `kernel CONFIG_${w.name}`,
        found: hit ? `CONFIG_${hit}=${cfg.options[hit]} (${cfg.source})` : `not set (${cfg.source})`,
        ok: !!hit,
        wanted: 'y or m',
        why: 'TPROXY "Requires kernel built with the configuration options" NF_CONNTRACK, NETFILTER_TPROXY, NETFILTER_XT_MATCH_SOCKET, NETFILTER_XT_TARGET_TPROXY',
      });
    } else {
      const seen = w.modules.map((m) => [m, mods[m] ?? 'absent'] as const).find(([, s]) => s !== 'absent');
      reqs.push({
        name: `kernel CONFIG_${w.name}`,
        found: seen ? `module ${seen[0]} ${seen[1] === 'loaded' ? 'loaded' : 'found by modinfo'} (no kernel config readable)` : `no kernel config readable and module ${w.modules.join('/')} not found (modinfo, /proc/modules)`,
        ok: !!seen,
        wanted: 'built in or available as a module',
        why: 'TPROXY needs conntrack, the socket match and the TPROXY target in the kernel',
      });
    }
  }
}

export const kernelCheck: Role = {
  name: 'kernel-check',
  applies: () => true,
  artifacts: () => [],
  probes: (host) => [
    probes.kernelRelease,
    probes.kernelConfig,
    probes.kernelModules,
    probes.iptablesVersion,
    ...(host.vars.tproxy.families.includes('ipv6') ? [probes.ip6tablesVersion] : []),
    probes.squidVersion,
    probes.squidLibcap,
    ...(host.kind === 'bridge' ? [probes.ebtablesVersion, probes.ebtablesBroute] : []),
  ],
  plan(host, facts): RolePlan {
    const reqs: Requirement[] = [];
    const diagnostics: Diagnostic[] = [];
    const warn = (message: string) => diagnostics.push({ severity: 'warning', message, host: host.name, role: 'kernel-check' });
    const v6 = host.vars.tproxy.families.includes('ipv6');

    const kernel = parseVersion(facts.get('kernel.release').stdout) ?? [0, 0, 0];
    const kernelText = facts.get('kernel.release').stdout.trim();
    reqs.push({ name: 'kernel >= 2.6.28', found: kernelText, ok: compareVersions(kernel, [2, 6, 28]) >= 0, wanted: '>= 2.6.28', why: 'kernels "older than 2.6.28 are known to supply IPs wrongly to Squid"' });
    if (v6) reqs.push({ name: 'kernel >= 2.6.37 for IPv6', found: kernelText, ok: compareVersions(kernel, [2, 6, 37]) >= 0, wanted: '>= 2.6.37', why: 'the guide\'s minimum for IPv6 TPROXY is Linux 2.6.37' });
    const between = (lo: number, hi: number) => compareVersions(kernel, [2, 6, lo]) >= 0 && compareVersions(kernel, [2, 6, hi]) <= 0;
    if (between(28, 32)) warn(`kernel ${kernelText}: "2.6.28 to 2.6.32 have different rp_filter configuration": rp_filter 0 may not behave as on newer kernels`);
    if (between(28, 36)) warn(`kernel ${kernelText}: "2.6.28 to 2.6.36 are known to have ICMP and TIME_WAIT issues"`);
    if (host.kind === 'bridge' && between(32, 34)) warn(`kernel ${kernelText}: "2.6.32 to 2.6.34 have bridging issues on some systems"`);

    kernelOptions(host, facts, reqs);

    for (const [tool, id, on] of [['iptables', 'tool.iptables', true], ['ip6tables', 'tool.ip6tables', v6]] as const) {
      if (!on) continue;
      const f = facts.get(id);
      const ver = f.code === 0 ? parseVersion(f.stdout) : null;
      reqs.push({ name: `${tool} >= 1.4.10`, found: ver ? f.stdout.trim() : `${tool} not found`, ok: !!ver && compareVersions(ver, [1, 4, 10]) >= 0, wanted: '>= 1.4.10', why: `the TPROXY rules need ${tool} 1.4.10 or later` });
    }

    const sq = facts.get('squid.version');
    const build = sq.code === 0 ? parseSquidV(sq.stdout) : null;
    reqs.push({ name: 'squid >= 3.1', found: build?.version ? `squid ${v(build.version)}` : 'squid not installed', ok: !!build?.version && compareVersions(build.version, [3, 1]) >= 0, wanted: '>= 3.1 (install squid: apt-get install squid / dnf install squid)', why: 'the tproxy http_port flag arrived in Squid 3.1' });
    if (build) {
      const nf = build.configureOptions.includes('--enable-linux-netfilter');
      reqs.push({ name: 'squid built with --enable-linux-netfilter', found: nf ? '--enable-linux-netfilter' : 'not in squid -v configure options', ok: nf, wanted: '--enable-linux-netfilter', why: 'the tproxy option on http_port exists only with --enable-linux-netfilter' });
      if (build.configureOptions.includes('--enable-tproxy')) warn('squid is built with the obsolete --enable-tproxy (legacy TPROXY v2); it is not needed for TPROXY v4');
      const lc = facts.get('squid.libcap');
      const cap = lc.code === 0 ? parseLibcapPath(lc.stdout) : null;
      reqs.push({ name: 'squid linked with libcap >= 2.09', found: cap ? `libcap ${v(cap)} (${lc.stdout.trim()})` : 'squid is not linked with libcap', ok: !!cap && compareVersions(cap, [2, 9]) >= 0, wanted: 'libcap >= 2.09', why: 'without libcap squid logs "Stopping full transparency: Missing needed capability support" and cannot spoof the client address' });
    }

    if (host.kind === 'bridge') {
      const eb = facts.get('tool.ebtables');
      reqs.push({ name: 'ebtables installed', found: eb.code === 0 ? eb.stdout.trim() : 'ebtables not found', ok: eb.code === 0, wanted: 'ebtables', why: 'bridges move port-80 frames from bridging to routing with ebtables broute rules' });
      const br = facts.get('ebtables.broute');
      if (eb.code === 0) {
        const ok = br.code === 0;
        const first = br.stdout.trim().split('\n')[0] ?? 'ebtables -t broute -L failed';
        // ebtables-nft 1.8.9 (Debian 12's default) has no broute table whatever the kernel has: say so, not "the kernel".
        const nft = /nf_tables/.test(eb.stdout) && compareVersions(parseVersion(eb.stdout) ?? [0], [1, 8, 10]) < 0;
        const found = ok
          ? /^ebtables-legacy: broute table usable$/m.test(br.stdout) ? 'broute table usable through ebtables-legacy (the default ebtables has none)' : 'broute table usable'
          : nft
            ? `ebtables-nft ${eb.stdout.match(/\d+\.\d+\.\d+/)?.[0] ?? ''} has no broute table (${first}): install/select ebtables-legacy (update-alternatives --set ebtables /usr/sbin/ebtables-legacy) or iptables >= 1.8.10`
            : `the kernel has no ebtables broute table (${first})`;
        reqs.push({ name: 'ebtables broute table', found, ok, wanted: 'broute table usable (CONFIG_BRIDGE_EBT_BROUTE, or an nftables bridge family with broute support)', why: 'a bridge cannot hand frames to TPROXY without the broute table' });
      }
    }

    const failed = reqs.filter((r) => !r.ok);
    for (const r of failed) diagnostics.push({ severity: 'error', message: `${r.name}: found ${r.found}; ${r.why}`, host: host.name, role: 'kernel-check' });
    return {
      items: reqs.map(requirementItem),
      diagnostics,
      blocked: failed.length ? `kernel-check failed: ${failed.map((r) => `${r.name} (found ${r.found})`).join('; ')}` : undefined,
    };
  },
};
