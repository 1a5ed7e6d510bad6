/**
 * The guide's troubleshooting as pure functions: parsed doctor facts → findings. Each finding
 * carries the evidence it rests on (log lines, rules with their counters, settings), and names
 * one cause; where several causes share a symptom (commBind 99) the rules, squid.conf's ports
 * and the counters decide which one applies.
 */
import type { Parsed } from '../facts/fact.ts';
import { installCommand, packageFamily } from '../facts/family.ts';
import type { Host } from '../inventory/types.ts';
import { hex, markMatches, parseMark, sameMark } from '../inventory/mark.ts';
import { CATALOG, type Code } from './catalog.ts';
import { evaluate, fixHint } from '../firewall/ruleset/evaluate.ts';
import { findingText, interceptionOf } from '../firewall/ruleset/intercept.ts';
import type { doctorFacts } from './facts.ts';
import type { CountedRule } from '../facts/parsers.ts';
import { flatten, interception, type InterceptRule } from './intercept.ts';
import { cacheLogTime, forgeryHost, parseSquidConf, type SquidConf } from './parse.ts';
import { visible } from '../report/safe.ts';

export type DoctorFacts = Parsed<ReturnType<typeof doctorFacts>>;

export interface Finding {
  code: Code;
  /** What was seen: log lines, rules with counters, settings. */
  evidence: string[];
  /** A more precise cause or fix than the catalog's, when the evidence tells. */
  cause?: string;
  fix?: string;
  /** Overrides the catalog (a warning for an otherwise blocking finding, or the reverse). */
  blocks?: boolean;
}

const ruleText = (r: CountedRule) => `-A ${r.chain} ${r.rule} [${r.packets} packets]`;
const last = <T>(xs: readonly T[]): T | undefined => xs[xs.length - 1];

export { flatten };

const onPort = (r: InterceptRule) => r.port ?? NaN;

interface Ctx {
  host: Host;
  f: DoctorFacts;
  conf: SquidConf | null;
  families: (4 | 6)[];
  log: string[];
}

/**
 * The cache.log lines of squid's current configuration: from its last start or reconfigure
 * (with the lines of that same second before the marker, where startup messages begin). Older
 * lines describe a configuration that no longer runs.
 */
export function currentLog(lines: readonly string[]): string[] {
  let i = lines.length - 1;
  while (i >= 0 && !/Starting Squid Cache|Reconfiguring Squid Cache/.test(lines[i]!)) i--;
  if (i < 0) return [...lines];
  const second = lines[i]!.slice(0, 19);
  while (i > 0 && lines[i - 1]!.slice(0, 19) === second) i--;
  return lines.slice(i);
}

const COMMBIND = /commBind:? Cannot bind socket FD \d+ to (\S+?):? \((\d+)\)/i;

function commBind(ctx: Ctx, errno: number): { line: string; address: string; port: number }[] {
  const out: { line: string; address: string; port: number }[] = [];
  for (const line of ctx.log) {
    const m = COMMBIND.exec(line);
    if (m && Number(m[2]) === errno)
      out.push({ line, address: m[1]!.replace(/:\d+$/, '').replace(/^\[|\]$/g, ''), port: Number(/:(\d+)$/.exec(m[1]!)?.[1] ?? 0) });
  }
  return out;
}

const localAddresses = (ctx: Ctx) => new Set(ctx.f.addrs.map((a) => a.address));

/** The addresses squid.conf's ports bind to explicitly (startup binds). */
const portAddresses = (ctx: Ctx) => new Set((ctx.conf?.ports ?? []).filter((p) => p.address).map((p) => p.address!));

/** commBind (99) lines for client addresses: squid's TPROXY binds at run time, not its listening ports at startup. */
const runtimeBind99 = (ctx: Ctx) =>
  commBind(ctx, 99).filter((x) => !portAddresses(ctx).has(x.address) && !(ctx.conf?.ports ?? []).some((p) => p.port === x.port));

/** Every TPROXY step of either backend (the typed model of src/doctor/intercept.ts). */
const tproxyRules = (ctx: Ctx) => interception(ctx.f, ctx.families).filter((r) => r.kind === 'tproxy');

const tproxyConfPorts = (ctx: Ctx) => (ctx.conf?.ports ?? []).filter((p) => p.flags.includes('tproxy'));

