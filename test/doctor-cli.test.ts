/** `tprun doctor` over scripted connections: one round trip per host, the finding view, reports, exit codes. */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { PassThrough } from 'node:stream';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runDoctor } from '../src/cli/views/doctor.ts';
import { RunContext } from '../src/cli/context.ts';
import { NEXT_FAMILY } from '../src/doctor/probe.ts';
import type { RawFacts } from '../src/facts/fact.ts';
import type { Host } from '../src/inventory/types.ts';
import { EXIT } from '../src/run/options.ts';
import { HostError, type Connection, type RunResult } from '../src/ssh/connection.ts';
import { framed } from './facts.ts';
import { load } from './helpers.ts';
import { assertValidJson } from './report-check.ts';

const healthy = (): RawFacts => JSON.parse(readFileSync('test/fixtures/doctor/healthy.json', 'utf8')) as RawFacts;
const noFwmark = (): RawFacts => {
  const raw = healthy();
  raw['ip-4.rules'] = { ...raw['ip-4.rules']!, stdout: raw['ip-4.rules']!.stdout.replace(/^32765:.*\n/m, '') };
  return raw;
};
const idle = (): RawFacts => {
  const raw = healthy();
  raw['doctor.firewall'] = {
    ...raw['doctor.firewall']!,
    stdout: raw['doctor.firewall']!.stdout.replace(/^\[\d+:\d+\] (-A TPRUN_PREROUTING .*TPROXY)/gm, '[0:0] $1'),
  };
  return raw;
};

class Scripted implements Connection {
  roundTrips = 0;
  scripts: string[] = [];
  constructor(
    private readonly facts: RawFacts,
    private readonly probe = '',
  ) {}
  async run(script: string): Promise<RunResult> {
    this.roundTrips++;
    this.scripts.push(script);
    // The recorded run answers for every family the script probes.
    const families = script.match(/^TP_FAMILY=/gm)?.length ?? 0;
    if (families)
      return { stdout: Array(families).fill(this.probe).join(`${NEXT_FAMILY}\n`), stderr: '', code: this.probe.includes('probe.result=pass') ? 0 : 1 };
    return { stdout: framed(this.facts), stderr: '', code: 0 };
  }
  async close() {}
}

const inv = load(`defaults:
  tproxy: { interfaces: [lo], ports: [80], families: [ipv4, ipv6] }
  squid: { clients: [198.51.100.0/24] }
routers:
  h1: { address: 198.18.1.1 }
  h2: { address: 198.18.1.2 }
  h3: { address: 198.18.1.3 }
  h4: { address: 198.18.1.4 }
`).inventory!;

async function doctor(facts: Record<string, RawFacts | 'down'>, reports: { format: 'json' | 'junit'; file: string }[] = [], probe?: string) {
  const hosts = inv.hosts.filter((h) => h.name in facts);
  const conns = new Map<string, Scripted>();
  const out = new PassThrough();
  let text = '';
  out.on('data', (d: Buffer) => (text += d.toString()));
  const err = new PassThrough();
  let errText = '';
  err.on('data', (d: Buffer) => (errText += d.toString()));
  const connect = async (h: Host): Promise<Connection> => {
    const f = facts[h.name]!;
    if (f === 'down') throw new HostError('connect', `cannot connect to root@${h.address}:22: ECONNREFUSED`, { unreachable: true });
    const c = new Scripted(f, probe);
    conns.set(h.name, c);
    return c;
  };
  const ctx = new RunContext({ out, err, env: {} }, { reports });
  const code = await runDoctor(ctx, {
    inventory: inv,
    hosts,
    forks: 4,
    quiet: false,
    verbose: false,
    acceptNewHostKeys: false,
    connect,
    probe: probe !== undefined,
  });
  return { code, text, err: errText, conns };
}

