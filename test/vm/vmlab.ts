/**
 * The VM lab: QEMU virtual machines running Debian 12's or 13's own kernel (bridge broute table, GRE,
 * SELinux), for what the namespace lab (test/lab/lab.ts) cannot show on this machine's kernel.
 *
 * - The image is built once with mmdebstrap (test/vm/build-image.sh) into
 *   CACHE/img-HASH/, HASH being a hash of that recipe: a recipe change builds a new image.
 * - A template VM is cold-booted once per kind (plain, selinux) and its running state saved
 *   (CACHE/img-HASH/template-KIND.{qcow2,state.zst}).
 * - Each lab VM is restored from that state in seconds, on its own qcow2 overlay (STATE/NAME.qcow2),
 *   in its own namespace tpv-NAME with taps t0 (management), t1, t2; then given its own MACs,
 *   hostname, SSH host key (a known_hosts line) and management address 198.19.1.N.
 * - The controller namespace tpv-ctl (198.19.0.1/16, no default route) reaches every VM's
 *   management NIC through its bridge; t1/t2 are moved into the lab's other namespaces.
 *
 * Emulation only (TCG): /dev/kvm on this machine kind cannot run stock kernels (VM-LAB.md).
 * Prefix tpv-, state /tmp/tprun-vmlab: never the namespace lab's tpl- or /tmp/tprun-lab.
 * Everything is stopped by pid; down() removes namespaces, taps (with them) and overlays.
 * Addresses: management 198.19.0.0/16, client 198.51.100.0/24 and 2001:db8:c::/64, origin
 * 203.0.113.0/24 and 2001:db8:5::/64; nothing to this machine's network or resolver.
 */
import { createHash } from 'node:crypto';
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { fileURLToPath } from 'node:url';
import { curlResponse } from '../lab/lab.ts';

export const STATE = '/tmp/tprun-vmlab';
export const PREFIX = 'tpv-';
export const CACHE = process.env.TPRUN_VMLAB_CACHE ?? '/var/cache/tprun-vmlab';
export const CTL = `${PREFIX}ctl`;
export const CTL_ADDR = '198.19.0.1';
/** The host side of every VM's management link has this MAC (ctl's br0, and the tap during setup), so a restored VM's ARP cache stays right. */
const CTL_MAC = '02:19:00:00:00:01';
const TEMPLATE_ADDR = '198.19.0.2';
export const QEMU = '/usr/bin/qemu-system-x86_64';
const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));
export const RECIPE = here('./build-image.sh');

export type Kind = 'plain' | 'selinux';
export const vmAddr = (index: number) => `198.19.1.${index}`;
export const vmNs = (name: string) => `${PREFIX}${name}`;
export const macOf = (index: number, nic: number) => `52:54:00:19:${index.toString(16).padStart(2, '0')}:${nic.toString(16).padStart(2, '0')}`;

const log = (msg: string) => {
  if (process.env.TPRUN_VMLAB_QUIET !== '1') process.stderr.write(`vm-lab: ${msg}\n`);
};

export function sh(cmd: string, opts: { ns?: string; allowFail?: boolean; timeout?: number; input?: string } = {}): string {
  const argv = opts.ns ? ['ip', 'netns', 'exec', opts.ns, 'sh', '-c', cmd] : ['sh', '-c', cmd];
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', timeout: opts.timeout, input: opts.input, maxBuffer: 64 << 20 });
  if ((r.status !== 0 || r.error) && !opts.allowFail) throw new Error(`vm-lab: ${opts.ns ? `[${opts.ns}] ` : ''}${cmd}\n${r.stderr ?? ''}${r.error ?? ''}`);
  return r.stdout ?? '';
}
export const nsExec = (ns: string, cmd: string, allowFail = false) => sh(cmd, { ns, allowFail });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Why the VM lab cannot run here, or undefined. Called after scripts/ensure-vm-deps.sh. */
export function preflight(): string | undefined {
  if (process.platform !== 'linux') return 'the VM lab needs Linux';
  if (process.getuid?.() !== 0) return 'the VM lab needs root (namespaces, taps, image build)';
  if (process.env.TPRUN_VMLAB === '0') return 'TPRUN_VMLAB=0 in the environment';
  if (process.arch !== 'x64') return `the VM lab emulates x86_64 Debian and runs on x86_64 only (this is ${process.arch})`;
  for (const bin of [QEMU, '/usr/bin/qemu-img', '/usr/bin/mmdebstrap', '/usr/bin/zstd', '/usr/sbin/mkfs.ext4']) {
    if (!existsSync(bin)) return `${bin} is missing after scripts/ensure-vm-deps.sh (install qemu-system-x86 qemu-utils mmdebstrap zstd)`;
  }
  if (!existsSync('/dev/net/tun')) return '/dev/net/tun is missing (no tap devices)';
  if (spawnSync('ip', ['netns', 'list']).status !== 0) return 'ip netns does not work here';
  return undefined;
}

