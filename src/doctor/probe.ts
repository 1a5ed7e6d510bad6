/**
 * The live probe: proves interception on the host itself without touching real traffic and
 * without sending a packet off the host. One remote script creates two throwaway network
 * namespaces on the host, a client and an origin, each joined to the host by a veth pair with
 * addresses from documentation ranges (198.51.100.0/24, 203.0.113.0/24) and routed through the
 * host; starts a tiny origin (python3) that answers with the address it saw; sends one HTTP
 * request from the client to the origin on an intercepted port; and removes everything it made
 * on exit, also on failure or interruption (trap). It passes when the origin saw the client's
 * own address, the answer carries squid's Via, and access.log has an ORIGINAL_DST line for the
 * probe. When it fails, the script names the hop that failed from what it measured (the TPROXY
 * and INPUT counters before and after, the listener, the policy routing, access.log, the origin).
 */
import { readFileSync } from 'node:fs';
import type { ScriptStep } from '../apply/script.ts';
import type { Host } from '../inventory/types.ts';
import type { Check } from '../plan/types.ts';
import { PRELUDE } from '../protocol.ts';
import { raw, sh, type Shell } from '../shell.ts';
import type { Connection } from '../ssh/connection.ts';
import { CATALOG } from './catalog.ts';

/** The probe's /30s: a client and an origin subnet, tried in order until one does not clash with the host. */
const SUBNETS: [string, string][] = [
  ['198.51.100.252', '203.0.113.252'],
  ['198.51.100.248', '203.0.113.248'],
  ['198.51.100.244', '203.0.113.244'],
  ['198.51.100.240', '203.0.113.240'],
];

export const PROBE_PREFIX = 'tprun-probe-';

const ORIGIN_PY = `import http.server, sys
addr, port, log = sys.argv[1], int(sys.argv[2]), sys.argv[3]
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        with open(log, 'a') as f: f.write(self.client_address[0] + '\\n')
        b = ('origin saw %s\\n' % self.client_address[0]).encode()
        self.send_response(200); self.send_header('Content-Type', 'text/plain'); self.send_header('Content-Length', str(len(b))); self.end_headers(); self.wfile.write(b)
    def log_message(self, *a): pass
http.server.HTTPServer((addr, port), H).serve_forever()
`;

const CLIENT_PY = `import socket, sys
origin, port, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
try:
    s = socket.create_connection((origin, port), timeout=6)
    s.settimeout(10)
    s.sendall(('GET %s HTTP/1.1\\r\\nHost: %s\\r\\nUser-Agent: tprun-probe\\r\\nConnection: close\\r\\n\\r\\n' % (path, origin)).encode())
    data = b''
    while True:
        c = s.recv(65536)
        if not c: break
        data += c
    sys.stdout.write(data.decode('utf-8', 'replace'))
except socket.timeout: print('error=timed out')
except ConnectionRefusedError: print('error=connection refused')
except ConnectionResetError: print('error=connection reset')
except OSError as e: print('error=%s' % e)
`;

export interface ProbeOptions {
  /** Inside apply's transaction: a failure exits non-zero with the reason on stderr (so the host is rolled back). */
  transactional?: boolean;
}

/** The whole probe as one remote script. */
export function probeScript(host: Host, opts: ProbeOptions = {}): Shell {
  const { mark, table, ports } = host.vars.tproxy;
  const port = ports[0] ?? 80;
  const tport = host.vars.squid.tproxy_port;
  const conf = host.vars.squid.config;
  const subnets = SUBNETS.map(([c, o]) => `${c},${o}`);
  return sh`TP_PORT=${port}; TP_TPORT=${tport}; TP_MARK=${'0x' + mark.toString(16)}; TP_TABLE=${table}; TP_CONF=${conf}; TP_TX=${opts.transactional ? 1 : 0}; TP_SUBNETS=${subnets.join(' ')}
TP_ORIGIN_PY=${ORIGIN_PY}
TP_CLIENT_PY=${CLIENT_PY}
${raw(PROBE_BODY)}`;
}

/** POSIX sh, read once: src/doctor/probe.sh. */
const PROBE_BODY = readFileSync(new URL('./probe.sh', import.meta.url), 'utf8');

export interface ProbeResult {
  ok: boolean;
  reason: string;
  evidence: string[];
}

/** The probe's key=value lines; a script that printed no result (cut short) is a failure. */
export function parseProbe(stdout: string, stderr = ''): ProbeResult {
  const kv = new Map<string, string>();
  for (const line of stdout.split('\n')) {
    const m = /^probe\.([a-z_]+)=(.*)$/.exec(line);
    if (m) kv.set(m[1]!, m[2]!);
  }
  const result = kv.get('result');
  const evidence = [...kv].filter(([k]) => !['result', 'reason'].includes(k)).map(([k, v]) => `${k.replace(/_/g, ' ')}: ${v}`);
  if (!result)
    return { ok: false, reason: `the probe script ended without a result${stderr.trim() ? `: ${stderr.trim().split('\n').slice(-1)[0]}` : ''}`, evidence };
  return { ok: result === 'pass', reason: kv.get('reason') ?? '', evidence };
}

/** The probe's outcome as the TP050 check. */
export function probeCheck(r: ProbeResult): Check & { code: 'TP050'; evidence: string[]; cause: string; fix: string } {
  const e = CATALOG.TP050;
  const cause = r.ok ? r.reason : `${e.cause} The hop that failed: ${r.reason}.`;
  return {
    role: 'doctor',
    id: `TP050 ${e.title}`,
    found: r.ok ? r.reason : [r.reason, ...r.evidence].join('; '),
    wanted: e.healthy,
    ok: r.ok,
    blocks: e.blocks,
    ...(r.ok ? {} : { hint: `${cause} Fix: ${e.fix}` }),
    code: 'TP050',
    evidence: [r.reason, ...r.evidence],
    cause,
    fix: e.fix,
  };
}

/** Bridges: entering and leaving through the bridge's two sides needs a broute-capable lab to prove; not done yet. */
const BRIDGE_TODO = "not run: the probe through a bridge's two sides is not implemented yet (routers only)";

/** `doctor --probe`, `check --probe`: the probe as its own round trip after the facts; its result is the TP050 check. */
export async function probeAfter(host: Host, conn: Connection): Promise<Check[]> {
  if (host.kind === 'bridge') return [{ ...probeCheck({ ok: false, reason: BRIDGE_TODO, evidence: [] }), blocks: false }];
  const r = await conn.run(`${PRELUDE}\n${probeScript(host).text}\n`);
  return [probeCheck(parseProbe(r.stdout, r.stderr))];
}

/** `apply --probe`: the probe as the transaction's last step, so a failing probe rolls the host's change back. */
export const probeLastSteps = (host: Host): ScriptStep[] =>
  host.kind === 'bridge' ? [] : [{ id: 'interception probe', commands: [probeScript(host, { transactional: true })], undo: [] }];
