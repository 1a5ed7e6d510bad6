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
 * On a bridge host the two veths become ports of the bridge instead, and a copy of the host's own
 * broute rules, renamed to them, moves the probe's frames into routing (probe-bridge.sh).
 */
import { readFileSync } from 'node:fs';
import type { ScriptStep } from '../apply/script.ts';
import { guarded, movedDuring } from '../apply/tx.ts';
import type { Family, Host } from '../inventory/types.ts';
import { hex } from '../inventory/mark.ts';
import type { Check } from '../plan/types.ts';
import { PRELUDE } from '../protocol.ts';
import { raw, sh, type Shell } from '../shell.ts';
import type { Connection } from '../ssh/connection.ts';
import { HostError } from '../ssh/errors.ts';
import { CATALOG } from './catalog.ts';

/** What the probe needs to know of an address family. */
interface FamilyProbe {
  name: 'IPv4' | 'IPv6';
  flag: 4 | 6;
  save: 'iptables-save' | 'ip6tables-save';
  prefixLength: number;
  /** The documentation ranges the probe's subnets come from (for squid.clients and messages). */
  ranges: string;
  /**
   * Candidate client and origin subnets, tried in order until none of their addresses clashes with
   * the host: [client net, host side, client, origin net, host side, origin], compressed form
   * (the form python prints for the address the origin saw).
   */
  candidates: string[][];
}

const FAMILY: Record<Family, FamilyProbe> = {
  ipv4: {
    name: 'IPv4',
    flag: 4,
    save: 'iptables-save',
    prefixLength: 30,
    ranges: '198.51.100.240/28, 203.0.113.240/28',
    candidates: [252, 248, 244, 240].map((n) => [0, 1, 2].map((k) => `198.51.100.${n + k}`).concat([0, 1, 2].map((k) => `203.0.113.${n + k}`))),
  },
  ipv6: {
    name: 'IPv6',
    flag: 6,
    save: 'ip6tables-save',
    prefixLength: 126,
    ranges: '2001:db8:ffff:ffff::/64, 2001:db8:ffff:fffe::/64',
    candidates: [0, 4, 8, 12].map((n) =>
      ['ffff', 'fffe'].flatMap((net) => [0, 1, 2].map((k) => `2001:db8:ffff:${net}::${n + k === 0 ? '' : (n + k).toString(16)}`)),
    ),
  },
};

/** The families the probe runs for, in the order of tproxy.families. */
export const probeFamilies = (host: Host): FamilyProbe[] => host.vars.tproxy.families.map((f) => FAMILY[f]);

export const PROBE_PREFIX = 'tprun-probe-';

const ORIGIN_PY = `import http.server, socket, sys
addr, port, log = sys.argv[1], int(sys.argv[2]), sys.argv[3]
class S(http.server.HTTPServer):
    address_family = socket.AF_INET6 if ':' in addr else socket.AF_INET
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        with open(log, 'a') as f: f.write(self.client_address[0] + '\\n')
        b = ('origin saw %s\\n' % self.client_address[0]).encode()
        self.send_response(200); self.send_header('Content-Type', 'text/plain'); self.send_header('Content-Length', str(len(b))); self.end_headers(); self.wfile.write(b)
    def log_message(self, *a): pass
S((addr, port), H).serve_forever()
`;

const CLIENT_PY = `import socket, sys
origin, port, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
host = '[%s]' % origin if ':' in origin else origin
try:
    s = socket.create_connection((origin, port), timeout=6)
    s.settimeout(10)
    s.sendall(('GET %s HTTP/1.1\\r\\nHost: %s\\r\\nUser-Agent: tprun-probe\\r\\nConnection: close\\r\\n\\r\\n' % (path, host)).encode())
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

/** The whole probe for one address family as one remote script. */
export function probeScript(host: Host, family: FamilyProbe, opts: ProbeOptions = {}): Shell {
  const { mark, table, ports } = host.vars.tproxy;
  const port = ports[0] ?? 80;
  const tport = host.vars.squid.tproxy_port;
  const conf = host.vars.squid.config;
  const f = family;
  return sh`TP_FAMILY=${f.flag}; TP_SAVE=${f.save}; TP_PLEN=${f.prefixLength}; TP_RANGES=${f.ranges}; TP_CANDIDATES=${f.candidates.map((c) => c.join(',')).join(' ')}
TP_PORT=${port}; TP_TPORT=${tport}; TP_MARK=${hex(mark)}; TP_TABLE=${table}; TP_CONF=${conf}; TP_TX=${opts.transactional ? 1 : 0}
TP_ORIGIN_PY=${ORIGIN_PY}
TP_CLIENT_PY=${CLIENT_PY}
${
  host.kind === 'bridge'
    ? sh`TP_CIF=${host.bridge.client_interface}; TP_IIF=${host.bridge.internet_interface}
${raw(BRIDGE_BODY)}`
    : raw('')
}${raw(PROBE_BODY)}`;
}

/** POSIX sh, read once: src/doctor/probe.sh. */
const PROBE_BODY = readFileSync(new URL('./probe.sh', import.meta.url), 'utf8');
/** On a bridge host, before PROBE_BODY: src/doctor/probe-bridge.sh (through the bridge's two sides). */
const BRIDGE_BODY = readFileSync(new URL('./probe-bridge.sh', import.meta.url), 'utf8');

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

/** The probe's outcome over one address family as the TP050 check ("TP050 … (IPv6)"). */
export function probeCheck(r: ProbeResult, family: FamilyProbe['name']): Check & { code: 'TP050'; evidence: string[]; cause: string; fix: string } {
  const e = CATALOG.TP050;
  const cause = r.ok ? r.reason : `${e.cause} The hop that failed: ${r.reason}.`;
  const name = `TP050 ${e.title} (${family})`;
  return {
    role: 'doctor',
    id: name,
    name,
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

/** Between the families' outputs in one round trip. */
export const NEXT_FAMILY = '@@tprun-probe-next-family';

/**
 * `doctor --probe`, `check --probe`: the probe as its own round trip after the facts, once per
 * family of tproxy.families (each in a subshell: its trap cleans up before the next starts);
 * each family's result is a TP050 check.
 */
export async function probeAfter(host: Host, conn: Connection): Promise<Check[]> {
  const families = probeFamilies(host);
  const script = families.map((f) => `(\n${probeScript(host, f).text}\n)`).join(`\necho ${NEXT_FAMILY}\n`);
  const r = await conn.run(`${PRELUDE}\n${guarded(script)}\n`);
  const moved = movedDuring(r.stdout);
  if (moved) throw new HostError('lock', `a transaction ran on the host while it was probed (${moved}); no verdict: check again`);
  const outs = r.stdout.split(`${NEXT_FAMILY}\n`);
  // A run cut short has fewer parts: the families it never reached fail with its stderr.
  return families.map((f, i) => probeCheck(parseProbe(outs[i] ?? '', r.stderr), f.name));
}

/** `apply --probe`: the probe as the transaction's last steps, so a failing probe rolls the host's change back. */
export const probeLastSteps = (host: Host): ScriptStep[] =>
  probeFamilies(host).map((f) => ({ id: `interception probe (${f.name})`, commands: [probeScript(host, f, { transactional: true })], undo: [] }));
