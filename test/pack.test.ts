/**
 * The real install (issue #16, item 7): npm pack builds dist/ and packs only what runs; the
 * tarball installs into an empty prefix, and the installed tprun answers --version and validates
 * an inventory from compiled JavaScript, with no TypeScript at run time; the compliance kit
 * installs from the installed package; the installed node-ssh runs the bundled, patched ssh2; the
 * package runs its code from one bundle, which still finds the files beside its modules.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { main } from '../src/cli/main.ts';
import { capture } from './scripted.ts';

const tmp = mkdtempSync(join(tmpdir(), 'tprun-pack-'));
const npm = (args: string[], cwd = process.cwd()) =>
  spawnSync('npm', [...args, '--no-audit', '--no-fund', '--loglevel=error'], {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, npm_config_update_notifier: 'false' },
  });

test('npm pack: only what runs (no src/, test/, bench/, scripts/), with the compiled dist/', () => {
  const clone = JSON.parse(readFileSync('package.json', 'utf8')) as Record<string, unknown>;
  const r = npm(['pack', '--json', '--pack-destination', tmp]);
  assert.is(r.status, 0, r.stderr);
  const [info] = JSON.parse(r.stdout.slice(r.stdout.search(/^\[/m))) as { filename: string; files: { path: string }[] }[];
  const files = info!.files.map((f) => f.path);
  // tprun's own code is one bundle (scripts/build.mjs), its files beside it; no second copy.
  assert.ok(files.includes('dist/bundle/tprun.js'));
  const compiled = files.filter((f) => /^dist\/(src|roles)\/.*\.js$/.test(f));
  assert.equal(compiled, [], 'compiled modules outside the bundle');
  assert.ok(files.includes('dist/src/inventory/defaults.yml'));
  assert.ok(files.includes('dist/roles/squid/templates/squid.conf.eta'));
  assert.ok(files.includes('dist/src/inventory/validators.generated.cjs'), "the inventory's validators, generated at build time");
  assert.ok(files.includes('docs/compliance/install.sh'));
  assert.ok(files.includes('man/tprun.1') && files.includes('completions/tprun.bash') && files.includes('completions/_tprun'));
  // Every document the help and the man page name is in the package.
  const named = new Set(readFileSync('man/tprun.1', 'utf8').match(/docs\/[a-z/-]+\.md/g) ?? []);
  assert.ok(named.has('docs/doctor.md'), [...named].join(' '));
  for (const doc of named) assert.ok(files.includes(doc), `${doc} is named by the man page but not packed`);
  // The published manifest carries no development scripts (prepare: patch-package, git hooks) or
  // devDependencies; the clone's own package.json is put back after the pack.
  const tarball = join(tmp, info!.filename);
  const published = JSON.parse(spawnSync('tar', ['-xzOf', tarball, 'package/package.json'], { encoding: 'utf8' }).stdout) as Record<string, unknown>;
  assert.is(published.scripts, undefined, JSON.stringify(published.scripts));
  assert.is(published.devDependencies, undefined);
  assert.equal(published.dependencies, clone.dependencies);
  assert.equal(JSON.parse(readFileSync('package.json', 'utf8')), clone, 'the clone keeps its package.json');
  assert.not.ok(existsSync('package.json.tprun-dev'));
  for (const f of files) assert.not.match(f, /^(src|test|bench|scripts|roles|patches)\//, f);
  assert.not.ok(
    files.some((f) => f.endsWith('.ts') && !f.startsWith('node_modules/')),
    'no TypeScript in the package',
  );
  // ssh2 is bundled as patched (patches/): the installed package needs no install script to patch it.
  assert.ok(files.includes('node_modules/ssh2/lib/protocol/kex.js'), 'ssh2 is bundled');
  assert.is(
    files.filter(
      (f) => f.startsWith('node_modules/') && !/^node_modules\/(ssh2|asn1|bcrypt-pbkdf|safer-buffer|tweetnacl|cpu-features|buildcheck|nan)\//.test(f),
    ).length,
    0,
    'only ssh2 and its own dependencies are bundled',
  );
});

test('npm install -g of the tarball into an empty prefix: tprun --version and tprun validate run compiled JavaScript', () => {
  const tarball = readdirSync(tmp).find((f) => f.endsWith('.tgz'))!;
  const prefix = join(tmp, 'prefix');
  const r = npm(['install', '-g', '--prefix', prefix, '--omit=dev', join(tmp, tarball)]);
  assert.is(r.status, 0, r.stderr);
  const root = join(prefix, 'lib/node_modules/tprun');
  assert.not.ok(existsSync(join(root, 'node_modules/tsx')) || existsSync(join(prefix, 'lib/node_modules/tsx')), 'tsx is not installed');
  assert.not.ok(existsSync(join(root, 'src')));
  // node-ssh (installed from the registry) resolves the bundled, patched ssh2: it offers host certificates.
  const ssh2 = spawnSync(
    process.execPath,
    [
      '-e',
      `const { createRequire } = require('node:module'); const r = createRequire(${JSON.stringify(join(root, 'node_modules/node-ssh/package.json'))});
       const path = r.resolve('ssh2'); const { SUPPORTED_SERVER_HOST_KEY } = r('ssh2/lib/protocol/constants.js');
       console.log(JSON.stringify({ path, certs: SUPPORTED_SERVER_HOST_KEY.filter((a) => a.endsWith('-cert-v01@openssh.com')) }));`,
    ],
    { encoding: 'utf8' },
  );
  assert.is(ssh2.status, 0, ssh2.stderr);
  const resolved = JSON.parse(ssh2.stdout) as { path: string; certs: string[] };
  assert.is(resolved.path, join(root, 'node_modules/ssh2/lib/index.js'));
  assert.ok(resolved.certs.includes('ssh-ed25519-cert-v01@openssh.com') && resolved.certs.includes('rsa-sha2-512-cert-v01@openssh.com'), ssh2.stdout);
  const bin = join(prefix, 'bin/tprun');
  const v = spawnSync(bin, ['--version'], { encoding: 'utf8' });
  assert.is(v.status, 0, v.stderr);
  assert.is(v.stdout, `tprun ${(JSON.parse(readFileSync('package.json', 'utf8')) as { version: string }).version}\n`);
  const ok = spawnSync(bin, ['validate', 'inventories/example.yml'], { encoding: 'utf8' });
  assert.is(ok.status, 0, ok.stderr);
  assert.match(ok.stdout, /valid \(2 routers, 1 bridges, 1 WCCP peers\)/);
  const bad = spawnSync(bin, ['validate', join(root, 'package.json')], { encoding: 'utf8' });
  assert.is(bad.status, 1);
  assert.match(bad.stderr, /no host was contacted/);
  assert.ok(existsSync(join(prefix, 'share/man/man1/tprun.1')), 'npm links the man page');
  // init's $schema line names the installed package's own schema (the example's relative path
  // works only in a clone).
  const init = spawnSync(bin, ['init', '-'], { encoding: 'utf8' });
  assert.is(init.status, 0, init.stderr);
  const schema = /^# yaml-language-server: \$schema=(.+)$/m.exec(init.stdout)?.[1];
  assert.is(schema, join(root, 'schemas/inventory.schema.json'));
  assert.ok(existsSync(schema!), schema);
  // The bundle's modules still find the files beside them (every role's templates, the boot
  // scripts'): the installed package renders what the clone renders, byte for byte.
  const rendered = (cmd: string[], out: string) => {
    const r = spawnSync(cmd[0]!, [...cmd.slice(1), 'render', 'inventories/example.yml', '--out', out], { encoding: 'utf8' });
    assert.is(r.status, 0, r.stdout + r.stderr);
    return spawnSync('sh', ['-c', `cd ${out} && find . -type f | sort | xargs sha256sum`], { encoding: 'utf8' }).stdout;
  };
  const installed = rendered([bin], join(tmp, 'render-installed'));
  assert.match(installed, /squid\.conf/);
  assert.is(installed, rendered([process.execPath, 'bin/tprun.js'], join(tmp, 'render-clone')));
  const help = spawnSync(bin, ['help', 'apply'], { encoding: 'utf8' });
  assert.match(help.stdout, /^Usage: tprun apply/);
  // Every module the installed package may load later (a command's view is imported when the
  // command runs): no specifier still names a .ts file, which compiled JavaScript cannot load.
  const left = spawnSync('grep', ['-rlE', `import\\(['"][^'"]+\\.ts['"]\\)`, join(root, 'dist')], { encoding: 'utf8' }).stdout.trim();
  assert.is(left, '', `dynamic imports of .ts files left in: ${left}`);
  // The commands that contact hosts load their views: a host nobody answers for is a failed host, not an internal error.
  const inv = join(tmp, 'nobody.yml');
  writeFileSync(inv, 'routers:\n  r1: { address: 127.0.0.1, ssh: { port: 1 } }\n');
  for (const command of ['check', 'apply', 'doctor', 'facts']) {
    const run = spawnSync(bin, [command, inv], { encoding: 'utf8' });
    assert.is(run.status, 4, `${command}: ${run.stdout}${run.stderr}`);
    assert.not.match(run.stderr, /internal error/);
  }
  // The compliance kit installs from the installed package (staged under DESTDIR).
  const dest = join(tmp, 'root');
  const kit = spawnSync('sh', [join(root, 'docs/compliance/install.sh'), 'systemd'], { encoding: 'utf8', env: { ...process.env, DESTDIR: dest } });
  assert.is(kit.status, 0, kit.stderr);
  assert.match(
    readFileSync(join(dest, 'etc/systemd/system/tprun-check.service'), 'utf8'),
    /^ExecStart=\/bin\/sh \/usr\/local\/libexec\/tprun\/tprun-check\.sh$/m,
  );
  assert.ok(existsSync(join(dest, 'usr/local/libexec/tprun/tprun-check.sh')));
});

test('the installed package validates with the generated validators: no ajv compiler loaded, messages as from the clone', async () => {
  const bin = join(tmp, 'prefix/bin/tprun');
  // What the process loaded through require (ajv and its plugins are CommonJS), read at its exit.
  const preload = join(tmp, 'loaded.cjs');
  writeFileSync(preload, `process.on('exit', () => require('node:fs').writeFileSync(process.env.LOADED_OUT, Object.keys(require.cache).join('\\n')));`);
  const loaded = join(tmp, 'loaded.txt');
  const env = { ...process.env, NODE_OPTIONS: `--require ${preload}`, LOADED_OUT: loaded };
  const ok = spawnSync(bin, ['validate', 'inventories/example.yml'], { encoding: 'utf8', env });
  assert.is(ok.status, 0, ok.stderr);
  const modules = readFileSync(loaded, 'utf8').split('\n');
  assert.ok(
    modules.some((m) => m.endsWith('/validators.generated.cjs')),
    'the generated validators are used',
  );
  assert.ok(
    modules.some((m) => m.includes('/ajv/dist/runtime/')),
    'they use ajv run-time helpers',
  );
  assert.equal(
    modules.filter((m) => /\/(ajv\/dist\/(compile|core|2020)|ajv-errors|ajv-formats)\b/.test(m)),
    [],
    'no schema compiler is loaded',
  );
  for (const path of ['test/bad/bypass-source.yml', 'test/bad/dns-nameserver.yml', 'test/bad/extra-mapping-item.yml']) {
    const installed = spawnSync(bin, ['validate', path], { encoding: 'utf8' });
    const out = capture();
    const err = capture();
    const code = await main(['validate', path], { out, err, env: process.env });
    assert.is(installed.status, code, path);
    assert.is(installed.stderr, err.text(), path);
    assert.is(installed.stdout, out.text(), path);
  }
});

test.after(() => rmSync(tmp, { recursive: true, force: true }));
test.run();
