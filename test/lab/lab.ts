/**
 * The lab: network-namespace hosts on this machine, each with its own sshd, /etc/squid,
 * /etc/tprun, /run and squid log dir, reached over SSH from a controller namespace that has no
 * default route. Addresses come only from 198.18.0.0/15 and the documentation ranges
 * (198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32), never from this machine's own network.
 *
 * Topology:  ctl (198.18.0.1) ──br── hN mgmt0 (198.18.1.N)
 *            client (198.51.100.2, 2001:db8:c::2) ── h1 ── origin (203.0.113.2, 2001:db8:5::2)
 *            with `bridge: N`: client ── hN (br0: eth1 + eth2, no address) ── h1 ── origin
 *            wccp (198.18.0.250): a UDP 2048 listener standing in for a WCCP router
 */
import * as assert from 'uvu/assert';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { udpProbe } from '../udp-probe.ts';

/** Several labs can run side by side (one per developer or helper) under their own prefix and state dir. */
export const STATE = process.env.TPRUN_LAB_STATE ?? '/tmp/tprun-lab';
export const PREFIX = process.env.TPRUN_LAB_PREFIX ?? 'tpl-';
export const CTL = `${PREFIX}ctl`;
export const CLIENT = `${PREFIX}client`;
export const ORIGIN = `${PREFIX}origin`;
export const WCCP = `${PREFIX}wccp`;
export const WCCP_ADDR = '198.18.0.250';
export const WCCP_LOG = `${STATE}/wccp.log`;
export const CLIENT4 = '198.51.100.2';
export const CLIENT6 = '2001:db8:c::2';
export const ORIGIN4 = '203.0.113.2';
export const ORIGIN6 = '2001:db8:5::2';
const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));

export const hostNs = (i: number) => `${PREFIX}h${i}`;
export const hostName = (i: number) => `h${i}`;
export const hostAddr = (i: number) => `198.18.${1 + Math.floor(i / 250)}.${i % 250}`;

function sh(cmd: string, opts: { ns?: string; allowFail?: boolean } = {}): string {
  const argv = opts.ns ? ['ip', 'netns', 'exec', opts.ns, 'sh', '-c', cmd] : ['sh', '-c', cmd];
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8' });
  if (r.status !== 0 && !opts.allowFail) throw new Error(`lab: ${opts.ns ? `[${opts.ns}] ` : ''}${cmd}\n${r.stderr}`);
  return r.stdout;
}

export const nsExec = (ns: string, cmd: string, allowFail = false) => sh(cmd, { ns, allowFail });

export function preflight(): string | undefined {
  if (process.getuid?.() !== 0) return 'the lab needs root (network namespaces, iptables, sshd)';
  if (spawnSync('ip', ['netns', 'list']).status !== 0) return 'ip netns does not work here (iproute2 missing or no namespace support)';
  for (const bin of ['/usr/sbin/sshd', '/usr/sbin/squid', '/usr/sbin/iptables', '/usr/bin/ssh-keygen']) {
    if (!existsSync(bin)) return `${bin} is missing (run scripts/ensure-deps.sh as root)`;
  }
  return undefined;
}

export function labNamespaces(): string[] {
  return sh('ip netns list', { allowFail: true })
    .split('\n')
    .map((l) => l.split(' ')[0]!)
    .filter((n) => n.startsWith(PREFIX));
}

/** A host's /var/lib/tprun "disk": a small tmpfs in this machine's mount namespace, so it outlives the host's processes (reboot()). */
const varLib = (i: number) => `${STATE}/${hostNs(i)}/var-lib-tprun`;

