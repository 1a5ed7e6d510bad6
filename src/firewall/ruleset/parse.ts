/**
 * The ruleset fact's output → typed tables. Sections ("@@section NAME") hold each tool's output:
 * IPT-VARIANT (iptables-legacy, ip6tables-nft, ...: `*-save` of every table), IPT-version
 * (`iptables -V`: the default backend), nft-json and nft-text (`nft -a list ruleset`, for the rules'
 * text by handle). An iptables-nft table is an nft table too: it is kept once, from `*-nft-save`.
 */
import type { Action, Chain, Expr, Hook, Key, Op, Rule, Ruleset, Source, Table, Value } from './types.ts';

export function sections(text: string): Map<string, string> {
  const out = new Map<string, string>();
  let name: string | null = null;
  let buf: string[] = [];
  for (const line of text.split('\n')) {
    const m = /^@@section (\S+)$/.exec(line);
    if (m) {
      if (name) out.set(name, buf.join('\n'));
      name = m[1]!;
      buf = [];
    } else if (name) buf.push(line);
  }
  if (name) out.set(name, buf.join('\n'));
  return out;
}

// ---------------------------------------------------------------- iptables

const IPT_PRIORITY: Record<string, number> = { raw: -300, mangle: -150, nat: -100, filter: 0, security: 50 };
const IPT_HOOKS: Record<string, Hook> = { PREROUTING: 'prerouting', INPUT: 'input', FORWARD: 'forward', OUTPUT: 'output', POSTROUTING: 'postrouting' };

/** Shell-like words: "a b" and 'a b' stay one word (iptables-save quotes comments). */
export function words(text: string): string[] {
  const out: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|'([^']*)'|(\S+)/g;
  for (const m of text.matchAll(re)) out.push(m[1] ?? m[2] ?? m[3]!);
  return out;
}

const num = (s: string): number => (/^0x/i.test(s) ? parseInt(s, 16) : Number(s));

function portValue(spec: string): Value {
  const parts = spec.split(',').map((p): Value => {
    const [a, b] = p.split(':');
    return b !== undefined ? { range: [Number(a || 0), Number(b || 65535)] } : Number(a);
  });
  return parts.length === 1 ? parts[0]! : { set: parts };
}

const TERMINAL_ACCEPTS = new Set(['ACCEPT', 'TPROXY', 'DNAT', 'SNAT', 'REDIRECT', 'MASQUERADE', 'NETMAP']);
/** Targets that only note or change something and let the packet go on. */
const NON_TERMINAL = new Set([
  'LOG',
  'NFLOG',
  'ULOG',
  'MARK',
  'CONNMARK',
  'CT',
  'NOTRACK',
  'TRACE',
  'TCPMSS',
  'DSCP',
  'TOS',
  'TTL',
  'HL',
  'CLASSIFY',
  'AUDIT',
  'CONNSECMARK',
  'SECMARK',
  'TEE',
  'CHECKSUM',
  'IDLETIMER',
  'LED',
  'SET',
  'RATEEST',
]);