function capabilities(ctx: Ctx): Finding[] {
  const out: Finding[] = [];
  const err = last(ctx.log.filter((l) => /Stopping full transparency: Error enabling needed capabilities/i.test(l)));
  if (err) out.push({ code: 'TP001', evidence: [`cache.log: ${err}`] });
  const missing = last(ctx.log.filter((l) => /Stopping full transparency: Missing needed capability support/i.test(l)));
  const s = ctx.f.squid;
  const ev: string[] = [];
  let cause: string | undefined;
  let fix: string | undefined;
  if (missing) ev.push(`cache.log: ${missing}`);
  if (s.installed) {
    if (s.libcapLinked === null) {
      ev.push('ldd squid: not linked with libcap');
      cause = 'this squid was built without libcap: it cannot keep the capability it needs to spoof client addresses, so it stops full transparency.';
      fix = 'install a squid built with libcap (the Debian and RHEL packages are), or rebuild squid after installing libcap-dev / libcap-devel';
    } else if (/not found/.test(s.libcapLinked)) {
      ev.push(`ldd squid: ${s.libcapLinked}`);
      cause = 'squid is linked with libcap but the library is missing on this host, so squid cannot run with full transparency (or at all).';
      // The family from the kernel's config path (/boot/config-RELEASE); both managers when unknown.
      fix = `install libcap: ${installCommand(packageFamily(ctx.f.kernel.source), { debian: 'libcap2', rhel: 'libcap' })}`;
    }
    if (!s.libcapHost.some((l) => /libcap\.so\.2\b/.test(l))) ev.push('ldconfig -p: no libcap.so.2 on the host');
  }
  if (ev.length) out.push({ code: 'TP002', evidence: ev, ...(cause ? { cause } : {}), ...(fix ? { fix } : {}) });
  return out;
}

function bindErrors(ctx: Ctx): Finding[] {
  const out: Finding[] = [];
  const runtime = runtimeBind99(ctx);
  const logEv = runtime.length ? [`cache.log (${runtime.length}×): ${last(runtime)!.line}`] : [];
  const tports = new Set(tproxyConfPorts(ctx).map((p) => p.port));

  // TP003: a tproxy port that also receives other traffic.
  const nat = ctx.families.flatMap((fam) => ctx.f.firewall[fam === 4 ? 'v4' : 'v6'].get('nat')?.rules ?? []);
  const toTproxy = nat.filter((r) => {
    const p = /--to-ports (\d+)/.exec(r.rule)?.[1] ?? /--to-destination \S*:(\d+)/.exec(r.rule)?.[1];
    return /-j (REDIRECT|DNAT)\b/.test(r.rule) && p !== undefined && tports.has(Number(p));
  });
  const plain = (ctx.conf?.ports ?? []).filter((p) => !p.flags.some((x) => ['tproxy', 'intercept', 'transparent', 'accel'].includes(x)));
  const ev3: string[] = toTproxy.map((r) => `nat: ${ruleText(r)} sends non-TPROXY traffic to the tproxy port`);
  if (tports.size && !plain.length)
    ev3.push(
      `squid.conf has no plain http_port: ${tproxyConfPorts(ctx)
        .map((p) => p.line)
        .join(', ')} is the only port, so explicit and manager requests reach it`,
    );
  if (ev3.length) out.push({ code: 'TP003', evidence: [...ev3, ...logEv] });

  // TP004: TPROXY traffic sent to a port without the tproxy flag.
  const ev4: string[] = [];
  for (const r of tproxyRules(ctx)) {
    const p = (ctx.conf?.ports ?? []).find((x) => x.port === onPort(r));
    if (p && !p.flags.includes('tproxy')) ev4.push(`${r.where}: ${r.text}`, `squid.conf: ${p.line} (no tproxy flag)`);
  }
  if (ev4.length) out.push({ code: 'TP004', evidence: [...new Set(ev4), ...logEv] });

  // TP005: repeated binds of client addresses fail although the rules and ports are right.
  if (runtime.length && !ev3.length && !ev4.length) {
    const k = ctx.f.kernel;
    // NETFILTER_TPROXY is the option's name before Linux 4.18; NF_TPROXY_IPV4/IPV6 after.
    const opts = [
      ...('NETFILTER_TPROXY' in k.options ? ['NETFILTER_TPROXY'] : []),
      'NF_TPROXY_IPV4',
      'NF_TPROXY_IPV6',
      'NETFILTER_XT_TARGET_TPROXY',
      'NETFILTER_XT_MATCH_SOCKET',
    ];
    const kev = k.source === 'none' ? ['kernel config: not readable'] : [`${k.source}: ${opts.map((o) => `${o}=${k.options[o] ?? 'unset'}`).join(' ')}`];
    out.push({
      code: 'TP005',
      evidence: [...logEv, ...kev, 'rules and ports: TPROXY goes to a tproxy-flagged port, and no NAT rule or plain-port traffic reaches it'],
    });
  }

  // TP007: a port held by another program.
  const ev7: string[] = [];
  for (const p of ctx.conf?.ports ?? []) {
    const held = ctx.f.sockets.find(
      (s) => s.proto === 'tcp' && s.state === 'LISTEN' && s.port === p.port && s.processes.length && !s.processes.includes('squid'),
    );
    if (held) ev7.push(`squid.conf: ${p.line}`, `ss -ltnp: ${held.local}:${held.port} held by ${held.processes.join(', ')}`);
  }
  const inUse = last(commBind(ctx, 98));
  if (ev7.length || inUse) out.push({ code: 'TP007', evidence: [...ev7, ...(inUse ? [`cache.log: ${inUse.line}`] : [])] });

  // TP008: a port bound to an address the host lacks.
  const have = localAddresses(ctx);
  const ev8: string[] = [];
  for (const p of ctx.conf?.ports ?? []) {
    if (!p.address || !/^[0-9a-f.:]+$/i.test(p.address) || ['0.0.0.0', '::'].includes(p.address) || have.has(p.address)) continue;
    const logged = last(commBind(ctx, 99).filter((x) => x.address === p.address));
    ev8.push(
      `squid.conf: ${p.line}`,
      `ip addr: ${p.address} is on no interface (${[...have].filter((a) => !a.startsWith('fe80')).join(', ')})`,
      ...(logged ? [`cache.log: ${logged.line}`] : []),
    );
  }
  if (ev8.length) out.push({ code: 'TP008', evidence: ev8 });
  return out;
}