// ---------------------------------------------------------------- image and templates

/** Debian release of the VMs: 12 (bookworm, the default) or 13 (trixie); one release per lab at a time. */
export type Release = '12' | '13';
export const RELEASES: readonly Release[] = ['12', '13'];
let release: Release = '12';
export const setRelease = (r: Release) => {
  release = r;
};
export const currentRelease = () => release;

/** The cache directory of this release's image: a hash of the recipe, plus the release. */
export const imageDir = () => {
  const h = createHash('sha256').update(readFileSync(RECIPE)).digest('hex').slice(0, 12);
  return release === '12' ? `${CACHE}/img-${h}` : `${CACHE}/img-${h}-deb${release}`;
};

/** Build the image unless the cache holds one for this recipe. Returns seconds spent (0 when cached). */
export function ensureImage(): number {
  const dir = imageDir();
  if (existsSync(`${dir}/ok`)) return 0;
  const t0 = Date.now();
  mkdirSync(CACHE, { recursive: true });
  const tmp = `${dir}.build`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  log(`building the Debian ${release} image in ${tmp} (mmdebstrap; a few minutes)`);
  const r = spawnSync('bash', [RECIPE, tmp, release], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20 });
  writeFileSync(`${tmp}/build.log`, (r.stdout ?? '') + (r.stderr ?? ''));
  if (r.status !== 0) throw new Error(`vm-lab: image build failed (${tmp}/build.log):\n${(r.stdout + r.stderr).slice(-3000)}`);
  rmSync(dir, { recursive: true, force: true });
  renameSync(tmp, dir);
  const secs = (Date.now() - t0) / 1000;
  writeFileSync(`${dir}/ok`, `built ${new Date().toISOString()} in ${secs.toFixed(0)} s\n`);
  // Images of other recipes stay: another worktree on this machine may still use one.
  return secs;
}

const appendFor = (kind: Kind) =>
  `root=/dev/vda rw console=ttyS0 net.ifnames=0 quiet${kind === 'selinux' ? ' security=selinux selinux=1 enforcing=0' : ' selinux=0'}`;

function qemuArgs(o: { name: string; kind: Kind; disk: string; index: number; qmp: string; serial: string; pidfile: string; incoming?: string }): string[] {
  const dir = imageDir();
  const nics = [0, 1, 2].flatMap((n) => [
    '-netdev',
    `tap,id=n${n},ifname=t${n},script=no,downscript=no`,
    '-device',
    `virtio-net-pci,netdev=n${n},mac=${macOf(o.index, n)}`,
  ]);
  return [
    '-name',
    o.name,
    '-machine',
    'pc',
    '-accel',
    // 512 MB of translated code, not 128: with 128 a bridge13 VM flushed its whole translation
    // buffer 127 times in 19 min (QMP `info jit`, 2026-12-07), translating its hot code again each
    // time on the emulated CPU. Resident memory grows only with the code kept.
    'tcg,thread=multi,tb-size=512',
    '-cpu',
    'max',
    '-m',
    '768',
    '-smp',
    '1',
    '-kernel',
    `${dir}/vmlinuz`,
    '-initrd',
    `${dir}/initrd.img`,
    '-append',
    appendFor(o.kind),
    '-drive',
    `file=${o.disk},if=virtio,format=qcow2`,
    ...nics,
    '-display',
    'none',
    '-vga',
    'none',
    '-monitor',
    'none',
    '-serial',
    `file:${o.serial}`,
    '-qmp',
    `unix:${o.qmp},server=on,wait=off`,
    '-pidfile',
    o.pidfile,
    ...(o.incoming ? ['-incoming', o.incoming] : []),
  ];
}

