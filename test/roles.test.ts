import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { blockedReason, changesOf, type HostPlan } from '../src/plan/types.ts';
import type { ChainState } from '../src/resources/change.ts';
import { h1, plan, changed, withVars } from './planning.ts';
import { edited, fileEdit, recorded } from './facts.ts';
import { hostFacts } from '../src/plan/planner.ts';
import { ROLES } from '../roles/registry.ts';

const compliant = () => recorded('router-compliant');

test('a compliant router (recorded after apply) plans zero changes', () => {
  const p = plan(compliant());
  assert.equal(changed(p), []);
  assert.equal(p.handlers, []);
  assert.is(blockedReason(p), undefined);
  assert.equal(
    p.diagnostics.filter((d) => d.severity !== 'info'),
    [],
  );
  // Every requirement is met on the lab kernel.
  assert.ok(p.checks.length > 5 && p.checks.every((c) => c.ok));
});

test('a fresh router plans every role: sysctls, rules, routes, files, squid start, both firewalls', () => {
  const p = plan(recorded('router-fresh'));
  const c = changed(p);
  for (const want of [
    'update sysctl net.ipv4.ip_forward',
    'update sysctl net.ipv6.conf.all.forwarding',
    'create ip -4 rule fwmark 0x1/0x1 lookup 100',
    'create ip -6 rule fwmark 0x1/0x1 lookup 100',
    'create ip -4 route table 100 local default dev lo',
    'create ip -6 route table 100 local default dev lo',
    'create file /etc/squid/squid.conf',
    'update service squid running',
    'create iptables mangle TPRUN_PREROUTING',
    'create ip6tables mangle TPRUN_PREROUTING',
    'create file /etc/sysctl.d/90-tprun.conf',
    'create service tprun-boot enabled',
    'create file /etc/systemd/system/nftables.service.d/50-tprun.conf',
  ])
    assert.ok(c.includes(want), `missing ${want} in\n${c.join('\n')}`);
  // squid was not running: it is started (reading the new file), not reconfigured; systemd
  // reads the new nftables.service drop-in.
  assert.equal(
    p.handlers.map((h) => h.id),
    ['handler systemd daemon-reload'],
  );
  // squid is up before TPROXY sends it traffic.
  assert.ok(c.indexOf('update service squid running') < c.indexOf('create iptables mangle TPRUN_PREROUTING'));
});

test('the iptables payload replaces tprun chains whole, with DIVERT (socket) before TPROXY and the jump first', () => {
  const it = changesOf(plan(recorded('router-fresh'))).find((i) => i.id === 'iptables mangle TPRUN_PREROUTING')!;
  const payload = it.commands[1]!.text;
  assert.match(payload, /^iptables-restore --noflush <<'TPRUN_EOF'$/m);
  const lines = payload.split('\n');
  const at = (s: string) => lines.findIndex((l) => l.includes(s));
  assert.ok(at(':TPRUN_PREROUTING - [0:0]') > 0);
  assert.ok(at('-m socket --transparent -j TPRUN_DIVERT') < at('-j TPROXY --on-port 3129 --tproxy-mark 0x1/0x1'));
  assert.ok(at('-I PREROUTING 1 -j TPRUN_PREROUTING') > 0);
  assert.equal(it.undo.map(String), [`[ ! -e "$TPRUN_TX/iptables.mangle" ] || iptables-restore < "$TPRUN_TX/iptables.mangle"`]);
});

const mangleEdit = (fn: (s: string) => string) => ({ 'iptables.mangle': fn });

test('drift: the DIVERT rule deleted', () => {
  const p = plan(
    edited(
      'router-compliant',
      mangleEdit((s) => s.replace(/^-A TPRUN_PREROUTING -p tcp -m socket --transparent -j TPRUN_DIVERT\n/m, '')),
    ),
  );
  assert.equal(changed(p), ['update iptables mangle TPRUN_PREROUTING']);
  const it = changesOf(p)[0]!;
  const rules = (s: unknown) => (s as ChainState).rules.join('\n');
  assert.not.match(rules(it.before), /-m socket/);
  assert.match(rules(it.after), /-m socket --transparent -j TPRUN_DIVERT/);
});