/** Stop every process of the lab by pid, then delete its namespaces and per-host /etc dirs. */
export function down(): void {
  if (existsSync(STATE))
    for (const d of readdirSync(STATE)) {
      const m = `${STATE}/${d}/var-lib-tprun`;
      if (existsSync(m)) sh(`mountpoint -q ${m} && umount -l ${m}; true`, { allowFail: true });
    }
  for (const ns of labNamespaces()) {
    const pids = sh(`ip netns pids ${ns}`, { allowFail: true }).split('\n').filter(Boolean);
    for (const sig of ['TERM', 'KILL']) {
      for (const pid of pids) spawnSync('kill', [`-${sig}`, pid]);
      if (sig === 'TERM' && pids.length) spawnSync('sleep', ['0.3']);
    }
    sh(`ip netns del ${ns}`, { allowFail: true });
    rmSync(`/etc/netns/${ns}`, { recursive: true, force: true });
  }
}

function sshdConfig(ns: string, addr: string): string {
  return `ListenAddress ${addr}
HostKey ${STATE}/${ns}/ssh_host_ed25519_key
AuthorizedKeysFile ${STATE}/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
UsePAM no
StrictModes no
PidFile /run/sshd.pid
MaxStartups 500:30:1000
MaxSessions 20
LogLevel ERROR
Subsystem sftp /usr/lib/openssh/sftp-server
`;
}

export interface LabOptions {
  hosts: number;
  /** Wire h1 between a client and an origin namespace. */
  proof?: boolean;
  /** A namespace listening on UDP 2048 as a WCCP router. */
  wccp?: boolean;
  /** With proof: host N is a bridge (br0 of eth1 and eth2) between the client and h1. */
  bridge?: number;
  /** Give this host non-root users: op (passwordless sudo) and op2 (no sudo right). */
  operators?: number;
  /** Extra sshd_config lines per host index. */
  sshd?: Record<number, string>;
}

/** Per-host accounts through /etc/netns binds, so the machine's own /etc stays untouched. */
function addOperators(i: number): void {
  const etc = `/etc/netns/${hostNs(i)}`;
  const add = (file: string, lines: string) => writeFileSync(`${etc}/${file}`, readFileSync(`/etc/${file}`, 'utf8') + lines);
  add('passwd', 'op:x:2001:2001::/tmp:/bin/sh\nop2:x:2002:2002::/tmp:/bin/sh\n');
  add('group', 'op:x:2001:\nop2:x:2002:\n');
  add('shadow', 'op:*:20000:0:99999:7:::\nop2:*:20000:0:99999:7:::\n');
  sh(`chmod 640 ${etc}/shadow && chown root:shadow ${etc}/shadow`, { allowFail: true });
  mkdirSync(`${etc}/sudoers.d`, { recursive: true });
  writeFileSync(`${etc}/sudoers.d/op`, 'op ALL=(ALL) NOPASSWD: ALL\n', { mode: 0o440 });
}