/** Start QEMU in namespace ns, in its own session (no -daemonize: saving state fails with it). */
function startQemu(ns: string, args: string[], logFile: string): void {
  const fd = openSync(logFile, 'a');
  const child = spawn('ip', ['netns', 'exec', ns, 'setsid', QEMU, ...args], { detached: true, stdio: ['ignore', fd, fd] });
  child.unref();
  closeSync(fd);
}

/** One QMP command on a fresh connection (QEMU allows one client at a time; we connect per command). */
export async function qmp(sock: string, command: string, args?: object, timeoutMs = 30_000): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await qmpOnce(sock, command, args, deadline);
    } catch (e) {
      if (Date.now() > deadline) throw new Error(`vm-lab: QMP ${command} on ${sock}: ${(e as Error).message}`);
      await sleep(200);
    }
  }
}

function qmpOnce(sock: string, command: string, args: object | undefined, deadline: number): Promise<any> {
  return new Promise((resolve, reject) => {
    const c = createConnection(sock);
    let buf = '';
    let stage = 0;
    const timer = setTimeout(
      () => {
        c.destroy();
        reject(new Error('timeout'));
      },
      Math.max(1000, deadline - Date.now()),
    );
    c.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    c.on('data', (d) => {
      buf += d.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (!line) continue;
        const msg = JSON.parse(line);
        if (msg.event) continue;
        if (stage === 0 && msg.QMP) {
          c.write(JSON.stringify({ execute: 'qmp_capabilities' }) + '\n');
          stage = 1;
        } else if (stage === 1) {
          c.write(JSON.stringify({ execute: command, ...(args ? { arguments: args } : {}) }) + '\n');
          stage = 2;
        } else if (stage === 2) {
          clearTimeout(timer);
          c.end();
          if (msg.error) reject(new Error(`${msg.error.class}: ${msg.error.desc}`));
          else resolve(msg.return);
        }
      }
    });
  });
}

const sshBase = (key: string, knownHosts: string, timeout = 10) => [
  'ssh',
  '-i',
  key,
  '-o',
  `UserKnownHostsFile=${knownHosts}`,
  '-o',
  'StrictHostKeyChecking=yes',
  '-o',
  'BatchMode=yes',
  '-o',
  `ConnectTimeout=${timeout}`,
  '-o',
  'ServerAliveInterval=15',
  '-o',
  'ServerAliveCountMax=8',
  '-o',
  'LogLevel=ERROR',
];

function sshRun(
  ns: string,
  key: string,
  knownHosts: string,
  addr: string,
  cmd: string,
  timeoutMs = 300_000,
  // ConnectTimeout bounds the banner exchange too, which a VM on loaded cores sends late.
  connectTimeout = 90,
): { code: number; out: string; err: string } {
  const r = spawnSync('ip', ['netns', 'exec', ns, ...sshBase(key, knownHosts, connectTimeout), `root@${addr}`, cmd], {
    encoding: 'utf8',
    timeout: timeoutMs,
    maxBuffer: 64 << 20,
  });
  return { code: r.status ?? -1, out: r.stdout ?? '', err: (r.stderr ?? '') + (r.error ? String(r.error) : '') };
}

async function waitSsh(ns: string, key: string, knownHosts: string, addr: string, timeoutMs: number, what: string, serial?: string): Promise<number> {
  const t0 = Date.now();
  let last = '';
  while (Date.now() - t0 < timeoutMs) {
    // ConnectTimeout also bounds the banner exchange: a restored VM on loaded cores took more than
    // 10 s to send its banner (sshd's re-exec on an emulated CPU), and every 10 s attempt was cut
    // short and started over ("Connection timed out during banner exchange") until the wait ended.
    const r = sshRun(ns, key, knownHosts, addr, 'true', 120_000, 90);
    if (r.code === 0) return (Date.now() - t0) / 1000;
    last = r.err;
    await sleep(1000);
  }
  const tail = serial && existsSync(serial) ? readFileSync(serial, 'utf8').slice(-2000) : '';
  throw new Error(`vm-lab: ${what}: no SSH login on ${addr} within ${timeoutMs / 1000} s (${last.trim()})\n${tail}`);
}

