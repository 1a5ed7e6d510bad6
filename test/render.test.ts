import { mkdtempSync, readFileSync, readdirSync, statSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadInventory } from '../src/inventory/load.ts';
import { selectRoles } from '../roles/registry.ts';
import { renderFiles, writeRendered } from '../src/render/render.ts';
import { templates } from '../src/render/templates.ts';
import { sh } from '../src/shell.ts';

const GOLDEN = 'test/golden/example';

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? walk(p) : [p];
  });
}

const inv = loadInventory('inventories/example.yml').inventory!;
const files = renderFiles(inv, selectRoles());

if (process.env.UPDATE_GOLDEN) {
  rmSync(GOLDEN, { recursive: true, force: true });
  writeRendered(files, GOLDEN);
}

test('render writes the same files as the golden tree', () => {
  const golden = walk(GOLDEN)
    .map((p) => relative(GOLDEN, p))
    .sort();
  assert.equal(files.map((f) => f.path).sort(), golden);
});

for (const f of files) {
  test(`golden: ${f.path}`, () => {
    assert.fixture(f.content, readFileSync(join(GOLDEN, f.path), 'utf8'));
  });
}

test('render is deterministic', () => {
  assert.equal(renderFiles(inv, selectRoles()), files);
});

test('squid.conf: dedicated tproxy port, client allow before deny all, WCCP on caches behind gw1 only', () => {
  const conf = (h: string) => files.find((f) => f.path === `${h}/etc/squid/squid.conf`)!.content;
  const c1 = conf('cache1');
  assert.match(c1, /^http_port 3128$/m);
  assert.match(c1, /^http_port 3129 tproxy$/m);
  assert.ok(c1.indexOf('http_access allow tprun_clients') < c1.indexOf('http_access deny all'));
  assert.match(c1, /^wccp2_router 203\.0\.113\.1$/m);
  assert.match(c1, /^wccp2_service_info 80 protocol=tcp flags=src_ip_hash priority=240 ports=80$/m);
  assert.match(c1, /^wccp2_service_info 90 protocol=tcp flags=dst_ip_hash,ports_source priority=240 ports=80$/m);
  assert.not.match(conf('cache3'), /wccp2_router/);
});

test('iptables rules: the socket match to DIVERT, then the bypass, then TPROXY', () => {
  const rules = files.find((f) => f.path === 'cache1/etc/tprun/iptables.rules')!.content.split('\n');
  const at = (re: RegExp) => rules.findIndex((l) => re.test(l));
  // Replies of squid's own connections reach DIVERT whatever the bypass says (issue #13, item 2).
  assert.ok(at(/-m socket --transparent -j TPRUN_DIVERT/) < at(/-s 198\.51\.100\.7 -j RETURN/));
  assert.ok(at(/-s 198\.51\.100\.7 -j RETURN/) < at(/-j TPROXY --on-port 3129 --tproxy-mark 0x1\/0x1/));
  // The IPv4 bypass addresses are not put into the ip6tables file.
  assert.not.match(files.find((f) => f.path === 'cache1/etc/tprun/ip6tables.rules')!.content, /198\.51\.100\.7/);
});

test('the rendered output can be written to a directory', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tprun-render-'));
  writeRendered(files, dir);
  assert.is(walk(dir).length, files.length);
  assert.is((statSync(join(dir, 'cache1/etc/tprun/boot.sh')).mode & 0o777).toString(8), '755');
  rmSync(dir, { recursive: true });
});

test.run();

test('a shell template quotes every value as shell words (arrays word by word, sh values as built)', () => {
  const wccp = templates(new URL('../roles/wccp/index.ts', import.meta.url).href);
  const hostile = { name: 'gre0;reboot', remote: '$(id)', local: "192.0.2.1' ; x '" };
  const boot = wccp('boot-wccp.sh.eta', { tunnels: [hostile] });
  assert.match(boot, /^ip link set 'gre0;reboot' up$/m);
  assert.match(boot, / remote '\$\(id\)' local '192\.0\.2\.1'\\'' ; x '\\'''$/m);
  assert.not.match(boot, /\$\(id\) local/);
  // Arrays are several words, an sh value is kept as built; anything else is an error, not "undefined".
  const routing = templates(new URL('../roles/routing/index.ts', import.meta.url).href);
  const r = routing('boot-routing.sh.eta', {
    markHex: '0x1',
    rules: [{ flag: '-4', spec: ['fwmark', '0x1/0x1', 'lookup', 'a b'] }],
    routes: [{ flag: '-6', spec: sh`local ${'::/0'} dev lo` }],
  });
  assert.match(r, /^ip -4 rule add fwmark 0x1\/0x1 lookup 'a b'$/m);
  assert.match(r, /^ip -6 route replace local ::\/0 dev lo$/m);
  assert.throws(() => routing('boot-routing.sh.eta', { markHex: undefined, rules: [], routes: [] }), /a shell template got undefined/);
});