test("doctor keeps no finished host's plan: its recap is counted as hosts finish (a fleet of thousands)", async () => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const refs: WeakRef<object>[] = [];
  let maxAlive = 0;
  const counter = {
    hostDone(_h: Host, r: { plan?: object }) {
      gc();
      maxAlive = Math.max(maxAlive, refs.filter((w) => w.deref() !== undefined).length);
      if (r.plan) refs.push(new WeakRef(r.plan));
    },
  };
  const out = new PassThrough();
  let text = '';
  out.on('data', (d: Buffer) => (text += d.toString()));
  const code = await runDoctor(new RunContext({ out, err: new PassThrough(), env: {} }), {
    inventory: inv,
    hosts: inv.hosts,
    forks: 1,
    quiet: false,
    verbose: false,
    acceptNewHostKeys: false,
    // A timer between hosts: a WeakRef's target stays alive until the current job ends.
    connect: async (h) => (await new Promise((r) => setTimeout(r, 5)), new Scripted(h.name === 'h3' ? noFwmark() : healthy())),
    sinks: [counter],
  });
  assert.is(code, EXIT.failed);
  assert.match(text, /4 hosts: 3 healthy, 1 with findings, 0 failed, 0 unreachable/);
  assert.is(refs.length, 4);
  assert.is(maxAlive, 0, "an earlier host's plan was still held when the next one finished");
});

test('doctor prints hosts in inventory order, whichever finishes first', async () => {
  const lines = async (slow: string) => {
    const out = new PassThrough();
    let text = '';
    out.on('data', (d: Buffer) => (text += d.toString()));
    await runDoctor(new RunContext({ out, err: new PassThrough(), env: {} }), {
      inventory: inv,
      hosts: inv.hosts,
      forks: 4,
      quiet: false,
      verbose: false,
      acceptNewHostKeys: false,
      // The slow host's facts come last; h3 has a finding, so its lines follow its own.
      connect: async (h) => (h.name === slow && (await new Promise((r) => setTimeout(r, 300))), new Scripted(h.name === 'h3' ? noFwmark() : healthy())),
    });
    return text.replace(/\([\d.]+s\)/g, '').replace(/in [\d.]+s/, '');
  };
  const first = await lines('h1');
  assert.equal(
    first
      .split('\n')
      .filter((l) => /^h\d/.test(l))
      .map((l) => l.split(':')[0]),
    ['h1', 'h2', 'h3', 'h4'],
  );
  assert.is(await lines('h4'), first, 'the same lines whichever host is slow');
});

test('a healthy host: "healthy", exit 0, one round trip with a read-only facts script', async () => {
  const r = await doctor({ h1: healthy() });
  assert.is(r.code, EXIT.ok, r.text);
  assert.match(r.text, /^h1: healthy \(\d+\.\ds\)$/m);
  assert.match(r.text, /1 host: 1 healthy, 0 with findings, 0 failed, 0 unreachable/);
  const c = r.conns.get('h1')!;
  assert.is(c.roundTrips, 1);
  assert.match(c.scripts[0]!, /-save -c -t /);
  assert.not.match(c.scripts[0]!, /iptables -[AIDF] |iptables-restore|ip rule add|setsebool|squid -k (reconfigure|kill|interrupt)/);
});

test('a finding: saw / means / fix lines, exit 4; a warning alone keeps exit 0', async () => {
  const r = await doctor({ h1: noFwmark(), h2: idle() });
  assert.is(r.code, EXIT.failed, r.text);
  assert.match(r.text, /^h1: 1 finding /m);
  assert.match(
    r.text,
    /^ {2}✘ TP010 the fwmark policy rule is missing\n {6}saw: {3}ip -4 rule: no "fwmark 0x1\/0x1 lookup 100".*\n {6}means: .*\n {6}fix: {3}.*ip rule add fwmark 0x1\/0x1 lookup 100/m,
  );
  assert.match(r.text, /^h2: 1 warning /m);
  assert.match(r.text, /^ {2}warning: TP017 no traffic has been intercepted$/m);
  assert.match(r.text, /2 hosts: 1 healthy, 1 with findings, 0 failed, 0 unreachable/);
  const w = await doctor({ h2: idle() });
  assert.is(w.code, EXIT.ok);
});

