/**
 * Faults on the namespace lab (issue #11): signals, a cut link, command_timeout, two applies at
 * once, full disks, a running squid with a broken squid.conf, a host printing huge output, a
 * stale lock. For each: snapshots of the host before and after; the host ends entirely on its old
 * configuration or entirely on its new one; whenever `check` then says compliant, a request from
 * the lab client through h1 reaches the origin with the client's address; the next apply converges.
 *
 * Two configurations: A (the lab's defaults) and B (routing table 101, squid's tproxy port 3130):
 * going A→B touches policy routing, both families' TPROXY rules (on nftables, `table inet
 * tprun`'s tproxy statements), boot files and squid.conf (with a reconfigure), like the
 * half-applied hosts of the issue.
 *
 * The bodies are shared by both firewall backends (faultSuite). The snapshot holds the mangle
 * rules of both families and `nft -s list table inet tprun`, so "old" and "new" cover either
 * backend's rules; every host checked also has its rules only in its own backend (onBackend).
 */
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import * as lab from './lab.ts';

export type Backend = 'iptables' | 'nftables';

/**
 * The fault matrix on one firewall backend (faults.test.ts: iptables, the lab hosts' own choice;
 * faults-nftables.test.ts: `tproxy.backend: nftables`). On nftables the rows marked `both` run:
 * one for each way a transaction cut mid-step ends without tprun following it, each of which loads
 * the backend's rules (the runner alone committing after a second signal; the watcher, a newer
 * apply and tprun-boot undoing it from the transaction's snapshot, boot.d loading the rules
 * after). The others fail before any step (preflight, lock, facts), follow a transaction to its
 * usual end, or test what is the same whatever a step loads (the lock, process-group reaping).
 */
