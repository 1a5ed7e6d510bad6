/**
 * Squid as an interception proxy on the namespace lab (h1 between the client and the origin):
 * the access rules Squid 6 ships by default, a probe that judges by what squid.conf says, and
 * a tproxy port squid binds for IPv4 only (its IPv6 TPROXY probe failed: a MOCK kernel) as drift.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as lab from './lab.ts';

const skip = lab.preflight();
const t = skip ? test.skip : test;
if (skip) console.log(`squid lab tests skipped: ${skip}`);
const cc = ['cc', 'gcc'].find((c) => spawnSync(c, ['--version']).status === 0);
const tcc = skip || !cc ? test.skip : test;
if (!skip && !cc) console.log('squid lab: the IPv4-only listener test skipped: no C compiler (cc, gcc) for its preloaded shim');

/**
 * A squid with ssl-bump for h1: the machine's own when it is an OpenSSL build, else Debian's
 * squid-openssl of the same version, unpacked (never installed) by scripts/ensure-deps.sh. Debian
 * 12's squid is the GnuTLS flavour, which has no ssl-bump.
 */
function opensslSquid(): { bin?: string; why?: string } {
  if (/--with-openssl/.test(spawnSync('/usr/sbin/squid', ['-v'], { encoding: 'utf8' }).stdout ?? '')) return { bin: '/usr/sbin/squid' };
  const v = spawnSync('dpkg-query', ['-W', '-f', '${Version}', 'squid'], { encoding: 'utf8' }).stdout?.trim();
  const bin = `/var/cache/tprun-lab/squid-openssl-${v}/usr/sbin/squid`;
  if (v && existsSync(bin)) return { bin };
  return { why: `this squid has no ssl-bump (GnuTLS) and ${v ? bin : "Debian's squid-openssl"} is missing (scripts/ensure-deps.sh unpacks it)` };
}
const ssl = skip ? {} : opensslSquid();
const hasOpenssl = spawnSync('openssl', ['version']).status === 0;
const tssl = skip || !ssl.bin || !hasOpenssl ? test.skip : test;
if (!skip && (!ssl.bin || !hasOpenssl))
  console.log(`squid lab: the intercepted-TLS TP009 test skipped: ${ssl.why ?? 'no openssl command for its certificate'}`);

const tprun = (...args: string[]) => lab.tprunInCtl(args);
const out = (r: { out: string; err: string }) => r.out + r.err;
const withExtra = (name: string, extra: string[]) => lab.writeInventory(name, { routers: [1], extra: { 1: `squid: { extra: ${JSON.stringify(extra)} }` } });

test.before(() => {
  if (skip) return;
  lab.up({ hosts: 1, proof: true });
  const a = tprun('apply', lab.writeInventory('plain', { routers: [1] }));
  if (a.code !== 2) throw new Error(`apply failed: ${out(a)}`);
});
test.after(() => {
  if (!skip) lab.down();
});