/** squid's answer to a forged Host on intercepted TLS (ERR_CONFLICT_HOST): NONE_NONE/409, TAG_NONE/409. */
const CONFLICT = /\s[A-Z_]*NONE[A-Z_]*\/409\s/;

/**
 * TP009: Host header forgery alerts since squid's last start (cache.log's last 256 KB), with
 * intercepted TLS's 409s in access.log's tail. The host is shown alone (never the URL's path or
 * query, which can carry tokens), with its control characters made visible.
 */
function hostForgery(ctx: Ctx): Finding[] {
  const a = ctx.f.forgery;
  const conflicts = (ctx.f.accessLog ?? []).filter((l) => CONFLICT.test(l));
  if (!a?.count && !conflicts.length) return [];
  const ev: string[] = [];
  if (a?.count) {
    const host = forgeryHost(a);
    const shown = host === undefined ? 'no URL logged' : `Host ${JSON.stringify(visible(host.length > 100 ? host.slice(0, 100) + '…' : host))}`;
    const line = a.last ?? '';
    const local = /\blocal=(\S+)/.exec(line)?.[1];
    const why = /\(([^()]*does not match[^()]*)\)/.exec(line)?.[1];
    const when = /^(\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d)/.exec(line)?.[1];
    ev.push(
      `cache.log: ${a.count} "Host header forgery detected" alert${a.count === 1 ? '' : 's'} since squid last started (last 256 KB of the log); the last: ${shown}` +
        `${local ? ` connected to ${visible(local)}` : ''}${why ? ` (${visible(why)})` : ''}${when ? ` at ${when}` : ''}`,
    );
  }
  if (conflicts.length)
    ev.push(`access.log: ${conflicts.length} intercepted request${conflicts.length === 1 ? '' : 's'} answered 409 (ERR_CONFLICT_HOST) in its tail`);
  const ns = ctx.conf?.directives.get('dns_nameservers');
  return [
    {
      code: 'TP009',
      evidence: ev,
      ...(ns?.length
        ? {}
        : {
            fix: "squid.conf sets no dns_nameservers, so squid resolves with /etc/resolv.conf: set squid.dns_nameservers to the clients' resolvers and tprun apply; keep host_verify_strict off",
          }),
    },
  ];
}

