/**
 * ebtables on a bridge host: the tool, whether the broute table works, its rules. Debian 12's
 * default ebtables is ebtables-nft 1.8.9, which has no broute table on any kernel: tprun then
 * uses ebtables-legacy when it is installed (proven on the VM lab, test/vm/bridge.test.ts).
 */
import { Fact } from '../../src/facts/fact.ts';
import { parseSaveTable } from '../../src/facts/parsers.ts';
import { raw } from '../../src/shell.ts';

/** Shell: the ebtables command whose broute table works (the default one, else ebtables-legacy); append -restore for that. */
export const EBTABLES = raw(
  '"$(for t in ebtables ebtables-legacy; do command -v $t >/dev/null 2>&1 && $t -t broute -L >/dev/null 2>&1 && { echo $t; exit 0; }; done; echo ebtables)"',
);

/**
 * awk: `ebtables -t TABLE -L` into ebtables-save's format, one table. Not ebtables-save itself:
 * Debian 12's ebtables-legacy-save runs /usr/sbin/ebtables, which is ebtables-nft.
 */
export const EB_LIST_TO_SAVE = raw(
  `awk '/^Bridge table: /{print "*" $3; next} /^Bridge chain: /{c=$3; sub(/,$/,"",c); chains=chains ":" c " " $NF "\\n"; next} /^$/{next} {sub(/ +$/,""); rules=rules "-A " c " " $0 "\\n"} END{printf "%s%s", chains, rules}'`,
);

export const ebtablesVersion = new Fact('tool.ebtables', raw('ebtables --version'), (r) => (r.code === 0 ? r.stdout.trim() : null));

/** How the broute table can be used: by the default ebtables, by ebtables-legacy, or not (what ebtables said). */
export type Broute = { usable: 'default' | 'legacy' } | { usable: false; said: string };

export const broute = new Fact<Broute>(
  'ebtables.broute',
  raw(`command -v ebtables >/dev/null || exit 127
ebtables -t broute -L 2>&1 && exit 0
r=$?
if command -v ebtables-legacy >/dev/null && ebtables-legacy -t broute -L >/dev/null 2>&1; then echo 'ebtables-legacy: broute table usable'; exit 0; fi
exit $r`),
  (r) =>
    r.code === 0
      ? { usable: /^ebtables-legacy: broute table usable$/m.test(r.stdout) ? 'legacy' : 'default' }
      : { usable: false, said: r.stdout.trim().split('\n')[0] || 'ebtables -t broute -L failed' },
);

export const ebtablesSave = new Fact(
  'ebtables.save',
  raw(
    `command -v ebtables >/dev/null || exit 127; out=$(${EBTABLES.text} -t broute -L 2>&1) || { printf '%s\\n' "$out"; exit 3; }; printf '%s\\n' "$out" | ${EB_LIST_TO_SAVE.text}`,
  ),
  (r) => (r.code === 0 ? parseSaveTable(r.stdout, 'broute') : null),
);