/** One iptables rule (the words after "-A CHAIN") → expressions. */
export function iptablesRule(chain: string, ruleText: string, userChains: ReadonlySet<string>, family: 'ip' | 'ip6'): Rule {
  const w = words(ruleText);
  const exprs: Expr[] = [];
  let neg = false;
  const match = (key: Key, value: Value) => {
    exprs.push({ kind: 'match', key, op: neg ? '!=' : '==', value });
    neg = false;
  };
  const opaque = (text: string) => {
    exprs.push({ kind: 'opaque', text: (neg ? '! ' : '') + text });
    neg = false;
  };
  let proto: string | null = null;
  let action: Action | null = null;
  let effect: string | null = null;
  for (let i = 0; i < w.length; i++) {
    const x = w[i]!;
    const v = w[i + 1];
    if (x === '!') {
      neg = true;
      continue;
    }
    if ((x === '-p' || x === '--protocol') && v) {
      proto = neg ? null : v;
      match({ kind: 'l4proto' }, v);
      i++;
    } else if ((x === '-i' || x === '--in-interface') && v) {
      match({ kind: 'iifname' }, v.endsWith('+') ? v.slice(0, -1) + '*' : v);
      i++;
    } else if ((x === '-o' || x === '--out-interface') && v) {
      opaque(`-o ${v}`);
      i++;
    } else if ((x === '-s' || x === '--source' || x === '-d' || x === '--destination') && v) {
      const field = x.startsWith('-s') || x === '--source' ? 'saddr' : 'daddr';
      const [addr, len] = v.split('/');
      match({ kind: 'payload', protocol: family, field }, { prefix: { addr: addr!, len: Number(len ?? (family === 'ip' ? 32 : 128)) } });
      i++;
    } else if (x === '-m' && v) {
      // Known modules' options are read below; another module is undecided, and so are its options.
      if (!['tcp', 'udp', 'mark', 'conntrack', 'state', 'comment', 'multiport'].includes(v)) opaque(`-m ${v}`);
      i++;
    } else if ((x === '--dport' || x === '--destination-port' || x === '--dports' || x === '--destination-ports') && v) {
      match({ kind: 'payload', protocol: proto ?? 'th', field: 'dport' }, portValue(v));
      i++;
    } else if ((x === '--sport' || x === '--source-port' || x === '--sports' || x === '--source-ports') && v) {
      match({ kind: 'payload', protocol: proto ?? 'th', field: 'sport' }, portValue(v));
      i++;
    } else if (x === '--mark' && v) {
      const [val, mask] = v.split('/');
      match({ kind: 'mark', mask: mask ? num(mask) : null }, num(val!));
      i++;
    } else if ((x === '--ctstate' || x === '--state') && v) {
      match({ kind: 'ct', key: 'state' }, { set: v.split(',').map((s) => s.toLowerCase()) });
      i++;
    } else if (x === '--comment' && v) {
      i++;
    } else if ((x === '-j' || x === '--jump' || x === '-g' || x === '--goto') && v) {
      const goto = x === '-g' || x === '--goto';
      if (userChains.has(v)) action = { kind: goto ? 'goto' : 'jump', target: v };
      else if (v === 'DROP') action = { kind: 'drop' };
      else if (v === 'REJECT') action = { kind: 'reject' };
      else if (v === 'RETURN') action = { kind: 'return' };
      else if (v === 'NFQUEUE' || v === 'QUEUE') action = { kind: 'queue' };
      else if (TERMINAL_ACCEPTS.has(v)) action = { kind: 'accept' };
      else if (NON_TERMINAL.has(v)) effect = v;
      else action = { kind: 'unknown', text: `-j ${v}` };
      i++;
      // The target's own options follow: nothing after -j matches.
      break;
    } else if (x.startsWith('-')) {
      // An option of a known module this parser does not read (e.g. --tcp-flags): undecided.
      const opts = [x];
      while (i + 1 < w.length && !w[i + 1]!.startsWith('-') && w[i + 1] !== '!') opts.push(w[++i]!);
      opaque(opts.join(' '));
    } else opaque(x);
  }
  if (effect) exprs.push({ kind: 'effect', text: `-j ${effect}` });
  if (action) exprs.push({ kind: 'action', action });
  return { text: `-A ${chain} ${ruleText}`.trim(), exprs };
}

