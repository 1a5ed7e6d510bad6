/**
 * Hostile input and hostile hosts (issue #12): output hygiene (escape sequences, characters XML
 * forbids, secrets) at every view, and host-reported text quoted before it reaches a command.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { factsCommand } from '../src/cli/views/facts.ts';
import { runFleetCommand } from '../src/cli/views/fleet.ts';
import { formatDiagnostic } from '../src/diagnostics.ts';
import { planHost } from '../src/plan/planner.ts';
import { changesOf } from '../src/plan/types.ts';
import { painter } from '../src/report/color.ts';
import { planLines } from '../src/report/human.ts';
import { elideHeredocs, redact, REDACTED, visible, xmlSafe } from '../src/report/safe.ts';
import type { Connection, RunResult } from '../src/ssh/connection.ts';
import { ROLES } from '../roles/registry.ts';
import { edited, fileEdit, framed } from './facts.ts';
import { load } from './helpers.ts';
import { assertValidJson, parseJunit } from './report-check.ts';
import { capture, contextOf } from './scripted.ts';

const ESC = '\x1b';
/** What a hostile host prints: window title, screen clear, CR overwrite, OSC 8 link, NUL, C1 CSI, bidi, XML-forbidden. */
const HOSTILE = `${ESC}]0;owned${ESC}\\ ${ESC}[2J${ESC}[H fake ok\r${ESC}]8;;http://evil/${ESC}\\link${ESC}]8;;${ESC}\\ nul\x00 csi\x9b31m rtl\u202e bell\x07 bad\uffff lone\ud800 xml <a b="c">&amp; &' ]]>`;

test('visible: C0/C1 controls and DEL become \\xNN; the view chooses to keep \\n or \\t', () => {
  assert.is(visible('a\x1b[2Jb'), 'a\\x1b[2Jb');
  assert.is(visible('x\ry\x7f\x9b'), 'x\\x0dy\\x7f\\x9b');
  assert.is(visible('one\ntwo\tthree'), 'one\\x0atwo\\x09three');
  assert.is(visible('one\ntwo\tthree', '\n\t'), 'one\ntwo\tthree');
  assert.is(visible('abc\u202edef'), 'abc\\u{202e}def');
  assert.is(visible('plain text, ünïcödé ✘'), 'plain text, ünïcödé ✘');
  assert.not.match(visible(HOSTILE), /[\x00-\x08\x0a-\x1f\x7f-\x9f]/);
});

test('xmlSafe: only characters XML 1.0 allows remain', () => {
  const out = xmlSafe(HOSTILE);
  assert.not.match(out, /[\x00-\x08\x0b\x0c\x0d\x0e-\x1f\ufffe\uffff]/);
  assert.not.match(out, /[\ud800-\udbff](?![\udc00-\udfff])/);
  assert.match(out, /\\x1b\]0;owned/);
  assert.match(out, /bad\\u\{ffff\} lone\\u\{d800\}/);
  assert.is(xmlSafe('tab\tnl\n😀'), 'tab\tnl\n😀');
});

test('redact: squid credentials, !secret values and passphrases; short values are left alone', () => {
  assert.is(redact('cache_peer p parent 3128 0 login=alice:s3cret no-query'), `cache_peer p parent 3128 0 login=${REDACTED} no-query`);
  assert.is(redact('x password="a b c" y PASSWORD=zz'), `x password=${REDACTED} y PASSWORD=${REDACTED}`);
  assert.is(redact('url http://bob:hunter2@proxy/'), `url http://bob:${REDACTED}@proxy/`);
  assert.is(redact('key is sesame-42 twice sesame-42', ['sesame-42', 'x']), `key is ${REDACTED} twice ${REDACTED}`);
  assert.is(redact('nothing here', []), 'nothing here');
});

