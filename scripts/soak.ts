/**
 * `npm run soak [-- MINUTES]` (default 10): issue #21's soak on the namespace lab, not part of
 * `npm test`. Applies configurations A and B alternately to 10 lab hosts, each apply with one
 * random fault: SIGKILL of tprun, SIGKILL of a host's on-host runner (its whole process group,
 * alone or with its watcher),
 * a link cut (DROP both ways in the controller namespace, 3–40 s), a power loss and boot of a
 * host (lab.reboot), or none. After every apply: every host is entirely on A or on B (check says
 * compliant against one of them). At the end also: a request through h1 is intercepted, and
 * nothing is left behind (no lock, no process of a transaction, no transaction backup). Prints
 * the count of each fault injected; exits 1 on any violation.
 *
 * Use TPRUN_LAB_PREFIX/TPRUN_LAB_STATE like the lab tests when others use the lab.
 */
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as lab from '../test/lab/lab.ts';

const minutes = Number(process.argv[2] ?? process.env.TPRUN_SOAK_MINUTES ?? 10);
const N = 10;
const ALL = Array.from({ length: N }, (_, k) => k + 1);
const bin = fileURLToPath(new URL('../bin/tprun.js', import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(Math.random() * xs.length)]!;
const log = (s: string) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${s}`);

const problem = lab.preflight();
if (problem) {
  console.error(`soak: ${problem}`);
  process.exit(1);
}

/** Configuration B: routing table 101, squid's tproxy port 3130 (as in test/lab/faults.ts). */
function inventories(): { A: string; B: string } {
  const A = lab.writeInventory('soak-A', { routers: ALL });
  const B = `${lab.STATE}/soak-B.yml`;
  writeFileSync(
    B,
    readFileSync(A, 'utf8')
      .replace(/^( {4}ports: \[80\]\n)/m, '$1    table: 101\n')
      .replace(/^( {2}squid:\n)/m, '$1    tproxy_port: 3130\n'),
  );
  return { A, B };
}

function tprunAsync(args: string[]) {
  const child = spawn('ip', ['netns', 'exec', lab.CTL, process.execPath, bin, ...args], { env: { ...process.env, SSH_AUTH_SOCK: '' } });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const done = new Promise<number>((resolve) => child.on('close', (code, sig) => resolve(code ?? (sig ? 128 : -1))));
  return { child, done, output: () => out };
}

/** Until host i runs no transaction: no runner, watcher or healer of its newest transaction lives. */
async function settled(i: number): Promise<boolean> {
  for (let k = 0; k < 240; k++) {
    const r = lab.onHost(i, 'T=/var/lib/tprun/tx/$(cat /var/lib/tprun/last 2>/dev/null); pgrep -f "$T/runner.sh" >/dev/null && echo busy; true');
    if (r.code === 0 && !r.out.includes('busy')) return true;
    await sleep(500);
  }
  return false;
}

/** A transaction is under way on host i (its journal has steps, no end). */
const underWay = (i: number) =>
  lab
    .onHost(
      i,
      'J="/var/lib/tprun/tx/$(cat /var/lib/tprun/last 2>/dev/null)/journal"; grep -q "^@@tprun-step " "$J" 2>/dev/null && ! grep -q "^@@tprun-end " "$J" && echo yes',
    )
    .out.includes('yes');

/** Hosts compliant against an inventory, from check's per-host lines. */
function compliant(inventory: string): Set<number> {
  const r = lab.tprunInCtl(['check', inventory, '--lock-timeout', '60']);
  return new Set([...(r.out + r.err).matchAll(/^h(\d+): compliant/gm)].map((m) => Number(m[1])));
}

/** Hosts on neither configuration (each must be entirely on A or on B). */
function neither(A: string, B: string): number[] {
  const a = compliant(A);
  const rest = ALL.filter((i) => !a.has(i));
  if (!rest.length) return [];
  const b = compliant(B);
  return rest.filter((i) => !b.has(i));
}

function leftBehind(i: number): string {
  return lab
    .onHost(
      i,
      // A lock counts only while it holds the host: a transaction's line, or a live session (an apply
      // that changed nothing leaves its session's line, a dead holder, which the next apply clears).
      `L=/var/lib/tprun/lock; if [ -e $L ]; then held=; grep -q '^tx ' $L && held=1; while read -r k p st; do [ "$k" = conn ] && [ -d /proc/$p ] && held=1; done < $L; [ -z "$held" ] || echo "lock: $(tr '\\n' ' ' < $L)"; fi
       for T in /var/lib/tprun/tx/*/; do [ -s "$T/pid" ] || continue; pgrep -af "\${T%/}/runner.sh"; pgrep -a -g "$(cut -d' ' -f1 "$T/pid")"; done
       find /etc/tprun /etc/squid /etc/sysctl.d /etc/systemd/system -name '*.tprun-tx-*'; true`,
    )
    .out.trim();
}

type Fault = 'none' | 'kill-tprun' | 'kill-runner' | 'kill-runner-watcher' | 'link-cut' | 'reboot';
const FAULTS: Fault[] = ['none', 'kill-tprun', 'kill-tprun', 'kill-runner', 'kill-runner-watcher', 'link-cut', 'reboot', 'reboot'];
const counts: Record<Fault | 'applies' | 'violations', number> = {
  applies: 0,
  none: 0,
  'kill-tprun': 0,
  'kill-runner': 0,
  'kill-runner-watcher': 0,
  'link-cut': 0,
  reboot: 0,
  violations: 0,
};
const violations: string[] = [];

async function main(): Promise<number> {
  log(`lab up: ${N} hosts (prefix ${lab.PREFIX}, state ${lab.STATE})`);
  lab.up({ hosts: N, proof: true });
  const { A, B } = inventories();
  const first = lab.tprunInCtl(['apply', A]);
  if (![0, 2].includes(first.code)) throw new Error(`the first apply failed:\n${first.out}${first.err}`);
  const end = Date.now() + minutes * 60_000;
  let target = B;
  while (Date.now() < end) {
    const fault = pick(FAULTS);
    const victim = pick(ALL);
    counts.applies++;
    const run = tprunAsync(['apply', target, '--lock-timeout', '60']);
    if (fault !== 'none') {
      // Strike while the victim's transaction is under way (or after a random moment when it has none).
      const until = Date.now() + 500 + Math.random() * 8000;
      while (Date.now() < until && !underWay(victim)) await sleep(100);
      await sleep(Math.random() * 1500);
      if (fault === 'kill-tprun') run.child.kill('SIGKILL');
      else if (fault === 'kill-runner' || fault === 'kill-runner-watcher')
        // Only a live runner (same pid and start time as it recorded): a reused pid's group is someone else's.
        // With its watcher too, nothing on the host finishes the transaction: the next apply must.
        lab.onHost(victim, `${lab.killRunnerCmd(fault === 'kill-runner-watcher')}; true`);
      else if (fault === 'reboot') {
        const b = lab.reboot(victim);
        if (b.code !== 0) violations.push(`h${victim}: tprun-boot failed after the reboot: ${b.out}`);
      } else {
        const a = lab.hostAddr(victim);
        lab.nsExec(lab.CTL, `iptables -I OUTPUT -d ${a} -j DROP && iptables -I INPUT -s ${a} -j DROP`);
        await sleep(3000 + Math.random() * 37_000);
        lab.nsExec(lab.CTL, `iptables -D OUTPUT -d ${a} -j DROP; iptables -D INPUT -s ${a} -j DROP`, true);
      }
    }
    counts[fault]++;
    const code = await Promise.race([run.done, sleep(180_000).then(() => -2)]);
    if (code === -2) {
      run.child.kill('SIGKILL');
      violations.push(`apply ${counts.applies} (${fault} on h${victim}): tprun did not end within 180 s`);
    }
    for (const i of ALL) if (!(await settled(i))) violations.push(`apply ${counts.applies}: h${i}'s transaction did not end within 2 minutes`);
    const bad = neither(A, B);
    for (const i of bad) violations.push(`apply ${counts.applies} (${fault} on h${victim}): h${i} is on neither configuration`);
    log(
      `apply ${counts.applies} → ${target === A ? 'A' : 'B'}: ${fault}${fault === 'none' || fault === 'kill-tprun' ? '' : ` on h${victim}`}; exit ${code}; ${bad.length ? `NEITHER: ${bad.map((i) => `h${i}`).join(' ')}` : 'every host on A or B'}`,
    );
    if (bad.length) {
      // Converge, so one violation does not hide the next.
      lab.tprunInCtl(['apply', target, '--lock-timeout', '60']);
    }
    target = target === A ? B : A;
  }
  // The end: every host on one configuration, intercepting, compliant, nothing left behind.
  for (const i of ALL) await settled(i);
  for (const i of neither(A, B)) violations.push(`end: h${i} is on neither configuration`);
  const r = lab.clientGet(4);
  const again = r.status === 502 ? lab.clientGet(4) : r;
  if (again.status !== 200 || again.body.trim() !== `origin saw ${lab.CLIENT4}`) violations.push(`end: h1 does not intercept: ${again.raw.slice(0, 300)}`);
  for (const i of ALL) {
    const left = leftBehind(i);
    if (left) violations.push(`end: left behind on h${i}:\n${left}`);
  }
  counts.violations = violations.length;
  console.log(`\nsoak: ${minutes} min, ${N} hosts`);
  for (const [k, v] of Object.entries(counts)) console.log(`  ${k}: ${v}`);
  for (const v of violations) console.log(`VIOLATION ${v}`);
  if (!violations.length) lab.down();
  else console.log(`the lab is left up for inspection (node --import tsx scripts/lab.ts down)`);
  return violations.length ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (e: Error) => {
    console.error(`soak: ${e.message}`);
    process.exit(1);
  },
);
