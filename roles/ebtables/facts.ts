/** ebtables on a bridge host: the tool, whether the broute table works, its rules. */
import { Fact } from '../../src/facts/fact.ts';
import { parseSaveTable } from '../../src/facts/parsers.ts';
import { raw } from '../../src/shell.ts';

export const ebtablesVersion = new Fact('tool.ebtables', raw('ebtables --version'), (r) => (r.code === 0 ? r.stdout.trim() : null));

/** null when the broute table is usable, else what ebtables said. */
export const brouteProblem = new Fact('ebtables.broute', raw('command -v ebtables >/dev/null || exit 127; ebtables -t broute -L 2>&1'), (r) =>
  r.code === 0 ? null : r.stdout.trim().split('\n')[0] || 'ebtables -t broute -L failed',
);

export const ebtablesSave = new Fact('ebtables.save', raw('command -v ebtables-save >/dev/null || exit 127; ebtables-save 2>&1'), (r) => (r.code === 0 ? parseSaveTable(r.stdout, 'broute') : null));