/** `*-save` output of every table → tables (chains with a policy are base chains). */
export function parseIptablesSave(text: string, source: Exclude<Source, 'nft'>, family: 'ip' | 'ip6'): Table[] {
  const tables: Table[] = [];
  const raw: { name: string; policies: Map<string, string>; rules: [string, string][] }[] = [];
  let cur: (typeof raw)[number] | undefined;
  for (const l of text.split('\n')) {
    const line = l.trim();
    if (line.startsWith('*')) raw.push((cur = { name: line.slice(1), policies: new Map(), rules: [] }));
    else if (!cur || !line || line.startsWith('#')) continue;
    else if (line === 'COMMIT') cur = undefined;
    else if (line.startsWith(':')) {
      const [name, policy] = line.slice(1).split(/\s+/);
      cur.policies.set(name!, policy ?? '-');
    } else {
      const m = /^(?:\[\d+:\d+\]\s+)?-A\s+(\S+)\s*([\s\S]*)$/.exec(line);
      if (m) cur.rules.push([m[1]!, m[2]!]);
    }
  }
  for (const t of raw) {
    const user = new Set([...t.policies].filter(([, p]) => p === '-').map(([n]) => n));
    const chains = new Map<string, Chain>();
    for (const [name, policy] of t.policies) {
      const hook = IPT_HOOKS[name];
      const prio = t.name === 'nat' && hook === 'input' ? 100 : t.name === 'nat' && hook === 'postrouting' ? 100 : (IPT_PRIORITY[t.name] ?? 0);
      chains.set(name, {
        name,
        rules: [],
        ...(policy !== '-' && hook
          ? { base: { hook, priority: prio, type: t.name === 'nat' ? 'nat' : 'filter', policy: policy === 'DROP' ? 'drop' : 'accept' } }
          : {}),
      });
    }
    for (const [chain, rule] of t.rules) {
      const c = chains.get(chain) ?? { name: chain, rules: [] };
      chains.set(chain, c);
      c.rules.push(iptablesRule(chain, rule, user, family));
    }
    tables.push({ source, family, name: t.name, chains, sets: new Map() });
  }
  return tables;
}

// ---------------------------------------------------------------- nftables

type J = Record<string, unknown>;
const obj = (x: unknown): J | null => (x && typeof x === 'object' && !Array.isArray(x) ? (x as J) : null);
const brief = (x: unknown) => JSON.stringify(x).slice(0, 160);

function nftValue(x: unknown): Value {
  if (typeof x === 'number' || typeof x === 'string' || typeof x === 'boolean') return x;
  // Flags print as a plain list: "ct state" in ["established", "related"].
  if (Array.isArray(x)) return { set: x.map(nftValue) };
  const o = obj(x);
  if (o && Array.isArray(o.set)) return { set: o.set.map(nftValue) };
  if (o && Array.isArray(o.range) && o.range.length === 2) return { range: [nftValue(o.range[0]), nftValue(o.range[1])] };
  const p = obj(o?.prefix);
  if (p && typeof p.addr === 'string' && typeof p.len === 'number') return { prefix: { addr: p.addr, len: p.len } };
  // A set element with a timeout or comment: {"elem": {"val": ...}}.
  const e = obj(o?.elem);
  if (e && 'val' in e) return nftValue(e.val);
  return { other: brief(x) };
}

function nftKey(x: unknown): Key {
  const o = obj(x);
  const meta = obj(o?.meta);
  if (meta) {
    const k = meta.key;
    if (k === 'nfproto') return { kind: 'nfproto' };
    if (k === 'l4proto') return { kind: 'l4proto' };
    if (k === 'iifname' || k === 'iif') return { kind: 'iifname' };
    if (k === 'mark') return { kind: 'mark', mask: null };
    if (k === 'pkttype') return { kind: 'pkttype' };
  }
  const and = o?.['&'];
  if (Array.isArray(and) && and.length === 2 && obj(obj(and[0])?.meta)?.key === 'mark' && typeof and[1] === 'number') return { kind: 'mark', mask: and[1] };
  const pl = obj(o?.payload);
  if (pl && typeof pl.protocol === 'string' && typeof pl.field === 'string') return { kind: 'payload', protocol: pl.protocol, field: pl.field };
  const ct = obj(o?.ct);
  if (ct && typeof ct.key === 'string' && ct.dir === undefined) return { kind: 'ct', key: ct.key };
  const fib = obj(o?.fib);
  if (fib && typeof fib.result === 'string')
    return { kind: 'fib', result: fib.result, flags: Array.isArray(fib.flags) ? fib.flags.map(String) : [String(fib.flags)] };
  return { kind: 'other', text: brief(x) };
}