test('an unreachable host is reported apart from hosts with findings; JSON and JUnit reports list every check', async () => {
  const dir = `/tmp/tprun-doctor-cli-${process.pid}`;
  mkdirSync(dir, { recursive: true });
  const r = await doctor({ h1: noFwmark(), h3: healthy(), h4: 'down' }, [
    { format: 'json', file: `${dir}/d.json` },
    { format: 'junit', file: `${dir}/d.xml` },
  ]);
  assert.is(r.code, EXIT.failed);
  assert.match(r.text, /^h4: UNREACHABLE: cannot connect/m);
  assert.match(r.text, /3 hosts: 1 healthy, 1 with findings, 0 failed, 1 unreachable/);
  const json = assertValidJson(readFileSync(`${dir}/d.json`, 'utf8'));
  assert.equal(json.selection.roles, ['doctor']);
  assert.is(json.exitCode, 4);
  const h1 = json.hosts.find((h: { name: string }) => h.name === 'h1');
  const failed = h1.checks.filter((c: { ok: boolean }) => !c.ok);
  assert.equal(
    failed.map((c: { id: string }) => c.id),
    ['TP010 the fwmark policy rule is missing'],
  );
  // Each check carries its code as a field: no reader parses it out of the id.
  assert.equal(
    failed.map((c: { code: string }) => c.code),
    ['TP010'],
  );
  assert.ok(h1.checks.every((c: { id: string; code?: string }) => c.code && c.id.startsWith(`${c.code} `)));
  assert.match(failed[0].found, /no "fwmark 0x1\/0x1 lookup 100"/);
  assert.match(failed[0].hint, /Fix: /);
  assert.ok(h1.checks.length > 20);
  const xml = readFileSync(`${dir}/d.xml`, 'utf8');
  assert.match(xml, /<testcase[^>]*name="TP010 the fwmark policy rule is missing"/);
  // A passing test is named by what was verified, never by the failure it rules out.
  const passed = h1.checks.filter((c: { ok: boolean }) => c.ok).map((c: { id: string }) => c.id);
  assert.ok(passed.includes('TP011 ip route show table TABLE: local default dev lo'), passed.join('\n'));
  assert.not.match(xml, /<testcase[^>]*name="TP011 the local route of the TPROXY table is missing"/);
});

test('a report that cannot be written: one line naming it, exit 4 on a healthy fleet (as check)', async () => {
  const blocker = `/tmp/tprun-doctor-cli-blocker-${process.pid}`;
  writeFileSync(blocker, '');
  try {
    const r = await doctor({ h1: healthy() }, [{ format: 'json', file: `${blocker}/d.json` }]);
    assert.is(r.code, EXIT.failed, r.text);
    assert.match(r.err, new RegExp(`^tprun: .*${blocker}/d\\.json`, 'm'));
  } finally {
    rmSync(blocker, { force: true });
  }
});

const probeRun = (name: string) => readFileSync(`test/fixtures/doctor/probe/${name}.txt`, 'utf8');

test('--probe: a second round trip on the same connection; a passing probe keeps the host healthy', async () => {
  const r = await doctor({ h1: healthy() }, [], probeRun('pass'));
  assert.is(r.code, EXIT.ok, r.text);
  assert.match(r.text, /^h1: healthy/m);
  assert.is(r.conns.get('h1')!.roundTrips, 2);
});

test('--probe: a failed probe is the finding TP050 with the hop that failed', async () => {
  const r = await doctor({ h1: healthy() }, [], probeRun('squid-stopped'));
  assert.is(r.code, EXIT.failed, r.text);
  assert.match(
    r.text,
    /✘ TP050 the interception probe failed \(IPv4\)\n {6}saw: {3}host → squid: TPROXY matched \d+ packets but nothing listens on the tproxy port 3129/,
  );
});

test('host text in findings reaches the terminal with its control characters visible', async () => {
  const hostile = probeRun('squid-stopped').replace(/^probe\.reason=/m, 'probe.reason=\x1b[2J\x07squid said: ');
  const r = await doctor({ h1: healthy() }, [], hostile);
  assert.is(r.code, EXIT.failed, r.text);
  assert.not.match(r.text, /[\x1b\x07]/);
  assert.match(r.text, /saw: {3}\\x1b\[2J\\x07squid said: host → squid: TPROXY matched/);
});

test('doctor on the command line: listed in --help; no INVENTORY, --roles or --diff is a usage error (exit 1)', () => {
  const tprun = (...args: string[]) => spawnSync(process.execPath, ['bin/tprun.js', ...args], { encoding: 'utf8' });
  assert.match(tprun('--help').stdout, /tprun doctor INVENTORY/);
  const none = tprun('doctor');
  assert.is(none.status, 1);
  assert.match(none.stderr, /doctor needs an INVENTORY file/);
  const roles = tprun('doctor', 'inventories/example.yml', '--roles', 'squid');
  assert.is(roles.status, 1);
  assert.match(roles.stderr, /--roles is not an option of doctor/);
  assert.is(tprun('doctor', 'inventories/example.yml', '--diff').status, 1);
  const probe = tprun('validate', 'inventories/example.yml', '--probe');
  assert.is(probe.status, 1);
  assert.match(probe.stderr, /--probe is not an option of validate \(it is one of check, apply, doctor\)/);
});

test.run();