function tapSetup(ns: string): void {
  sh(`ip netns add ${ns}`);
  nsExec(
    ns,
    `ip link set lo up; for t in t0 t1 t2; do ip tuntap add mode tap name $t && ip link set $t up; done; ip link set t0 address ${CTL_MAC}; ip addr add ${CTL_ADDR}/16 dev t0`,
  );
}

/** A saved state only restores into the same machine: the template's name carries a hash of its QEMU arguments. */
const templateKey = (kind: Kind) =>
  createHash('sha256')
    .update(JSON.stringify(qemuArgs({ name: 'x', kind, disk: 'd', index: 0, qmp: 'q', serial: 's', pidfile: 'p' })))
    .digest('hex')
    .slice(0, 8);
export const templateFiles = (kind: Kind) => {
  const base = `${imageDir()}/template-${kind}-${templateKey(kind)}`;
  return { disk: `${base}.qcow2`, state: `${base}.state.zst`, times: `${base}.times` };
};

/** Cold-boot a template VM once and save its running state. Returns seconds (0 when cached). */
export async function ensureTemplate(kind: Kind): Promise<{ boot: number; save: number }> {
  const f = templateFiles(kind);
  if (existsSync(f.state) && existsSync(f.disk)) return { boot: 0, save: 0 };
  const dir = imageDir();
  const ns = `${PREFIX}tmpl-${kind}`;
  const work = `${STATE}/tmpl-${kind}`;
  killNs(ns);
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  writeFileSync(`${work}/known_hosts`, `${TEMPLATE_ADDR} ${readFileSync(`${dir}/template_host_key.pub`, 'utf8').split(' ').slice(0, 2).join(' ')}\n`);
  const disk = `${f.disk}.tmp`;
  sh(`qemu-img create -q -f qcow2 -F raw -b ${dir}/disk.raw ${disk}`);
  tapSetup(ns);
  const t0 = Date.now();
  log(`cold-booting the ${kind} template (emulated CPU: 30 s to several minutes)`);
  startQemu(
    ns,
    qemuArgs({ name: `tpv-tmpl-${kind}`, kind, disk, index: 250, qmp: `${work}/qmp`, serial: `${work}/serial.log`, pidfile: `${work}/qemu.pid` }),
    `${work}/qemu.log`,
  );
  try {
    await waitSsh(ns, `${dir}/id_ed25519`, `${work}/known_hosts`, TEMPLATE_ADDR, 900_000, `${kind} template boot`, `${work}/serial.log`);
    // Let boot finish (squid's first start included), then drop caches: a smaller state to save.
    const settle = sshRun(
      ns,
      `${dir}/id_ed25519`,
      `${work}/known_hosts`,
      TEMPLATE_ADDR,
      'systemctl is-system-running --wait >/dev/null; systemctl --failed --no-legend; getenforce 2>/dev/null; sync; echo 3 > /proc/sys/vm/drop_caches',
      600_000,
    );
    log(`${kind} template up: ${settle.out.trim().replace(/\n/g, '; ') || 'no failed units'}`);
    if (kind === 'selinux' && !/Permissive/.test(settle.out)) throw new Error(`vm-lab: the selinux template is not in permissive mode: ${settle.out}`);
    const boot = (Date.now() - t0) / 1000;
    const t1 = Date.now();
    await qmp(`${work}/qmp`, 'stop');
    await qmp(`${work}/qmp`, 'migrate', { uri: `exec:zstd -q -T2 -3 -c > ${f.state}.tmp` });
    for (;;) {
      const st = await qmp(`${work}/qmp`, 'query-migrate');
      if (st?.status === 'completed') break;
      if (st?.status === 'failed') throw new Error(`vm-lab: saving the ${kind} template failed: ${JSON.stringify(st)}`);
      await sleep(300);
    }
    const save = (Date.now() - t1) / 1000;
    await qmp(`${work}/qmp`, 'quit').catch(() => undefined);
    await sleep(500);
    killNs(ns);
    renameSync(disk, f.disk);
    renameSync(`${f.state}.tmp`, f.state);
    writeFileSync(f.times, `boot ${boot.toFixed(1)} s, save ${save.toFixed(1)} s\n`);
    log(`${kind} template saved: boot ${boot.toFixed(1)} s, save ${save.toFixed(1)} s`);
    return { boot, save };
  } finally {
    killNs(ns);
  }
}