export function faultSuite(backend: Backend): void {
  const test = suite(`faults (${backend})`);
  const NFT = backend === 'nftables';
  const skip = lab.preflight() ?? (NFT && spawnSync('nft', ['--version']).status !== 0 ? 'nft is missing (run scripts/ensure-deps.sh as root)' : undefined);
  /** TPRUN_FAULTS_ONLY=REGEX runs only the tests whose name matches it (the lab takes minutes). */
  const only = process.env.TPRUN_FAULTS_ONLY;
  /** A test; `both` when it runs on the nftables backend too (else iptables only). */
  const t = (name: string, fn: () => unknown, both = false) => {
    if (NFT && !both && name !== 'fault matrix') return;
    (skip || (only && !new RegExp(only).test(name) && name !== 'fault matrix') ? test.skip : test)(name, fn as never);
  };
  if (skip) console.log(`lab fault tests (${backend}) skipped: ${skip}`);

  /** The lab's hosts: the nftables rows use h1-h3 (faster to bring up and converge). */
  const N = NFT ? 3 : 6;
  const ALL = Array.from({ length: N }, (_, k) => k + 1);
  type Version = 'A' | 'B';

  /** An inventory of some hosts on configuration A or B (on this suite's backend, or `on`). */
  function inv(name: string, v: Version, hosts: number[], extra: Record<number, string> = {}, on: Backend = backend): string {
    const path = lab.writeInventory(name, { routers: hosts, extra });
    if (NFT || on !== backend) writeFileSync(path, readFileSync(path, 'utf8').replace(/^( {2}tproxy:\n)/m, `$1    backend: ${on}\n`));
    if (v === 'A') return path;
    const text = readFileSync(path, 'utf8')
      .replace(/^( {4}ports: \[80\]\n)/m, '$1    table: 101\n')
      .replace(/^( {2}squid:\n)/m, '$1    tproxy_port: 3130\n');
    writeFileSync(path, text);
    return path;
  }

  const bin = fileURLToPath(new URL('../../bin/tprun.js', import.meta.url));
  interface Run {
    code: number;
    out: string;
    err: string;
  }
  const all = (r: Run) => r.out + r.err;
  /** An apply that went through: 0, or 2 where apply reports changes made (Puppet's detailed codes). */
  const applied = (code: number) => code === 0 || code === 2;
  /** The failure bit: 4, or 6 with changes. */
  const failedBit = (code: number) => code === 4 || code === 6;

  /** tprun in the controller namespace, in the background: signals can be sent to it. */
  function tprunAsync(args: string[]) {
    const child = spawn('ip', ['netns', 'exec', lab.CTL, process.execPath, bin, ...args], { env: { ...process.env, ...lab.RUN_ENV } });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const done = new Promise<Run>((resolve) => child.on('close', (code, sig) => resolve({ code: code ?? (sig ? 128 : -1), out, err })));
    return { child, done, output: () => out + err };
  }

  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

  /** Until no transaction runner lives on host i (they go on alone after tprun stops waiting). */
  async function txSettled(i: number): Promise<void> {
    for (let k = 0; k < 120; k++) {
      const r = lab.onHost(
        i,
        // By pid and start time: the machine's pids wrap (pid_max 32768 here), and a stale pid file's
        // pid, reused by a long-lived process, kept this waiting once.
        'for f in /var/lib/tprun/tx/*/pid; do [ -s "$f" ] || continue; read p s < "$f"; [ "$(sed \'s/.*) //\' /proc/$p/stat 2>/dev/null | cut -d" " -f20)" = "$s" ] && echo running; done; true',
      );
      if (!r.out.includes('running')) return;
      await sleep(500);
    }
    throw new Error(`a transaction on h${i} did not end within a minute`);
  }

  /** A request from the client through h1: the origin must see the client's own address. */
  function proveInterception(): void {
    let r = lab.clientGet(4);
    // A pooled squid→origin connection whose FIN was routed away while tprun's rules were being
    // changed is reset on reuse (502 ERR_READ_ERROR 104); a client's retry gets a fresh one.
    if (r.status === 502 && /ERR_READ_ERROR/.test(r.raw)) r = lab.clientGet(4);
    assert.is(r.status, 200, r.raw);
    assert.is(r.body.trim(), `origin saw ${lab.CLIENT4}`, 'the origin must see the client address');
  }

  /**
   * Host i after a fault: entirely old (snapshot unchanged) or entirely new (a converging apply of
   * `target` changes nothing). Returns which; afterwards the host is on `target`, verified.
   */
  function oldOrNew(i: number, before: string, target: string): 'old' | 'new' {
    const after = lab.snapshot(i);
    const c = lab.tprunInCtl(['check', target, '--limit', `h${i}`]);
    if (c.code === 0 && i === 1) proveInterception();
    const a = lab.tprunInCtl(['apply', target, '--limit', `h${i}`]);
    assert.ok(applied(a.code), `the next apply converges h${i}:\n${all(a)}`);
    const converged = lab.snapshot(i);
    onBackend(i);
    if (after === before) return 'old';
    assert.is(after, converged, `h${i} is neither on its old configuration nor on its new one`);
    assert.is(c.code, 0, `h${i} was on its new configuration, so check must say compliant:\n${all(c)}`);
    onBackend(i);
    return 'new';
  }

  /** The fault matrix, written to the lab's state dir by the last test and printed (docs/faults.md keeps a copy). */
  const matrix: string[] = [];
  const row = (fault: string, hosts: string, outcome: string) => matrix.push(`| ${fault} | ${hosts} | ${outcome} | yes |`);

  let A = '';
  let B = '';
  test.before(() => {
    if (skip) return;
    lab.up({ hosts: N, proof: true });
    A = inv('A', 'A', ALL);
    B = inv('B', 'B', ALL);
    const r = lab.tprunInCtl(['apply', A]);
    if (!applied(r.code)) throw new Error(all(r));
  });
  test.after(() => {
    if (skip) return;
    lab.down();
  });

  /** Whether host i is on configuration B. */
  const onB = (i: number) => lab.onHost(i, 'grep -c 3130 /etc/squid/squid.conf').out.trim() !== '0';

  /** Until the output of a background run shows a finished host. */
  async function firstHostDone(output: () => string): Promise<void> {
    for (let k = 0; k < 600 && !/^h\d+: /m.test(output()); k++) await sleep(100);
  }

  const POINTS: [NodeJS.Signals, string, (run: ReturnType<typeof tprunAsync>) => Promise<void>][] = [
    ['SIGINT', "while h1's transaction is under way", () => waitJournal(1)],
    ['SIGINT', 'once the first host has finished', (run) => firstHostDone(run.output)],
    ['SIGTERM', "while h2's transaction is under way", () => waitJournal(2)],
  ];

  for (const [signal, when, wait] of POINTS) {
    t(`${signal} ${when} (apply of ${N} hosts, --forks 2): no new host starts, those under way end old or new, recap and report written, exit 4`, async () => {
      for (const i of ALL) slow(i, 1.5);
      try {
        const to = onB(1) ? A : B;
        const before = ALL.map((i) => lab.snapshot(i));
        const report = `${lab.STATE}/sig.json`;
        writeFileSync(report, '');
        const run = tprunAsync(['apply', to, '--forks', '2', '--report', `json:${report}`]);
        await wait(run);
        run.child.kill(signal);
        const r = await run.done;
        assert.ok(failedBit(r.code), all(r));
        assert.match(all(r), new RegExp(`tprun: ${signal}: starting no new host`));
        assert.match(r.out, /6 hosts: /);
        assert.match(r.out, /tprun was interrupted\./);
        assert.match(r.out, /not started \(unchanged\): /);
        assert.not.match(all(r), /\n\s+at /);
        const json = JSON.parse(readFileSync(report, 'utf8'));
        assert.is(json.hosts.length, N);
        const outcomes: string[] = [];
        for (const i of ALL) {
          await txSettled(i);
          outcomes.push(`h${i} ${oldOrNew(i, before[i - 1]!, to)}`);
        }
        row(`${signal} ${when} (forks 2)`, `${N}`, `${outcomes.join(', ')}; exit 4 (6 where apply reports changes), recap + JSON report`);
      } finally {
        for (const i of ALL) unslow(i);
      }
    });
  }

  t(
    'two signals: the second stops waiting and names the hosts whose outcome is unknown; their transactions end on the hosts',
    async () => {
      // h2 is made slow (its TOOL sleeps 6 s) so its transaction is surely under way.
      slow(2, 6);
      try {
        const to = onB(2) ? inv('two', 'A', [2, 3]) : inv('two', 'B', [2, 3]);
        const before = [2, 3].map((i) => lab.snapshot(i));
        const run = tprunAsync(['apply', to, '--forks', '2']);
        await waitJournal(2);
        run.child.kill('SIGINT');
        await sleep(300);
        run.child.kill('SIGINT');
        const r = await run.done;
        assert.ok(failedBit(r.code), all(r));
        assert.match(r.err, /SIGINT again: no longer waiting/);
        assert.match(r.out, /outcome unknown \(the transaction completes or rolls back on the host; the next run reports it\): .*h2/);
        await txSettled(2);
        const next = lab.tprunInCtl(['check', to, '--limit', 'h2']);
        assert.match(next.out, /note: the earlier transaction .* ended on the host: committed/);
        const outcomes = [2, 3].map((i, k) => `h${i} ${oldOrNew(i, before[k]!, to)}`);
        row(
          'SIGINT twice (second: stop waiting)',
          '2',
          `${outcomes.join(', ')}; h2 reported "outcome unknown", its transaction committed on the host; the next check reported it`,
        );
      } finally {
        unslow(2);
      }
    },
    true,
  );

  /**
   * The tool whose calls the faults slow down: a step of the transaction (and its undo) that loads
   * firewall rules. iptables: ip6tables-restore (IPv4's rules are then already changed). nftables:
   * `nft -f` without `-c` (the table's swap, or its undo from the snapshot); nft's listings (facts,
   * the snapshot) and its check run as usual.
   */
  const TOOL = NFT ? 'nft' : 'ip6tables-restore';

  /** Host i's TOOL becomes /usr/local/bin/TOOL (found first in PATH, in its own mount namespace): `body` (shell, given the real tool's path) for the calls that load rules. */
  function wrap(i: number, body: (real: string) => string, setup = '', tool = TOOL): void {
    const real = `/usr/sbin/${tool}`;
    const others = tool === 'nft' ? `case " $* " in *" -c "*) exec ${real} "$@";; *" -f "*) ;; *) exec ${real} "$@";; esac\n` : '';
    const r = lab.onHost(
      i,
      `mountpoint -q /usr/local/bin || mount -t tmpfs -o size=1m none /usr/local/bin; ${setup}cat > /usr/local/bin/${tool} <<'EOF'\n#!/bin/sh\n${others}${body(real)}\nEOF\nchmod +x /usr/local/bin/${tool}`,
    );
    assert.is(r.code, 0, r.out);
  }

  /**
   * Until a step of host i's transaction sleeps in the slowed TOOL (fails after 10 s). With
   * `swapped` (slowOnce on nftables), the live table already tproxies to that configuration's port:
   * the fault cuts a step whose change is in place, so only a true undo gets the host back.
   */
  async function inSlowStep(i: number, swapped?: Version): Promise<void> {
    let found = false;
    for (let k = 0; k < 100 && !(found = lab.onHost(i, 'pgrep -f "^sleep 30$"').out.trim() !== ''); k++) await sleep(100);
    assert.ok(found, `no step of h${i} sleeps in the slowed ${TOOL}`);
    if (NFT && swapped) {
      const port = swapped === 'B' ? 3130 : 3129;
      assert.match(lab.onHost(i, 'nft list chain inet tprun prerouting').out, new RegExp(`tproxy ip to :${port}`), `h${i}'s table is already swapped`);
    }
  }

  /** Host i's TOOL sleeps first. While /usr/local/bin/.hold exists (hold()), it also waits for it to go (2 min at most). */
  function slow(i: number, seconds: number): void {
    wrap(i, (real) => `i=0; while [ -e /usr/local/bin/.hold ] && [ $i -lt 1200 ]; do sleep 0.1; i=$((i+1)); done\nsleep ${seconds}\nexec ${real} "$@"`);
  }
  /** Transactions on slowed host i wait in their step until release(i): a second run surely meets them, whatever the load. */
  function hold(i: number): void {
    assert.is(lab.onHost(i, 'touch /usr/local/bin/.hold').code, 0);
  }
  function release(i: number): void {
    lab.onHost(i, 'rm -f /usr/local/bin/.hold');
  }
  function unslow(i: number): void {
    lab.onHost(i, 'mountpoint -q /usr/local/bin && umount /usr/local/bin; true');
  }

  /** Until host i's newest transaction has started its steps. */
  async function waitJournal(i: number): Promise<void> {
    for (let k = 0; k < 200; k++) {
      if (
        lab
          .onHost(
            i,
            'grep -q "^@@tprun-step " "/var/lib/tprun/tx/$(cat /var/lib/tprun/last)/journal" 2>/dev/null && ! grep -q "^@@tprun-end " "/var/lib/tprun/tx/$(cat /var/lib/tprun/last)/journal" && echo yes',
          )
          .out.includes('yes')
      )
        return;
      await sleep(100);
    }
    throw new Error(`no transaction under way on h${i}`);
  }

  const flip = (i: number, name: string, extra: Record<number, string> = {}) => (onB(i) ? inv(name, 'A', [i], extra) : inv(name, 'B', [i], extra));

  t(
    'link cut on the controller side mid-apply: that host "outcome unknown" (no stack, no escape), the others finish; its transaction commits alone; the next run reports it',
    async () => {
      slow(3, 4);
      try {
        const to = flip(3, 'cut', {});
        const toBoth = to.replace(/cut\.yml$/, 'cut2.yml');
        writeFileSync(toBoth, readFileSync(to, 'utf8').replace(/^( {2}h3: .*)$/m, `$1\n  h4: { address: ${lab.hostAddr(4)} }`));
        const before = lab.snapshot(3);
        const run = tprunAsync(['apply', toBoth]);
        await waitJournal(3);
        lab.nsExec(lab.CTL, `iptables -I OUTPUT -d ${lab.hostAddr(3)} -j DROP && iptables -I INPUT -s ${lab.hostAddr(3)} -j DROP`);
        const r = await run.done;
        lab.nsExec(lab.CTL, `iptables -D OUTPUT -d ${lab.hostAddr(3)} -j DROP; iptables -D INPUT -s ${lab.hostAddr(3)} -j DROP`, true);
        assert.ok(failedBit(r.code), all(r));
        assert.match(r.out, /^h3: FAILED at apply: outcome unknown: .*the runner was not seen to end and its liveness is not observed any more/m);
        assert.match(r.out, /^h4: (changed|compliant)/m);
        assert.match(r.out, /2 hosts: /);
        assert.not.match(all(r), /\n\s+at /);
        await txSettled(3);
        const next = lab.tprunInCtl(['check', to]);
        assert.match(next.out, /note: the earlier transaction .* ended on the host: committed/);
        const o = oldOrNew(3, before, to);
        assert.is(o, 'new');
        row(
          'link cut (controller side, DROP both ways) mid-apply',
          '2',
          'h3 "outcome unknown" after the keepalive gave up, transaction committed on the host, reported by the next check; h4 changed',
        );
      } finally {
        unslow(3);
      }
    },
  );

  t('command_timeout hit mid-apply: "outcome unknown", the transaction ends on the host; never "rolled back … 0 steps undone"', async () => {
    slow(4, 8);
    try {
      const to = flip(4, 'timeout', { 4: 'ssh: { command_timeout: 5 }' });
      const before = lab.snapshot(4);
      const r = lab.tprunInCtl(['apply', to]);
      assert.ok(failedBit(r.code), all(r));
      assert.match(r.out, /h4: FAILED at apply: outcome unknown: remote script timed out after 5 s; the runner was not seen to end/);
      assert.not.match(all(r), /rolled back/);
      await txSettled(4);
      const o = oldOrNew(4, before, to);
      row('command_timeout (5 s) during a slow apply', '1', `h4 "outcome unknown"; transaction ended on the host: ${o}`);
    } finally {
      unslow(4);
    }
  });

  t('killing the remote sshd session mid-apply: "outcome unknown", the transaction goes on and commits', async () => {
    slow(5, 4);
    try {
      const to = flip(5, 'killsshd');
      const before = lab.snapshot(5);
      const run = tprunAsync(['apply', to]);
      await waitJournal(5);
      // The session's sshd is the lock's "conn" holder.
      const k = lab.onHost(5, 'read -r _ p _ <<EOF\n$(grep ^conn /var/lib/tprun/lock)\nEOF\nkill -TERM "$p"');
      assert.is(k.code === 0 || k.code === 255, true, k.out);
      const r = await run.done;
      assert.ok(failedBit(r.code), all(r));
      assert.match(r.out, /h5: FAILED at apply: outcome unknown/);
      assert.not.match(all(r), /rolled back/);
      await txSettled(5);
      assert.is(oldOrNew(5, before, to), 'new');
      row('remote sshd session killed mid-apply', '1', 'h5 "outcome unknown"; transaction committed on the host');
    } finally {
      unslow(5);
    }
  });

  t(
    'two applies at once on the same hosts: each host is applied by one run at a time, the other fails at once naming the holder (or waits with --lock-timeout); no duplicate rules',
    async () => {
      const hosts = [2, 3, 4, 5, 6];
      // Each transaction lasts 8 s or more, so the second run surely meets the first one's locks.
      for (const i of hosts) slow(i, 8);
      try {
        // All five on A first (earlier faults left them on either), so the first run changes every one.
        const from = inv('from', 'A', hosts);
        const f = lab.tprunInCtl(['apply', from]);
        assert.ok(applied(f.code), all(f));
        const x = inv('x', 'B', hosts);
        const y = inv('y', 'B', hosts);
        // Held until the second run has ended: a fixed 8 s was not enough once, under load (the first
        // run finished h6 before the second reached it).
        for (const i of hosts) hold(i);
        const r1 = tprunAsync(['apply', x]);
        let r2;
        try {
          for (const i of hosts) await waitJournal(i);
          r2 = lab.tprunInCtl(['apply', y]);
        } finally {
          for (const i of hosts) release(i);
        }
        const a = await r1.done;
        assert.ok(applied(a.code), all(a));
        assert.ok(failedBit(r2.code), all(r2));
        assert.is(
          (r2.out.match(/^h\d: FAILED at lock: the host is locked by another apply \(run=\S+ user=\S+ controller=\S+ since=\S+\); nothing was done/gm) ?? [])
            .length,
          5,
          r2.out,
        );
        // Waiting works too: a third run waits for a fourth's lock, then finds nothing to do.
        const back = inv('back', 'A', hosts);
        const r3 = tprunAsync(['apply', back]);
        await waitJournal(2);
        // check meanwhile: no verdict on a host being changed; with --lock-timeout it waits, then judges.
        const c0 = lab.tprunInCtl(['check', back, '--limit', 'h2']);
        assert.is(c0.code, 4, all(c0));
        assert.match(
          c0.out,
          /^h2: FAILED at lock: an apply is changing the host \(run=\S+ user=\S+ controller=\S+ since=\S+\), its transaction under way; no verdict until it ends/m,
        );
        const cw = tprunAsync(['check', back, '--lock-timeout', '60']);
        const r4 = lab.tprunInCtl(['apply', back, '--lock-timeout', '60']);
        const cWaited = await cw.done;
        assert.is(cWaited.code, 0, all(cWaited));
        assert.match(cWaited.out, /5 hosts: 5 compliant/);
        const c = await r3.done;
        assert.ok(applied(c.code), all(c));
        assert.ok(applied(r4.code), all(r4));
        assert.match(r4.out, /5 hosts: 5 compliant/);
        for (const i of hosts) {
          const rules = lab.onHost(i, 'ip -4 rule; ip -6 rule').out;
          assert.is((rules.match(/fwmark 0x1\/0x1/g) ?? []).length, 2, `one fwmark rule per family on h${i}:\n${rules}`);
          onBackend(i);
        }
        row(
          'two applies at once (second without, then with --lock-timeout)',
          '5',
          'first run changed all 5; the second failed each host at once "locked by … run/user/controller/since"; with --lock-timeout 60 it waited and found them compliant; one fwmark rule per family; a check meanwhile gave no verdict on the host being changed ("an apply is changing the host"), and with --lock-timeout 60 waited, then found all 5 compliant',
        );
      } finally {
        for (const i of hosts) unslow(i);
      }
    },
  );

  t('/tmp full on the host: nothing of the transaction is in /tmp; the apply goes through, check compliant, interception proven', () => {
    // The lab's own sshd config and keys live under the lab's state dir in /tmp: they are bound back.
    const r0 = lab.onHost(
      1,
      `mkdir -p /run/lab-state && mount --bind ${lab.STATE} /run/lab-state && mount -t tmpfs -o size=64k none /tmp && mkdir -p ${lab.STATE} && mount --bind /run/lab-state ${lab.STATE} && (dd if=/dev/zero of=/tmp/fill bs=4k 2>/dev/null; true); df -k /tmp | tail -n 1`,
    );
    assert.match(r0.out, /\s0\s+100%/, r0.out);
    try {
      const to = flip(1, 'tmpfull');
      const before = lab.snapshot(1);
      const r = lab.tprunInCtl(['apply', to]);
      assert.ok(applied(r.code), all(r));
      assert.is(oldOrNew(1, before, to), 'new');
      row('/tmp full on the host', '1 (h1)', 'applied (new); check compliant; client → origin saw the client address');
    } finally {
      lab.onHost(1, `umount ${lab.STATE}; umount -l /tmp; umount /run/lab-state; true`);
    }
  });

  t('/etc full on the host (/etc/tprun on a full file system): found before anything changes; the host stays old', () => {
    lab.onHost(
      6,
      'mkdir -p /run/etc-tprun && cp -a /etc/tprun/. /run/etc-tprun/ && mount -t tmpfs -o size=256k none /etc/tprun && cp -a /run/etc-tprun/. /etc/tprun/ && (dd if=/dev/zero of=/etc/tprun/.fill bs=4k 2>/dev/null; true)',
    );
    try {
      const to = flip(6, 'etcfull');
      const before = lab.snapshot(6);
      const r = lab.tprunInCtl(['apply', to]);
      assert.ok(failedBit(r.code), all(r));
      assert.match(r.out, /h6: FAILED at preflight: not enough free space for \/etc\/tprun(\/boot\.d)?: \d+ KiB free, \d+ KiB needed; nothing was changed/);
      assert.is(lab.snapshot(6), before, 'nothing changed on h6');
      row('/etc full (/etc/tprun: 0 bytes free)', '1', 'FAILED at preflight, "nothing was changed"; snapshot identical');
    } finally {
      lab.onHost(6, 'umount /etc/tprun; true');
    }
  });

  t(
    'a running squid with a hand-broken squid.conf: check says squid runs an older squid.conf (not "stopped"); apply replaces the file and reconfigures the same squid (never killed); compliant and intercepting',
    () => {
      const pid = lab.onHost(1, 'cat /run/squid.pid').out.trim();
      lab.onHost(1, 'echo "bogus_directive_xyz on" >> /etc/squid/squid.conf');
      const to = onB(1) ? inv('brokenconf', 'B', [1]) : inv('brokenconf', 'A', [1]);
      const c = lab.tprunInCtl(['check', to]);
      assert.is(c.code, 2, all(c));
      assert.match(c.out, /~ file \/etc\/squid\/squid.conf/);
      assert.match(c.out, /~ service squid running: running an older squid.conf → running/);
      assert.not.match(c.out, /stopped → running/);
      const a = lab.tprunInCtl(['apply', to]);
      assert.ok(applied(a.code), all(a));
      assert.is(lab.onHost(1, 'cat /run/squid.pid').out.trim(), pid, 'the same squid process, reconfigured, not killed');
      assert.is(lab.tprunInCtl(['check', to]).code, 0);
      proveInterception();
      row(
        'running squid, hand-broken squid.conf',
        '1 (h1)',
        'check: drift "running an older squid.conf"; apply: file replaced, same squid pid reconfigured; compliant; interception proven',
      );
    },
  );

  t('a host printing ~600 MB: that host fails "output too large", the others finish, the run ends with a recap', () => {
    lab.onHost(
      2,
      // `ip -4 rule show`, which every router's facts print as it is (the facts read the kernel's
      // release from /proc now, without the uname this row used to replace); other `ip` calls
      // run the real one.
      `mountpoint -q /usr/local/bin || mount -t tmpfs -o size=1m none /usr/local/bin; printf '#!/bin/sh\\ncase "$*" in *" rule show") yes "0: from all lookup huge-output-line" | head -c 600000000;; *) exec /usr/bin/ip "$@";; esac\\n' > /usr/local/bin/ip; chmod +x /usr/local/bin/ip`,
    );
    try {
      const before = lab.snapshot(3);
      const to = onB(3) ? inv('huge', 'B', [2, 3]) : inv('huge', 'A', [2, 3]);
      const r = lab.tprunInCtl(['check', to]);
      assert.ok(failedBit(r.code), all(r));
      assert.match(r.out, /^h2: FAILED at output: output too large: the remote script printed more than 32 MiB/m, all(r));
      assert.match(r.out, /^h3: compliant/m);
      assert.match(r.out, /2 hosts: 1 compliant/);
      assert.not.match(all(r), /RangeError|\n\s+at /);
      assert.is(lab.snapshot(3), before);
      row('host printing ~600 MB (facts)', '2', 'h2 FAILED "output too large" (cap 32 MiB); h3 compliant; recap printed');
    } finally {
      unslow(2);
    }
  });

  t('SIGKILL of only the runner mid-step: its orphaned step is killed before the next apply takes the lock, and never acts after it', async () => {
    const i = 3;
    const original = onB(i) ? 'B' : 'A';
    const other = original === 'A' ? 'B' : 'A';
    slow(i, 30);
    const run = tprunAsync(['apply', inv('orphan-to', other, [i])]);
    let tx = '';
    try {
      await waitJournal(i);
      // Wait for the step's process (the slowed TOOL, sleeping), then kill the runner alone.
      await inSlowStep(i);
      tx = lab.onHost(i, 'cat /var/lib/tprun/last').out.trim();
      assert.is(lab.onHost(i, `kill -KILL $(cut -d' ' -f1 /var/lib/tprun/tx/${tx}/pid)`).code, 0);
      await run.done;
    } finally {
      unslow(i);
    }
    const back = inv('orphan-back', original, [i]);
    const a = lab.tprunInCtl(['apply', back]);
    assert.ok(applied(a.code), all(a));
    // The step the runner left (the slowed TOOL, in its sleep) must be gone.
    assert.is(lab.onHost(i, 'pgrep -f "^sleep 30$"; true').out.trim(), '', 'no process of the killed transaction may outlive the next apply taking the lock');
    // Past the orphan's 30 s: had it lived, it would have loaded the killed transaction's rules.
    await sleep(32_000);
    const c = lab.tprunInCtl(['check', back]);
    assert.is(c.code, 0, all(c));
    onBackend(i);
    row('SIGKILL of the runner alone, mid-step', '1', 'its orphaned step killed when the next apply took the lock; check compliant 32 s later');
  });

  t('/var/lib/tprun owned by another user, or a link to their directory: the host fails at preflight, naming why; root runs nothing from it', () => {
    const i = 4;
    const cases: [string, string, string, RegExp][] = [
      ['owned by nobody', 'chown 65534 /var/lib/tprun', 'chown 0 /var/lib/tprun', /\/var\/lib\/tprun belongs to uid 65534, not root/],
      ['group-writable', 'chmod 0770 /var/lib/tprun', 'chmod 0700 /var/lib/tprun', /\/var\/lib\/tprun is writable by others than root \(mode 770\)/],
      [
        "a link to a user's directory",
        // In h4's own mount namespace: /var/lib becomes a tmpfs holding the link.
        'mkdir -p /tmp/evil-lib && chown 65534 /tmp/evil-lib && mount -t tmpfs -o size=1m,mode=0755 none /var/lib && ln -s /tmp/evil-lib /var/lib/tprun',
        'umount /var/lib && rm -rf /tmp/evil-lib',
        /\/var\/lib\/tprun is a symbolic link \(to \/tmp\/evil-lib\)/,
      ],
    ];
    for (const [what, make, undo, reason] of cases) {
      const before = lab.snapshot(i);
      assert.is(lab.onHost(i, make).code, 0, what);
      try {
        const r = lab.tprunInCtl(['apply', flip(i, 'unsafe-dir')]);
        assert.ok(failedBit(r.code), `${what}: ${all(r)}`);
        assert.match(r.out, new RegExp(`^h${i}: FAILED at lock: .*${reason.source}.*nothing was changed`, 'm'), `${what}: ${all(r)}`);
        if (what.startsWith('a link')) assert.is(lab.onHost(i, 'ls -A /tmp/evil-lib').out.trim(), '', 'nothing written where the link points');
      } finally {
        lab.onHost(i, undo);
      }
      assert.is(lab.snapshot(i), before, `${what}: the host is unchanged`);
    }
    row('/var/lib/tprun not root-owned, group-writable, or a link', '1', 'FAILED at lock with the reason; nothing changed, nothing written through the link');
  });

  t('a stale lock (holder dead mid-transaction) is cleared with a message; the cut-short transaction is reported', () => {
    const stale = [
      'mkdir -p /var/lib/tprun/tx/dead-run',
      "printf 'run dead-run\\nuser alice\\ncontroller ctl9\\nsince 2026-01-01T00:00:00Z\\nconn 999999 1\\ntx 999998 1\\n' > /var/lib/tprun/lock",
      "printf '@@tprun-step 0\\n@@tprun-ok 0\\n@@tprun-step 1\\n' > /var/lib/tprun/tx/dead-run/journal",
      'echo "999998 1" > /var/lib/tprun/tx/dead-run/pid; echo dead-run > /var/lib/tprun/last',
    ].join('; ');
    lab.onHost(2, stale);
    const to = onB(2) ? inv('stale', 'B', [2]) : inv('stale', 'A', [2]);
    const r = lab.tprunInCtl(['apply', to]);
    assert.ok(applied(r.code), all(r));
    assert.match(
      r.out,
      /note: a stale lock was cleared: run=dead-run user=alice controller=ctl9 since=2026-01-01T00:00:00Z: its holder is gone before its transaction ended/,
    );
    assert.match(r.out, /note: the earlier transaction dead-run .*was cut short on the host \(its runner died after step 1, no rollback ran\)/);
    row('stale lock (holder and runner dead)', '1', 'lock cleared with a message; the cut-short transaction reported; apply went ahead');
  });

  /**
   * Host i's TOOL sleeps 30 s once (the next call, a step's), then works as usual (its undo is not
   * slowed). ip6tables-restore sleeps before it loads (IPv4 already changed); nft loads the new
   * table first, then sleeps: the step is cut with the whole interception already swapped.
   */
  function slowOnce(i: number, tool = TOOL): void {
    const once = tool === 'nft' ? (real: string) => `${real} "$@" || exit; sleep 30` : () => 'sleep 30';
    wrap(
      i,
      (real) => `if [ -e /usr/local/bin/.slow ]; then rm -f /usr/local/bin/.slow; ${once(real)}; fi\nexec ${real} "$@"`,
      ': > /usr/local/bin/.slow; ',
      tool,
    );
  }

  /** The newest transaction's journal on host i. */
  const journalOf = (i: number) => lab.onHost(i, 'cat "/var/lib/tprun/tx/$(cat /var/lib/tprun/last)/journal"').out;

  /**
   * Host i's interception is all of this suite's backend's: nftables, `table inet tprun` and no
   * iptables TPRUN chain in any table of either family; iptables, TPRUN chains and no such table.
   */
  function onBackend(i: number, on: Backend = backend): void {
    const r = lab.onHost(
      i,
      '{ iptables-save; ip6tables-save; } 2>/dev/null | grep -c "^:TPRUN"; nft list table inet tprun >/dev/null 2>&1 && echo table || echo none',
    );
    const [chains, table] = r.out.trim().split('\n');
    if (on === 'nftables') assert.equal([chains, table], ['0', 'table'], `h${i}: table inet tprun and no iptables TPRUN chain:\n${r.out}`);
    else assert.ok(Number(chains) > 0 && table === 'none', `h${i}: iptables TPRUN chains and no table inet tprun:\n${r.out}`);
  }

  /** Nothing of host i's newest transaction left: no lock, no runner, watcher or healer, no process of the runner's group, no backup of a transaction; its rules all of this suite's backend. */
  function nothingLeft(i: number): void {
    onBackend(i);
    const r = lab.onHost(
      i,
      `[ ! -e /var/lib/tprun/lock ] || { echo "lock: $(cat /var/lib/tprun/lock)"; }
     T=/var/lib/tprun/tx/$(cat /var/lib/tprun/last); pgrep -af "$T/runner.sh"; pgrep -a -g "$(cut -d' ' -f1 $T/pid)"
     find /etc/tprun /etc/squid /etc/sysctl.d /etc/systemd/system -name '*.tprun-tx-*'; true`,
    );
    assert.is(r.out.trim(), '', `left behind on h${i}`);
  }

  /**
   * Host i applied in the background to its other configuration (inventory NAME-to; NAME-old its
   * present one, snapshot `before`), until a step sleeps in slowOnce's TOOL: where the faults below strike.
   */
  async function cutMidStep(i: number, name: string) {
    const original: Version = onB(i) ? 'B' : 'A';
    const other: Version = original === 'A' ? 'B' : 'A';
    const old = inv(`${name}-old`, original, [i]);
    const to = inv(`${name}-to`, other, [i]);
    const before = lab.snapshot(i);
    slowOnce(i);
    const run = tprunAsync(['apply', to]);
    await waitJournal(i);
    await inSlowStep(i, other);
    return { old, to, before, run };
  }

  /** A snapshot without squid's pid (a reboot starts another squid). */
  const samePidless = (s: string) => s.replace(/^\d+\n/m, 'PID\n');

  t(
    "SIGKILL of the runner's whole process group mid-step: within seconds the host rolls the transaction back by itself, entirely old, intercepting",
    async () => {
      const i = 1;
      let killedAt = 0;
      const { old, before, run } = await cutMidStep(i, 'group');
      try {
        // The step is under way (IPv4's rules already changed; on nftables the whole table): kill the runner and its whole group.
        assert.is(lab.onHost(i, 'kill -KILL -- -$(cut -d" " -f1 "/var/lib/tprun/tx/$(cat /var/lib/tprun/last)/pid")').code, 0);
        killedAt = Date.now();
        let j = '';
        for (let k = 0; k < 100 && !/^@@tprun-end /m.test((j = journalOf(i))); k++) await sleep(200);
        const healedIn = (Date.now() - killedAt) / 1000;
        assert.match(j, /^@@tprun-heal watcher$/m, `the host's watcher finished the transaction:\n${j}`);
        assert.match(j, /^@@tprun-end rolled-back$/m, j);
        assert.ok(healedIn < 20, `rolled back ${healedIn} s after the kill`);
        const r = await run.done;
        // tprun says what the journal proves: the runner died, the host rolled it back by itself.
        assert.match(
          r.out,
          /^h1: FAILED at .*: the transaction's runner died on the host during .*; the host rolled it back by itself \(its watcher\): \d+ steps? undone/m,
          all(r),
        );
        assert.not.match(all(r), /continues on the host/);
        row(
          "SIGKILL of the runner's whole process group, mid-step",
          '1',
          `the host's watcher rolled it back ${healedIn.toFixed(1)} s after the kill: old; tprun: "the runner died …; the host rolled it back by itself"; check compliant against the old config`,
        );
      } finally {
        unslow(i);
      }
      await txSettled(i);
      assert.is(lab.snapshot(i), before, 'entirely old after the host rolled back by itself');
      nothingLeft(i);
      const c = lab.tprunInCtl(['check', old, '--limit', `h${i}`]);
      assert.is(c.code, 0, all(c));
      proveInterception();
    },
    true,
  );

  /** Host i's transactions all ended, nothing of them left, check compliant against `inventory`, interception proven. */
  async function settledCompliant(i: number, inventory: string): Promise<void> {
    await txSettled(i);
    nothingLeft(i);
    const c = lab.tprunInCtl(['check', inventory, '--limit', `h${i}`]);
    assert.is(c.code, 0, all(c));
    proveInterception();
  }

  /**
   * Host i applied to the other configuration, its runner and watcher SIGKILLed mid-step (in a
   * slowed TOOL): a dead transaction with no end, which nothing on the host finishes.
   */
  async function deadMidStep(i: number, name: string) {
    const { to, run: first } = await cutMidStep(i, name);
    const dead = lab.onHost(i, 'cat /var/lib/tprun/last').out.trim();
    // The watcher first: killed after the runner, it would already be healing.
    const k = lab.onHost(i, lab.killRunnerCmd(true));
    assert.is(k.code, 0, k.out);
    // Until the first run's session has let go of the host (its start script saw the runner die).
    for (let n = 0; n < 200 && lab.onHost(i, "grep -q '^conn ' /var/lib/tprun/lock").code === 0; n++) await sleep(100);
    return { to, first, dead };
  }

  t(
    'runner and watcher both SIGKILLed mid-step, then a newer apply: it first finishes the dead transaction (rolled back from its journal and backups), then applies; no backup left; a reboot changes nothing',
    async () => {
      const i = 1;
      const { to, first, dead } = await deadMidStep(i, 'dead');
      try {
        // The same target as the dead transaction: without finishing it first, the files it already
        // swapped look compliant, nothing rewrites them, and their backups stay for good.
        const r = lab.tprunInCtl(['apply', to, '--limit', `h${i}`]);
        assert.ok(applied(r.code), all(r));
        assert.not.match(r.out, /a stale lock was cleared/);
        const j = lab.onHost(i, `cat /var/lib/tprun/tx/${dead}/journal`).out;
        assert.match(j, /^@@tprun-heal apply$/m, j);
        assert.match(j, /^@@tprun-end rolled-back$/m, j);
        // The host was entirely old when the newer apply planned: it rewrote the files again.
        assert.match(r.out, /~ file \/etc\/squid\/squid\.conf/, all(r));
        // Whichever run read the journal's end first says who rolled it back: the first run, whose
        // session still waited, or the newer one (the first run's tprun killed, say).
        const f = await first.done;
        assert.ok(failedBit(f.code), all(f));
        assert.match(
          f.out + r.out,
          new RegExp(
            `the host rolled it back by itself \\(a newer apply, first\\)|note: the earlier transaction ${dead} .*rolled back by the host itself after its runner died \\(by a newer apply, before it read the host\\)`,
          ),
          all(f) + all(r),
        );
      } finally {
        unslow(i);
      }
      await settledCompliant(i, to);
      // Nothing unfinished is left for the boot to undo under the verdict just given.
      const before = lab.snapshot(i);
      assert.is(lab.reboot(i).code, 0);
      assert.is(samePidless(lab.snapshot(i)), samePidless(before), 'a reboot changes nothing');
      assert.is(lab.tprunInCtl(['check', to, '--limit', `h${i}`]).code, 0);
      proveInterception();
      row(
        'SIGKILL of the runner and its watcher mid-step, then a newer apply',
        '1',
        'the newer apply first rolled the dead transaction back from its journal ("by a newer apply, before it read the host"), then applied; no backup left; check compliant; a reboot changed nothing',
      );
    },
    true,
  );

  /** Processes on host i (its network namespace: lab hosts share one PID namespace) that carry transaction T's TPRUN_TX. */
  const ofTx = (T: string) =>
    `for p in /proc/[0-9]*; do [ "$(readlink $p/ns/net)" = "$(readlink /proc/self/ns/net)" ] || continue; tr '\\0' '\\n' < $p/environ 2>/dev/null | grep -qx "TPRUN_TX=${T}" && echo "\${p#/proc/} $(tr '\\0' ' ' < $p/cmdline)"; done; true`;

  t(
    "a newer apply's heal of a dead transaction SIGKILLed mid-undo: its orphaned step is reaped, the apply heals again, then applies; nothing of the killed heal acts later",
    async () => {
      const i = 1;
      const { to, first, dead } = await deadMidStep(i, 'reheal');
      const T = `/var/lib/tprun/tx/${dead}`;
      const f = await first.done;
      assert.ok(failedBit(f.code), all(f));
      try {
        // The heal's first undo loads rules (the step that was under way): it sleeps there, and only the healer is killed,
        // so the step it started is left behind, as a runner's is when the runner alone is killed.
        slowOnce(i);
        const second = tprunAsync(['apply', to, '--limit', `h${i}`]);
        let healer = '';
        for (let k = 0; k < 300 && !healer; k++) {
          await sleep(100);
          if (!lab.onHost(i, 'pgrep -f "^sleep 30$"').out.trim()) continue;
          healer = /^(\d+) sh \S+\/runner\.sh heal apply /m.exec(lab.onHost(i, ofTx(T)).out)?.[1] ?? '';
        }
        assert.ok(healer, `no healer seen:\n${lab.onHost(i, ofTx(T)).out}`);
        assert.is(lab.onHost(i, `kill -KILL ${healer}`).code, 0);
        const r = await second.done;
        assert.ok(applied(r.code), all(r));
        const j = lab.onHost(i, `cat ${T}/journal`).out;
        assert.is(j.match(/^@@tprun-heal apply$/gm)?.length, 2, `healed twice:\n${j}`);
        assert.match(j, /^@@tprun-end rolled-back$/m, j);
        assert.match(r.out, /~ file \/etc\/squid\/squid\.conf/, all(r));
        // Nothing of the killed heal is alive to act after this apply (its step would have restored the old rules).
        assert.is(lab.onHost(i, ofTx(T)).out.trim(), '', 'processes of the dead transaction');
      } finally {
        unslow(i);
      }
      await settledCompliant(i, to);
      row(
        "SIGKILL of a newer apply's healer mid-undo (the step it started left running)",
        '1',
        "the orphaned step was reaped with the healer's process group; the apply healed again (two heal lines, rolled back), then applied; check compliant",
      );
    },
  );

  t(
    'power loss mid-transaction: at boot, tprun-boot rolls the unfinished transaction back before it restores the rules; entirely old, intercepting',
    async () => {
      const i = 1;
      const { old, before, run } = await cutMidStep(i, 'reboot');
      const boot = lab.reboot(i);
      assert.is(boot.code, 0, `tprun-boot:\n${boot.out}`);
      const r = await run.done;
      assert.ok(failedBit(r.code), all(r));
      const j = journalOf(i);
      assert.match(j, /^@@tprun-heal boot$/m, `tprun-boot finished the transaction:\n${j}`);
      assert.match(j, /^@@tprun-end rolled-back$/m, j);
      assert.is(samePidless(lab.snapshot(i)), samePidless(before), 'entirely old after the boot');
      nothingLeft(i);
      const c = lab.tprunInCtl(['check', old, '--limit', `h${i}`]);
      assert.is(c.code, 0, all(c));
      assert.match(
        c.out,
        /note: the earlier transaction .* ended on the host: rolled back by the host itself after its runner died \(at boot, by tprun-boot\)/,
        all(c),
      );
      proveInterception();
      row(
        'power loss (every process SIGKILLed, /run lost) mid-transaction, then boot',
        '1',
        'tprun-boot rolled the transaction back before restoring the rules: old; check compliant, reporting the rollback',
      );
    },
    true,
  );

  if (NFT)
    t(
      "SIGKILL of the runner's process group mid-switch from iptables to nftables: the watcher undoes both backends' steps; entirely on iptables, intercepting",
      async () => {
        const i = 1;
        const v: Version = onB(i) ? 'B' : 'A';
        const ipt = inv('switch-ipt', v, [i], {}, 'iptables');
        const a = lab.tprunInCtl(['apply', ipt]);
        assert.ok(applied(a.code), all(a));
        onBackend(i, 'iptables');
        const before = lab.snapshot(i);
        // The same configuration on nftables: the table is created, IPv4's TPRUN chains removed, then IPv6's removal sleeps.
        slowOnce(i, 'ip6tables-restore');
        const run = tprunAsync(['apply', inv('switch-nft', v, [i])]);
        try {
          await waitJournal(i);
          await inSlowStep(i, v);
          assert.is(lab.onHost(i, 'kill -KILL -- -$(cut -d" " -f1 "/var/lib/tprun/tx/$(cat /var/lib/tprun/last)/pid")').code, 0);
          let j = '';
          for (let k = 0; k < 100 && !/^@@tprun-end /m.test((j = journalOf(i))); k++) await sleep(200);
          assert.match(j, /^@@tprun-heal watcher$/m, j);
          assert.match(j, /^@@tprun-end rolled-back$/m, j);
          await run.done;
        } finally {
          unslow(i);
        }
        await txSettled(i);
        assert.is(lab.snapshot(i), before, 'entirely on iptables, as before the switch');
        onBackend(i, 'iptables');
        const c = lab.tprunInCtl(['check', ipt, '--limit', `h${i}`]);
        assert.is(c.code, 0, all(c));
        proveInterception();
        // Back on nftables for what follows.
        const back = lab.tprunInCtl(['apply', inv('switch-nft', v, [i])]);
        assert.ok(applied(back.code), all(back));
        nothingLeft(i);
        row(
          "SIGKILL of the runner's process group mid-switch iptables → nftables (the table created, IPv4's TPRUN chains removed, IPv6's removal under way)",
          '1 (h1)',
          "the watcher undid both backends' steps (IPv4's chains restored, the new table deleted): entirely on iptables, no table inet tprun; check compliant on iptables; interception proven; the next apply moved it to nftables",
        );
      },
      true,
    );

  t('fault matrix', () => {
    const text = ['| fault | hosts | outcome | nothing lost |', '|---|---|---|---|', ...matrix].join('\n');
    console.log('\n' + text);
    writeFileSync(`${lab.STATE}/fault-matrix${NFT ? '-nftables' : ''}.md`, text + '\n');
  });

  test.run();
}
