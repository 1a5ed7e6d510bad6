/**
 * The planner on RHEL 9 and RHEL 10 hosts, from CONSTRUCTED facts (test/fixtures/rhel/: written
 * from RHEL's documented outputs and its packages' sources, not recorded on a real host; the
 * README there names each source). What tprun must plan there with the default settings, or
 * refuse with the reason: the nftables backend (firewalld on nftables), firewalld left alone
 * blocks and names its chains, firewalld managed the firewalld way (IPv6_rpfilter=no on 1.3,
 * strict-forward on 2.x), SELinux booleans, sysctls read through RHEL's 99-sysctl.conf link,
 * a bridge on nftables meta broute (RHEL 10) or refused (RHEL 9's 5.14 has none), dnf hints.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { diagnose } from '../src/doctor/diagnose.ts';
import { doctorFacts } from '../src/doctor/facts.ts';
import { parseTree, type RawFacts } from '../src/facts/fact.ts';
import { installCommand, packageFamily } from '../src/facts/family.ts';
import type { Host } from '../src/inventory/types.ts';
import { blockedReason, changesOf, type HostPlan } from '../src/plan/types.ts';
import type { Change } from '../src/resources/change.ts';
import { rhelDoctorFacts, rhelFacts, type Kind, type Release } from './fixtures/rhel/hosts.ts';
import { load } from './helpers.ts';
import { changed, plan, withVars } from './planning.ts';

const inv = load(`defaults:
  ssh: { identity: /tmp/k, known_hosts: /tmp/kh }
  tproxy: { interfaces: [enp2s0], ports: [80], families: [ipv4, ipv6] }
  squid: { clients: [198.51.100.0/24, 2001:db8:c::/64], dns_nameservers: [127.0.0.1] }
routers:
  r1: { address: 198.19.1.4 }
bridges:
  b1: { address: 198.19.1.1, bridge: { client_interface: enp2s0, internet_interface: enp3s0 } }
`).inventory!;
const hostOf = (kind: Kind, patch: (h: Host) => void = () => {}) =>
  withVars(
    inv.hosts.find((h) => h.name === (kind === 'router' ? 'r1' : 'b1'))!,
    patch,
  );
const managed = (kind: Kind) => hostOf(kind, (h) => ((h.vars as { firewalld: string }).firewalld = 'manage'));
const RELEASES: Release[] = [9, 10];
const text = (s: { text: string }[]) => s.map((x) => x.text);
const byId = (p: HostPlan, id: string): Change => {
  const c = changesOf(p).find((x) => x.id === id);
  assert.ok(c, `no change ${id} in ${changed(p).join(', ')}`);
  return c!;
};
const check = (p: HostPlan, id: string) => {
  const c = p.checks.find((x) => x.id === id);
  assert.ok(c, `no check ${id} in ${p.checks.map((x) => x.id).join(', ')}`);
  return c!;
};
/** Every word a person reads in a plan: checks (found, wanted, hint) and diagnostics. */
const prose = (p: HostPlan) => [...p.checks.flatMap((c) => [c.found, c.wanted, c.hint ?? '']), ...p.diagnostics.map((d) => d.message)].join('\n');
const edit = (raw: RawFacts, id: string, fn: (s: string) => string, code?: number): RawFacts => ({
  ...raw,
  [id]: { stdout: fn(raw[id]!.stdout), code: code ?? raw[id]!.code },
});