function routing(ctx: Ctx): Finding[] {
  const { mark, mask, table, per_interface_tables, interfaces } = ctx.host.vars.tproxy;
  const tables = new Set(per_interface_tables ? interfaces.map((_, i) => String(table + i)) : [String(table)]);
  const out: Finding[] = [];
  const ev10: string[] = [];
  const ev11: string[] = [];
  for (const fam of ctx.families) {
    const rules = fam === 4 ? ctx.f.rules4 : ctx.f.rules6;
    const ok = rules.some((r) => sameMark(r.fwmark, mark) && sameMark(r.fwmask ?? 0xffffffff, mask) && tables.has(r.table));
    if (!ok)
      ev10.push(
        `ip -${fam} rule: no "fwmark ${hex(mark)}/${hex(mask)} lookup ${[...tables].join('|')}" (rules: ${rules.map((r) => `${r.priority}: ${r.spec}`).join('; ') || 'none'})`,
      );
    const routes = fam === 4 ? ctx.f.routes4 : ctx.f.routes6;
    const local = routes.some((r) => r.type === 'local' && ['default', '0.0.0.0/0', '::/0'].includes(r.dst));
    if (!local) ev11.push(`ip -${fam} route show table ${table}: ${routes.map((r) => r.spec).join('; ') || 'empty'} (no "local default dev lo")`);
  }
  if (ev10.length)
    out.push({ code: 'TP010', evidence: ev10, fix: `tprun apply (routing role), or by hand: ip rule add fwmark ${hex(mark)}/${hex(mask)} lookup ${table}` });
  if (ev11.length) out.push({ code: 'TP011', evidence: ev11, fix: `tprun apply (routing role), or by hand: ip route add local default dev lo table ${table}` });
  return out;
}

function mangleOrder(ctx: Ctx): Finding[] {
  const ev: string[] = [];
  const all = interception(ctx.f, ctx.families);
  for (const source of ['iptables', 'nftables'] as const)
    for (const fam of ctx.families) {
      const flat = all.filter((r) => r.source === source && r.family === fam);
      const t = flat.findIndex((r) => r.kind === 'tproxy');
      const s = flat.findIndex((r) => r.kind === 'divert');
      if (t < 0 || (s >= 0 && s < t)) continue;
      const where = source === 'iptables' ? `${fam === 4 ? 'iptables' : 'ip6tables'} mangle PREROUTING` : `IPv${fam} ${flat[t]!.where}`;
      ev.push(s < 0 ? `${where}: no socket match (DIVERT) before ${flat[t]!.text}` : `${where}: ${flat[t]!.text} comes before ${flat[s]!.text}`);
    }
  return ev.length ? [{ code: 'TP012', evidence: ev }] : [];
}

function rpFilter(ctx: Ctx): Finding[] {
  const sys = ctx.f.sysctl;
  const val = (ifname: string) => Number(sys.get(`net/ipv4/conf/${ifname}/rp_filter`) ?? 0);
  const all = val('all');
  const strict = new Set(ctx.host.vars.sysctl?.strict_rp_filter?.interfaces ?? []);
  const ifaces = [...sys.keys()]
    .map((k) => /^net\/ipv4\/conf\/([^/]+)\/rp_filter$/.exec(k)?.[1])
    .filter((x): x is string => !!x && !['all', 'default'].includes(x));
  const arrive = ifaces.filter((i) => !strict.has(i) && (i !== 'lo' || ctx.host.vars.tproxy.interfaces.includes('lo')));
  // The kernel uses the larger of "all" and the interface's value. Loose mode (2, what Debian 13's
  // linux-sysctl-defaults sets everywhere) passes intercepted packets: without src_valid_mark the
  // reverse lookup ignores the mark and finds the main table's route back. Strict mode (1) drops
  // those arriving where that route does not leave (a bridge port, a GRE tunnel, an asymmetric path).
  const bad = arrive.filter((i) => Math.max(all, val(i)) === 1);
  if (!bad.length) return [];
  const ev =
    all === 1
      ? [`net.ipv4.conf.all.rp_filter=${all} (applies to every interface: ${bad.join(', ')})`]
      : bad.map((i) => `net.ipv4.conf.${i}.rp_filter=${val(i)}`);
  return [
    {
      code: 'TP013',
      evidence: ev,
      fix: `tprun apply (sysctl role), or sysctl -w ${all !== 0 ? 'net.ipv4.conf.all.rp_filter=0' : bad.map((i) => `net.ipv4.conf.${i}.rp_filter=0`).join(' ')}`,
    },
  ];
}