// ---------------------------------------------------------------- the lab

export interface Wire {
  /** Namespace the tap moves into (created by the caller first)... */
  ns: string;
  /** ...under this name. */
  name: string;
  /** Or: enslave it to this bridge in ns (name is then the tap's name there). */
  bridge?: string;
}

export interface VmSpec {
  name: string;
  /** 1..249: management address 198.19.1.INDEX, MACs 52:54:00:19:INDEX:NIC. */
  index: number;
  kind?: Kind;
  eth1?: Wire;
  eth2?: Wire;
}

export interface Vm extends Required<Omit<VmSpec, 'eth1' | 'eth2'>> {
  ns: string;
  addr: string;
  qmp: string;
  serial: string;
  pidfile: string;
  restoreSeconds: number;
}

export const known = () => `${STATE}/known_hosts`;
export const key = () => `${STATE}/id_ed25519`;

/**
 * One VM lab at a time on this machine (several worktrees may run their tests at once, and the
 * lab's names are fixed): a lock directory holding the owner's pid (a test run, or for a lab
 * left up by `vm-lab up`, its first QEMU process). A lock whose owner is gone is taken over.
 */
export const LOCK = '/tmp/tprun-vmlab.lock';
const alive = (pid: number) => pid > 0 && existsSync(`/proc/${pid}`);
const lockOwner = () => Number(existsSync(`${LOCK}/pid`) ? readFileSync(`${LOCK}/pid`, 'utf8').trim() : 0);

export async function lock(timeoutMs = 3_600_000): Promise<void> {
  const t0 = Date.now();
  let said = false;
  for (;;) {
    try {
      mkdirSync(LOCK);
      writeFileSync(`${LOCK}/pid`, `${process.pid}\n`);
      return;
    } catch {
      const owner = lockOwner();
      if (owner === process.pid) return;
      if (ownQemu(owner)) {
        log(`taking over the VM lab left up by \`vm-lab up\` (QEMU pid ${owner})`);
        writeFileSync(`${LOCK}/pid`, `${process.pid}\n`);
        return;
      }
      if (!alive(owner)) {
        // Stale, or being written this instant: check twice before taking it over.
        await sleep(1000);
        if (!alive(lockOwner())) {
          rmSync(LOCK, { recursive: true, force: true });
          continue;
        }
      }
      if (Date.now() - t0 > timeoutMs) throw new Error(`vm-lab: the VM lab is in use by pid ${owner} (${LOCK}) for ${timeoutMs / 60000} min`);
      if (!said) log(`waiting for the VM lab, in use by pid ${owner} (${LOCK})`);
      said = true;
      await sleep(5000);
    }
  }
}

/** Hand the lock to a process that outlives this one (`vm-lab up` leaves its VMs running). */
export function lockTo(pid: number): void {
  if (lockOwner() === process.pid) writeFileSync(`${LOCK}/pid`, `${pid}\n`);
}

function unlock(): void {
  const owner = lockOwner();
  if (owner === process.pid || !alive(owner) || ownQemu(owner)) rmSync(LOCK, { recursive: true, force: true });
}

/** Is pid one of this lab's QEMU processes (from its pidfiles)? */
function ownQemu(pid: number): boolean {
  if (!existsSync(STATE)) return false;
  return readdirSync(STATE).some((f) => f.endsWith('.pid') && Number(readFileSync(`${STATE}/${f}`, 'utf8').trim()) === pid);
}

/** Every tpv- namespace. */
export function labNamespaces(): string[] {
  return sh('ip netns list', { allowFail: true })
    .split('\n')
    .map((l) => l.split(' ')[0]!)
    .filter((n) => n.startsWith(PREFIX));
}

