/** Completions and the man page come from the same spec as --help (issue #16, item 9). */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { bashCompletion, manPage, zshCompletion } from '../src/cli/docs.ts';
import { CLI } from '../src/cli/commands/index.ts';
import { commandHelp } from '../src/cli/spec.ts';

const { commands: COMMANDS, options: OPTIONS } = CLI;

const tmp = mkdtempSync(join(tmpdir(), 'tprun-docs-'));
const has = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;

test('every command and option is in the help, the man page and both completions', () => {
  const man = manPage(CLI, '9.9.9');
  const bash = bashCompletion(CLI);
  const zsh = zshCompletion(CLI);
  for (const c of COMMANDS) {
    assert.match(man, new RegExp(`^\\.B ${c.name} `, 'm'), c.name);
    assert.ok(bash.includes(` ${c.name}`), c.name);
    assert.ok(zsh.includes(`'${c.name}:`), c.name);
    for (const o of c.options) {
      assert.ok(commandHelp(c, CLI).includes(`--${o}`), `${c.name} --${o} in help`);
      assert.ok(new RegExp(`^ {4}${c.name}\\) opts=".*--${o}\\b`, 'm').test(bash), `${c.name} --${o} in bash`);
      assert.ok(new RegExp(`--${o}[[}]`).test(zsh), `--${o} in zsh`);
    }
  }
  for (const o of OPTIONS) assert.ok(man.includes(`\\-\\-${o.name.replace(/-/g, '\\-')}`), `--${o.name} in the man page`);
});

test('the scripts parse (bash -n, zsh -n where installed) and the man page formats without warnings (groff where installed)', () => {
  writeFileSync(join(tmp, 'c.bash'), bashCompletion(CLI));
  const b = spawnSync('bash', ['-n', join(tmp, 'c.bash')], { encoding: 'utf8' });
  assert.is(b.status, 0, b.stderr);
  // Completing for real: the command, then an apply option.
  const run = spawnSync(
    'bash',
    [
      '-c',
      `source ${join(tmp, 'c.bash')}; COMP_WORDS=(tprun app); COMP_CWORD=1; _tprun; echo "\${COMPREPLY[@]}"; COMP_WORDS=(tprun apply --max); COMP_CWORD=2; _tprun; echo "\${COMPREPLY[@]}"`,
    ],
    { encoding: 'utf8' },
  );
  assert.equal(run.stdout.trim().split('\n'), ['apply', '--max-fail']);
  if (has('zsh')) {
    writeFileSync(join(tmp, '_tprun'), zshCompletion(CLI));
    assert.is(spawnSync('zsh', ['-n', join(tmp, '_tprun')]).status, 0);
  }
  if (has('groff')) {
    writeFileSync(join(tmp, 'tprun.1'), manPage(CLI, '9.9.9'));
    const g = spawnSync('groff', ['-man', '-Tutf8', '-ww', '-z', join(tmp, 'tprun.1')], { encoding: 'utf8' });
    assert.is(g.status, 0);
    assert.is(g.stderr, '', g.stderr);
  }
});

test('tprun completion bash|zsh prints the generated scripts', () => {
  const r = spawnSync(process.execPath, ['bin/tprun.js', 'completion', 'bash'], { encoding: 'utf8' });
  assert.is(r.stdout, bashCompletion(CLI));
  const bad = spawnSync(process.execPath, ['bin/tprun.js', 'completion', 'fish'], { encoding: 'utf8' });
  assert.is(bad.status, 1);
  assert.match(bad.stderr, /completion takes bash or zsh/);
});

test('bash completes --limit with hosts and groups, and the next term after a comma, "!" or "&" (real bash)', () => {
  const bin = join(tmp, 'bin');
  mkdirSync(bin, { recursive: true });
  writeFileSync(join(bin, 'tprun'), `#!/bin/sh\nexec ${process.execPath} ${join(process.cwd(), 'bin/tprun.js')} "$@"\n`, { mode: 0o755 });
  const words = (limit: string) => {
    const r = spawnSync(
      'bash',
      [
        '-c',
        `source <(tprun completion bash); COMP_WORDS=(tprun check inventories/example.yml --limit "$1"); COMP_CWORD=4; _tprun; printf '%s\\n' "\${COMPREPLY[@]}"`,
        'x',
        limit,
      ],
      { encoding: 'utf8', env: { ...process.env, PATH: `${bin}:${process.env.PATH}` } },
    );
    return r.stdout.split('\n').filter(Boolean);
  };
  assert.equal(words('ca'), ['cache1', 'cache2', 'cache3']);
  assert.equal(words('r'), ['routers']);
  assert.equal(words('cache1,cache'), ['cache1,cache1', 'cache1,cache2', 'cache1,cache3']);
  assert.equal(words('all,!b'), ['all,!bridges']);
});

test('bash completes --report with its formats, then the file after FORMAT: (real bash, either word breaks)', () => {
  const complete = (line: string[]) => {
    const r = spawnSync(
      'bash',
      [
        '-c',
        `source <(node ${join(process.cwd(), 'bin/tprun.js')} completion bash); COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _tprun; printf '%s\\n' "\${COMPREPLY[@]}"`,
        'x',
        ...line,
      ],
      { encoding: 'utf8', cwd: 'docs' },
    );
    return r.stdout.split('\n').filter(Boolean);
  };
  assert.equal(complete(['tprun', 'check', 'inv.yml', '--report', '']), ['json:', 'junit:', 'prom:', 'html:']);
  assert.equal(complete(['tprun', 'check', 'inv.yml', '--report', 'j']), ['json:', 'junit:']);
  // ':' not a word break: one word "html:doc…".
  assert.equal(complete(['tprun', 'check', 'inv.yml', '--report', 'html:doc']), ['html:doctor.md']);
  // bash's default breaks words at ':': "html", ":", "doc".
  assert.equal(complete(['tprun', 'check', 'inv.yml', '--report', 'html', ':', 'doc']), ['doctor.md']);
});

test.after(() => rmSync(tmp, { recursive: true, force: true }));
test.run();
