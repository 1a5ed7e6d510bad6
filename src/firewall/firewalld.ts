/**
 * firewalld as tprun sees it (one fact, read through firewall-cmd), and the pure plan of the part
 * tprun owns when `firewalld: manage`: the intercepted ports allowed in the zone of each
 * receiving interface (permanent and runtime), and IPv6_rpfilter set to a value that lets the
 * marked IPv6 packets pass. What tprun added is recorded in STATE_FILE, so removing `manage` or
 * a port removes only that, never the operator's own ports. roles/firewalld plans the changes;
 * roles/host-firewall reads the same pending plan to know which findings the apply fixes.
 */
import { Fact } from '../facts/fact.ts';
import type { Host, HostVars } from '../inventory/types.ts';
import { raw } from '../shell.ts';
import { interceptionOf } from './ruleset/intercept.ts';

/** The firewalld role's setting, as its schema types it (roles/firewalld/settings.ts). */
export type FirewalldSetting = HostVars['firewalld'];

export interface Zone {
  /** "80/tcp" entries. */
  permanent: string[];
  runtime: string[];
}

export interface FirewalldFacts {
  /** firewall-cmd --state: "running", "not running", or "absent" (no firewall-cmd). */
  state: string;
  version: string;
  defaultZone: string;
  /** Interface → zone from --get-active-zones; unbound interfaces are in the default zone. */
  bindings: Record<string, string>;
  zones: Record<string, Zone>;
  /** IPv6_rpfilter in /etc/firewalld/firewalld.conf, "" when unset (firewalld's default: yes). */
  rpfilter: string;
  /** What tprun added (STATE_FILE): "ZONE PORT" entries, and IPv6_rpfilter's value before tprun set it. */
  record: Record_;
}

export interface Record_ {
  ports: string[];
  /** null: tprun did not change IPv6_rpfilter; "" when it was unset. */
  rpfilter: string | null;
  /** The file exists. */
  present: boolean;
}

export const STATE_FILE = '/etc/tprun/firewalld.state';
export const CONF = '/etc/firewalld/firewalld.conf';
/**
 * The IPv6_rpfilter value tprun sets: the least permissive one that lets TPROXY'd IPv6 pass.
 * Found on Debian 13 (firewalld 2.3.1, whose firewalld.conf ships `strict`): strict, yes and
 * loose put `fib saddr . mark . iif oif missing drop` in filter_PREROUTING, for every packet; the
 * lookup by tprun's mark finds tprun's local route, which fib counts as no route, so every
 * intercepted IPv6 packet is dropped. strict-forward (and loose-forward) put the same rule in
 * filter_FORWARD only: intercepted packets are delivered locally and pass, forwarded traffic is
 * still checked strictly. `no` passes too, and checks nothing.
 */
export const RPFILTER_WANTED = 'strict-forward';

/**
 * The value for this firewalld: strict-forward and loose-forward came with firewalld 2.2
 * (firewalld PR 1339, 2024); an older firewalld knows only yes/strict, loose and no, so there
 * (and when the version is unknown) only `no` lets the marked packets through.
 */
export function rpfilterFor(version: string): string {
  const m = /^(\d+)\.(\d+)/.exec(version);
  const [major, minor] = m ? [Number(m[1]), Number(m[2])] : [0, 0];
  return major > 2 || (major === 2 && minor >= 2) ? RPFILTER_WANTED : 'no';
}
export const RPFILTER_PASSES = new Set(['no', 'strict-forward', 'loose-forward']);

/**
 * firewalld's own Python client (firewall-cmd is one too): one interpreter start instead of five
 * firewall-cmd runs (each 2-8 s on a slow host). Only the zones that matter are read: the
 * default zone, the active ones (an interface in no zone is in the default zone) and those
 * tprun's record names. Lines as firewall-cmd prints them, tagged.
 */