test('drift: the TPROXY rule moved before the socket/DIVERT rule', () => {
  const p = plan(
    edited(
      'router-compliant',
      mangleEdit((s) => {
        const lines = s.split('\n');
        const sock = lines.findIndex((l) => l.includes('-m socket'));
        const tp = lines.findIndex((l) => l.includes('-j TPROXY'));
        [lines[sock], lines[tp]] = [lines[tp]!, lines[sock]!];
        return lines.join('\n');
      }),
    ),
  );
  assert.equal(changed(p), ['update iptables mangle TPRUN_PREROUTING']);
  // Same rules, other order: order is part of the wanted state.
  const it = changesOf(p)[0]!;
  assert.equal([...(it.before as ChainState).rules].sort(), [...(it.after as ChainState).rules].sort());
});

test('drift: the jump is not first in PREROUTING → removed and inserted at 1 in one transaction', () => {
  const p = plan(
    edited(
      'router-compliant',
      mangleEdit((s) => s.replace('-A PREROUTING -j TPRUN_PREROUTING', '-A PREROUTING -p udp -j ACCEPT\n-A PREROUTING -j TPRUN_PREROUTING')),
    ),
  );
  const it = changesOf(p)[0]!;
  assert.is(it.id, 'iptables mangle TPRUN_PREROUTING');
  assert.equal((it.before as ChainState).hook, 'not-first');
  assert.match(it.commands[1]!.text, /-D PREROUTING -j TPRUN_PREROUTING\n-I PREROUTING 1 -j TPRUN_PREROUTING\nCOMMIT/);
});

