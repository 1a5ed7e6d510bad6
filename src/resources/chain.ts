/**
 * Firewall chains tprun owns, for any `*-save`/`*-restore` tool (iptables, ip6tables,
 * ebtables; nftables would be one more dialect). tprun's chains are replaced whole in one
 * atomic restore, and the built-in chain jumps to tprun's entry chain first. Nobody else's
 * rules are touched; the whole table is saved first so the undo can restore it exactly.
 */
import type { SaveTable } from '../facts/parsers.ts';
import { heredoc, raw, sh, type Shell } from '../shell.ts';
import { change, type Change, type ChainState, type HookState } from './change.ts';

export interface ChainDialect {
  /** The command family, e.g. iptables, ip6tables, ebtables. */
  tool: string;
  table: string;
  /** `*-save` for this table, `*-restore` keeping other chains, and a full restore for undo. */
  save: Shell;
  restoreKeep: Shell;
  restoreAll: Shell;
  /** The built-in chain that jumps to `entry`. */
  hook: string;
  entry: string;
  /** tprun's chains as declared in a restore file, e.g. ":TPRUN_DIVERT - [0:0]". */
  declarations: string[];
  /** iptables-restore wants COMMIT at the end of a table; ebtables-restore does not. */
  commit: boolean;
  /** The snapshot's file name in $TPRUN_TX when two dialects share a table (default TOOL.TABLE). */
  snapshot?: string;
  /** Flush the declared chains explicitly (a restore that keeps a declared chain's old rules). */
  flushDeclared?: boolean;
  /** One rule (after "-A CHAIN ") in the form the save tool prints it. */
  normalise(rule: string): string;
}

const chainName = (decl: string) => decl.slice(1).split(/\s+/)[0]!;
const jumpRule = (d: ChainDialect) => `-j ${d.entry}`;
const firstJump = (d: ChainDialect) => `-I ${d.hook} 1 ${jumpRule(d)}`;

export function canonicalLine(d: ChainDialect, line: string): string {
  const m = /^-A (\S+) (.*)$/.exec(line);
  return m ? `-A ${m[1]} ${d.normalise(m[2]!)}` : line;
}

function hookState(positions: number[]): HookState {
  if (positions.length === 0) return 'missing';
  if (positions.length > 1) return 'duplicated';
  return positions[0] === 0 ? 'first' : 'not-first';
}

interface Actual {
  state: ChainState | null;
  jumps: number;
}

/** What tprun owns in this table now; null when it owns nothing there. */
export function actualChains(d: ChainDialect, table: SaveTable | null): Actual {
  if (!table) return { state: null, jumps: 0 };
  const hook = table.rules.get(d.hook) ?? [];
  const positions = hook.map((r, i) => (r.trim() === jumpRule(d) ? i : -1)).filter((i) => i >= 0);
  const names = d.declarations.map(chainName);
  const rules = names.filter((n) => table.chains.has(n)).flatMap((n) => (table.rules.get(n) ?? []).map((r) => canonicalLine(d, `-A ${n} ${r}`)));
  const owned = positions.length > 0 || names.some((n) => table.chains.has(n));
  return { state: owned ? { hookChain: d.hook, entry: d.entry, hook: hookState(positions), rules } : null, jumps: positions.length };
}

/**
 * One change for the dialect's chains: `wanted` lines ("-A CHAIN rule") make them present,
 * null removes them with the jump.
 */
export function chainChange(d: ChainDialect, role: string, table: SaveTable | null, wanted: string[] | null): Change {
  const actual = actualChains(d, table);
  const dropJumps = Array.from({ length: actual.jumps }, () => `-D ${d.hook} ${jumpRule(d)}`);
  const keepJump = actual.jumps === 1 && actual.state?.hook === 'first';
  const payload = wanted
    ? [
        `*${d.table}`,
        ...d.declarations,
        ...(d.flushDeclared ? d.declarations.map((x) => `-F ${chainName(x)}`) : []),
        ...wanted,
        ...(keepJump ? [] : [...dropJumps, firstJump(d)]),
      ]
    : [`*${d.table}`, ...dropJumps, ...d.declarations.map((x) => `-F ${chainName(x)}`), ...d.declarations.map((x) => `-X ${chainName(x)}`)];
  if (d.commit) payload.push('COMMIT');
  const snap = d.snapshot ?? `${d.tool}.${d.table}`;
  const saved = raw(`"$TPRUN_TX/${snap}"`);
  const part = raw(`"$TPRUN_TX/${snap}.part"`);
  return change({
    kind: 'chain',
    role,
    id: `${d.tool} ${d.table} ${d.entry}`,
    before: actual.state,
    after: wanted ? { hookChain: d.hook, entry: d.entry, hook: 'first', rules: wanted.map((l) => canonicalLine(d, l)) } : null,
    // The snapshot counts only once it was written whole: a partial one (disk full) is never restored.
    commands: [sh`${d.save} > ${part} || exit 1; mv -f ${part} ${saved}`, heredoc(d.restoreKeep, payload.join('\n'))],
    undo: [sh`[ ! -e ${saved} ] || ${d.restoreAll} < ${saved}`],
  });
}