/** Stop every process in a namespace by pid (TERM, then KILL), then delete it. */
function killNs(ns: string): void {
  if (!labNamespaces().includes(ns)) return;
  for (const sig of ['TERM', 'KILL']) {
    const pids = sh(`ip netns pids ${ns}`, { allowFail: true }).split('\n').filter(Boolean);
    for (const pid of pids) spawnSync('kill', [`-${sig}`, pid]);
    if (!pids.length) break;
    if (sig === 'TERM') {
      for (let i = 0; i < 30 && sh(`ip netns pids ${ns}`, { allowFail: true }).trim(); i++) spawnSync('sleep', ['0.1']);
    }
  }
  sh(`ip netns del ${ns}`, { allowFail: true });
  rmSync(`/etc/netns/${ns}`, { recursive: true, force: true });
}

/** Stop everything of the VM lab by pid, delete its namespaces (their taps with them) and overlays; release the lock. */
export function down(): void {
  const owner = lockOwner();
  if (owner && owner !== process.pid && alive(owner) && !ownQemu(owner)) {
    log(`not taking the VM lab down: it is in use by pid ${owner} (${LOCK})`);
    return;
  }
  downNow();
  unlock();
}

function downNow(): void {
  // QEMU processes first (their pidfiles), wherever they run.
  if (existsSync(STATE)) {
    for (const f of readdirSync(STATE).filter((x) => x.endsWith('.pid'))) {
      const pid = readFileSync(`${STATE}/${f}`, 'utf8').trim();
      if (/^\d+$/.test(pid) && existsSync(`/proc/${pid}`) && readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('qemu-system'))
        spawnSync('kill', ['-KILL', pid]);
    }
  }
  for (const ns of labNamespaces()) killNs(ns);
  if (existsSync(STATE))
    for (const f of readdirSync(STATE)) if (f.endsWith('.qcow2') || f.endsWith('.pid') || f === 'qmp') rmSync(`${STATE}/${f}`, { force: true });
}

/** The image (built if the cache has none for this recipe), a fresh state dir and the controller namespace (198.19.0.1/16 on br0, no default route). */
export function up(): void {
  if (lockOwner() !== process.pid) throw new Error('vm-lab: up() without the lock (call lock() first)');
  downNow();
  ensureImage();
  rmSync(STATE, { recursive: true, force: true });
  mkdirSync(STATE, { recursive: true });
  const dir = imageDir();
  sh(`cp ${dir}/id_ed25519 ${key()} && chmod 600 ${key()}`);
  writeFileSync(`${STATE}/template_known_hosts`, `${TEMPLATE_ADDR} ${readFileSync(`${dir}/template_host_key.pub`, 'utf8').split(' ').slice(0, 2).join(' ')}\n`);
  writeFileSync(known(), '');
  sh(`ip netns add ${CTL}`);
  nsExec(
    CTL,
    `ip link set lo up && ip link add br0 type bridge && ip link set br0 address ${CTL_MAC} && ip link set br0 up && ip addr add ${CTL_ADDR}/16 dev br0`,
  );
}

/** A plain namespace of the lab (lo up), e.g. a client, an origin, a router. */
export function addNs(name: string): string {
  const ns = vmNs(name);
  sh(`ip netns add ${ns}`);
  nsExec(ns, 'ip link set lo up; sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0');
  return ns;
}

