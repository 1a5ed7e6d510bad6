/**
 * The markers framing what the remote scripts print (facts, steps, rollback, verification).
 * The script builders, their parsers and the tests all read them from here.
 */
export const FACT = { begin: '@@tprun-fact ', rc: '@@tprun-rc ' } as const;

export const STEP = {
  step: '@@tprun-step ',
  fail: '@@tprun-fail ',
  stderr: '@@tprun-stderr ',
  stdout: '@@tprun-stdout ',
  undo: '@@tprun-undo ',
  undoFail: '@@tprun-undo-fail ',
  verify: '@@tprun-verify',
} as const;

/** Every script starts from a known locale and PATH: parsers read C-locale output. */
export const PRELUDE = 'export LC_ALL=C PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