export function up(opts: LabOptions): void {
  down();
  rmSync(STATE, { recursive: true, force: true });
  mkdirSync(STATE, { recursive: true });
  sh(`ssh-keygen -q -t ed25519 -N '' -f ${STATE}/id_ed25519 && cp ${STATE}/id_ed25519.pub ${STATE}/authorized_keys`);
  // `ip netns exec` binds /etc/netns/NS/X over /etc/X only when /etc/X exists.
  for (const d of ['/etc/tprun', '/etc/squid', '/etc/sysctl.d', '/etc/systemd/system', '/var/lib/tprun']) mkdirSync(d, { recursive: true });

  sh(`ip netns add ${CTL}`);
  nsExec(CTL, 'ip link set lo up && ip link add br0 type bridge && ip link set br0 up && ip addr add 198.18.0.1/16 dev br0');
  const known: string[] = [];
  for (let i = 1; i <= opts.hosts; i++) {
    const ns = hostNs(i);
    const addr = hostAddr(i);
    sh(`ip netns add ${ns}`);
    sh(`ip link add m${i} netns ${CTL} type veth peer name mgmt0 netns ${ns}`);
    nsExec(CTL, `ip link set m${i} master br0 && ip link set m${i} up`);
    // No duplicate address detection: mgmt0's link-local address (and its route) exists as soon
    // as the link is up, so a snapshot taken right after up() does not see it appear later.
    nsExec(ns, `sysctl -qw net.ipv6.conf.mgmt0.accept_dad=0 && ip link set lo up && ip link set mgmt0 up && ip addr add ${addr}/16 dev mgmt0`);
    const etc = `/etc/netns/${ns}`;
    for (const d of ['tprun', 'squid', 'sysctl.d', 'systemd/system']) mkdirSync(`${etc}/${d}`, { recursive: true });
    // Its own /etc/hosts, so the host's name resolves (sudo and squid look it up).
    writeFileSync(`${etc}/hosts`, `127.0.0.1 localhost\n::1 localhost\n127.0.1.1 ${hostName(i)}\n`);
    mkdirSync(`${STATE}/${ns}`, { recursive: true });
    sh(`ssh-keygen -q -t ed25519 -N '' -f ${STATE}/${ns}/ssh_host_ed25519_key`);
    writeFileSync(`${STATE}/${ns}/sshd_config`, sshdConfig(ns, addr).replace(/^MaxStartups .*$/m, opts.sshd?.[i] ?? '$&'));
    known.push(`${addr} ${readFileSync(`${STATE}/${ns}/ssh_host_ed25519_key.pub`, 'utf8').split(' ').slice(0, 2).join(' ')}`);
  }
  writeFileSync(`${STATE}/known_hosts`, known.join('\n') + '\n');
  if (opts.proof) proofTopology(opts.bridge);
  if (opts.wccp) wccpPeer();
  if (opts.operators) addOperators(opts.operators);
  for (let i = 1; i <= opts.hosts; i++) startSshd(i);
  waitForSshd(opts.hosts);
}

/** Start a host's sshd in a private mount namespace with its own /run, /dev/shm and squid dirs. */
export function startSshd(i: number): void {
  const ns = hostNs(i);
  const setup = [
    `hostname ${hostName(i)}`,
    'mount -t tmpfs none /run && mkdir -p /run/sshd',
    // Squid's shared memory segments (shm_open, O_EXCL: /squid-cf__metadata.shm) have the same
    // names on every host: with one /dev/shm for all, two squids starting at once collide
    // ("File exists", squid does not start), as no two real machines can.
    'mount -t tmpfs -o mode=1777 none /dev/shm',
    'mount -t tmpfs none /var/log/squid && chown proxy:proxy /var/log/squid',
    'mount -t tmpfs none /var/spool/squid && chown proxy:proxy /var/spool/squid',
    // tprun's own state (locks, transactions) per host, as on a real machine: on its "disk", which
    // a reboot keeps (varLib). mode 0700 as tprun leaves it: a tmpfs is 1777 by default, which
    // tprun refuses to run root's transaction from.
    `mount --bind ${varLib(i)} /var/lib/tprun`,
    `exec /usr/sbin/sshd -f ${STATE}/${ns}/sshd_config`,
  ].join(' && ');
  mkdirSync(varLib(i), { recursive: true });
  sh(`mountpoint -q ${varLib(i)} || mount -t tmpfs -o size=16m,mode=0700 none ${varLib(i)}`);
  const r = spawnSync('ip', ['netns', 'exec', ns, 'unshare', '-m', '-u', '--propagation', 'private', 'sh', '-c', setup], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`lab: sshd in ${ns} did not start: ${r.stderr}`);
}

/** Stop host i's sshd (every process in its namespace, by pid) and start it again, reading its sshd_config anew. */
export function restartSshd(i: number): void {
  const pids = sh(`ip netns pids ${hostNs(i)}`, { allowFail: true })
    .split('\n')
    .filter(Boolean);
  for (const pid of pids) spawnSync('kill', ['-TERM', pid]);
  for (let k = 0; k < 50 && pids.some((pid) => spawnSync('kill', ['-0', pid]).status === 0); k++) spawnSync('sleep', ['0.1']);
  startSshd(i);
  waitForSshd([i]);
}