/** Restore VMs from their templates (in parallel), then give each its identity. */
export async function startVms(specs: VmSpec[]): Promise<Vm[]> {
  for (const kind of new Set(specs.map((s) => s.kind ?? 'plain'))) await ensureTemplate(kind);
  const vms: Vm[] = specs.map((s) => ({
    name: s.name,
    index: s.index,
    kind: s.kind ?? 'plain',
    ns: vmNs(s.name),
    addr: vmAddr(s.index),
    qmp: `${STATE}/${s.name}.qmp`,
    serial: `${STATE}/${s.name}.serial.log`,
    pidfile: `${STATE}/${s.name}.pid`,
    restoreSeconds: 0,
  }));
  const t0 = Date.now();
  for (const vm of vms) {
    const disk = `${STATE}/${vm.name}.qcow2`;
    sh(`qemu-img create -q -f qcow2 -F qcow2 -b ${templateFiles(vm.kind).disk} ${disk}`);
    tapSetup(vm.ns);
    startQemu(
      vm.ns,
      qemuArgs({
        name: `tpv-${vm.name}`,
        kind: vm.kind,
        disk,
        index: vm.index,
        qmp: vm.qmp,
        serial: vm.serial,
        pidfile: vm.pidfile,
        incoming: `exec:zstd -dc ${templateFiles(vm.kind).state}`,
      }),
      `${STATE}/${vm.name}.qemu.log`,
    );
  }
  await Promise.all(vms.map((vm) => resume(vm)));
  // Identity, one VM after the other over its own namespace's tap (all answer on the template address).
  for (const [i, vm] of vms.entries()) {
    await identify(vm, specs[i]!);
    vm.restoreSeconds = (Date.now() - t0) / 1000;
  }
  return vms;
}

async function resume(vm: Vm): Promise<void> {
  const deadline = Date.now() + 300_000;
  for (;;) {
    const st = await qmp(vm.qmp, 'query-status', undefined, 120_000);
    if (st.status === 'running') return;
    if (st.status === 'paused' || st.status === 'postmigrate' || st.status === 'prelaunch') await qmp(vm.qmp, 'cont');
    else if (st.status !== 'inmigrate') throw new Error(`vm-lab: ${vm.name} restore: status ${st.status}`);
    if (Date.now() > deadline) throw new Error(`vm-lab: ${vm.name} did not resume (status ${st.status})`);
    await sleep(200);
  }
}

async function identify(vm: Vm, spec: VmSpec): Promise<void> {
  const tk = `${STATE}/template_known_hosts`;
  await waitSsh(vm.ns, key(), tk, TEMPLATE_ADDR, 600_000, `${vm.name} restore`, vm.serial);
  // Each step is traced with the guest's uptime: a setup cut short says how far it got.
  const setup = `set -e
PS4='+ $(read u _ </proc/uptime; echo $u) '; set -x
date -u -s @${Math.floor(Date.now() / 1000)} >/dev/null
hostname ${vm.name}; echo ${vm.name} > /etc/hostname
printf '127.0.0.1 localhost\\n::1 localhost\\n127.0.1.1 ${vm.name}\\n' > /etc/hosts
ip link set eth0 address ${macOf(vm.index, 0)}; ip link set eth1 address ${macOf(vm.index, 1)}; ip link set eth2 address ${macOf(vm.index, 2)}
rm -f /etc/ssh/ssh_host_*
ssh-keygen -q -t ed25519 -N '' -C ${vm.name} -f /etc/ssh/ssh_host_ed25519_key
sed -i 's|^Address=.*|Address=${vm.addr}/16|' /etc/systemd/network/10-mgmt.network
ip addr add ${vm.addr}/16 dev eth0
systemctl restart ssh
cat /etc/ssh/ssh_host_ed25519_key.pub`;
  // Its own SSH login plus about 2.5 s of guest work on an idle machine (4.5-8.4 s in all, two
  // VMs); with the lab's processes held to 0.2 CPU 25-37 s (the login 18 s, `systemctl restart
  // ssh` 7-9 s). At load 45 the WCCP lab's two VMs got less than half of that and the former
  // 120 s bound cut this step short ("spawnSync ip ETIMEDOUT"): it gets the restore wait's 600 s.
  const t0 = Date.now();
  const r = sshRun(vm.ns, key(), tk, TEMPLATE_ADDR, setup, 600_000);
  if (r.code !== 0) throw new Error(`vm-lab: ${vm.name} setup failed (exit ${r.code} after ${((Date.now() - t0) / 1000).toFixed(1)} s): ${r.err}${r.out}`);
  const hostKey = r.out.trim().split('\n').pop()!.split(' ').slice(0, 2).join(' ');
  writeFileSync(known(), `${existsSync(known()) ? readFileSync(known(), 'utf8') : ''}${vm.addr} ${hostKey}\n`);
  // The management tap joins the controller's bridge; t1/t2 go where the spec says.
  sh(
    `ip -n ${vm.ns} addr flush dev t0 && ip -n ${vm.ns} link set t0 address 02:19:ff:00:${vm.index.toString(16).padStart(2, '0')}:00 && ip -n ${vm.ns} link set t0 netns ${CTL} name m-${vm.name}`,
  );
  nsExec(CTL, `ip link set m-${vm.name} master br0 && ip link set m-${vm.name} up`);
  for (const [tap, w] of [
    ['t1', spec.eth1],
    ['t2', spec.eth2],
  ] as const) {
    if (!w) continue;
    sh(`ip -n ${vm.ns} link set ${tap} netns ${w.ns} name ${w.name}`);
    nsExec(w.ns, w.bridge ? `ip link set ${w.name} master ${w.bridge} && ip link set ${w.name} up` : `ip link set ${w.name} up`);
  }
  // From the controller, with the VM's own key checked strictly: drop the template address.
  await waitSsh(CTL, key(), known(), vm.addr, 300_000, `${vm.name} on its own address`);
  const fin = onVm(vm, `ip addr del ${TEMPLATE_ADDR}/16 dev eth0 && hostname`);
  if (fin.code !== 0 || fin.out.trim() !== vm.name) throw new Error(`vm-lab: ${vm.name} final setup: ${fin.out}`);
}