/** Would this filter rule match an intercepted packet (tcp, an intercepted port, marked)? Unknown selectors: no. */
function matchesIntercepted(rule: string, ctx: Ctx): boolean {
  const { mark, ports } = ctx.host.vars.tproxy;
  const w = rule.split(/\s+/);
  for (let i = 0; i < w.length; i++) {
    const x = w[i]!;
    const v = w[i + 1];
    if (x === '-j' || x === '-g') break;
    if (x === '-p') {
      if (v !== 'tcp' && v !== '6') return false;
      i++;
    } else if (x === '-m') {
      if (!['tcp', 'mark', 'conntrack', 'state', 'comment', 'multiport'].includes(v ?? '')) return false;
      i++;
    } else if (x === '--dport' || x === '--dports' || x === '--destination-port') {
      const hit = (v ?? '').split(',').some((p) => {
        const [a, b] = p.split(':').map(Number);
        return ports.some((q) => (b === undefined ? q === a : q >= a! && q <= b));
      });
      if (!hit) return false;
      i++;
    } else if (x === '--mark') {
      const m = parseMark(v ?? '');
      if (!m || !markMatches(mark, m.value, m.mask)) return false;
      i++;
    } else if (x === '--ctstate' || x === '--state') {
      if (!(v ?? '').split(',').includes('NEW')) return false;
      i++;
    } else if (x === '--comment') {
      i++;
      while (i < w.length && !w[i]!.endsWith('"') && w[i]!.startsWith('"') === false) i++;
    } else return false;
  }
  return true;
}

function inputDrops(ctx: Ctx): Finding[] {
  const ev: string[] = [];
  for (const fam of ctx.families) {
    const filter = ctx.f.firewall[fam === 4 ? 'v4' : 'v6'].get('filter');
    if (!filter) continue;
    const tool = fam === 4 ? 'iptables' : 'ip6tables';
    let decided = false;
    for (const r of flatten(filter, 'INPUT')) {
      const target = /-j (\S+)/.exec(r.rule)?.[1];
      if (!target || !['ACCEPT', 'DROP', 'REJECT'].includes(target) || !matchesIntercepted(r.rule, ctx)) continue;
      if (target !== 'ACCEPT') ev.push(`${tool} filter: ${ruleText(r)}`);
      decided = true;
      break;
    }
    if (!decided && filter.policies.get('INPUT') === 'DROP') ev.push(`${tool} filter: :INPUT DROP, and no rule accepts the marked packets before it`);
  }
  const { mark, mask } = ctx.host.vars.tproxy;
  return ev.length
    ? [
        {
          code: 'TP014',
          evidence: ev,
          fix: `accept the marked packets first: iptables -I INPUT -m mark --mark ${hex(mark)}/${hex(mask)} -j ACCEPT (and ip6tables), or remove the rule that drops them`,
        },
      ]
    : [];
}

/**
 * Chains of firewalls tprun does not own that drop the intercepted packets (the host-firewall
 * role's evaluation): one that surely drops blocks; one that may drop is a warning. tprun's own
 * chains are taken as applied: a missing TPRUN_INPUT or a drop before it is TP014's.
 */
function foreignFirewall(ctx: Ctx): Finding[] {
  const ic = interceptionOf(ctx.host);
  const all = evaluate(ctx.f.ruleset, ic);
  const out: Finding[] = [];
  for (const sure of [true, false]) {
    const fs = all.filter((x) => (x.certainty === 'drops') === sure);
    if (!fs.length) continue;
    out.push({
      code: 'TP019',
      evidence: fs.map(findingText),
      fix: [...new Set(fs.map((x) => fixHint(x, ic)))].join('; '),
      blocks: sure,
    });
  }
  if (ctx.f.ruleset.unreadable.length) out.push({ code: 'TP019', evidence: ctx.f.ruleset.unreadable, blocks: false });
  return out;
}

function staleConfig(ctx: Ctx): Finding[] {
  const s = ctx.f.squid;
  if (!s.running || s.confMtime === undefined || s.started === undefined) return [];
  const reconf = (ctx.f.cacheLog ?? []).filter((l) => /Reconfiguring Squid Cache/i.test(l)).map((l) => cacheLogTime(l, s.tzOffset) ?? 0);
  const loaded = Math.max(s.started, ...reconf);
  if (s.confMtime <= loaded + 2) return []; // start times from /proc are whole seconds, truncated
  const iso = (t: number) => new Date(t * 1000).toISOString().replace('.000', '');
  return [
    {
      code: 'TP015',
      evidence: [
        `${ctx.host.vars.squid.config} changed ${iso(s.confMtime)}`,
        `squid (pid ${s.pid}) last read it ${iso(loaded)} (${reconf.length ? 'reconfigured' : 'started'})`,
      ],
    },
  ];
}