/**
 * Power loss and boot of host i: every process of the host dies at once (SIGKILL, by pid), its
 * /run and other tmpfs go, its disks (/etc, /var/lib/tprun) stay. Then it boots: sshd, tprun-boot
 * (/etc/tprun/boot.sh, as tprun-boot.service runs it), then squid as squid.service would (After it).
 * The kernel's network state of the namespace is kept (the lab cannot reset it); boot.sh rewrites
 * what it owns. Returns boot.sh's output.
 */
export function reboot(i: number): { code: number; out: string } {
  const pids = sh(`ip netns pids ${hostNs(i)}`, { allowFail: true })
    .split('\n')
    .filter(Boolean);
  for (const pid of pids) spawnSync('kill', ['-KILL', pid]);
  for (let k = 0; k < 50 && pids.some((pid) => spawnSync('kill', ['-0', pid]).status === 0); k++) spawnSync('sleep', ['0.1']);
  startSshd(i);
  waitForSshd([i]);
  const boot = onHost(i, 'sh /etc/tprun/boot.sh 2>&1');
  // Until squid listens on every http_port of its squid.conf.
  onHost(
    i,
    `squid -f /etc/squid/squid.conf; n=$(grep -c '^http_port' /etc/squid/squid.conf); for k in $(seq 100); do [ "$(ss -ltnpH | grep -c '"squid"')" -ge "$n" ] && break; sleep 0.1; done`,
  );
  return boot;
}

function waitForSshd(n: number | number[]): void {
  const ports = (Array.isArray(n) ? n : Array.from({ length: n }, (_, i) => i + 1)).map(hostAddr);
  const script = `for a in ${ports.join(' ')}; do i=0; until (echo > /dev/tcp/$a/22) 2>/dev/null; do i=$((i+1)); [ $i -gt 100 ] && { echo "no sshd on $a" >&2; exit 1; }; sleep 0.1; done; done`;
  execFileSync('ip', ['netns', 'exec', CTL, 'bash', '-c', script]);
}

function proofTopology(bridge?: number): void {
  const h1 = hostNs(1);
  sh(`ip netns add ${CLIENT} && ip netns add ${ORIGIN}`);
  if (bridge) {
    // The bridge host: its two ports in br0, no address on the client path (as the VM lab's bridge).
    const b = hostNs(bridge);
    sh(`ip link add eth0 netns ${CLIENT} type veth peer name eth1 netns ${b}`);
    sh(`ip link add eth2 netns ${b} type veth peer name eth1 netns ${h1}`);
    nsExec(
      b,
      'sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0; ip link add br0 type bridge stp_state 0 forward_delay 0 && ip link set eth1 master br0 && ip link set eth2 master br0 && ip link set eth1 up && ip link set eth2 up && ip link set br0 up',
    );
  } else sh(`ip link add eth0 netns ${CLIENT} type veth peer name eth1 netns ${h1}`);
  sh(`ip link add eth0 netns ${ORIGIN} type veth peer name eth2 netns ${h1}`);
  const v6 = 'sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0';
  nsExec(
    h1,
    `${v6}; ip link set eth1 up && ip link set eth2 up && ip addr add 198.51.100.1/24 dev eth1 && ip addr add 2001:db8:c::1/64 dev eth1 nodad && ip addr add 203.0.113.1/24 dev eth2 && ip addr add 2001:db8:5::1/64 dev eth2 nodad`,
  );
  nsExec(
    CLIENT,
    `${v6}; ip link set lo up && ip link set eth0 up && ip addr add ${CLIENT4}/24 dev eth0 && ip addr add ${CLIENT6}/64 dev eth0 nodad && ip route add default via 198.51.100.1 && ip -6 route add default via 2001:db8:c::1`,
  );
  nsExec(
    ORIGIN,
    `${v6}; ip link set lo up && ip link set eth0 up && ip addr add ${ORIGIN4}/24 dev eth0 && ip addr add ${ORIGIN6}/64 dev eth0 nodad && ip route add default via 203.0.113.1 && ip -6 route add default via 2001:db8:5::1`,
  );
  const child = spawn('ip', ['netns', 'exec', ORIGIN, process.execPath, here('./origin.mjs'), ORIGIN4, ORIGIN6], { detached: true, stdio: 'ignore' });
  child.unref();
  const wait = `i=0; until (echo > /dev/tcp/${ORIGIN4}/80) 2>/dev/null; do i=$((i+1)); [ $i -gt 100 ] && exit 1; sleep 0.1; done`;
  execFileSync('ip', ['netns', 'exec', ORIGIN, 'bash', '-c', wait]);
}

