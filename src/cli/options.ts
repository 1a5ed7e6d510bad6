/**
 * Every option of tprun, each with its parser. A command lists the ones it takes
 * (src/cli/commands/NAME.ts); adding an option to a command is adding it to that list.
 */
import { ROLE_NAMES } from '../../roles/registry.ts';
import { REPORT_FORMATS, type ReportTarget } from '../report/write.ts';
import { DEFAULT_FORKS } from '../run/options.ts';
import { parseAmount, parseSerial } from '../run/rollout.ts';
import { flag, list, takes, value, type Invalid } from './option.ts';

const orInvalid = <T>(v: T | undefined, bad: () => Invalid): T | Invalid => (v === undefined ? bad() : v);

export const limit = value({
  name: 'limit',
  short: 'l',
  arg: 'PATTERN',
  help: 'hosts to work on, as in Ansible: names, groups (all, routers, bridges, your own), globs (cache*, h[12]), ranges (h[1:3]), ~regex; a:b or a,b for both, !a to exclude, &g to intersect. A term that matches nothing is an error',
  complete: 'host',
  parse: (s) => s,
});

export const listHosts = flag({ name: 'list-hosts', help: 'print the selected hosts, one per line, and exit; contacts no host' });
export const listGroups = flag({ name: 'list-groups', help: "print the inventory's groups (all, routers, bridges and its own), one per line, and exit" });

export const roles = value({
  name: 'roles',
  arg: 'a,b',
  help: `only these roles (kernel-check always runs): ${ROLE_NAMES.join(', ')}`,
  complete: 'role',
  parse: (s): string[] | Invalid => {
    const names = s.split(',').map((n) => n.trim());
    const bad = names.find((r) => !ROLE_NAMES.includes(r));
    return bad === undefined ? names : { invalid: `unknown role "${bad}" (roles: ${ROLE_NAMES.join(', ')})` };
  },
});

export const forks = value({
  name: 'forks',
  config: true,
  short: 'f',
  arg: 'N',
  help: `hosts worked on at once (default ${DEFAULT_FORKS})`,
  complete: 'none',
  env: 'TPRUN_FORKS',
  default: DEFAULT_FORKS,
  parse: (s, from) => {
    const n = Number(s);
    return s.trim() !== '' && Number.isInteger(n) && n >= 1 ? n : takes('a whole number of at least 1')(s, from);
  },
});

export const serial = value({
  name: 'serial',
  config: true,
  arg: 'N|P%[,...]',
  help: 'roll out in batches: 1,10%,100% is a canary host, then a tenth of the fleet, then the rest (the last size repeats); a batch starts when the one before it is done',
  complete: 'none',
  parse: (s, from) => orInvalid(parseSerial(s), () => takes('N, P% or a list such as 1,10%,100% (each at least 1)')(s, from)),
});

export const maxFail = value({
  name: 'max-fail',
  config: true,
  arg: 'N|P%',
  help: 'a batch with more failed or unreachable hosts than this stops the rollout: no further host starts (default 0 with --serial)',
  complete: 'none',
  parse: (s, from) => orInvalid(parseAmount(s), () => takes('N or P%')(s, from)),
});

export const lockTimeout = value({
  name: 'lock-timeout',
  config: true,
  arg: 'S',
  help: 'wait up to S seconds for a host locked by an apply (default 0: that host fails at once, naming who holds the lock; check and doctor give no verdict on a host an apply is changing)',
  complete: 'none',
  env: 'TPRUN_LOCK_TIMEOUT',
  default: 0,
  parse: (s, from) => {
    const n = Number(s);
    return s.trim() !== '' && Number.isFinite(n) && n >= 0 ? n : takes('a number of seconds')(s, from);
  },
});

export const report = list({
  name: 'report',
  config: true,
  arg: 'FORMAT:FILE',
  help: 'json:FILE, junit:FILE, prom:FILE (Prometheus textfile) or html:FILE (a page for a person), repeatable; FILE - is stdout',
  complete: 'report',
  parse: (s, from): ReportTarget | Invalid => {
    const m = /^(\w+):(.+)$/.exec(s);
    const format = REPORT_FORMATS.find((f) => f === m?.[1]);
    return m && format ? { format, file: m[2]! } : takes('json:FILE, junit:FILE, prom:FILE or html:FILE')(s, from);
  },
});

export const out = value({
  name: 'out',
  arg: 'PATH',
  help: 'render: the directory to write to (default tprun-render); check: write the plan to this file, for review and apply --plan',
  complete: 'file',
  parse: (s) => s,
});

export const plan = value({
  name: 'plan',
  arg: 'PLAN',
  help: 'apply exactly this reviewed plan (from check --out); a host whose settings or fresh plan differ is refused, saying what moved',
  complete: 'file',
  parse: (s) => s,
});

export const diff = flag({ name: 'diff', config: true, short: 'D', help: 'show what would change as diffs' });
export const check = flag({ name: 'check', short: 'C', help: 'plan only, change nothing (as tprun check)' });
export const acceptNewHostKeys = flag({ name: 'accept-new-host-keys', help: 'record unknown host keys in known_hosts (changed keys still fail)' });
export const probe = flag({
  name: 'probe',
  config: true,
  help: "prove interception on each host with a throwaway client and origin namespace pair (nothing leaves the host; docs/doctor.md); apply: after each host's change, rolling that host back when it fails",
});
export const detailedExitcodes = flag({
  name: 'detailed-exitcodes',
  config: true,
  env: 'TPRUN_DETAILED_EXITCODES',
  help: "exit 2 rather than 0 when apply changed something (Puppet's --detailed-exitcodes; 6 with a failure)",
});
export const quiet = flag({ name: 'quiet', config: true, short: 'q', help: 'no per-host lines: the failed hosts and why, and the summary' });
export const verbose = flag({ name: 'verbose', config: true, short: 'v', help: 'show the commands run on each host' });
export const json = flag({ name: 'json', help: 'facts: print JSON (every fact parsed, by id) instead of one line per fact' });

/** Every command takes these; main handles them before the command runs. */
export const noColor = flag({ name: 'no-color', help: 'no colours (also when NO_COLOR is set)' });
export const help = flag({ name: 'help', short: 'h', help: 'this text' });
export const version = flag({ name: 'version', help: 'print the version' });
export const COMMON = [noColor, help] as const;