function listening(ctx: Ctx, explained: Set<Code>): Finding[] {
  const rules = tproxyRules(ctx);
  const ports = new Set(rules.length ? rules.map(onPort) : tproxyConfPorts(ctx).map((p) => p.port));
  if (!ports.size) ports.add(ctx.host.vars.squid.tproxy_port);
  const ev: string[] = [];
  for (const p of ports) {
    const l = ctx.f.sockets.filter((s) => s.proto === 'tcp' && s.state === 'LISTEN' && s.port === p);
    if (l.some((s) => s.processes.includes('squid') || !s.processes.length)) continue;
    if (l.length && explained.has('TP007')) continue;
    ev.push(`ss -ltnp: nothing listens on port ${p}${l.length ? ` for squid (${l.map((s) => s.processes.join(',')).join('; ')} does)` : ''}`);
  }
  if (!ev.length) return [];
  const s = ctx.f.squid;
  const state = !s.installed ? 'squid is not installed' : s.running ? `squid runs (pid ${s.pid ?? '?'})` : 'squid is not running (squid -k check fails)';
  const fatal = last(ctx.log.filter((l) => /FATAL|Cannot open HTTP Port/i.test(l)));
  return [{ code: 'TP016', evidence: [...ev, state, ...(fatal ? [`cache.log: ${fatal}`] : [])] }];
}

function life(ctx: Ctx): Finding[] {
  const out: Finding[] = [];
  const rules = tproxyRules(ctx);
  const counted = rules.reduce((n, r) => n + r.packets, 0);
  if (!rules.length)
    out.push({
      code: 'TP017',
      evidence: ['mangle PREROUTING: no TPROXY rule; nft table inet tprun: no tproxy rule'],
      blocks: true,
      cause: 'no TPROXY rule in mangle PREROUTING nor in nft table inet tprun: this host intercepts nothing.',
      fix: 'tprun apply (iptables or nftables role)',
    });
  else if (counted === 0) out.push({ code: 'TP017', evidence: rules.map((r) => `${r.where}: ${r.text}`) });
  else if (ctx.f.accessLog !== null) {
    const now = ctx.f.squid.now;
    // With client_dst_passthru off squid logs intercepted requests HIER_DIRECT, not ORIGINAL_DST.
    const passthru = ctx.conf?.directives.get('client_dst_passthru')?.at(-1) !== 'off';
    const hier = passthru ? /ORIGINAL_DST\// : /(ORIGINAL_DST|HIER_DIRECT)\//;
    const orig = ctx.f.accessLog.filter((l) => hier.test(l));
    const t = Number(last(orig)?.split(/\s+/)[0] ?? NaN);
    const recent = orig.length > 0 && (now === undefined || !Number.isFinite(t) || now - t < 86400);
    if (!recent) {
      out.push({
        code: 'TP018',
        evidence: [
          `TPROXY rules counted ${counted} packets`,
          orig.length
            ? `access.log: last ORIGINAL_DST line is ${Math.round((now! - t) / 3600)} h old: ${last(orig)}`
            : `access.log: no ORIGINAL_DST line in the last ${ctx.f.accessLog.length} lines`,
        ],
      });
    }
  } else {
    out.push({ code: 'TP018', evidence: [`TPROXY rules counted ${counted} packets`, 'access.log: not readable (or access_log none)'] });
  }
  return out;
}

function behindRouter(ctx: Ctx): Finding[] {
  const ev = ctx.host.wccp
    .filter((p) => !p.proxy_interfaces.length)
    .map(
      (p) =>
        `inventory: WCCP router ${p.name} (${p.address}) captures for this cache but lists no proxy_interfaces, so its configuration has no "ip wccp redirect exclude in"`,
    );
  return ev.length ? [{ code: 'TP020', evidence: ev }] : [];
}