function wccpPeer(): void {
  sh(`ip netns add ${WCCP}`);
  sh(`ip link add mw netns ${CTL} type veth peer name eth0 netns ${WCCP}`);
  nsExec(CTL, 'ip link set mw master br0 && ip link set mw up');
  nsExec(WCCP, `ip link set lo up && ip link set eth0 up && ip addr add ${WCCP_ADDR}/16 dev eth0`);
  writeFileSync(WCCP_LOG, '');
  const child = spawn('ip', ['netns', 'exec', WCCP, process.execPath, here('./wccp-listener.mjs'), WCCP_ADDR, WCCP_LOG], { detached: true, stdio: 'ignore' });
  child.unref();
}

/**
 * UDP/443 from the client, both families: rejected on the way (ICMP back, nothing at the origin),
 * dropped on the way (no answer at all, nothing at the origin: a bridge's block), or passing.
 */
export function assertUdp443(expect: 'rejected' | 'dropped' | 'passes'): void {
  for (const f of [4, 6] as const) {
    const r = udp443(f);
    if (expect === 'passes') assert.is(r.client, 'reply', `UDP/443 must pass without block_quic (IPv${f}): ${JSON.stringify(r)}`);
    else {
      assert.is(r.client, expect === 'rejected' ? 'refused' : 'timeout', `IPv${f}: ${JSON.stringify(r)}`);
      assert.is(r.origin, 'nothing', `IPv${f}: the datagram reached the origin`);
    }
  }
}

/**
 * One UDP datagram from the client to port 443 of the origin through h1 (QUIC's port), with a
 * one-shot listener in the origin that echoes it: "reply" when it arrived (the origin's log says
 * so), "refused" when ICMP port unreachable came back (rejected on the way), "timeout" else.
 */
export function udp443(family: 4 | 6): { client: string; origin: string } {
  return udpProbe({ clientNs: CLIENT, originNs: ORIGIN, addr: family === 4 ? ORIGIN4 : ORIGIN6, family, port: 443, state: STATE, seconds: 2 });
}

/** HTTP GET from the client namespace through h1; the origin answers with the address it saw. */
export function clientGet(family: 4 | 6): { status: number; body: string; via: string | undefined; raw: string } {
  const url = family === 4 ? `http://${ORIGIN4}/` : `http://[${ORIGIN6}]/`;
  const r = spawnSync('ip', ['netns', 'exec', CLIENT, 'curl', '-sS', '-i', '--max-time', '8', url], { encoding: 'utf8' });
  return curlResponse(r.stdout ?? '', r.stderr ?? '');
}

/**
 * A request from the client through h1 (the proof router): 200 from the origin, which saw the
 * client's own address, with h1's squid in the Via header. Throws (an assertion) otherwise.
 */