for (const rel of RELEASES) {
  test(`RHEL ${rel}: auto picks nftables because firewalld runs on its nftables backend; iptables when firewalld is disabled`, () => {
    for (const kind of ['router', 'bridge'] as const) {
      const c = check(plan(rhelFacts(rel, kind), managed(kind)), 'require firewall backend');
      assert.is(c.found, 'nftables (auto: firewalld runs on its nftables backend)');
    }
    // The reason is read from the facts: with firewalld not enabled, iptables-nft is there and auto keeps iptables.
    const off = edit(rhelFacts(rel, 'router'), 'firewall.backend', (s) => s.replace('firewalld=yes', 'firewalld=no'));
    assert.match(check(plan(off, managed('router')), 'require firewall backend').found, /^iptables \(auto: /);
  });

  test(`RHEL ${rel} router, firewalld: leave (the default): blocked, naming firewalld's input reject and IPv6 reverse-path rule`, () => {
    const p = plan(rhelFacts(rel, 'router'), hostOf('router'));
    const why = blockedReason(p) ?? '';
    assert.match(why, /nft table inet firewalld chain filter_INPUT: reject with icmpx admin-prohibited/);
    assert.match(why, /inet firewalld chain filter_PREROUTING: meta nfproto ipv6 fib saddr \. mark \. iif oif missing drop/);
    // The reject is reached through the zone dispatch of each firewalld version.
    assert.match(why, rel === 9 ? /\(in chain filter_IN_public\)/ : /\(in chain filter_INPUT_POLICIES\)/);
    assert.equal(changesOf(p), []);
    const input = p.checks.find((c) => c.role === 'host-firewall' && /filter_INPUT/.test(c.id));
    assert.match(input?.hint ?? '', /firewall-cmd --permanent --zone=public --add-port=80\/tcp; firewall-cmd --reload; or let tprun do it: firewalld: manage/);
    // The reverse-path fix names the value this firewalld knows: no -forward values before 2.2.
    const rp = p.checks.find((c) => c.role === 'host-firewall' && /filter_PREROUTING/.test(c.id));
    assert.match(rp?.hint ?? '', rel === 9 ? /Set IPv6_rpfilter=no \(this firewalld is older than 2\.2/ : /Set IPv6_rpfilter=strict-forward in /);
  });

  test(`RHEL ${rel} router, firewalld: manage: the port in zone public and IPv6_rpfilter ${rel === 9 ? 'yes → no (firewalld 1.3 has no -forward values)' : 'strict → strict-forward'}; the rest planned`, () => {
    const p = plan(rhelFacts(rel, 'router'), managed('router'));
    assert.is(blockedReason(p), undefined);
    const port = byId(p, 'firewalld zone public port 80/tcp');
    assert.equal(text(port.commands), ['firewall-cmd -q --permanent --zone=public --add-port=80/tcp', 'firewall-cmd -q --zone=public --add-port=80/tcp']);
    const rp = byId(p, 'firewalld IPv6_rpfilter');
    assert.equal([rp.before, rp.after], rel === 9 ? ['yes', 'no'] : ['strict', 'strict-forward']);
    assert.match(text(rp.commands).join('\n'), new RegExp(`IPv6_rpfilter=${rel === 9 ? 'no' : 'strict-forward'}`));
    // nftables backend: tprun's table, not iptables chains.
    const ids = changed(p);
    assert.ok(ids.includes('create nft table inet tprun'), ids.join(', '));
    assert.not.ok(
      ids.some((i) => /^create (iptables|ip6tables) /.test(i)),
      ids.join(', '),
    );
  });

  test(`RHEL ${rel}: SELinux enforcing with both squid booleans off (the policy's defaults): setsebool -P each on`, () => {
    const p = plan(rhelFacts(rel, 'router'), managed('router'));
    for (const b of ['squid_connect_any', 'squid_use_tproxy']) {
      const c = byId(p, `selinux ${b}`);
      assert.equal(text(c.commands), [`setsebool -P ${b} on`]);
    }
    // selinux: skip never looks.
    const skipped = plan(
      rhelFacts(rel, 'router'),
      hostOf('router', (h) => {
        (h.vars as { firewalld: string }).firewalld = 'manage';
        (h.vars as { selinux: string }).selinux = 'skip';
      }),
    );
    assert.not.ok(changesOf(skipped).some((c) => c.role === 'selinux'));
  });

  test(`RHEL ${rel}: squid.conf 0640 root:squid, squid enabled and started; rp_filter 2 (systemd's default) set to 0 where TPROXY receives`, () => {
    const p = plan(rhelFacts(rel, 'router'), managed('router'));
    const mode = byId(p, 'file-mode /etc/squid/squid.conf');
    assert.is(mode.after, '0640 root:squid');
    assert.ok(changed(p).includes('update service squid enabled') && changed(p).includes('update service squid running'));
    assert.equal([byId(p, 'sysctl net.ipv4.conf.enp2s0.rp_filter').before, byId(p, 'sysctl net.ipv4.conf.enp2s0.rp_filter').after], ['2', '0']);
    assert.ok(!changed(p).includes('update sysctl net.ipv4.conf.all.rp_filter'), 'all is already 0 (50-default.conf leaves it alone)');
    assert.not.ok(p.diagnostics.some((d) => d.severity === 'error'));
  });

  test(`RHEL ${rel}: /etc/sysctl.conf counts through RHEL's 99-sysctl.conf link, after 90-tprun.conf`, () => {
    const raw = edit(rhelFacts(rel, 'router'), 'sysctl.files', (s) =>
      s.replace(/(==> \/etc\/sysctl\.d\/99-sysctl\.conf \/etc\/sysctl\.conf\n)/, '$1net.ipv4.ip_forward = 0\n'),
    );
    const p = plan(raw, managed('router'));
    const err = p.diagnostics.find((d) => d.severity === 'error' && d.role === 'sysctl');
    assert.match(err?.message ?? '', /99-sysctl\.conf.* net\.ipv4\.ip_forward = 0 .*applied after \/etc\/sysctl\.d\/90-tprun\.conf/);
  });

  test(`RHEL ${rel}: every install hint names dnf, never apt-get (squid, iptables and nft missing)`, () => {
    let raw = rhelFacts(rel, 'router');
    raw = { ...raw, 'squid.version': { stdout: '', code: 127 }, 'tool.iptables': { stdout: '', code: 127 }, 'tool.ip6tables': { stdout: '', code: 127 } };
    const ipt = plan(
      raw,
      hostOf('router', (h) => (h.vars.tproxy.backend = 'iptables')),
    );
    const nftMissing = plan({ ...raw, 'nft.table.inet.tprun': { stdout: '', code: 127 } }, managed('router'));
    const all = prose(ipt) + '\n' + prose(nftMissing);
    assert.match(all, /dnf install squid/);
    assert.match(all, /dnf install iptables-nft/);
    assert.match(all, /dnf install nftables/);
    assert.not.match(all, /apt-get/);
    // The same host read as Debian (its kernel release) names apt-get only.
    const deb = plan(
      { ...raw, 'kernel.release': { stdout: '6.12.117+deb13-amd64\n', code: 0 } },
      hostOf('router', (h) => (h.vars.tproxy.backend = 'iptables')),
    );
    assert.match(prose(deb), /apt-get install squid/);
    assert.not.match(prose(deb), /dnf/);
  });
}

test('RHEL 9 bridge: refused, with the reason (no ebtables-legacy, kernel 5.14 has no nft meta broute) and no package to install', () => {
  const p = plan(rhelFacts(9, 'bridge'), managed('bridge'));
  const c = check(p, 'require bridge broute');
  assert.not.ok(c.ok);
  assert.ok(c.blocks);
  assert.match(
    c.found,
    /ebtables-legacy not installed; nft 1\.0\.9 cannot set meta broute \(kernel 5\.14\.0-427\.13\.1\.el9_4\.x86_64 < 6\.4, no NFT_BRIDGE_META\)/,
  );
  assert.match(c.found, /the default ebtables is ebtables 1\.8\.10 \(nf_tables\), never used/);
  assert.match(c.hint ?? '', /no package fixes that; a bridge needs a kernel >= 6\.4 \(RHEL 10's 6\.12\), else deploy this host as a router/);
  assert.not.match(c.hint ?? '', /apt-get|dnf install/);
  assert.equal(changesOf(p), []);
});

test('RHEL 9 bridge whose kernel accepts meta broute (a backport): the probe decides, not the version: nft broute planned', () => {
  const raw = edit(rhelFacts(9, 'bridge'), 'bridge.broute', (s) => s.replace(/nft_broute=fails:.*/, 'nft_broute=ok'));
  const p = plan(raw, managed('bridge'));
  assert.is(blockedReason(p), undefined);
  assert.ok(changed(p).includes('create nft bridge tprun'), changed(p).join(', '));
});

test('RHEL 10 bridge: nftables meta broute (no ebtables at all); firewalld managed; nothing in ebtables-legacy or ebtables-nft', () => {
  const p = plan(rhelFacts(10, 'bridge'), managed('bridge'));
  assert.is(blockedReason(p), undefined);
  assert.match(check(p, 'require bridge broute').found, /^nftables bridge meta broute \(nftables v1\.1\.1 .*kernel 6\.12\.0-55\.9\.1\.el10_0\.x86_64\)$/);
  const nft = byId(p, 'nft bridge tprun');
  assert.match(text(nft.commands).join('\n'), /meta broute set 1/);
  assert.not.ok(
    changesOf(p).some((c) => c.role === 'ebtables' && /TPRUN_BROUTING/.test(c.id) && c.action !== 'no-op'),
    changed(p).join(', '),
  );
  // Both bridge ports are judged for rp_filter.
  for (const port of ['enp2s0', 'enp3s0']) assert.is(byId(p, `sysctl net.ipv4.conf.${port}.rp_filter`).after, '0');
});

test('RHEL 10 bridge, firewalld: leave: blocked by firewalld, not by broute', () => {
  const p = plan(rhelFacts(10, 'bridge'), hostOf('bridge'));
  assert.ok(check(p, 'require bridge broute').ok);
  assert.match(blockedReason(p) ?? '', /inet firewalld chain filter_INPUT/);
});

test('the constructed facts are what the parsers read: versions and states as documented', () => {
  const p9 = plan(rhelFacts(9, 'router'), managed('router'));
  const p10 = plan(rhelFacts(10, 'router'), managed('router'));
  assert.match(check(p9, 'require squid >= 3.2').found, /^squid 5\.5\.0$/);
  assert.match(check(p10, 'require squid >= 3.2').found, /^squid 6\.10\.0$/);
  assert.match(check(p9, 'require kernel CONFIG_NF_TPROXY_IPV6').found, /\/boot\/config-5\.14\.0-427\.13\.1\.el9_4\.x86_64/);
});

test('the package family from a kernel release (or its /boot/config path); unknown names both', () => {
  const cases: [string, string | null][] = [
    ['5.14.0-427.13.1.el9_4.x86_64', 'rhel'],
    ['6.12.0-55.9.1.el10_0.x86_64', 'rhel'],
    ['6.11.4-301.fc41.x86_64', 'rhel'],
    ['/boot/config-5.14.0-427.13.1.el9_4.x86_64', 'rhel'],
    ['6.1.0-50-amd64', 'debian'],
    ['6.12.117+deb13-amd64', 'debian'],
    ['6.8.0-45-generic', 'debian'],
    ['6.18.0', null],
    ['/proc/config.gz', null],
    ['6.6.0-rc1-telnet', null],
  ];
  for (const [release, want] of cases) assert.is(packageFamily(release), want, release);
  assert.is(installCommand(null, { debian: 'libcap2', rhel: 'libcap' }), 'Debian: apt-get install libcap2; RHEL: dnf install libcap');
});

/** What tprun renders as squid.conf for the router: the doctor facts carry it as deployed. */
const renderedConf = (rel: Release) => String(byId(plan(rhelFacts(rel, 'router'), managed('router')), 'file /etc/squid/squid.conf').after);
const doctor = (rel: Release, raw: RawFacts) => {
  const h = managed('router');
  return diagnose(h, parseTree(doctorFacts(h), raw));
};

for (const rel of RELEASES) {
  test(`RHEL ${rel} doctor, applied under firewalld: leave: TP019 names firewalld's chains; systemd's loose rp_filter is no finding`, () => {
    const raw = rhelDoctorFacts(rel, renderedConf(rel));
    const f = doctor(rel, raw);
    assert.equal(
      f.map((x) => x.code),
      ['TP019'],
    );
    const ev = f[0]!.evidence.join('\n');
    assert.match(ev, /nft table inet firewalld chain filter_INPUT \(hook input, priority 10\): rule "reject with icmpx admin-prohibited"/);
    assert.match(ev, /inet firewalld chain filter_PREROUTING .*meta nfproto ipv6 fib saddr \. mark \. iif oif missing drop/);
    // systemd's loose 2 (left on enp1s0, enp3s0 and lo) passes marked packets; strict 1 where they arrive does not.
    const strict = edit(raw, 'doctor.sysctl', (s) => s.replace('enp2s0/rp_filter=0', 'enp2s0/rp_filter=1'));
    assert.equal(doctor(rel, strict).find((x) => x.code === 'TP013')?.evidence, ['net.ipv4.conf.enp2s0.rp_filter=1']);
    // Booleans set without -P (semanage: on now, off in the policy store): TP042.
    const transient = edit(raw, 'doctor.selinux', (s) => s.replace(/\(on {3}, {3}on\)/g, '(on   ,  off)'));
    assert.ok(doctor(rel, transient).some((x) => x.code === 'TP042'));
    // libcap gone from the host: the fix names dnf's package (the family from /boot/config-*.elN).
    const nolib = edit(raw, 'doctor.squid', (s) => s.replace(/^ldd=.*$/m, 'ldd=\tlibcap.so.2 => not found').replace(/^ldconfig=.*\n/m, ''));
    const tp002 = doctor(rel, nolib).find((x) => x.code === 'TP002');
    assert.is(tp002?.fix, 'install libcap: dnf install libcap');
  });
}

test.run();