const CLIENT = `import sys
try:
    from firewall.client import FirewallClient
    fw = FirewallClient(wait=0)
    ok = fw.connected
except Exception:
    ok = False
if not ok:
    print("state=not running")
    sys.exit(0)
print("state=running")
print("version=%s" % fw.get_property("version"))
default = fw.getDefaultZone()
print("default=%s" % default)
zones = {default}
for z, b in fw.getActiveZones().items():
    zones.add(z)
    print("active %s" % z)
    print("active   interfaces: %s" % " ".join(b.get("interfaces", [])))
try:
    zones.update(l.split()[1] for l in open("${STATE_FILE}") if l.startswith("port "))
except OSError:
    pass
runtime = set(fw.getZones())
config = fw.config()
permanent = set(config.getZoneNames())
for z in sorted(zones):
    if z in runtime:
        print("runtime %s" % z)
        print("runtime   ports: %s" % " ".join("%s/%s" % p for p in fw.getZoneSettings(z).getPorts()))
    if z in permanent:
        print("permanent %s" % z)
        print("permanent   ports: %s" % " ".join("%s/%s" % p for p in config.getZoneByName(z).getSettings().getPorts()))
`;

const SCRIPT = `command -v firewall-cmd >/dev/null 2>&1 || { echo state=absent; exit 0; }
echo "rpfilter=$(sed -n 's/^[[:space:]]*IPv6_rpfilter[[:space:]]*=[[:space:]]*//p' ${CONF} 2>/dev/null | tail -n 1)"
if [ -r ${STATE_FILE} ]; then sed 's/^/record /' ${STATE_FILE}; echo record_present=yes; fi
# No firewalld process: "not running" without the Python client, whose import alone took 10-30 s
# on an emulated CPU (every Debian 13 VM of the lab has firewalld installed and stopped).
if command -v pgrep >/dev/null 2>&1 && ! pgrep -x firewalld >/dev/null 2>&1; then echo "state=not running"; exit 0; fi
python3 - <<'TPRUN_PY' 2>&1 || echo "state=unknown"
${CLIENT}TPRUN_PY`;