function nftAction(x: J): Action | null {
  if ('accept' in x) return { kind: 'accept' };
  if ('drop' in x) return { kind: 'drop' };
  if ('reject' in x) return { kind: 'reject' };
  if ('return' in x) return { kind: 'return' };
  if ('queue' in x) return { kind: 'queue' };
  const j = obj(x.jump);
  if (j && typeof j.target === 'string') return { kind: 'jump', target: j.target };
  const g = obj(x.goto);
  if (g && typeof g.target === 'string') return { kind: 'goto', target: g.target };
  return null;
}

const EFFECTS = [
  'counter',
  'log',
  'mangle',
  'notrack',
  'ct helper',
  'meter',
  'set',
  'quota',
  'ct count',
  'flow',
  'tproxy',
  'synproxy',
  'secmark',
  'dup',
  'fwd',
];
const NAT = ['snat', 'dnat', 'masquerade', 'redirect'];

function nftExpr(x: unknown): Expr {
  const o = obj(x) ?? {};
  const m = obj(o.match);
  if (m) return { kind: 'match', key: nftKey(m.left), op: (m.op as Op) ?? '==', value: nftValue(m.right) };
  const a = nftAction(o);
  if (a) return { kind: 'action', action: a };
  if ('continue' in o) return { kind: 'effect', text: 'continue' };
  const vm = obj(o.vmap);
  if (vm) {
    const data = obj(vm.data);
    const entries = Array.isArray(data?.set) ? (data.set as unknown[]) : null;
    if (entries) {
      const parsed: [Value, Action][] = [];
      for (const e of entries) {
        const act = Array.isArray(e) && e.length === 2 ? nftAction(obj(e[1]) ?? {}) : null;
        if (!act || !Array.isArray(e)) return { kind: 'opaque', text: `vmap ${brief(vm)}` };
        parsed.push([nftValue(e[0]), act]);
      }
      return { kind: 'vmap', key: nftKey(vm.key), entries: parsed };
    }
    return { kind: 'opaque', text: `vmap ${brief(vm)}` };
  }
  const k = Object.keys(o)[0] ?? '';
  // NAT statements end the chain for the packet like an accept.
  if (NAT.includes(k)) return { kind: 'action', action: { kind: 'accept' } };
  if (EFFECTS.includes(k)) return { kind: 'effect', text: k };
  const xt = obj(o.xt);
  if (xt && xt.type === 'target') return { kind: 'action', action: { kind: 'unknown', text: `xt target ${String(xt.name)}` } };
  // limit, xt matches, anything new: a match the evaluator cannot decide.
  return { kind: 'opaque', text: k || brief(o) };
}