function defaultRoutes(ctx: Ctx): Finding[] {
  const out: Finding[] = [];
  const ev21: string[] = [];
  for (const fam of [4, 6] as const) {
    const d = ctx.f.defaults.filter((r) => r.family === fam);
    if (d.length > 1) ev21.push(`ip -${fam} route show default: ${d.map((r) => r.text).join(' | ')}`);
  }
  if (ev21.length) out.push({ code: 'TP021', evidence: ev21 });
  const admin = ctx.f.addrs.find((a) => a.address === ctx.host.address)?.ifname;
  if (admin) {
    const link = ctx.f.links.find((l) => l.ifname === admin);
    const bridgeSide =
      ctx.host.kind === 'bridge' && ([ctx.host.bridge.client_interface, ctx.host.bridge.internet_interface].includes(admin) || link?.kind === 'bridge');
    const multi = ctx.f.defaults.filter((r) => r.family === 4).length > 1 || ctx.f.defaults.filter((r) => r.family === 6).length > 1;
    const onAdmin = ctx.f.defaults.filter((r) => r.dev === admin);
    if (onAdmin.length && !bridgeSide && (ctx.host.kind === 'bridge' || multi) && !ev21.length) {
      out.push({
        code: 'TP022',
        evidence: [`${admin} carries the administration address ${ctx.host.address}`, ...onAdmin.map((r) => `default route: ${r.text}`)],
      });
    }
  }
  return out;
}

/** The guide: a bridge needs its own IP addresses (squid's DNS, ICMP and failed requests leave from them). */
function bridgeAddress(ctx: Ctx): Finding[] {
  const host = ctx.host;
  if (host.kind !== 'bridge') return [];
  const port = host.bridge.client_interface;
  const br = ctx.f.links.find((l) => l.ifname === port)?.master;
  if (!br) return [];
  const ev = host.vars.tproxy.families
    .filter((fam) => !ctx.f.addrs.some((a) => a.ifname === br && a.family === (fam === 'ipv4' ? 'inet' : 'inet6') && !/^fe80:/i.test(a.address)))
    .map((fam) => `ip addr: ${br} (the bridge of ${port}) has no ${fam === 'ipv4' ? 'IPv4' : 'global IPv6'} address`);
  return ev.length ? [{ code: 'TP023', evidence: ev }] : [];
}

function wccp(ctx: Ctx): Finding[] {
  const conf = ctx.conf;
  if (!conf?.wccpRouters.length) return [];
  const out: Finding[] = [];
  const f80 = conf.wccpServiceFlags.get(80) ?? [];
  if (f80.includes('dst_ip_hash')) out.push({ code: 'TP030', evidence: [`squid.conf: wccp2_service_info 80 … flags=${f80.join(',')}`] });
  const missing = [80, 90].filter((s) => !conf.wccpServices.includes(s));
  if (missing.length)
    out.push({ code: 'TP031', evidence: [`squid.conf: wccp2_service ${conf.wccpServices.join(', ') || '(none)'}; missing ${missing.join(' and ')}`] });

  const base = ctx.host.vars.wccp?.interface ?? 'wccp0';
  const names = ctx.host.wccp.length ? ctx.host.wccp.map((_, i) => (i === 0 ? base : `${base}${i}`)) : [base];
  const ev32: string[] = [];
  for (const n of names) {
    const l = ctx.f.links.find((x) => x.ifname === n);
    if (!l) ev32.push(`ip link: no interface ${n}`);
    else if (!l.up) ev32.push(`ip link: ${n} is down (state ${l.state})`);
  }
  const filter = ctx.f.firewall.v4.get('filter');
  const inRules = flatten(filter, 'INPUT');
  const gre = inRules.find((r) => /-p (gre|47)\b/.test(r.rule) || !/-p |-m |-s |-d |-i /.test(r.rule.replace(/-j \S+.*$/, '')));
  if (gre && /-j (DROP|REJECT)\b/.test(gre.rule)) ev32.push(`iptables filter: ${ruleText(gre)} drops GRE`);
  else if (!gre && filter?.policies.get('INPUT') === 'DROP') ev32.push('iptables filter: :INPUT DROP and no rule accepts GRE');
  if (ev32.length) out.push({ code: 'TP032', evidence: ev32 });

  if (ctx.f.squid.running) {
    const ev33: string[] = [];
    const sock = ctx.f.sockets.find((s) => s.proto === 'udp' && (s.port === 2048 || /:2048$/.test(s.peer)) && s.processes.includes('squid'));
    if (!sock) ev33.push(`ss -uanp: squid holds no WCCP socket on UDP 2048 (routers: ${conf.wccpRouters.join(', ')})`);
    const outRules = flatten(filter, 'OUTPUT');
    const udp = outRules.find(
      (r) => (/-p (udp|17)\b/.test(r.rule) && /--dport 2048\b/.test(r.rule)) || !/-p |-m |-s |-d |-o /.test(r.rule.replace(/-j \S+.*$/, '')),
    );
    if (udp && /-j (DROP|REJECT)\b/.test(udp.rule)) ev33.push(`iptables filter: ${ruleText(udp)} drops the Here I Am messages`);
    else if (!udp && filter?.policies.get('OUTPUT') === 'DROP') ev33.push('iptables filter: :OUTPUT DROP and no rule lets UDP 2048 out');
    if (ev33.length) out.push({ code: 'TP033', evidence: ev33 });
  }
  return out;
}