/** Zone blocks of `firewall-cmd --list-all-zones`: "NAME (default, active)" then indented "ports: …". */
function zonePorts(lines: string[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  let zone: string | null = null;
  for (const l of lines) {
    if (!l.trim()) continue;
    if (!/^\s/.test(l)) {
      zone = l.trim().split(/\s+/)[0]!;
      out[zone] = [];
    } else if (zone) {
      const m = /^\s+ports:\s*(.*)$/.exec(l);
      if (m) out[zone] = m[1]!.split(/\s+/).filter(Boolean);
    }
  }
  return out;
}

export function parseFirewalld(stdout: string): FirewalldFacts {
  const lines = stdout.split('\n');
  const tagged = (tag: string) => lines.filter((l) => l.startsWith(`${tag} `)).map((l) => l.slice(tag.length + 1));
  const kv = (k: string) =>
    lines
      .find((l) => l.startsWith(`${k}=`))
      ?.slice(k.length + 1)
      .trim() ?? '';
  const bindings: Record<string, string> = {};
  let zone: string | null = null;
  for (const l of tagged('active')) {
    if (!/^\s/.test(l)) zone = l.trim().split(/\s+/)[0] ?? null;
    else if (zone) {
      const m = /^\s+interfaces:\s*(.*)$/.exec(l);
      for (const i of m?.[1]!.split(/\s+/).filter(Boolean) ?? []) bindings[i] = zone;
    }
  }
  const perm = zonePorts(tagged('permanent'));
  const run = zonePorts(tagged('runtime'));
  const zones: Record<string, Zone> = {};
  for (const z of new Set([...Object.keys(perm), ...Object.keys(run)])) zones[z] = { permanent: perm[z] ?? [], runtime: run[z] ?? [] };
  const rec = tagged('record');
  const rp = rec.find((l) => l.startsWith('rpfilter'));
  return {
    state: kv('state') || 'absent',
    version: kv('version'),
    defaultZone: kv('default'),
    bindings,
    zones,
    rpfilter: kv('rpfilter'),
    record: {
      ports: rec.filter((l) => /^port \S+ \S+$/.test(l)).map((l) => l.slice(5)),
      rpfilter: rp === undefined ? null : rp.replace(/^rpfilter ?/, ''),
      present: kv('record_present') === 'yes',
    },
  };
}

export const firewalldFacts = new Fact<FirewalldFacts>('firewalld.state', raw(SCRIPT), (r) => parseFirewalld(r.stdout));

export const firewalldSetting = (host: Host): FirewalldSetting => (host.vars as { firewalld?: FirewalldSetting }).firewalld ?? 'leave';

/** The zones the intercepted packets arrive in: each receiving interface's; all bound zones and the default when tprun intercepts on any. */
export function zonesOf(host: Host, f: FirewalldFacts): string[] {
  const ifs = interceptionOf(host).interfaces;
  const zones = ifs.length ? ifs.map((i) => f.bindings[i] ?? f.defaultZone) : [f.defaultZone, ...Object.values(f.bindings)];
  return [...new Set(zones.filter(Boolean))].sort();
}

export interface PortStep {
  zone: string;
  port: string;
  action: 'add' | 'remove';
  /** "permanent+runtime", "permanent", "runtime" or null (absent), before and after. */
  before: string | null;
  after: string | null;
}

export interface FirewalldPlan {
  /** firewalld runs and tprun manages it. */
  active: boolean;
  ports: PortStep[];
  /** IPv6_rpfilter: the conf value before and after (null: unchanged). */
  rpfilter: { before: string; after: string } | null;
  /** The state file's wanted content (null: leave it as it is). */
  record: string | null;
}

const where = (z: Zone | undefined, port: string) => {
  const p = !!z?.permanent.includes(port);
  const r = !!z?.runtime.includes(port);
  return p && r ? 'permanent+runtime' : p ? 'permanent' : r ? 'runtime' : null;
};

const effective = (v: string) => v || 'yes';

/** The pure plan: what tprun adds (manage) and what it takes back of its own (always). */
export function firewalldPlan(host: Host, f: FirewalldFacts): FirewalldPlan {
  const manage = firewalldSetting(host) === 'manage';
  const running = f.state === 'running';
  const ic = interceptionOf(host);
  const recorded = new Set(f.record.ports);
  const keep = new Set<string>();
  const ports: PortStep[] = [];
  let rpfilter: FirewalldPlan['rpfilter'] = null;
  let rpRecord = f.record.rpfilter;
  if (running && manage) {
    for (const zone of zonesOf(host, f))
      for (const p of ic.ports) {
        const port = `${p}/tcp`;
        const key = `${zone} ${port}`;
        const now = where(f.zones[zone], port);
        // tprun's own when it adds the port where there was none; the operator's port (even
        // only permanent or only runtime) stays theirs: tprun completes it, never removes it.
        if (!now || recorded.has(key)) keep.add(key);
        if (now !== 'permanent+runtime') ports.push({ zone, port, action: 'add', before: now, after: 'permanent+runtime' });
      }
    if (ic.families.includes('ipv6') && !RPFILTER_PASSES.has(effective(f.rpfilter))) {
      rpfilter = { before: f.rpfilter, after: rpfilterFor(f.version) };
      if (rpRecord === null) rpRecord = f.rpfilter;
    }
  }
  if (running) {
    for (const key of recorded) {
      if (keep.has(key)) continue;
      const [zone, port] = key.split(' ') as [string, string];
      const now = where(f.zones[zone], port);
      if (now) ports.push({ zone, port, action: 'remove', before: now, after: null });
    }
    // IPv6_rpfilter back to the operator's value once tprun no longer needs it, unless changed since.
    if (!rpfilter && f.record.rpfilter !== null && !(manage && ic.families.includes('ipv6'))) {
      if (f.rpfilter === rpfilterFor(f.version)) rpfilter = { before: f.rpfilter, after: f.record.rpfilter };
      rpRecord = null;
    }
  }
  if (!running) return { active: false, ports: [], rpfilter: null, record: null };
  const lines = [...keep].sort().map((k) => `port ${k}`);
  if (rpRecord !== null) lines.push(`rpfilter ${rpRecord}`.trimEnd());
  const content = `# What tprun added to firewalld (firewalld: manage); tprun removes only these.\n${lines.map((l) => `${l}\n`).join('')}`;
  const record = manage || f.record.present ? content : null;
  return { active: manage, ports, rpfilter, record };
}

/** Whether this plan changes firewalld itself (the state file aside). */
export const firewalldPending = (p: FirewalldPlan) => p.ports.length > 0 || p.rpfilter !== null;
