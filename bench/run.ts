// `npm run bench -- --hosts N [--runs R] [--no-ansible]`: tprun against the SSH floor and
// ansible-playbook on the same lab hosts, in one run. Prints a table and appends it to
// bench/RESULTS.md. A script that prints numbers, not a timed test.
import { spawnSync } from 'node:child_process';
import { appendFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import * as lab from '../test/lab/lab.ts';

const { values } = parseArgs({
  options: {
    hosts: { type: 'string', default: '50' },
    runs: { type: 'string', default: '3' },
    'no-ansible': { type: 'boolean' },
    'no-write': { type: 'boolean' },
    'forks-sweep': { type: 'string' },
  },
});
const N = Number(values.hosts);
const RUNS = Number(values.runs);
const problem = lab.preflight();
if (problem || !Number.isInteger(N) || N < 1) {
  console.error(`bench: ${problem ?? '--hosts takes a whole number'}`);
  process.exit(1);
}
const ansible = !values['no-ansible'] && spawnSync('sh', ['-c', 'command -v ansible-playbook']).status === 0;

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

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const hosts = Array.from({ length: N }, (_, i) => i + 1);

/** Put every host back to "never configured" (what a fresh host looks like to both tools). */
function resetHosts(): void {
  const reset = `for t in iptables ip6tables; do $t -t mangle -D PREROUTING -j TPRUN_PREROUTING 2>/dev/null; for c in TPRUN_PREROUTING TPRUN_DIVERT; do $t -t mangle -F $c 2>/dev/null; $t -t mangle -X $c 2>/dev/null; done; done
ip -4 rule del fwmark 0x1/0x1 lookup 100 2>/dev/null; ip -6 rule del fwmark 0x1/0x1 lookup 100 2>/dev/null
ip -4 route flush table 100 2>/dev/null; ip -6 route flush table 100 2>/dev/null
for k in net/ipv4/ip_forward net/ipv6/conf/all/forwarding; do echo 0 > /proc/sys/$k; done
if squid -k check -f /etc/squid/squid.conf 2>/dev/null; then squid -k interrupt -f /etc/squid/squid.conf; i=0; while squid -k check -f /etc/squid/squid.conf 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done; fi
rm -rf /etc/tprun/* /etc/sysctl.d/* /etc/squid/* /etc/systemd/system/* /run/squid.pid`;
  const addrs = hosts.map(lab.hostAddr).join(' ');
  spawnSync(
    'ip',
    [
      'netns',
      'exec',
      lab.CTL,
      'bash',
      '-c',
      `for a in ${addrs}; do ssh -i ${lab.STATE}/id_ed25519 -o UserKnownHostsFile=${lab.STATE}/known_hosts -o BatchMode=yes root@$a "$RESET" & done; wait`,
    ],
    { env: { ...process.env, RESET: reset } },
  );
}

console.log(`bench: ${N} lab hosts, ${RUNS} run(s) each, ${cpus().length} cores${ansible ? '' : ', without ansible'}`);
lab.up({ hosts: N });
const inv = lab.writeInventory('bench', { routers: hosts });
const ini = `${lab.STATE}/bench.ini`;
writeFileSync(
  ini,
  `[proxies]\n${hosts.map((i) => `${lab.hostName(i)} ansible_host=${lab.hostAddr(i)}`).join('\n')}\n[proxies:vars]\nansible_user=root\nansible_ssh_private_key_file=${lab.STATE}/id_ed25519\nansible_ssh_common_args='-o UserKnownHostsFile=${lab.STATE}/known_hosts'\n`,
);
const tprun = (args: string) => `node bin/tprun.js ${args} ${inv} --quiet`;
const floorCmd = `for a in ${hosts.map(lab.hostAddr).join(' ')}; do ssh -i ${lab.STATE}/id_ed25519 -o UserKnownHostsFile=${lab.STATE}/known_hosts -o BatchMode=yes root@$a true & done; wait`;
const play = `ANSIBLE_CONFIG=bench/ansible/ansible.cfg ansible-playbook -i ${ini} -f ${N} bench/ansible/site.yml`;

const rows: Record<string, Sample[]> = { floor: [], applyFresh: [], applyAgain: [], check: [], ansibleFirst: [], ansibleSecond: [] };
for (let run = 0; run < RUNS; run++) {
  rows.floor!.push(timed(floorCmd));
  resetHosts();
  rows.applyFresh!.push(timed(tprun('apply')));
  rows.applyAgain!.push(timed(tprun('apply')));
  rows.check!.push(timed(tprun('check')));
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
  const samples = Array.from({ length: RUNS }, () => timed(`node bin/tprun.js check ${inv} --quiet --forks ${f}`));
  const m = median(samples.map((x) => x.seconds));
  sweep.push(
    `| ${f} | ${m.toFixed(2)} | ${(m / median(rows.floor!.map((x) => x.seconds))).toFixed(2)}× | ${Math.max(...samples.map((x) => x.rssMb ?? 0)).toFixed(0)} MB |`,
  );
  console.log(`forks ${f}: check ${m.toFixed(2)}s`);
}
lab.down();

const med = (k: string) => (rows[k]!.length ? median(rows[k]!.map((s) => s.seconds)) : NaN);
const fmt = (x: number) => (Number.isNaN(x) ? 'n/a' : x.toFixed(2));
const ratio = (a: number, b: number) => (Number.isNaN(a) || Number.isNaN(b) ? 'n/a' : `${(a / b).toFixed(1)}×`);
const floor = med('floor');
const lines = [
  `### ${new Date().toISOString().slice(0, 10)}: ${N} hosts, ${cpus().length} cores, median of ${RUNS}`,
  '',
  '| what | median s | vs SSH floor | Ansible ÷ tprun |',
  '|---|---:|---:|---:|',
  `| SSH floor: ${N} × \`ssh host true\` in parallel | ${fmt(floor)} | 1.0× | |`,
  `| tprun apply, fresh hosts | ${fmt(med('applyFresh'))} | ${ratio(med('applyFresh'), floor)} | ${ratio(med('ansibleFirst'), med('applyFresh'))} |`,
  `| tprun apply, compliant hosts | ${fmt(med('applyAgain'))} | ${ratio(med('applyAgain'), floor)} | ${ratio(med('ansibleSecond'), med('applyAgain'))} |`,
  `| tprun check, compliant hosts | ${fmt(med('check'))} | ${ratio(med('check'), floor)} | ${ratio(med('ansibleSecond'), med('check'))} |`,
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
  `Exit codes: apply ${[...new Set(rows.applyFresh!.map((s) => s.code))].join('/')}, check ${[...new Set(rows.check!.map((s) => s.code))].join('/')}${ansible ? `, ansible ${[...new Set(rows.ansibleFirst!.map((s) => s.code))].join('/')}` : ''}.`,
  '',
];
console.log('\n' + lines.join('\n'));
if (!values['no-write']) appendFileSync('bench/RESULTS.md', lines.join('\n') + '\n');
// A benchmark of a broken tool is no benchmark: fail when tprun did not succeed.
// Puppet's detailed exit codes: an apply that changed the fresh hosts exits 2; then 0.
const bad = [...rows.applyFresh!.filter((s) => s.code !== 2), ...[...rows.applyAgain!, ...rows.check!].filter((s) => s.code !== 0)];
if (bad.length) {
  console.error(`bench: ${bad.length} tprun run(s) did not succeed (apply on fresh hosts exits 2, then apply and check 0)`);
  process.exitCode = 1;
}