/** Run a command on a VM over SSH from the controller namespace (strict host key). */
export function onVm(vm: { addr: string }, cmd: string, timeoutMs = 300_000): { code: number; out: string; err: string } {
  return sshRun(CTL, key(), known(), vm.addr, cmd, timeoutMs);
}

/** Run tprun in the controller namespace (no default route: nothing can leave the machine). */
export function tprunInCtl(args: string[], timeoutMs = 900_000): { code: number; out: string; err: string } {
  const bin = fileURLToPath(new URL('../../bin/tprun.js', import.meta.url));
  const r = spawnSync('ip', ['netns', 'exec', CTL, process.execPath, bin, ...args], {
    encoding: 'utf8',
    timeout: timeoutMs,
    // Apply's detailed exit codes: 2 when it changed something (as in the namespace lab).
    env: { ...process.env, SSH_AUTH_SOCK: '', TPRUN_DETAILED_EXITCODES: '1' },
  });
  return { code: r.status ?? -1, out: r.stdout ?? '', err: (r.stderr ?? '') + (r.error ? String(r.error) : '') };
}

/** Reboot a VM (same QEMU process, cold boot from its overlay) and wait for SSH. Returns seconds. */
export async function reboot(vm: Vm, timeoutMs = 900_000): Promise<number> {
  const t0 = Date.now();
  onVm(vm, 'systemctl reboot', 30_000);
  // Wait until it is really down (sshd gone), then up again.
  while (Date.now() - t0 < 120_000 && onVm(vm, 'true', 15_000).code === 0) await sleep(1000);
  await waitSsh(CTL, key(), known(), vm.addr, timeoutMs, `${vm.name} reboot`, vm.serial);
  return (Date.now() - t0) / 1000;
}

export const originScript = here('../lab/origin.mjs');

/** Start the lab's origin server (answers with the address it saw) in ns and wait for port 80. */
export function startOrigin(ns: string, addr4: string, addr6: string): void {
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, originScript, addr4, addr6], { detached: true, stdio: 'ignore' });
  child.unref();
  const wait = `i=0; until (echo > /dev/tcp/${addr4}/80) 2>/dev/null; do i=$((i+1)); [ $i -gt 100 ] && exit 1; sleep 0.1; done`;
  sh(`bash -c '${wait}'`, { ns });
}

/** HTTP GET from a namespace; the lab origin answers "origin saw ADDR". */
export function get(
  ns: string,
  url: string,
  opts: { from?: string; maxTime?: number } = {},
): { status: number; body: string; via: string | undefined; raw: string } {
  const argv = [
    'ip',
    'netns',
    'exec',
    ns,
    'curl',
    '-sS',
    '-i',
    '--max-time',
    String(opts.maxTime ?? 20),
    ...(opts.from ? ['--interface', opts.from] : []),
    url,
  ];
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8' });
  return curlResponse(r.stdout ?? '', r.stderr ?? '');
}