test('elideHeredocs: file contents (base64) are shown by size, the command around them stays', () => {
  const cmd = "mkdir -p /etc/squid\nbase64 -d > /etc/squid/squid.conf.tprun-new <<'TPRUN_B64'\nY2FjaGVfcGVlcg==\nbG9naW49\nTPRUN_B64\nchmod 0644 x";
  assert.is(elideHeredocs(cmd), "mkdir -p /etc/squid\nbase64 -d > /etc/squid/squid.conf.tprun-new <<'TPRUN_B64' … 2 lines … TPRUN_B64\nchmod 0644 x");
});

test('formatDiagnostic: a message or detail quoting a host shows its escapes, on its own lines', () => {
  const line = formatDiagnostic({ severity: 'warning', host: 'h1', role: 'iptables', message: `rule ${HOSTILE}`, detail: `a\n${ESC}[2Jb` });
  assert.not.match(line, /[\x00-\x08\x0b-\x1f\x7f-\x9f]/);
  assert.is(line.split('\n').length, 3);
  assert.match(line, /\\x1b\[2Jb/);
});

// A fleet where h1's tools print crafted text (a foreign PREROUTING rule, ip rules, a sysctl
// value) and h2's facts script fails with escape sequences on stderr.
const PAYLOAD = '$(touch /tmp/tprun-pwned)`id`;reboot';
const inv = load(`defaults:
  ssh: { user: root, identity: /nonexistent/id, known_hosts: /dev/null }
  tproxy: { interfaces: [lo], ports: [80], families: [ipv4, ipv6] }
  squid:
    clients: [198.51.100.0/24]
    extra:
      - cache_peer parent.example parent 3128 0 no-query login=alice:pw-in-squid-line
      - !secret acl office src 192.0.2.0/24 # inventory-marked-secret
routers:
  h1: { address: 198.18.1.1 }
  h2: { address: 198.18.1.2 }
`).inventory!;
const h1Facts = edited('router-fresh', {
  'iptables.mangle': (s) =>
    s.replace(':POSTROUTING ACCEPT [0:0]\n', `:POSTROUTING ACCEPT [0:0]\n-A PREROUTING -p tcp -m socket -m comment --comment "${HOSTILE}" -j DIVERT\n`),
  'ip-4.rules': `0:\tfrom all lookup local\n100:\tfrom all fwmark 0x1 lookup 100 ${PAYLOAD}\n32766:\tfrom all lookup main\n`,
  'ip-4.routes.100': `local default dev lo ${PAYLOAD}\nunicast 10.0.0.0/8 dev ${PAYLOAD}\n`,
  'sysctl.live': (s) => s.replace('net/ipv4/ip_forward=0', `net/ipv4/ip_forward=0 ${PAYLOAD}`),
});

test("--diff on a terminal: diffs coloured like git, and a host's escapes in them still shown, never obeyed", () => {
  const facts = edited('router-compliant', { 'file:/etc/squid/squid.conf': fileEdit((c) => `# ${HOSTILE}\n${c}`) });
  const host = inv.hosts[0]!;
  const lines = planLines(planHost(host, ROLES, facts), { diff: true, verbose: false, paint: painter(true) });
  const removed = lines.find((l) => l.includes('owned'));
  assert.ok(removed, lines.join('\n'));
  // The only escapes are the paint's own: red on, the host's text made visible, red off.
  assert.ok(removed.startsWith(`${ESC}[31m        -# \\x1b]0;owned`), JSON.stringify(removed));
  assert.ok(removed.endsWith(`${ESC}[39m`));
  assert.not.match(removed.slice(5, -5), /[\x00-\x1f\x7f-\x9f]/);
  assert.ok(
    lines.some((l) => l.startsWith(`${ESC}[36m        @@ `)),
    'hunks cyan',
  );
  // No colour without a terminal: the same lines, unpainted.
  const bare = planLines(planHost(host, ROLES, facts), { diff: true, verbose: false });
  assert.ok(bare.includes(removed.slice(5, -5)));
});

test('text a host reports is quoted before it is used in a command on that host', () => {
  const plan = planHost(inv.hosts[0]!, ROLES, h1Facts);
  const texts = changesOf(plan).flatMap((c) => [...c.commands, ...c.undo].map((x) => x.text));
  const touching = texts.filter((t) => t.includes('tprun-pwned'));
  assert.ok(touching.length >= 3, `the crafted text should reach some commands (found ${touching.length})`);
  for (const t of touching) {
    // Outside single quotes nothing of the payload may remain: it is data, not shell.
    const unquoted = t.replace(/'[^']*'/g, "''");
    assert.not.ok(/tprun-pwned|`id`|;reboot/.test(unquoted), `unquoted host text in: ${t}`);
  }
});

test('a hostile fleet: terminal, -v, --diff, JSON and JUnit show control characters visibly, redact secrets, stay valid', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tprun-hostile-'));
  try {
    const connect = async (h: { name: string }): Promise<Connection> => ({
      roundTrips: 0,
      close: async () => {},
      run: async (): Promise<RunResult> =>
        h.name === 'h1' ? { stdout: framed(h1Facts), stderr: '', code: 0 } : { stdout: '', stderr: `modprobe: ${HOSTILE}\nsecond line`, code: 1 },
    });
    const sink = capture();
    const reports = [
      { format: 'json', file: join(dir, 'r.json') },
      { format: 'junit', file: join(dir, 'r.xml') },
    ] as const;
    const code = await runFleetCommand(contextOf(sink, capture(), { reports: [...reports] }), {
      mode: 'check',
      inventory: inv,
      hosts: inv.hosts,
      roles: [...ROLES],
      connect,
      options: { forks: 2, diff: true, verbose: true, quiet: false, acceptNewHostKeys: false },
    });
    assert.is(code, 6);
    // Terminal: no control character but the newlines that separate lines.
    assert.not.match(sink.text(), /[\x00-\x08\x0b-\x1f\x7f-\x9f\u202e]/);
    assert.match(sink.text(), /\| modprobe: \\x1b\]0;owned/);
    assert.match(sink.text(), /warning: .*--comment "\\x1b\]0;owned/);
    // -v and --diff: no base64 file bodies, no secrets.
    assert.match(sink.text(), /<<'TPRUN_B64' … \d+ lines … TPRUN_B64/);
    for (const secret of ['pw-in-squid-line', 'inventory-marked-secret', Buffer.from('login=alice:pw').toString('base64').slice(0, 12)]) {
      assert.not.ok(sink.text().includes(secret), `terminal shows ${secret}`);
    }
    assert.match(sink.text(), /login=\[redacted\]/);

    const jsonText = readFileSync(join(dir, 'r.json'), 'utf8');
    const json = assertValidJson(jsonText);
    assert.not.match(JSON.stringify(json), /\\u00[01][0-9a-f]|\\u007f|[\x80-\x9f]/i);
    assert.match(json.hosts[1].error.stderr, /modprobe: \\x1b\]0;owned/);
    for (const secret of ['pw-in-squid-line', 'inventory-marked-secret', 'TPRUN_B64\n'])
      assert.not.ok(jsonText.includes(secret), `JSON report shows ${JSON.stringify(secret)}`);
    const conf = json.hosts[0].resources.find((r: { id: string }) => r.id === 'file /etc/squid/squid.conf');
    assert.match(conf.expected, /login=\[redacted\]/);

    const xml = readFileSync(join(dir, 'r.xml'), 'utf8');
    const { suites } = parseJunit(xml);
    assert.match(suites[1].testcase[0].error['#text'], /modprobe: \\x1b\]0;owned/);
    assert.ok(suites[1].testcase[0].error['#text'].includes(`xml <a b="c">&amp; &' ]]>`), 'markup in host text survives as text');
    assert.not.ok(xml.includes('pw-in-squid-line') || xml.includes('inventory-marked-secret'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('numbers and names that once went wrong now validate: unsigned marks, prototype names, a day-long timeout', () => {
  const r = load(`defaults:
  ssh: { command_timeout: 86400, connect_timeout: 3600 }
  tproxy: { mark: 2147483648, mask: 4294967295 }
  squid: { clients: [198.51.100.0/24] }
routers:
  constructor: { address: 198.51.100.10 }
  toString: { address: 198.51.100.11 }
bridges:
  hasOwnProperty: { address: 198.51.100.12, bridge: { client_interface: eth0, internet_interface: eth1 } }
wccp_peers:
  valueOf: { address: 203.0.113.1, caches: [constructor, toString], customer_interfaces: [Gi0/1] }
`);
  assert.equal(
    r.diagnostics.filter((d) => d.severity === 'error'),
    [],
  );
  assert.equal(
    r.inventory!.hosts.map((h) => `${h.kind}:${h.name}:${h.wccp.map((p) => p.name).join(',')}`),
    ['router:constructor:valueOf', 'router:toString:valueOf', 'bridge:hasOwnProperty:'],
  );
  assert.is(r.inventory!.hosts[0]!.vars.tproxy.mark, 2147483648);
});

test('addresses compare in canonical form; IPv4 and host names too', () => {
  const dup = (a: string, b: string) =>
    load(`routers:\n  a: { address: "${a}", squid: { clients: [198.51.100.0/24] } }\n  b: { address: "${b}", squid: { clients: [198.51.100.0/24] } }\n`)
      .diagnostics.filter((d) => d.severity === 'error')
      .map((d) => d.message);
  assert.equal(dup('2001:db8::1', '2001:DB8:0:0:0:0:0:1'), ["address 2001:DB8:0:0:0:0:0:1 is also a's: each host needs its own address"]);
  assert.equal(dup('proxy.example', 'PROXY.example'), ["address PROXY.example is also a's: each host needs its own address"]);
  assert.equal(dup('2001:db8::1', '2001:db8::2'), []);
});

test('render never writes outside --out', async () => {
  const { renderTarget } = await import('../src/render/render.ts');
  assert.is(renderTarget('/tmp/out', 'c1/etc/squid/squid.conf'), '/tmp/out/c1/etc/squid/squid.conf');
  assert.throws(() => renderTarget('/tmp/out', 'c1/../../x'), /outside \/tmp\/out/);
  assert.throws(() => renderTarget('out', '../out2/x'), /outside out/);
  assert.throws(() => renderTarget('out', '/etc/passwd'), /outside out/);
});

test('!secret marks a value: it is loaded as text and listed for redaction', () => {
  const r = load(
    'defaults:\n  squid:\n    clients: [198.51.100.0/24]\n    extra: [!secret "acl vip src 192.0.2.9"]\nrouters:\n  c1: { address: 198.51.100.10 }\n',
  );
  assert.equal(r.inventory!.hosts[0]!.vars.squid.extra, ['acl vip src 192.0.2.9']);
  assert.equal(r.inventory!.secrets, ['acl vip src 192.0.2.9']);
});

test('tprun facts shows host text with its control characters visible, as text and as JSON', async () => {
  // Whole facts (JSON) and a failed host's stderr (both forms) are host text.
  for (const [json, stdout, code] of [
    [true, framed(h1Facts), 0],
    [true, '', 1],
    [false, '', 1],
  ] as const) {
    const connect = async (): Promise<Connection> => ({
      roundTrips: 0,
      close: async () => {},
      run: async (): Promise<RunResult> => ({ stdout, stderr: code ? `${HOSTILE}\nsecond line` : '', code }),
    });
    const out = capture();
    assert.is(await factsCommand(contextOf(out), [inv.hosts[0]!], ROLES, { json, acceptNewHostKeys: false, connect }), code ? 4 : 0);
    assert.not.match(out.text(), /[\x1b\x07\x9b\u202e]/);
    // Shown as letters: \x9b in text, its JSON string "\\x9b" in JSON.
    assert.match(out.text(), json ? /\\\\x9b31m/ : /\\x9b31m/);
    if (json) JSON.parse(out.text());
  }
});

test.run();
