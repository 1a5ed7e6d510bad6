/**
 * Settings from a file, as ansible.cfg is for Ansible: the first that exists of $TPRUN_CONFIG,
 * ./tprun.config.yml and $XDG_CONFIG_HOME/tprun/config.yml (~/.config/tprun/config.yml). Its keys
 * are option names (`forks: 20`, `lock-timeout: 60`, `report: [prom:/var/lib/…/tprun.prom]`);
 * only options that declare `config: true` may be set there (per-run choices such as --limit or
 * --plan may not). Precedence: the command line, then the option's TPRUN_* variable, then this
 * file, then the built-in default. `TPRUN_CONFIG=` (empty) reads no file.
 */
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { formatDiagnostic, type Diagnostic } from '../diagnostics.ts';
import { InventorySource } from '../inventory/source.ts';
import { isInvalid, type Option, type Raw } from './option.ts';
import { suggest } from './spec.ts';

/** A value from the file, and where: `FILE:LINE:COL: NAME`, so a bad value's sentence points at it. */
export interface Setting {
  raw: Raw;
  from: string;
}

/** A config file that cannot be used: its diagnostics, FILE:LINE:COL first, one per line. */
export class ConfigError extends Error {
  constructor(readonly lines: string[]) {
    super(lines.join('\n'));
  }
}

const MAX_CONFIG_BYTES = 1024 * 1024;
const HERE = 'tprun.config.yml';

/** Which file is read, if any. TPRUN_CONFIG names one that must exist. */
export function configPath(env: NodeJS.ProcessEnv, cwd: string): string | undefined {
  if (env.TPRUN_CONFIG !== undefined) return env.TPRUN_CONFIG === '' ? undefined : env.TPRUN_CONFIG;
  const home = env.XDG_CONFIG_HOME || join(env.HOME || homedir(), '.config');
  // The working directory's file as `tprun.config.yml`: its messages name it as a person would.
  return [HERE, join(home, 'tprun', 'config.yml')].find((p) => existsSync(resolve(cwd, p)));
}

/** The settings of the config file, checked against the options: every problem at once. */
export function readConfig(options: readonly Option[], env: NodeJS.ProcessEnv, cwd = process.cwd()): ReadonlyMap<string, Setting> {
  const file = configPath(env, cwd);
  if (file === undefined) return new Map();
  const src = InventorySource.read(resolve(cwd, file), MAX_CONFIG_BYTES, file, 'config file');
  if (!(src instanceof InventorySource)) throw new ConfigError([formatDiagnostic(src)]);
  const syntax = src.syntaxDiagnostics().filter((d) => d.severity === 'error');
  if (syntax.length) throw new ConfigError(syntax.map(formatDiagnostic));
  const data = src.data();
  if ('diagnostic' in data) throw new ConfigError([formatDiagnostic(data.diagnostic)]);
  const value = data.value ?? {};
  if (typeof value !== 'object' || Array.isArray(value))
    throw new ConfigError([formatDiagnostic(src.diag('error', [], 'a config file is a mapping of option names to values (forks: 20)'))]);

  const settable = options.filter((o) => o.config);
  const problems: Diagnostic[] = [];
  const settings = new Map<string, Setting>();
  for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
    const bad = (message: string, atKey = false) => problems.push(src.diag('error', [key], message, atKey));
    const o = settable.find((x) => x.name === key);
    if (!o) {
      const option = options.find((x) => x.name === key);
      if (option) bad(`${key} is chosen per run, not in a config file: give --${key} on the command line`, true);
      else {
        const near = suggest(
          key,
          settable.map((x) => x.name),
        );
        bad(`unknown setting "${key}"${near ? ` (did you mean "${near}"?)` : ''}; settings: ${settable.map((x) => x.name).join(', ')}`, true);
      }
      continue;
    }
    const p = src.at([key]);
    const from = `${file}:${p.line}:${p.col}: ${key}`;
    const scalar = (x: unknown) => typeof x === 'string' || typeof x === 'number';
    let raw: Raw;
    if (!o.arg) {
      if (typeof v !== 'boolean') bad(`${key} is true or false`);
      else raw = v || undefined;
    } else if (o.multiple && Array.isArray(v) && v.every(scalar)) raw = v.map(String);
    else if (scalar(v)) raw = String(v);
    else bad(`${key} takes ${o.multiple ? 'a value or a list of values' : 'one value'} (${o.arg})`);
    if (raw === undefined) continue;
    // Every value checked now, whichever command runs: a bad one is found on the first run.
    const checked = o.read(raw, key);
    if (isInvalid(checked)) bad(checked.invalid);
    else settings.set(key, { raw, from });
  }
  if (problems.length) throw new ConfigError(problems.map(formatDiagnostic));
  return settings;
}
