// `npm run bench -- --hosts N [--rtt MS] [--sshd K] [--runs R] [--forks F] [--backend auto|iptables|nftables|both] [--no-ansible]`:
// --backend both: check on each backend side by side (half the hosts each), alternated pair by pair.
// tprun against the SSH floor and ansible-playbook on the same lab hosts, in one run, with the
// installed package (npm pack, npm install -g into a scratch prefix: what an operator runs).
// Prints a table and appends it to bench/RESULTS.md. A script that prints numbers, not a timed test.
//
// --rtt MS: every connection of all three tools goes through bench/relay.ts, which delays every
//   byte by MS/2 each way (this kernel has no netem).
// --sshd K: a virtual fleet: N management addresses served by K sshd hosts (default: N up to 50).
//   Each address is a host to tprun; the hosts behind one sshd share its namespace, so only
//   read-only runs (check, the floor) are measured on such a fleet, never apply.
import { spawn, spawnSync } from 'node:child_process';
import { appendFileSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as lab from '../test/lab/lab.ts';

const { values } = parseArgs({
  options: {
    hosts: { type: 'string', default: '50' },
    runs: { type: 'string', default: '3' },
    'no-ansible': { type: 'boolean' },
    'no-write': { type: 'boolean' },
    'forks-sweep': { type: 'string' },
    rtt: { type: 'string', default: '0' },
    sshd: { type: 'string' },
    forks: { type: 'string', default: '50' },
    'from-clone': { type: 'boolean' },
    backend: { type: 'string', default: 'auto' },
  },
});
const N = Number(values.hosts);
// tproxy.backend of every host: the two backends' costs side by side (issue #20).
const BACKEND = values.backend;
const RUNS = Number(values.runs);
const RTT = Number(values.rtt);
const FORKS = Number(values.forks);
const K = Number(values.sshd ?? Math.min(N, 50));
const whole = (x: number, min: number) => Number.isInteger(x) && x >= min;
const problem =
  lab.preflight() ??
  (!whole(N, 1) || !whole(RUNS, 1) || !whole(FORKS, 1) || !whole(K, 1) || K > N || !whole(RTT, 0)
    ? '--hosts, --runs, --forks and --sshd take whole numbers (--sshd at most --hosts), --rtt milliseconds'
    : !['auto', 'iptables', 'nftables', 'both'].includes(BACKEND)
      ? '--backend is auto, iptables, nftables or both'
      : undefined);
if (problem) {
  console.error(`bench: ${problem}`);
  process.exit(1);
}
const virtual = K < N;
const ansible = !values['no-ansible'] && !virtual && spawnSync('sh', ['-c', 'command -v ansible-playbook']).status === 0;

interface Sample {
  seconds: number;
  rssMb?: number;
  cpuSeconds?: number;
  code: number;
}

/** Run a command in the controller namespace under GNU time: wall clock, peak RSS, CPU. */
function timed(cmd: string, env: Record<string, string> = {}): Sample {
  const t0 = performance.now();
  const r = spawnSync('ip', ['netns', 'exec', lab.CTL, '/usr/bin/time', '-f', '@@time %M %U %S', 'sh', '-c', cmd], {
    encoding: 'utf8',
    env: { ...process.env, SSH_AUTH_SOCK: '', ...env },
    maxBuffer: 256 << 20,
  });
  const seconds = (performance.now() - t0) / 1000;
  const m = /@@time (\d+) ([\d.]+) ([\d.]+)/.exec(r.stderr);
  if (r.status !== 0 && r.status !== 2) console.error(`bench: "${cmd}" exited ${r.status}\n${(r.stdout + r.stderr).slice(-2000)}`);
  return { seconds, code: r.status ?? -1, rssMb: m ? Number(m[1]) / 1024 : undefined, cpuSeconds: m ? Number(m[2]) + Number(m[3]) : undefined };
}

/** NaN for no samples (a virtual fleet has no apply rows): printed as n/a. */
const median = (xs: number[]) => (xs.length ? [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]! : NaN);
const hosts = Array.from({ length: N }, (_, i) => i + 1);
/** The sshd host that serves fleet host i. */
const realOf = (i: number) => ((i - 1) % K) + 1;
/** The address tprun, ssh and Ansible connect to for fleet host i: the relay's when there is one. */
const relayAddr = (i: number) => `198.19.${Math.floor(i / 250)}.${(i % 250) + 1}`;
const addrOf = (i: number) => (RTT > 0 ? relayAddr(i) : lab.hostAddr(i));
const sshOpts = `-i ${lab.STATE}/id_ed25519 -o UserKnownHostsFile=${lab.STATE}/known_hosts -o BatchMode=yes`;

/** Put every host back to "never configured" (what a fresh host looks like to both tools). */
function resetHosts(): void {
  const reset = `for t in iptables ip6tables; do $t -t mangle -D PREROUTING -j TPRUN_PREROUTING 2>/dev/null; for c in TPRUN_PREROUTING TPRUN_DIVERT; do $t -t mangle -F $c 2>/dev/null; $t -t mangle -X $c 2>/dev/null; done; done
ip -4 rule del fwmark 0x1/0x1 lookup 100 2>/dev/null; ip -6 rule del fwmark 0x1/0x1 lookup 100 2>/dev/null
ip -4 route flush table 100 2>/dev/null; ip -6 route flush table 100 2>/dev/null
for k in net/ipv4/ip_forward net/ipv6/conf/all/forwarding; do echo 0 > /proc/sys/$k; done
if squid -k check -f /etc/squid/squid.conf 2>/dev/null; then squid -k interrupt -f /etc/squid/squid.conf; i=0; while squid -k check -f /etc/squid/squid.conf 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done; fi
rm -rf /etc/tprun/* /etc/sysctl.d/* /etc/squid/* /etc/systemd/system/* /run/squid.pid`;
  // Straight to the sshd hosts, not through the relay: resetting is not what is measured.
  const addrs = Array.from({ length: K }, (_, i) => lab.hostAddr(i + 1)).join(' ');
  spawnSync('ip', ['netns', 'exec', lab.CTL, 'bash', '-c', `for a in ${addrs}; do ssh ${sshOpts} root@$a "$RESET" & done; wait`], {
    env: { ...process.env, RESET: reset },
  });
}

const loadAtStart = loadavg()
  .map((x) => x.toFixed(2))
  .join(' ');
console.log(
  `bench: ${N} hosts${virtual ? ` (${K} sshd hosts)` : ''}, ${BACKEND} backend, rtt ${RTT} ms, forks ${FORKS}, ${RUNS} run(s) each, ${cpus().length} cores, load ${loadAtStart}${ansible ? '' : ', without ansible'}`,
);

/** tprun as an operator has it: the packed tarball installed into a scratch prefix. */
function installPackage(): string {
  if (values['from-clone']) return `node ${process.cwd()}/bin/tprun.js`;
  const dir = mkdtempSync(join(tmpdir(), 'tprun-bench-'));
  const npm = (args: string[]) => {
    const r = spawnSync('npm', [...args, '--no-audit', '--no-fund', '--loglevel=error'], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`bench: npm ${args[0]} failed: ${r.stderr.slice(-2000)}`);
  };
  npm(['pack', '--pack-destination', dir]);
  const tarball = readdirSync(dir).find((f) => f.endsWith('.tgz'))!;
  npm(['install', '-g', '--prefix', join(dir, 'prefix'), '--omit=dev', join(dir, tarball)]);
  return join(dir, 'prefix/bin/tprun');
}
const bin = installPackage();

lab.up({ hosts: K });
const known = readFileSync(`${lab.STATE}/known_hosts`, 'utf8').trim().split('\n');
// Root logs in to /bin/sh on the lab hosts (their own /etc/passwd, through /etc/netns): bash, the
// machine's shell for root, reads root's ~/.bashrc for every SSH session, and this machine's runs
// `pyenv init` (seconds of CPU, serialised on pyenv's lock) into the floor and tprun alike.
const passwd = readFileSync('/etc/passwd', 'utf8').replace(/^(root:[^:\n]*:0:0:[^:\n]*:[^:\n]*:)[^\n]*$/m, '$1/bin/sh');
for (let j = 1; j <= K; j++) {
  writeFileSync(`/etc/netns/${lab.hostNs(j)}/passwd`, passwd);
  // A virtual fleet: more management addresses on each sshd host, and sshd listening on all of them.
  const extra = hosts.filter((i) => i > K && realOf(i) === j).map(lab.hostAddr);
  if (extra.length) {
    lab.nsExec(lab.hostNs(j), extra.map((a) => `ip addr add ${a}/16 dev mgmt0`).join(' && '));
    const conf = `${lab.STATE}/${lab.hostNs(j)}/sshd_config`;
    writeFileSync(conf, readFileSync(conf, 'utf8').replace(/^ListenAddress .*$/m, 'ListenAddress 0.0.0.0'));
  }
  lab.restartSshd(j);
}
// Every fleet address carries the host key of the sshd behind it.
const keyOf = (j: number) => known[j - 1]!.split(' ').slice(1).join(' ');
writeFileSync(`${lab.STATE}/known_hosts`, hosts.map((i) => `${addrOf(i)} ${keyOf(realOf(i))}`).join('\n') + '\n');

let relay: ReturnType<typeof spawn> | undefined;
if (RTT > 0) {
  lab.nsExec(lab.CTL, hosts.map((i) => `ip addr add ${relayAddr(i)}/32 dev lo`).join(' && '));
  const map = `${lab.STATE}/relay.json`;
  writeFileSync(map, JSON.stringify(hosts.map((i) => ({ listen: relayAddr(i), target: lab.hostAddr(i) }))));
  relay = spawn('ip', ['netns', 'exec', lab.CTL, process.execPath, '--import', 'tsx', 'bench/relay.ts', map, String(RTT / 2)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    relay!.stdout!.on('data', (d: Buffer) => d.toString().includes('relay ready') && resolve());
    relay!.once('exit', (code) => reject(new Error(`bench: the relay exited ${code}`)));
  });
}

/** An inventory of some fleet hosts on one backend. */
function inventoryOf(path: string, of: number[], backend: string): string {
  writeFileSync(
    path,
    readFileSync(lab.writeInventory('bench-base', { routers: [1] }), 'utf8')
      .replace(/^( {2}tproxy:\n)/m, `$1    backend: ${backend}\n`)
      .replace(/^routers:\n[\s\S]*$/m, `routers:\n${of.map((i) => `  ${lab.hostName(i)}: { address: ${addrOf(i)} }`).join('\n')}\n`),
  );
  return path;
}
const inv = inventoryOf(`${lab.STATE}/bench.yml`, hosts, BACKEND === 'both' ? 'auto' : BACKEND);
const ini = `${lab.STATE}/bench.ini`;
writeFileSync(
  ini,
  `[proxies]\n${hosts.map((i) => `${lab.hostName(i)} ansible_host=${addrOf(i)}`).join('\n')}\n[proxies:vars]\nansible_user=root\nansible_ssh_private_key_file=${lab.STATE}/id_ed25519\nansible_ssh_common_args='-o UserKnownHostsFile=${lab.STATE}/known_hosts'\n`,
);
const tprun = (args: string) => `${bin} ${args} ${inv} --quiet --forks ${FORKS}`;
/** Each host's time by phase (the JSON report's phaseSeconds), gathered per kind of run. */
const PHASES = ['connect', 'facts', 'plan', 'apply', 'verify'] as const;
const phaseSamples: Record<string, Record<string, number[]>> = {};
function withPhases(kind: string, args: string): Sample {
  const report = `${lab.STATE}/bench-report.json`;
  const sample = timed(`${tprun(args)} --report json:${report}`);
  const hostsOf = JSON.parse(readFileSync(report, 'utf8')) as { hosts: { durationSeconds: number; phaseSeconds?: Record<string, number> }[] };
  const into = (phaseSamples[kind] ??= {});
  for (const h of hostsOf.hosts) {
    for (const [phase, s] of Object.entries({ ...h.phaseSeconds, host: h.durationSeconds })) (into[phase] ??= []).push(s);
  }
  return sample;
}
// The floor: a bare `ssh host true` to every host, FORKS at a time, as tprun works.
writeFileSync(`${lab.STATE}/addrs`, hosts.map(addrOf).join('\n') + '\n');
const floorCmd = `xargs -P ${FORKS} -I{} ssh ${sshOpts} root@{} true < ${lab.STATE}/addrs`;
const play = `ANSIBLE_CONFIG=bench/ansible/ansible.cfg ansible-playbook -i ${ini} -f ${FORKS} bench/ansible/site.yml`;

if (BACKEND === 'both') {
  // Issue #20: check on each backend side by side. The hosts are split by parity, one half per
  // backend, and the two checks alternate (which goes first alternates too), so the ratio is taken
  // pair by pair and holds while the machine's load drifts.
  const ipt = inventoryOf(
    `${lab.STATE}/bench-iptables.yml`,
    hosts.filter((i) => i % 2 === 1),
    'iptables',
  );
  const nft = inventoryOf(
    `${lab.STATE}/bench-nftables.yml`,
    hosts.filter((i) => i % 2 === 0),
    'nftables',
  );
  const check = (path: string) => timed(`${bin} check ${path} --quiet --forks ${FORKS}`);
  for (const path of [ipt, nft]) timed(`${bin} apply ${path} --quiet --forks ${FORKS}`);
  const pairs: { ipt: Sample; nft: Sample }[] = [];
  for (let run = 0; run < RUNS; run++) {
    const [a, b] = run % 2 === 0 ? [check(ipt), check(nft)] : [check(nft), check(ipt)].reverse();
    pairs.push({ ipt: a!, nft: b! });
    console.log(`pair ${run + 1}: iptables ${a!.seconds.toFixed(2)}s, nftables ${b!.seconds.toFixed(2)}s`);
  }
  relay?.kill('SIGTERM');
  lab.down();
  const m = (f: (p: (typeof pairs)[number]) => number) => median(pairs.map(f));
  const lines = [
    `### ${new Date().toISOString().slice(0, 10)}: check by backend, ${N / 2} + ${N / 2} hosts, rtt ${RTT} ms, ${cpus().length} cores, ${RUNS} alternated pairs`,
    '',
    `${values['from-clone'] ? 'tprun from the clone' : 'tprun installed from the packed tarball'}; load average at the start ${loadAtStart}; odd hosts on iptables, even on nftables, each half checked alone.`,
    '',
    '| backend | check median s | CPU median s | peak RSS |',
    '|---|---:|---:|---:|',
    `| iptables | ${m((p) => p.ipt.seconds).toFixed(2)} | ${m((p) => p.ipt.cpuSeconds ?? NaN).toFixed(2)} | ${Math.max(...pairs.map((p) => p.ipt.rssMb ?? 0)).toFixed(0)} MB |`,
    `| nftables | ${m((p) => p.nft.seconds).toFixed(2)} | ${m((p) => p.nft.cpuSeconds ?? NaN).toFixed(2)} | ${Math.max(...pairs.map((p) => p.nft.rssMb ?? 0)).toFixed(0)} MB |`,
    '',
    `nftables ÷ iptables, pair by pair: median ${m((p) => p.nft.seconds / p.ipt.seconds).toFixed(2)} (min ${Math.min(...pairs.map((p) => p.nft.seconds / p.ipt.seconds)).toFixed(2)}, max ${Math.max(...pairs.map((p) => p.nft.seconds / p.ipt.seconds)).toFixed(2)}). Exit codes: ${[...new Set(pairs.flatMap((p) => [p.ipt.code, p.nft.code]))].join('/')}.`,
    '',
  ];
  console.log('\n' + lines.join('\n'));
  if (!values['no-write']) appendFileSync('bench/RESULTS.md', lines.join('\n') + '\n');
  process.exit(0);
}

const rows: Record<string, Sample[]> = { floor: [], applyFresh: [], applyAgain: [], check: [], ansibleFirst: [], ansibleSecond: [] };
for (let run = 0; run < RUNS; run++) {
  rows.floor!.push(timed(floorCmd));
  if (!virtual) {
    resetHosts();
    rows.applyFresh!.push(withPhases('apply, fresh hosts', 'apply'));
    rows.applyAgain!.push(timed(tprun('apply')));
  } else if (run === 0) {
    // The fleet's hosts share K sshd hosts: configure those once, then only read.
    const real = `${lab.STATE}/bench-real.yml`;
    writeFileSync(
      real,
      readFileSync(inv, 'utf8').replace(/^( {2}h(\d+): .*\n)/gm, (line: string, _l: string, n: string) => (Number(n) <= K ? line : '')),
    );
    timed(`${bin} apply ${real} --quiet --forks ${FORKS}`);
  }
  rows.check!.push(withPhases('check, compliant hosts', 'check'));
  if (ansible) {
    resetHosts();
    rows.ansibleFirst!.push(timed(play));
    rows.ansibleSecond!.push(timed(play));
  }
  console.log(
    `run ${run + 1}: ${Object.entries(rows)
      .filter(([, s]) => s[run])
      .map(([k, s]) => `${k} ${s[run]!.seconds.toFixed(2)}s`)
      .join(', ')}`,
  );
}
// --forks-sweep 25,50,100: `tprun check` of the compliant fleet at each --forks, to choose the default.
const sweep: string[] = [];
for (const f of (values['forks-sweep'] ?? '').split(',').filter(Boolean).map(Number)) {
  const samples = Array.from({ length: RUNS }, () => timed(`${bin} check ${inv} --quiet --forks ${f}`));
  const m = median(samples.map((x) => x.seconds));
  sweep.push(
    `| ${f} | ${m.toFixed(2)} | ${(m / median(rows.floor!.map((x) => x.seconds))).toFixed(2)}× | ${Math.max(...samples.map((x) => x.rssMb ?? 0)).toFixed(0)} MB |`,
  );
  console.log(`forks ${f}: check ${m.toFixed(2)}s`);
}
relay?.kill('SIGTERM');
lab.down();

const med = (k: string) => (rows[k]!.length ? median(rows[k]!.map((s) => s.seconds)) : NaN);
const fmt = (x: number) => (Number.isNaN(x) ? 'n/a' : x.toFixed(2));
const ratio = (a: number, b: number) => (Number.isNaN(a) || Number.isNaN(b) ? 'n/a' : `${(a / b).toFixed(1)}×`);
const floor = med('floor');
const lines = [
  `### ${new Date().toISOString().slice(0, 10)}: ${N} hosts${virtual ? ` on ${K} sshd hosts` : ''}, ${BACKEND} backend, rtt ${RTT} ms, forks ${FORKS}, ${cpus().length} cores, median of ${RUNS}`,
  '',
  `${values['from-clone'] ? 'tprun from the clone' : 'tprun installed from the packed tarball'}; load average at the start ${loadAtStart}.`,
  '',
  '| what | median s | vs SSH floor | Ansible ÷ tprun |',
  '|---|---:|---:|---:|',
  `| SSH floor: ${N} × \`ssh host true\`, ${FORKS} at a time | ${fmt(floor)} | 1.0× | |`,
  `| tprun apply, fresh hosts | ${fmt(med('applyFresh'))} | ${ratio(med('applyFresh'), floor)} | ${ratio(med('ansibleFirst'), med('applyFresh'))} |`,
  `| tprun apply, compliant hosts | ${fmt(med('applyAgain'))} | ${ratio(med('applyAgain'), floor)} | ${ratio(med('ansibleSecond'), med('applyAgain'))} |`,
  `| tprun check, ${virtual ? `${K} compliant hosts and ${N - K} drifted (virtual)` : 'compliant hosts'} | ${fmt(med('check'))} | ${ratio(med('check'), floor)} | ${ratio(med('ansibleSecond'), med('check'))} |`,
  `| ansible-playbook, first run | ${fmt(med('ansibleFirst'))} | ${ratio(med('ansibleFirst'), floor)} | |`,
  `| ansible-playbook, second run | ${fmt(med('ansibleSecond'))} | ${ratio(med('ansibleSecond'), floor)} | |`,
  '',
  `tprun peak RSS: ${Math.max(...[...rows.applyFresh!, ...rows.check!].map((s) => s.rssMb ?? 0)).toFixed(0)} MB; CPU (user+sys) median: apply fresh ${fmt(median(rows.applyFresh!.map((s) => s.cpuSeconds ?? NaN)))} s, check ${fmt(median(rows.check!.map((s) => s.cpuSeconds ?? NaN)))} s.`,
  ...(sweep.length
    ? [
        '',
        `\`tprun check\` of ${N} compliant hosts by --forks (median of ${RUNS}):`,
        '',
        '| --forks | median s | vs SSH floor | peak RSS |',
        '|---:|---:|---:|---:|',
        ...sweep,
        '',
      ]
    : []),
  '',
  `Where a host's time goes, median over hosts and runs, seconds (the JSON report's phaseSeconds: connect is TCP and the SSH handshake, facts the lock and facts script in one round trip, apply the transaction sent, run on the host and its journal back):`,
  '',
  `| phase | ${Object.keys(phaseSamples).join(' | ')} |`,
  `|---|${Object.keys(phaseSamples)
    .map(() => '---:')
    .join('|')}|`,
  ...[...PHASES, 'host'].map(
    (phase) =>
      `| ${phase === 'host' ? 'the whole host' : phase} | ${Object.values(phaseSamples)
        .map((p) => (p[phase]?.length ? median(p[phase]).toFixed(3) : ''))
        .join(' | ')} |`,
  ),
  '',
  `Exit codes: apply ${[...new Set(rows.applyFresh!.map((s) => s.code))].join('/')}, check ${[...new Set(rows.check!.map((s) => s.code))].join('/')}${ansible ? `, ansible ${[...new Set(rows.ansibleFirst!.map((s) => s.code))].join('/')}` : ''}.`,
  '',
];
console.log('\n' + lines.join('\n'));
if (!values['no-write']) appendFileSync('bench/RESULTS.md', lines.join('\n') + '\n');
// A benchmark of a broken tool is no benchmark: fail when tprun did not succeed.
// Puppet's detailed exit codes: an apply that changed the fresh hosts exits 2; then 0.
// On a virtual fleet the hosts past the sshd hosts carry another host's files (their headers name
// it): check finds them drifted (2), having done a compliant check's work and drawn the diffs.
const checkOk = (code: number) => code === 0 || (virtual && code === 2);
const bad = [
  ...rows.applyFresh!.filter((s) => s.code !== 0 && s.code !== 2),
  ...rows.applyAgain!.filter((s) => s.code !== 0),
  ...rows.check!.filter((s) => !checkOk(s.code)),
];
if (bad.length) {
  console.error(`bench: ${bad.length} tprun run(s) did not succeed (apply on fresh hosts exits 0 or 2, then apply and check 0)`);
  process.exitCode = 1;
}