test('a hand-made TPROXY rule in PREROUTING is reported, not touched', () => {
  const p = plan(
    edited(
      'router-compliant',
      mangleEdit((s) =>
        s.replace(
          '-A PREROUTING -j TPRUN_PREROUTING',
          '-A PREROUTING -j TPRUN_PREROUTING\n-A PREROUTING -p tcp -m tcp --dport 80 -j TPROXY --on-port 3129 --on-ip 0.0.0.0 --tproxy-mark 0x1/0x1',
        ),
      ),
    ),
  );
  assert.equal(changed(p), []);
  assert.ok(p.diagnostics.some((d) => d.severity === 'warning' && /rule 2 is not tprun's/.test(d.message)));
});

test('drift: rp_filter back to 1', () => {
  const p = plan(edited('router-compliant', { 'sysctl.live': (s) => s.replace('net/ipv4/conf/all/rp_filter=0', 'net/ipv4/conf/all/rp_filter=1') }));
  assert.equal(changed(p), ['update sysctl net.ipv4.conf.all.rp_filter']);
  const it = changesOf(p)[0]!;
  assert.equal(
    [it.before, it.after, it.commands.map(String), it.undo.map(String)],
    ['1', '0', ['echo 0 > /proc/sys/net/ipv4/conf/all/rp_filter'], ['echo 1 > /proc/sys/net/ipv4/conf/all/rp_filter']],
  );
});

test('drift: the persisted sysctl file edited (live values fine)', () => {
  const p = plan(
    edited('router-compliant', { 'file:/etc/sysctl.d/90-tprun.conf': fileEdit((c) => c.replace('net.ipv4.ip_forward = 1', 'net.ipv4.ip_forward = 0')) }),
  );
  assert.equal(changed(p), ['update file /etc/sysctl.d/90-tprun.conf']);
});

test('drift: the fwmark ip rule removed, the local route removed', () => {
  const p = plan(edited('router-compliant', { 'ip-4.rules': (s) => s.replace(/^\d+:\s+from all fwmark 0x1\/0x1 lookup 100\n/m, ''), 'ip-6.routes.100': '' }));
  assert.equal(changed(p), ['create ip -4 rule fwmark 0x1/0x1 lookup 100', 'create ip -6 route table 100 local default dev lo']);
  assert.equal(changesOf(p)[0]!.commands.map(String), ['ip -4 rule add fwmark 0x1/0x1 lookup 100']);
});

test("routing: a foreign rule or route in tprun's table is removed; a duplicate rule too", () => {
  const p = plan(
    edited('router-compliant', {
      'ip-4.rules': (s) => s.replace('32766:', '32700:\tfrom 198.18.9.9 lookup 100\n32701:\tfrom all fwmark 0x1/0x1 lookup 100\n32766:'),
      'ip-4.routes.100': (s) => s + 'local default dev eth9 metric 5\n',
    }),
  );
  assert.equal(changed(p), [
    'delete ip -4 rule 32700: from 198.18.9.9 lookup 100',
    'delete ip -4 rule 32701: fwmark 0x1/0x1 lookup 100',
    'delete ip -4 route table 100 local default dev eth9',
  ]);
  assert.equal(changesOf(p)[0]!.commands.map(String), ['ip -4 rule del pref 32700 from 198.18.9.9 lookup 100']);
});

test("routing: a rule on tprun's mark into another table (an old table number) is removed", () => {
  const p = plan(edited('router-compliant', { 'ip-6.rules': (s) => s.replace('32766:', '32000:\tfrom all fwmark 0x1/0x1 lookup 200\n32766:') }));
  assert.equal(changed(p), ['delete ip -6 rule 32000: fwmark 0x1/0x1 lookup 200']);
  // A different mark is somebody else's.
  assert.equal(changed(plan(edited('router-compliant', { 'ip-6.rules': (s) => s.replace('32766:', '32000:\tfrom all fwmark 0x2 lookup 200\n32766:') }))), []);
});

test('drift: squid.conf edited → replaced (validated first) and squid reconfigured once', () => {
  const p = plan(edited('router-compliant', { 'file:/etc/squid/squid.conf': fileEdit((c) => c + 'http_access allow all\n') }));
  // The rewrite leaves root:root 0640 (written by root), so squid's group is given back after it.
  assert.equal(changed(p), ['update file /etc/squid/squid.conf', 'update file-mode /etc/squid/squid.conf']);
  assert.equal(changesOf(p)[1]!.before, '0640 root:root');
  const it = changesOf(p)[0]!;
  assert.ok(it.commands.some((c) => c.text.startsWith('tprun_parse=$(squid -k parse -f /etc/squid/squid.conf.tprun-new 2>&1 >/dev/null)')));
  assert.equal(
    p.handlers.map((h) => h.id),
    ['handler squid reconfigure'],
  );
});

test("squid.conf is 0640 root:<squid's group> (it may hold cache_peer logins): a 0644 file is drift; the group comes from the host", () => {
  // Constructed squid.conf-mode facts, in the format the fact prints (stat -c '%a %U %G').
  const withMode = (stdout: string, host = h1) => plan(edited('router-compliant', { 'squid.conf-mode': { stdout, code: 0 } }), host);
  assert.equal(changed(withMode('group proxy\nfile 640 root proxy\n')), []);
  const loose = withMode('group proxy\nfile 644 root root\n');
  assert.equal(changed(loose), ['update file-mode /etc/squid/squid.conf']);
  const c = changesOf(loose)[0]!;
  assert.equal(
    [c.before, c.after, c.commands.map(String), c.undo.map(String)],
    [
      '0644 root:root',
      '0640 root:proxy',
      ['chown root:proxy /etc/squid/squid.conf && chmod 0640 /etc/squid/squid.conf'],
      ['chown root:root /etc/squid/squid.conf && chmod 0644 /etc/squid/squid.conf'],
    ],
  );
  // RHEL's squid runs as squid: its group, as the fact found it.
  assert.equal(changesOf(withMode('group squid\nfile 640 root proxy\n'))[0]!.after, '0640 root:squid');
  // A fresh host: the file is written 0640 by root, then given its group before squid starts.
  const fresh = plan(recorded('router-fresh'));
  const f = changesOf(fresh).find((x) => x.id === 'file-mode /etc/squid/squid.conf')!;
  assert.equal([f.before, f.after], ['0640 root:root', '0640 root:proxy']);
  assert.ok(
    changesOf(fresh).findIndex((x) => x.id === 'file-mode /etc/squid/squid.conf') < changesOf(fresh).findIndex((x) => x.id === 'service squid running'),
  );
  // cache_effective_user in squid.extra is the user whose group the fact looks up.
  const extra = withVars(h1, (h) => void (h.vars.squid.extra = ['cache_effective_user squid2']));
  const fact = hostFacts(extra, ROLES).find((x) => x.id === 'squid.conf-mode')!;
  assert.match(fact.command.text, /^g=''; u='?squid2'?$/m);
  // No group known: nothing changes hands, and a warning says why.
  const unknown = withMode('group \nfile 644 root root\n');
  assert.equal(changed(unknown), []);
  assert.ok(unknown.diagnostics.some((d) => d.severity === 'warning' && /cannot tell squid's group/.test(d.message)));
});

test('drift: squid stopped → started, no reconfigure', () => {
  const p = plan(edited('router-compliant', { 'squid.running': { stdout: 'squid: ERROR: No running copy', code: 1 } }));
  assert.equal(changed(p), ['update service squid running']);
  assert.ok(changesOf(p)[0]!.commands.some((c) => /^squid -f \/etc\/squid\/squid.conf$/.test(c.text)));
  assert.equal(p.handlers, []);
  const systemd = plan(edited('router-compliant', { 'squid.running': { stdout: '', code: 1 }, 'service.manager': 'systemd\n' }));
  assert.ok(changesOf(systemd)[0]!.commands.some((c) => c.text === 'systemctl start squid'));
});

test('squid "running" is true: an older squid.conf loaded or no listener on the tproxy port is drift, repaired by a reconfigure', () => {
  const older = plan(edited('router-compliant', { 'squid.running': { stdout: 'state running\nloaded older\nlisten *:3129\n', code: 0 } }));
  assert.equal(changed(older), ['update service squid running']);
  const item = changesOf(older)[0]!;
  assert.is(item.before, 'running an older squid.conf');
  assert.ok(item.commands.some((c) => c.text === 'squid -k reconfigure -f /etc/squid/squid.conf'));
  assert.ok(
    item.commands.some((c) => c.text.includes('/run/tprun/squid.loaded')),
    'the loaded squid.conf is recorded',
  );
  assert.equal(item.undo, [], 'a squid this transaction did not start is never stopped');
  const deaf = plan(edited('router-compliant', { 'squid.running': { stdout: 'state running\nloaded current\n', code: 0 } }));
  assert.is(changesOf(deaf)[0]!.before, 'running, not listening on 3129');
  const fine = plan(edited('router-compliant', { 'squid.running': { stdout: 'state running\nloaded current\nlisten *:3129\n', code: 0 } }));
  assert.equal(changed(fine), []);
  // A wildcard port IPv4 only (squid's IPv6 TPROXY probe failed) does not serve IPv6 interception.
  const v4 = plan(edited('router-compliant', { 'squid.running': { stdout: 'state running\nloaded current\nlisten 0.0.0.0:3129\n', code: 0 } }));
  assert.is(changesOf(v4)[0]!.before, 'running, not listening on 3129 for IPv6');
  const both = plan(
    edited('router-compliant', { 'squid.running': { stdout: 'state running\nloaded current\nlisten 0.0.0.0:3129\nlisten [::]:3129\n', code: 0 } }),
  );
  assert.equal(changed(both), []);
  // A start's undo stops only the squid this transaction started, by pid, never with `squid -k kill`.
  const stopped = plan(edited('router-compliant', { 'squid.running': { stdout: 'state stopped\n', code: 3 } }));
  const undo = changesOf(stopped)[0]!.undo.map(String).join('\n');
  assert.match(undo, /squid\.was-stopped/);
  assert.not.match(undo, /squid -k kill/);
});

test('kernel-check: a kernel older than 2.6.28 blocks every other role', () => {
  const p = plan(edited('router-fresh', { 'kernel.release': '2.6.20-1\n' }));
  assert.ok(blockedReason(p)?.includes('kernel >= 2.6.37 (found 2.6.20-1)'), blockedReason(p));
  assert.equal(changed(p), []);
  assert.equal(p.resources, []);
  assert.ok(p.checks.some((c) => !c.ok && c.blocks && /supply IPs wrongly/.test(c.hint ?? '')));
});

test("kernel-check: the guide's minimum 2.6.37 blocks 2.6.28-2.6.36 for both families (ICMP/TIME_WAIT bugs, no IPv6 TPROXY, no --transparent)", () => {
  const cfg = {
    'kernel.config':
      'source=/boot/config-2.6.30\nCONFIG_NF_CONNTRACK=m\nCONFIG_NETFILTER_TPROXY=m\nCONFIG_NETFILTER_XT_MATCH_SOCKET=m\nCONFIG_NETFILTER_XT_TARGET_TPROXY=m\n',
  };
  const p = plan(edited('router-fresh', { ...cfg, 'kernel.release': '2.6.30\n' }));
  assert.match(blockedReason(p)!, /^requirements not met: kernel >= 2\.6\.37 \(found 2\.6\.30\)$/);
  assert.ok(p.checks.some((c) => c.id === 'require kernel >= 2.6.37' && /ICMP and TIME_WAIT/.test(c.hint ?? '')));
  const v4only = { ...h1, vars: { ...h1.vars, tproxy: { ...h1.vars.tproxy, families: ['ipv4' as const] } } };
  assert.ok(blockedReason(plan(edited('router-fresh', { ...cfg, 'kernel.release': '2.6.30\n' }), v4only)));
  assert.is(blockedReason(plan(edited('router-fresh', { ...cfg, 'kernel.release': '2.6.37\n' }))), undefined);
});

test('kernel-check: each kernel version is checked for the options it has (NETFILTER_TPROXY to 3.12, xt_TPROXY alone 3.13-4.17, NF_TPROXY_IPV4/6 from 4.18)', () => {
  const config = (v: string, opts: string[]) => ({
    'kernel.release': `${v}\n`,
    'kernel.config': `source=/boot/config-${v}\n${opts.map((o) => `CONFIG_${o}=m`).join('\n')}\n`,
  });
  const common = ['NF_CONNTRACK', 'NETFILTER_XT_MATCH_SOCKET', 'NETFILTER_XT_TARGET_TPROXY'];
  const ids = (p: HostPlan) => p.checks.filter((c) => c.id.startsWith('require kernel CONFIG_')).map((c) => c.id.replace('require kernel CONFIG_', ''));
  // 3.13-4.17 kernels have neither NETFILTER_TPROXY nor NF_TPROXY_*: xt_TPROXY alone is enough.
  const k316 = plan(edited('router-fresh', config('3.16.0-4-amd64', common)));
  assert.is(blockedReason(k316), undefined);
  assert.equal(ids(k316), common);
  assert.is(blockedReason(plan(edited('router-fresh', config('4.9.0-19-amd64', common)))), undefined);
  // 3.12 and older need NETFILTER_TPROXY.
  assert.match(blockedReason(plan(edited('router-fresh', config('3.2.0-4-amd64', common))))!, /CONFIG_NETFILTER_TPROXY \(found not set/);
  assert.is(blockedReason(plan(edited('router-fresh', config('3.2.0-4-amd64', [...common, 'NETFILTER_TPROXY'])))), undefined);
  // 4.18 and later need NF_TPROXY_IPV4 and, for IPv6, NF_TPROXY_IPV6.
  assert.match(blockedReason(plan(edited('router-fresh', config('4.19.0-27-amd64', [...common, 'NF_TPROXY_IPV4']))))!, /CONFIG_NF_TPROXY_IPV6 \(found not set/);
  assert.is(blockedReason(plan(edited('router-fresh', config('4.19.0-27-amd64', [...common, 'NF_TPROXY_IPV4', 'NF_TPROXY_IPV6'])))), undefined);
  const v4only = { ...h1, vars: { ...h1.vars, tproxy: { ...h1.vars.tproxy, families: ['ipv4' as const] } } };
  assert.is(blockedReason(plan(edited('router-fresh', config('4.19.0-27-amd64', [...common, 'NF_TPROXY_IPV4'])), v4only)), undefined);
});

test("iptables-nft needs the kernel's nf_tables compat layer (NFT_COMPAT); iptables-legacy does not; a missing iptables names the packages", () => {
  const cfg = (compat: string) => ({ 'kernel.config': (s: string) => s.replace(/^CONFIG_NFT_COMPAT=.*\n/m, compat ? `CONFIG_NFT_COMPAT=${compat}\n` : '') });
  assert.is(blockedReason(plan(edited('router-fresh', cfg('m')))), undefined);
  assert.match(blockedReason(plan(edited('router-fresh', cfg(''))))!, /kernel CONFIG_NFT_COMPAT \(iptables-nft\) \(found not set/);
  const legacy = { ...cfg(''), 'tool.iptables': 'iptables v1.8.9 (legacy)\n', 'tool.ip6tables': 'ip6tables v1.8.9 (legacy)\n' };
  assert.is(blockedReason(plan(edited('router-fresh', legacy))), undefined);
  const none = plan(edited('router-fresh', { 'tool.iptables': { stdout: '', code: 127 }, 'tool.ip6tables': { stdout: '', code: 127 } }));
  const hint = none.checks.find((c) => c.id === 'require iptables >= 1.4.11')?.hint ?? '';
  assert.match(hint, /apt-get install iptables; RHEL: dnf install iptables-nft\), or set tproxy\.backend: nftables/);
});

test('kernel-check: without a readable kernel config, modules are probed and named', () => {
  const noCfg = { 'kernel.config': 'source=none\n' };
  const ok = plan(
    edited('router-fresh', {
      ...noCfg,
      'kernel.modules': 'nf_conntrack loaded\nnf_tproxy_ipv4 module\nnf_tproxy_ipv6 module\nxt_TPROXY module\nxt_socket loaded\nip_gre absent\n',
    }),
  );
  assert.is(blockedReason(ok), undefined);
  assert.ok(ok.checks.some((c) => c.id === 'require kernel CONFIG_NETFILTER_XT_MATCH_SOCKET' && /module xt_socket loaded/.test(c.found)));
  const bad = plan(
    edited('router-fresh', {
      ...noCfg,
      'kernel.modules': 'nf_conntrack loaded\nnf_tproxy_ipv4 module\nnf_tproxy_ipv6 module\nxt_TPROXY absent\nxt_socket loaded\nip_gre absent\n',
    }),
  );
  assert.match(blockedReason(bad)!, /CONFIG_NETFILTER_XT_TARGET_TPROXY/);
});

test('kernel-check: a missing TPROXY option in /proc/config.gz blocks', () => {
  const p = plan(edited('router-fresh', { 'kernel.config': (s) => s.replace('CONFIG_NETFILTER_XT_TARGET_TPROXY=y\n', '') }));
  assert.match(blockedReason(p)!, /CONFIG_NETFILTER_XT_TARGET_TPROXY \(found not set \(\/proc\/config.gz\)\)/);
});

test('kernel-check: squid without netfilter support or libcap, old iptables, no squid', () => {
  const noNf = plan(edited('router-fresh', { 'squid.version': (s) => s.replace("'--enable-linux-netfilter'", '') }));
  assert.match(blockedReason(noNf)!, /--enable-linux-netfilter/);
  const noCap = plan(edited('router-fresh', { 'squid.libcap': { stdout: '', code: 3 } }));
  assert.ok(noCap.checks.some((c) => !c.ok && c.blocks && /Stopping full transparency: Missing needed capability support/.test(c.hint ?? '')));
  const oldCap = plan(edited('router-fresh', { 'squid.libcap': '/lib/libcap.so.2.8\n' }));
  assert.match(blockedReason(oldCap)!, /libcap >= 2.09 \(found libcap 2.8/);
  assert.match(blockedReason(plan(edited('router-fresh', { 'tool.iptables': 'iptables v1.4.7\n' })))!, /iptables >= 1.4.11/);
  // -m socket --transparent arrived in iptables 1.4.11 (issue #13, item 16).
  assert.match(blockedReason(plan(edited('router-fresh', { 'tool.iptables': 'iptables v1.4.10\n' })))!, /iptables >= 1.4.11 \(found iptables v1.4.10\)/);
  assert.match(blockedReason(plan(edited('router-fresh', { 'squid.version': { stdout: '', code: 127 } })))!, /squid >= 3.2 \(found squid not installed\)/);
  // 3.1 cannot parse the built-in localhost/manager ACLs the rendered squid.conf uses (item 14).
  const v31 = plan(edited('router-fresh', { 'squid.version': (s) => s.replace('Version 5.7', 'Version 3.1.20') }));
  assert.match(blockedReason(v31)!, /squid >= 3.2 \(found squid 3.1.20\)/);
  assert.ok(v31.checks.some((c) => /localhost and manager ACLs/.test(c.hint ?? '')));
});

test('log rotation: squid.conf sets logfile_rotate 0 (logrotate rotates); warnings when nothing rotates and for conf.d lines not read', () => {
  // Constructed squid.logs facts (the recorded lab host has /etc/logrotate.d/squid and no conf.d).
  const warnings = (stdout: string, host = h1) =>
    plan(edited('router-compliant', { 'squid.logs': { stdout, code: 0 } }), host)
      .diagnostics.filter((d) => d.severity === 'warning')
      .map((d) => d.message);
  const conf = Buffer.from(recorded('router-compliant')['file:/etc/squid/squid.conf']!.stdout.replace(/\s+/g, ''), 'base64').toString('utf8');
  assert.match(conf, /^logfile_rotate 0$/m, 'the recorded compliant squid.conf is what tprun renders');
  // Debian 12 as its squid package installs it (this machine's package files): nothing to say.
  assert.equal(warnings('logrotate /etc/logrotate.d/squid\nconfd /etc/squid/conf.d/debian.conf\n  logfile_rotate 0\n'), []);
  const none = warnings('');
  assert.equal(none.length, 1, none.join('\n'));
  assert.match(none[0]!, /^no \/etc\/logrotate\.d\/squid: squid\.conf sets logfile_rotate 0 .* nothing rotates them here/);
  // The operator's own rotation in squid.extra: no warning about logrotate.
  assert.equal(
    warnings(
      '',
      withVars(h1, (h) => void (h.vars.squid.extra = ['logfile_rotate 7'])),
    ),
    [],
  );
  const dropIn = warnings(
    'logrotate /etc/logrotate.d/squid\nconfd /etc/squid/conf.d/debian.conf\n  logfile_rotate 0\nconfd /etc/squid/conf.d/local.conf\n  acl office src 10.1.0.0/16\n  http_access allow office\n',
  );
  assert.equal(dropIn.length, 1, dropIn.join('\n'));
  assert.match(
    dropIn[0]!,
    /^\/etc\/squid\/conf\.d\/local\.conf is not read: .*\(2 lines there, e\.g\. "acl office src 10\.1\.0\.0\/16"\); move them to squid\.extra$/,
  );
});

test('squid enabled at boot (systemd): a disabled or masked squid is enabled, exactly undone; no systemd, nothing planned', () => {
  const on = (state: string) => plan(edited('router-compliant', { 'squid.enabled': { stdout: `${state}\n`, code: 0 } }));
  const disabled = changesOf(on('disabled')).find((c) => c.id === 'service squid enabled')!;
  assert.equal(
    [disabled.before, disabled.after, disabled.commands.map(String), disabled.undo.map(String)],
    ['disabled', 'enabled', ['systemctl enable squid'], ['systemctl disable squid']],
  );
  const masked = changesOf(on('masked')).find((c) => c.id === 'service squid enabled')!;
  assert.equal([masked.commands.map(String), masked.undo.map(String)], [['systemctl unmask squid', 'systemctl enable squid'], ['systemctl mask squid']]);
  assert.equal(changed(on('enabled')), []);
  assert.ok(on('enabled').resources.some((c) => c.id === 'service squid enabled' && c.action === 'no-op'));
  // The lab (no systemd): boot-time start is not tprun's to manage there.
  assert.not.ok(plan(compliant()).resources.some((c) => c.id === 'service squid enabled'));
});
test.run();