/** `nft -a list ruleset`: rule text by family, table, chain and handle. */
export function nftRuleTexts(text: string): Map<string, string> {
  const out = new Map<string, string>();
  let table: string | null = null;
  let chain: string | null = null;
  for (const line of text.split('\n')) {
    const t = /^table (\S+) (\S+) \{/.exec(line);
    if (t) {
      table = `${t[1]} ${t[2]}`;
      chain = null;
      continue;
    }
    const c = /^\s+chain (\S+) \{/.exec(line);
    if (c && table) {
      chain = c[1]!.replace(/^"|"$/g, '');
      continue;
    }
    if (/^\s+\}\s*$/.test(line)) {
      chain = null;
      continue;
    }
    const r = /^\s+(.*?)\s+# handle (\d+)\s*$/.exec(line);
    // Counters change with every packet: the text names the rule, not its traffic.
    if (r && table && chain) out.set(`${table} ${chain} ${r[2]}`, r[1]!.replace(/counter packets \d+ bytes \d+/g, 'counter'));
  }
  return out;
}

/** `nft -j list ruleset` (and the text listing, for the rules' text) → tables. */
export function parseNftJson(json: string, text: string): Table[] {
  const doc = JSON.parse(json) as { nftables?: unknown[] };
  const texts = nftRuleTexts(text);
  const tables = new Map<string, Table>();
  const key = (family: unknown, name: unknown) => `${String(family)} ${String(name)}`;
  const tableOf = (family: unknown, name: unknown): Table => {
    const k = key(family, name);
    let t = tables.get(k);
    if (!t) tables.set(k, (t = { source: 'nft', family: String(family), name: String(name), chains: new Map(), sets: new Map() }));
    return t;
  };
  for (const item of doc.nftables ?? []) {
    const o = obj(item) ?? {};
    const tb = obj(o.table);
    if (tb) tableOf(tb.family, tb.name);
    const st = obj(o.set) ?? obj(o.map);
    if (st && 'set' in o) {
      const elem = st.elem;
      tableOf(st.family, st.table).sets.set(String(st.name), Array.isArray(elem) ? elem.map(nftValue) : elem === undefined ? [] : null);
    }
    const ch = obj(o.chain);
    if (ch) {
      const t = tableOf(ch.family, ch.table);
      const c: Chain = t.chains.get(String(ch.name)) ?? { name: String(ch.name), rules: [] };
      if (typeof ch.hook === 'string')
        c.base = { hook: ch.hook as Hook, priority: Number(ch.prio ?? 0), type: String(ch.type ?? 'filter'), policy: ch.policy === 'drop' ? 'drop' : 'accept' };
      t.chains.set(c.name, c);
    }
    const ru = obj(o.rule);
    if (ru) {
      const t = tableOf(ru.family, ru.table);
      const name = String(ru.chain);
      const c: Chain = t.chains.get(name) ?? { name, rules: [] };
      t.chains.set(name, c);
      const exprs = Array.isArray(ru.expr) ? ru.expr.map(nftExpr) : [];
      const handle = typeof ru.handle === 'number' ? ru.handle : undefined;
      const txt =
        texts.get(`${t.family} ${t.name} ${name} ${handle}`) ?? exprs.map((e) => (e.kind === 'opaque' || e.kind === 'effect' ? e.text : e.kind)).join(' ');
      c.rules.push({ text: txt, handle, exprs });
    }
  }
  return [...tables.values()];
}

// ---------------------------------------------------------------- the fact

const IPT_TABLES = new Set(['raw', 'mangle', 'nat', 'filter', 'security']);

function backendOf(versionText: string | undefined): 'legacy' | 'nft' | null {
  if (!versionText) return null;
  if (/nf_tables/.test(versionText)) return 'nft';
  return /iptables/.test(versionText) ? 'legacy' : null;
}

export function parseRuleset(stdout: string): Ruleset {
  const s = sections(stdout);
  const unreadable: string[] = [];
  const tables: Table[] = [];
  const fromIpt = new Set<string>();
  for (const [tool, family] of [
    ['iptables', 'ip'],
    ['ip6tables', 'ip6'],
  ] as const) {
    for (const variant of ['legacy', 'nft', 'default'] as const) {
      const text = s.get(`${tool}-${variant}`);
      if (text === undefined) continue;
      // Plain `iptables-save` (an iptables without the -legacy/-nft tools) says which it is in its header.
      const source: Exclude<Source, 'nft'> =
        variant === 'legacy' ? 'iptables-legacy' : variant === 'nft' ? 'iptables-nft' : /\(nf_tables\)/.test(text) ? 'iptables-nft' : 'iptables-legacy';
      for (const t of parseIptablesSave(text, source, family)) {
        tables.push(t);
        if (source === 'iptables-nft') fromIpt.add(`${family} ${t.name}`);
      }
    }
  }
  const json = s.get('nft-json');
  if (json !== undefined) {
    try {
      for (const t of parseNftJson(json, s.get('nft-text') ?? '')) {
        // iptables-nft's own tables: read once, from *-nft-save, whose rules say what they mean.
        if ((t.family === 'ip' || t.family === 'ip6') && IPT_TABLES.has(t.name) && fromIpt.has(`${t.family} ${t.name}`)) continue;
        tables.push(t);
      }
    } catch {
      unreadable.push(`nft -j list ruleset printed no JSON (${json.trim().slice(0, 120) || 'nothing'})`);
    }
  }
  return { tables, defaultBackend: { ip: backendOf(s.get('iptables-version')), ip6: backendOf(s.get('ip6tables-version')) }, unreadable };
}