export function proveInterception(family: 4 | 6): void {
  let r = clientGet(family);
  // A pooled squid→origin connection whose FIN was routed away while the rules were missing is
  // reset on reuse (502 ERR_READ_ERROR 104); the client's retry gets a fresh one.
  if (r.status === 502 && /ERR_READ_ERROR/.test(r.raw)) r = clientGet(family);
  assert.is(r.status, 200, r.raw);
  assert.is(r.body.trim(), `origin saw ${family === 4 ? CLIENT4 : CLIENT6}`, 'the origin must see the client address');
  assert.match(r.via ?? '', /\bh1 \(squid\/\d/, `squid's Via header expected: ${r.raw}`);
}

/** `curl -i` output: status, body, the Via header, and everything printed (for messages). */
export function curlResponse(stdout: string, stderr: string): { status: number; body: string; via: string | undefined; raw: string } {
  const status = Number(/^HTTP\/[\d.]+ (\d+)/m.exec(stdout)?.[1] ?? 0);
  const via = /^via: (.*)$/im.exec(stdout)?.[1]?.trim();
  const body = stdout
    .split(/\r?\n\r?\n/)
    .slice(1)
    .join('\n\n');
  return { status, body, via, raw: stdout + stderr };
}

/** Run tprun in the controller namespace (no default route: nothing can leave the machine). */
export function tprunInCtl(args: string[], env: NodeJS.ProcessEnv = {}): { code: number; out: string; err: string } {
  const bin = fileURLToPath(new URL('../../bin/tprun.js', import.meta.url));
  const r = spawnSync('ip', ['netns', 'exec', CTL, process.execPath, bin, ...args], { encoding: 'utf8', env: { ...process.env, ...RUN_ENV, ...env } });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

/**
 * The environment of tprun in the lab: no ssh-agent (keys come from the inventory), and apply's
 * detailed exit codes, so an apply that changed a host (2) is told from one that had nothing to do (0).
 */
export const RUN_ENV = { SSH_AUTH_SOCK: '', TPRUN_DETAILED_EXITCODES: '1' } as const;

/** An inventory for N lab hosts (h1 is the proof router when the proof topology is up). */
export function labInventory(n: number, extra: { wccp?: boolean } = {}): string {
  const hosts = Array.from({ length: n }, (_, k) => `  ${hostName(k + 1)}: { address: ${hostAddr(k + 1)} }`).join('\n');
  return `# yaml-language-server: $schema=../schemas/inventory.schema.json
# Generated for the lab by test/lab/lab.ts
defaults:
  ssh: { user: root, identity: ${STATE}/id_ed25519, known_hosts: ${STATE}/known_hosts }
  tproxy:
    interfaces: [lo]
    ports: [80]
    families: [ipv4, ipv6]
  squid:
    clients: [198.51.100.0/24, 2001:db8:c::/64]
    dns_nameservers: [127.0.0.1]
  selinux: auto
routers:
${hosts}
${extra.wccp ? `wccp_peers:\n  wr1:\n    address: ${WCCP_ADDR}\n    caches: [h1]\n    customer_interfaces: [GigabitEthernet0/1]\n    proxy_interfaces: [GigabitEthernet0/2]\n` : ''}`;
}

/** Run a command on lab host i over SSH from the controller (so it sees the host's own /run, /etc/squid). */
/**
 * Shell for onHost: SIGKILL the newest transaction's runner group, and with `watcher` its watcher
 * too (then nothing on the host finishes the transaction). The watcher is found by its argv and its
 * network namespace (lab hosts share one PID namespace, and a run's id is the same on every host),
 * never by `pkill -f`, which matches the shell running this very command. Fails when either is gone.
 */
export function killRunnerCmd(watcher: boolean): string {
  const w = `w=$(for p in /proc/[0-9]*; do [ "$(readlink $p/ns/net)" = "$(readlink /proc/self/ns/net)" ] || continue; case "$(tr '\\0' ' ' < $p/cmdline 2>/dev/null)" in "sh $T/runner.sh watch "*) echo \${p#/proc/};; esac; done); [ -n "$w" ] && kill -KILL $w && `;
  return `T="/var/lib/tprun/tx/$(cat /var/lib/tprun/last)"; read -r p st < "$T/pid" && [ "$(sed 's/.*) //' /proc/$p/stat | cut -d' ' -f20)" = "$st" ] && ${watcher ? w : ''}kill -KILL -- -$p`;
}

export function onHost(i: number, cmd: string): { code: number; out: string } {
  const r = spawnSync(
    'ip',
    [
      'netns',
      'exec',
      CTL,
      'ssh',
      '-i',
      `${STATE}/id_ed25519`,
      '-o',
      `UserKnownHostsFile=${STATE}/known_hosts`,
      '-o',
      'BatchMode=yes',
      `root@${hostAddr(i)}`,
      cmd,
    ],
    { encoding: 'utf8' },
  );
  return { code: r.status ?? -1, out: r.stdout + r.stderr };
}

/**
 * Everything tprun could change on a host, as text: two snapshots are equal iff nothing changed.
 * A built-in chain's packet counters are traffic, not configuration: an undo that restores the
 * saved table (with its counters) gives the chain a counter that keeps counting. Likewise an ip
 * rule's priority number: a rule an undo adds back gets the next free one, in the same place in
 * the order (the listing's order is kept). tprun's nftables table is listed without its counters
 * (`nft -s`), for the same reason.
 */
export function snapshot(i: number): string {
  return onHost(
    i,
    `for t in iptables ip6tables; do $t-save -t mangle | grep -v '^#' | sed 's/ \\[[0-9]*:[0-9]*\\]$//'; done; { ip -4 rule; ip -6 rule; } | sed 's/^[0-9]*:/rule:/'; ip -4 route show table all; ip -6 route show table all;
     for k in net/ipv4/ip_forward net/ipv6/conf/all/forwarding net/ipv4/conf/all/rp_filter net/ipv4/conf/default/rp_filter net/ipv4/conf/lo/rp_filter; do echo "$k=$(cat /proc/sys/$k)"; done;
     find /etc/tprun /etc/squid /etc/sysctl.d /etc/systemd/system -type f -o -type l | sort | xargs -r sha256sum; cat /run/squid.pid 2>/dev/null; ls /var/log/squid;
     p=$(cat /run/squid.pid 2>/dev/null) && [ -n "$p" ] && kill -0 "$p" 2>/dev/null && echo "squid alive"; ss -ltnH 2>/dev/null | awk '{print $4}' | sort;
     nft -s list table inet tprun 2>/dev/null; true`,
  ).out;
}

export interface InventorySpec {
  routers?: number[];
  bridges?: number[];
  wccpCaches?: number[];
  /** Per host index: extra YAML flow keys, e.g. "ssh: { port: 2222 }". */
  extra?: Record<number, string>;
}

/** Write an inventory for some lab hosts and return its path. */
export function writeInventory(name: string, spec: InventorySpec): string {
  const hostLine = (i: number, more = '') => `  ${hostName(i)}: { address: ${hostAddr(i)}${more}${spec.extra?.[i] ? `, ${spec.extra[i]}` : ''} }`;
  const routers = (spec.routers ?? []).map((i) => hostLine(i));
  const bridges = (spec.bridges ?? []).map((i) => hostLine(i, ', bridge: { client_interface: eth1, internet_interface: eth2 }'));
  const base = labInventory(0).replace(/^routers:\n/m, '');
  const text = [
    base.trimEnd(),
    routers.length ? `routers:\n${routers.join('\n')}` : '',
    bridges.length ? `bridges:\n${bridges.join('\n')}` : '',
    spec.wccpCaches?.length
      ? `wccp_peers:\n  wr1:\n    address: ${WCCP_ADDR}\n    caches: [${spec.wccpCaches.map(hostName).join(', ')}]\n    customer_interfaces: [GigabitEthernet0/1]\n    proxy_interfaces: [GigabitEthernet0/2]`
      : '',
  ]
    .filter(Boolean)
    .join('\n');
  const path = `${STATE}/${name}.yml`;
  writeFileSync(path, text + '\n');
  return path;
}