t('an intercepted request for a link-local address (cloud metadata) is denied by squid, never forwarded', () => {
  const r = spawnSync('ip', ['netns', 'exec', lab.CLIENT, 'curl', '-sS', '-i', '--max-time', '5', 'http://169.254.169.254/latest/meta-data/'], {
    encoding: 'utf8',
  });
  const res = lab.curlResponse(r.stdout, r.stderr);
  assert.is(res.status, 403, res.raw);
  assert.match(res.via ?? '', /\bh1 \(squid\/\d/, res.raw);
  assert.match(lab.onHost(1, 'tail -n 5 /var/log/squid/access.log').out, /TCP_DENIED\/403 .*169\.254\.169\.254/);
});

t('squid -k rotate only reopens the logs (logfile_rotate 0): logrotate is the one rotation, as on a stock Debian', () => {
  assert.match(lab.onHost(1, 'cat /etc/squid/squid.conf').out, /^logfile_rotate 0$/m);
  const r = lab.onHost(1, 'squid -k rotate -f /etc/squid/squid.conf && sleep 1 && ls /var/log/squid');
  assert.is(r.code, 0, r.out);
  assert.match(r.out, /^access\.log$/m);
  assert.not.match(r.out, /\.log\.\d/, `squid renamed its logs itself: ${r.out}`);
});

t('squid.conf is 0640 root:proxy after apply, squid still reads it (reconfigure, interception); a 0644 squid.conf is drift', () => {
  const plain = lab.writeInventory('plain', { routers: [1] });
  assert.is(lab.onHost(1, 'stat -c "%a %U %G" /etc/squid/squid.conf').out.trim(), '640 root proxy');
  const r = lab.onHost(1, 'squid -k reconfigure -f /etc/squid/squid.conf && sleep 1 && squid -k check -f /etc/squid/squid.conf && echo alive');
  assert.match(r.out, /^alive$/m, r.out);
  lab.proveInterception(4);
  assert.is(tprun('check', plain).code, 0);
  assert.is(lab.onHost(1, 'chmod 0644 /etc/squid/squid.conf && chgrp root /etc/squid/squid.conf').code, 0);
  const c = tprun('check', plain, '--diff');
  assert.match(c.out, /^h1: drifted/m, out(c));
  assert.match(c.out, /file-mode \/etc\/squid\/squid\.conf/, out(c));
  assert.match(c.out, /0644 root:root → 0640 root:proxy/, out(c));
  const a = tprun('apply', plain);
  assert.is(a.code, 2, out(a));
  assert.is(lab.onHost(1, 'stat -c "%a %U %G" /etc/squid/squid.conf').out.trim(), '640 root proxy');
  lab.proveInterception(4);
});

t('block_quic: UDP/443 from the client is rejected through h1 (ICMP port unreachable), and passes without it', () => {
  const plain = lab.writeInventory('plain', { routers: [1] });
  lab.assertUdp443('passes');
  const quic = lab.writeInventory('quic', { routers: [1], extra: { 1: 'tproxy: { block_quic: true }' } });
  const a = tprun('apply', quic);
  assert.is(a.code, 2, out(a));
  lab.assertUdp443('rejected');
  // TCP is still intercepted; the chain is compliant; off again, the chain goes and UDP/443 passes.
  lab.proveInterception(4);
  assert.is(tprun('check', quic).code, 0);
  const b = tprun('apply', plain);
  assert.is(b.code, 2, out(b));
  assert.not.match(lab.onHost(1, 'iptables-save -t filter; ip6tables-save -t filter').out, /TPRUN_FORWARD/);
  const r = lab.udp443(4);
  assert.is(r.client, 'reply', JSON.stringify(r));
  assert.match(r.origin, /^got quic from 198\.51\.100\.2$/);
});

for (const [directive, evidence] of [
  ['via off', 'no Via header'],
  ['client_dst_passthru off', 'HIER_DIRECT instead of ORIGINAL_DST'],
] as const) {
  t(`apply --probe with "${directive}" in squid.extra (${evidence}) keeps the working host: changed, then compliant`, () => {
    const inv = withExtra(directive.split(' ')[0]!, [directive]);
    const a = tprun('apply', inv, '--probe');
    assert.is(a.code, 2, out(a));
    assert.match(a.out, /^h1: changed/m);
    assert.match(lab.onHost(1, 'cat /etc/squid/squid.conf').out, new RegExp(`^${directive}$`, 'm'));
    const c = tprun('check', inv, '--probe');
    assert.is(c.code, 0, out(c));
  });
}

/** Run doctor on h1: its exit code, its output and the failed checks of its JSON report. */
function doctor(inv: string): { code: number; text: string; failed: { id: string; code?: string; found?: string }[] } {
  const file = `${lab.STATE}/squid-doctor.json`;
  const r = tprun('doctor', inv, '--report', `json:${file}`);
  const json = JSON.parse(readFileSync(file, 'utf8')) as { hosts: { checks: { id: string; code?: string; ok: boolean; found?: string }[] }[] };
  return { code: r.code, text: out(r), failed: json.hosts[0]!.checks.filter((c) => !c.ok) };
}

t(
  'a cache_peer secret reaches squid.conf (0640) and nothing else: no output, report, plan or facts of the controller, no file on the host once removed',
  () => {
    const SECRET = 'LabPeerS3cret7731';
    // The peer is never used (cache_peer_access): interception stays direct while the secret is there.
    const inv = lab.writeInventory('secret', {
      routers: [1],
      extra: { 1: `squid: { extra: [!secret "cache_peer 192.0.2.10 parent 3128 0 no-query login=alice:${SECRET}", "cache_peer_access 192.0.2.10 deny all"] }` },
    });
    const dir = `${lab.STATE}/secret-artifacts`;
    spawnSync('rm', ['-rf', dir]);
    spawnSync('mkdir', ['-p', dir]);
    const reports = ['json', 'junit', 'html', 'prom'].flatMap((f) => ['--report', `${f}:${dir}/apply.${f}`]);
    const runs = [
      tprun('check', inv, '--diff', '-v', '--out', `${dir}/plan.json`),
      tprun('show', `${dir}/plan.json`),
      tprun('apply', '--plan', `${dir}/plan.json`, inv, '--diff', '-v', ...reports),
      tprun('check', inv, '--diff', '-v'),
      tprun('facts', inv, '--json'),
      tprun('doctor', inv, '--report', `json:${dir}/doctor.json`),
    ];
    assert.is(runs[2]!.code, 2, out(runs[2]!));
    assert.is(runs[3]!.code, 0, out(runs[3]!));
    // facts print squid.conf as the host has it, the secret line redacted.
    assert.match(runs[4]!.out, /cache_peer_access 192\.0\.2\.10 deny all/, runs[4]!.out.slice(0, 3000));
    assert.match(runs[4]!.out, /\[redacted\]/);
    for (const [k, r] of runs.entries()) assert.not.ok(out(r).includes(SECRET), `run ${k} printed the secret: ${out(r)}`);
    for (const f of readdirSync(dir)) assert.not.ok(readFileSync(join(dir, f), 'utf8').includes(SECRET), `${f} holds the secret`);
    assert.is(statSync(`${dir}/plan.json`).mode & 0o777, 0o600, 'the plan is 0600');
    // On the host: squid.conf alone holds it, readable by root and squid's group only.
    const holders = (where: string) => lab.onHost(1, `grep -rlF -- '${SECRET}' ${where} 2>/dev/null; true`).out.trim();
    // (The lab hosts share the machine's /tmp, where the test's own inventory lives.)
    const places = '/etc/squid /etc/tprun /var/lib/tprun /var/log/squid /var/spool/squid /run';
    assert.is(holders(places), '/etc/squid/squid.conf');
    assert.is(lab.onHost(1, 'stat -c "%a %U %G" /etc/squid/squid.conf').out.trim(), '640 root proxy');
    lab.proveInterception(4);
    // Removed from the inventory: no backup keeps the old secret once the transaction ended.
    const plain = tprun('apply', lab.writeInventory('plain', { routers: [1] }));
    assert.is(plain.code, 2, out(plain));
    assert.is(holders(places), '', 'a file on the host still holds the removed secret');
    lab.proveInterception(4);
  },
);

t('a Host header naming a name squid resolves elsewhere: the alert in cache.log, and doctor reports TP009 with the host alone', () => {
  // The lab has no DNS server: squid's hosts_file gives good.example the origin's address and
  // forged.example another one. Intercepted HTTP alerts are logged at debug level 85,3 only.
  assert.is(lab.onHost(1, `printf '${lab.ORIGIN4} good.example\n203.0.113.99 forged.example\n' > /etc/squid/lab-hosts`).code, 0);
  const inv = withExtra('forgery', ['debug_options ALL,1 85,3', 'hosts_file /etc/squid/lab-hosts']);
  const a = tprun('apply', inv);
  assert.is(a.code, 2, out(a));
  const get = (host: string) =>
    lab.curlResponse(
      ...((r) => [r.stdout, r.stderr] as const)(
        spawnSync(
          'ip',
          ['netns', 'exec', lab.CLIENT, 'curl', '-sS', '-i', '--max-time', '8', '-H', `Host: ${host}`, `http://${lab.ORIGIN4}/login?token=s3cr3t`],
          {
            encoding: 'utf8',
          },
        ),
      ),
    );

  const clean = get('good.example');
  assert.is(clean.status, 200, clean.raw);
  assert.not.match(lab.onHost(1, 'cat /var/log/squid/cache.log').out, /Host header forgery/);
  const healthy = doctor(inv);
  assert.is(healthy.code, 0, healthy.text);
  assert.equal(healthy.failed, []);

  // Not blocked (host_verify_strict is off): the request goes through, uncached and never to a peer.
  const forged = get('forged.example');
  assert.is(forged.status, 200, forged.raw);
  assert.match(
    lab.onHost(1, 'cat /var/log/squid/cache.log').out,
    /SECURITY ALERT: Host header forgery detected .*local=203\.0\.113\.2:80 .*on URL: http:\/\/forged\.example\//,
  );
  const d = doctor(inv);
  assert.is(d.code, 0, `a warning leaves the host healthy: ${d.text}`);
  assert.equal(
    d.failed.map((c) => c.code),
    ['TP009'],
    d.text,
  );
  assert.match(
    d.failed[0]!.found ?? '',
    /1 "Host header forgery detected" alert since squid last started .*Host "forged\.example" connected to 203\.0\.113\.2:80/,
  );
  assert.not.match(d.text + JSON.stringify(d.failed), /s3cr3t|good\.example/);

  // squid's next start or reconfigure begins a new count.
  const off = withExtra('forgery-off', ['hosts_file /etc/squid/lab-hosts']);
  const b = tprun('apply', off);
  assert.is(b.code, 2, out(b));
  assert.equal(doctor(off).failed, []);
});

/**
 * MOCK of a kernel without IPv6 TPROXY, the one thing this machine's kernel (nf_tproxy for both
 * families built in) cannot be. Real counterpart: a kernel that refuses IP_TRANSPARENT on an IPv6
 * socket, so squid's probe at start (Ip::Intercept::ProbeForTproxy: socket(AF_INET6),
 * setsockopt(SOL_IP, IP_TRANSPARENT), bind to ::2) fails and squid quietly binds its wildcard
 * tproxy port for IPv4 only. A preloaded shim makes exactly that setsockopt (or IPV6_TRANSPARENT)
 * fail on an AF_INET6 socket with ENOPROTOOPT, as a kernel without the option answers; squid
 * itself, unmodified, does the rest.
 */
const NO_IPV6_TPROXY_C = `#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#ifndef IP_TRANSPARENT
#define IP_TRANSPARENT 19
#endif
#ifndef IPV6_TRANSPARENT
#define IPV6_TRANSPARENT 75
#endif
int setsockopt(int fd, int level, int name, const void *value, socklen_t len) {
  static int (*real)(int, int, int, const void *, socklen_t);
  if (!real) real = (int (*)(int, int, int, const void *, socklen_t))dlsym(RTLD_NEXT, "setsockopt");
  int domain = 0;
  socklen_t dlen = sizeof domain;
  if (((level == SOL_IP && name == IP_TRANSPARENT) || (level == SOL_IPV6 && name == IPV6_TRANSPARENT)) &&
      getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &dlen) == 0 && domain == AF_INET6) {
    errno = ENOPROTOOPT;
    return -1;
  }
  return real(fd, level, name, value, len);
}
`;

/** The local addresses listening on h1's tproxy port (3129), as ss prints them, sorted. */
const tproxyListeners = () => lab.onHost(1, "ss -ltnH 'sport = :3129' | awk '{print $4}' | sort").out.split('\n').filter(Boolean);

/** Poll (deadline 20 s) until h1's tproxy port is listened on exactly as `want`; returns what was last seen. */
function awaitListeners(want: string[]): string[] {
  const end = Date.now() + 20_000;
  let seen = tproxyListeners();
  while (JSON.stringify(seen) !== JSON.stringify(want) && Date.now() < end) {
    spawnSync('sleep', ['0.2']);
    seen = tproxyListeners();
  }
  return seen;
}

/** Stop h1's squid cleanly and at once (SIGINT: no shutdown_lifetime wait), until its pid is gone (deadline 30 s). */
function stopSquid(): void {
  const r = lab.onHost(
    1,
    '[ -s /run/squid.pid ] || exit 0; p=$(cat /run/squid.pid) && squid -k interrupt -f /etc/squid/squid.conf && i=0 && while kill -0 "$p" 2>/dev/null; do i=$((i+1)); [ $i -ge 300 ] && exit 1; sleep 0.1; done',
  );
  assert.is(r.code, 0, `squid did not stop: ${r.out}`);
}

/** `tprun check` on h1 with a JSON report: its exit code, output, and the report's host entry. */
function checkReport(inv: string) {
  const file = `${lab.STATE}/squid-check.json`;
  const r = tprun('check', inv, '--report', `json:${file}`);
  const json = JSON.parse(readFileSync(file, 'utf8')) as {
    hosts: { status: string; resources: { id: string; inSync: boolean; expected: string; actual: string }[] }[];
  };
  return { code: r.code, text: out(r), host: json.hosts[0]! };
}

tcc('an IPv4-only tproxy listener (squid on a kernel without IPv6 TPROXY, MOCK) fails the IPv6 listening check; IPv6 is not intercepted', () => {
  const plain = lab.writeInventory('plain', { routers: [1] });
  const a = tprun('apply', plain);
  assert.ok(a.code === 0 || a.code === 2, out(a));
  assert.equal(tproxyListeners(), ['*:3129'], 'before: a dual-stack wildcard');
  const src = `${lab.STATE}/no-ipv6-tproxy.c`;
  const so = `${lab.STATE}/no-ipv6-tproxy.so`;
  writeFileSync(src, NO_IPV6_TPROXY_C);
  const built = spawnSync(cc!, ['-shared', '-fPIC', '-O2', '-Wall', '-o', so, src, '-ldl'], { encoding: 'utf8' });
  assert.is(built.status, 0, built.stderr);
  writeFileSync(`${lab.STATE}/ld.so.preload`, `${so}\n`);

  // Every process started on h1 from now on gets the shim: h1's own /etc/ld.so.preload, bound in
  // its private mount namespace (LD_PRELOAD would not do: squid's kid runs as proxy with a saved
  // uid 0, a secure exec that ignores it). The bind needs /etc/ld.so.preload to exist: an empty
  // one is created on this machine if missing (it preloads nothing) and removed afterwards.
  const created = !existsSync('/etc/ld.so.preload');
  if (created) writeFileSync('/etc/ld.so.preload', '');
  const mine = readFileSync('/etc/ld.so.preload', 'utf8');
  try {
    const bound = lab.onHost(1, `mount --bind ${lab.STATE}/ld.so.preload /etc/ld.so.preload && cat /etc/ld.so.preload`);
    assert.is(bound.out, `${so}\n`, bound.out);
    assert.is(readFileSync('/etc/ld.so.preload', 'utf8'), mine, "this machine's own file is untouched");
    // Squid stopped; tprun's apply starts it (squid -f), on the "kernel" without IPv6 TPROXY. It
    // listens for IPv4 only, so the verification after the start fails the host.
    stopSquid();
    const start = tprun('apply', plain);
    assert.ok(start.code === 4 || start.code === 6, `apply must fail h1: exit ${start.code}: ${out(start)}`);
    assert.match(out(start), /still differs after apply: service squid running/);
    // The shim really worked: squid's own probe failed and it bound the port for IPv4 alone.
    assert.equal(awaitListeners(['0.0.0.0:3129']), ['0.0.0.0:3129'], 'squid under the shim must listen on 3129 for IPv4 only');
    assert.match(lab.onHost(1, 'ss -ltnH "sport = :3128"').out, /\*:3128/, 'its plain port is still a dual-stack wildcard');

    const c = checkReport(plain);
    assert.is(c.code, 2, c.text);
    assert.is(c.host.status, 'drifted', c.text);
    // The one resource out of line is squid's service: not listening for IPv6 (IPv4 listens, so is not named).
    assert.equal(
      c.host.resources.filter((x) => !x.inSync).map((x) => [x.id, x.actual, x.expected]),
      [['service squid running', 'running, not listening on 3129 for IPv6', 'running']],
      c.text,
    );

    // Through the router: IPv4 still intercepted, IPv6 dropped by TPROXY (no IPv6 socket on 3129).
    lab.proveInterception(4);
    const v6 = spawnSync('ip', ['netns', 'exec', lab.CLIENT, 'curl', '-sS', '-i', '--connect-timeout', '3', '--max-time', '5', `http://[${lab.ORIGIN6}]/`], {
      encoding: 'utf8',
    });
    assert.is(v6.status, 28, `IPv6 must time out, neither squid nor the origin answering: ${v6.stdout}${v6.stderr}`);
    assert.is(v6.stdout, '');

    // A reconfigure (apply again) cannot mend it: squid probes again, on the same "kernel".
    const again = tprun('apply', plain);
    assert.ok(again.code === 4 || again.code === 6, `apply must fail h1: exit ${again.code}: ${out(again)}`);
    assert.match(out(again), /still differs after apply: service squid running/);
    assert.equal(tproxyListeners(), ['0.0.0.0:3129']);
  } finally {
    // The kernel "fixed": the bind undone, squid stopped, and started again by tprun's apply.
    lab.onHost(1, 'umount /etc/ld.so.preload 2>/dev/null');
    if (created && readFileSync('/etc/ld.so.preload', 'utf8') === '') rmSync('/etc/ld.so.preload');
    stopSquid();
  }
  const b = tprun('apply', plain);
  assert.is(b.code, 2, out(b));
  assert.equal(awaitListeners(['*:3129']), ['*:3129'], 'squid without the shim: a dual-stack wildcard again');
  const c = checkReport(plain);
  assert.is(c.code, 0, c.text);
  assert.is(c.host.status, 'compliant', c.text);
  lab.proveInterception(4);
  lab.proveInterception(6);
});

tssl('intercepted TLS whose SNI squid resolves elsewhere: 409 (ERR_CONFLICT_HOST), the connection cut, doctor reports TP009', () => {
  // Squid's certificate for ssl-bump (only peeked here, never shown) and the origin's, one self-signed pair.
  const pem = `${lab.STATE}/tls.pem`;
  const gen = spawnSync(
    'sh',
    ['-c', `openssl req -x509 -newkey rsa:2048 -nodes -keyout ${pem}.key -out ${pem}.crt -days 2 -subj '/CN=tprun lab' && cat ${pem}.crt ${pem}.key > ${pem}`],
    { encoding: 'utf8' },
  );
  assert.is(gen.status, 0, gen.stderr);
  // An HTTPS origin beside the lab's HTTP one: it answers with the address it saw.
  const server = `import { createServer } from 'node:https'; import { readFileSync } from 'node:fs';
const o = { key: readFileSync(${JSON.stringify(pem)}), cert: readFileSync(${JSON.stringify(pem)}) };
createServer(o, (q, r) => r.end('origin saw ' + q.socket.remoteAddress + ' over TLS\\n')).listen(443, ${JSON.stringify(lab.ORIGIN4)});`;
  const origin = spawn('ip', ['netns', 'exec', lab.ORIGIN, process.execPath, '--input-type=module', '-e', server], { detached: true, stdio: 'ignore' });
  origin.unref();
  const bind = ssl.bin !== '/usr/sbin/squid';
  try {
    const up = `i=0; until (echo > /dev/tcp/${lab.ORIGIN4}/443) 2>/dev/null; do i=$((i+1)); [ $i -gt 100 ] && exit 1; sleep 0.1; done`;
    assert.is(spawnSync('ip', ['netns', 'exec', lab.ORIGIN, 'bash', '-c', up]).status, 0, 'the HTTPS origin did not start');
    const files = lab.onHost(
      1,
      `install -m 0640 -g proxy ${pem} /etc/squid/tls.pem && printf '${lab.ORIGIN4} good.example\n203.0.113.99 forged.example\n' > /etc/squid/lab-hosts`,
    );
    assert.is(files.code, 0, files.out);
    // The OpenSSL squid on h1 alone (bound in its mount namespace), started by apply.
    stopSquid();
    if (bind) assert.is(lab.onHost(1, `mount --bind ${ssl.bin} /usr/sbin/squid`).code, 0);
    assert.match(lab.onHost(1, 'squid -v').out, /--with-openssl/);
    // Peek at the SNI, then splice: squid checks the SNI's addresses against where the client connected.
    const inv = lab.writeInventory('tls', {
      routers: [1],
      extra: {
        1: `tproxy: { https_ports: [443] }, squid: { https_tproxy_port: 3130, https_tproxy_port_options: [cert=/etc/squid/tls.pem, generate-host-certificates=off], extra: ${JSON.stringify(['acl step1 at_step SslBump1', 'ssl_bump peek step1', 'ssl_bump splice all', 'hosts_file /etc/squid/lab-hosts'])} }`,
      },
    });
    const a = tprun('apply', inv);
    assert.is(a.code, 2, out(a));

    const get = (host: string) =>
      spawnSync(
        'ip',
        [
          'netns',
          'exec',
          lab.CLIENT,
          'curl',
          '-sS',
          '-k',
          '-i',
          '--max-time',
          '8',
          '--resolve',
          `${host}:443:${lab.ORIGIN4}`,
          `https://${host}/login?token=s3cr3t`,
        ],
        { encoding: 'utf8' },
      );
    // SNI resolving to where the client connected: spliced through squid (its tunnel line) to the origin.
    const clean = get('good.example');
    const res = lab.curlResponse(clean.stdout, clean.stderr);
    assert.is(res.status, 200, res.raw);
    assert.is(res.body.trim(), `origin saw ${lab.CLIENT4} over TLS`);
    const log = () => lab.onHost(1, 'cat /var/log/squid/access.log').out;
    // cache.log since squid's last start (the HTTP test's alerts are earlier in the same file).
    const sinceStart = () => lab.onHost(1, "tac /var/log/squid/cache.log | sed '/Starting Squid Cache/q' | tac").out;
    const end = Date.now() + 10_000;
    while (!/TCP_TUNNEL\/200 .*CONNECT good\.example:443 .*ORIGINAL_DST\/203\.0\.113\.2/.test(log()) && Date.now() < end) spawnSync('sleep', ['0.2']);
    assert.match(log(), /TCP_TUNNEL\/200 .*CONNECT good\.example:443 .*ORIGINAL_DST\/203\.0\.113\.2/);
    assert.not.match(sinceStart(), /Host header forgery/);
    const healthy = doctor(inv);
    assert.is(healthy.code, 0, healthy.text);
    assert.equal(healthy.failed, []);

    // SNI resolving elsewhere: 409 in access.log, the client's TLS handshake cut, the alert at squid's default level.
    const forged = get('forged.example');
    assert.is(forged.status, 35, `curl must fail the handshake: ${forged.stdout}${forged.stderr}`);
    assert.is(forged.stdout, '');
    assert.match(log(), /NONE_NONE\/409 \d+ CONNECT forged\.example:443 /);
    assert.match(sinceStart(), /SECURITY ALERT: Host header forgery detected .*local=203\.0\.113\.2:443 [\s\S]*on URL: forged\.example:443/);
    const d = doctor(inv);
    assert.is(d.code, 0, `a warning leaves the host healthy: ${d.text}`);
    assert.equal(
      d.failed.map((c) => c.code),
      ['TP009'],
      d.text,
    );
    assert.match(
      d.failed[0]!.found ?? '',
      /1 "Host header forgery detected" alert since squid last started .*Host "forged\.example" connected to 203\.0\.113\.2:443/,
    );
    assert.match(d.failed[0]!.found ?? '', /access\.log: 1 intercepted request answered 409 \(ERR_CONFLICT_HOST\)/);
    assert.not.match(d.text + JSON.stringify(d.failed), /s3cr3t|good\.example/);
  } finally {
    // h1 as the suite had it: its own squid again, started by apply without the TLS port.
    stopSquid();
    if (bind) lab.onHost(1, 'umount /usr/sbin/squid 2>/dev/null');
    lab.onHost(1, 'rm -f /etc/squid/tls.pem');
    if (origin.pid) spawnSync('kill', [String(origin.pid)]);
  }
  const b = tprun('apply', lab.writeInventory('plain', { routers: [1] }));
  assert.is(b.code, 2, out(b));
  if (bind) assert.not.match(lab.onHost(1, 'squid -v').out, /--with-openssl/, "h1 runs the machine's own squid again");
  assert.is(tprun('check', lab.writeInventory('plain', { routers: [1] })).code, 0);
  lab.proveInterception(4);
});

test.run();
