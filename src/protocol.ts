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
  undone: '@@tprun-undone ',
  ok: '@@tprun-ok ',
  preflight: '@@tprun-preflight ',
  end: '@@tprun-end ',
  verify: '@@tprun-verify',
  /** Every step ran: the commits follow (also recorded as TPRUN_TX/phase-commit, a rename that needs no space). */
  commit: '@@tprun-commit',
  /** The runner died: the host finishes the transaction itself (`@@tprun-heal watcher|boot`), from the journal. */
  heal: '@@tprun-heal ',
} as const;

/** Lines of the host-side transaction machinery (src/apply/tx.ts): lock, earlier transaction, start. */
export const TX = {
  lock: '@@tprun-lock ',
  last: '@@tprun-last ',
  lastLine: '@@tprun-last-line ',
  started: '@@tprun-started ',
  startFail: '@@tprun-start-fail ',
  followEnd: '@@tprun-follow-end',
  /** The runner exited before its journal's end: the whole journal follows, as the host's watcher finished it. */
  noEnd: '@@tprun-no-end',
} as const;

/** Every script starts from a known locale and PATH: parsers read C-locale output. */
export const PRELUDE = 'export LC_ALL=C PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