const BOOLEANS = ['squid_connect_any', 'squid_use_tproxy'];

function selinux(ctx: Ctx): Finding[] {
  const out: Finding[] = [];
  if (ctx.f.audit?.length) out.push({ code: 'TP040', evidence: [`audit.log (${ctx.f.audit.length} denials): ${last(ctx.f.audit)}`] });
  const se = ctx.f.selinux;
  if (ctx.host.vars.selinux === 'skip' || !se.mode || se.mode === 'disabled') return out;
  const off = BOOLEANS.filter((b) => se.runtime.get(b) !== 'on');
  if (off.length) out.push({ code: 'TP041', evidence: off.map((b) => `getsebool ${b}: ${se.runtime.get(b) ?? 'not answered'}`) });
  const volatile = BOOLEANS.filter((b) => se.runtime.get(b) === 'on' && se.persistent?.get(b)?.persistent === 'off');
  if (volatile.length)
    out.push({
      code: 'TP042',
      evidence: volatile.map(
        (b) => `semanage boolean -l: ${b} (${se.persistent!.get(b)!.current}, ${se.persistent!.get(b)!.persistent}): on now, off after reboot`,
      ),
    });
  return out;
}

/** Every finding for one host, in catalog order. */
export function diagnose(host: Host, f: DoctorFacts): Finding[] {
  const ctx: Ctx = {
    host,
    f,
    conf: f.squidConf === null ? null : parseSquidConf(f.squidConf),
    families: host.vars.tproxy.families.map((x) => (x === 'ipv4' ? 4 : 6)),
    log: currentLog(f.cacheLog ?? []),
  };
  const found: Finding[] = [
    ...capabilities(ctx),
    ...bindErrors(ctx),
    ...hostForgery(ctx),
    ...routing(ctx),
    ...mangleOrder(ctx),
    ...rpFilter(ctx),
    ...inputDrops(ctx),
    ...foreignFirewall(ctx),
    ...staleConfig(ctx),
  ];
  const explained = new Set(found.map((x) => x.code));
  // Startup failures (port in use, address not assigned) explain a squid that does not listen.
  if (!explained.has('TP007') && !explained.has('TP008')) found.push(...listening(ctx, explained));
  found.push(...behindRouter(ctx), ...defaultRoutes(ctx), ...bridgeAddress(ctx), ...wccp(ctx), ...selinux(ctx));
  // Evidence of life only means something when no finding explains its absence.
  if (!found.some((x) => x.blocks ?? CATALOG[x.code].blocks)) found.push(...life(ctx));
  const order = Object.keys(CATALOG);
  return found.sort((a, b) => order.indexOf(a.code) - order.indexOf(b.code));
}

/** What doctor saw that shows the host alive (for the passing evidence-of-life checks). */
export function lifeEvidence(host: Host, f: DoctorFacts): string {
  const families: (4 | 6)[] = host.vars.tproxy.families.map((x) => (x === 'ipv4' ? 4 : 6));
  const model = interception(f, families);
  const parts = families.map((fam) => {
    const sum = (kind: InterceptRule['kind']) => model.filter((r) => r.family === fam && r.kind === kind).reduce((n, r) => n + r.packets, 0);
    return `IPv${fam}: TPROXY ${sum('tproxy')} packets, DIVERT ${sum('divert')} packets`;
  });
  const orig = (f.accessLog ?? []).filter((l) => /ORIGINAL_DST\//.test(l));
  return [...parts, `access.log: ${orig.length} ORIGINAL_DST lines in its tail`].join('; ');
}
