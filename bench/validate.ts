/**
 * `npm run bench:validate`: how long `tprun validate` takes, and how much memory it needs, on
 * generated inventories of 10,000 and 40,000 hosts (or --hosts N,M). Each size runs in a fresh
 * process so its peak RSS is its own. Not a test: numbers go to bench/RESULTS.md by hand.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** A fleet like inventories/example.yml, scaled: routers and bridges, overrides, WCCP peers. */
export function generateInventory(n: number): string {
  const out = [
    'defaults:',
    '  ssh: { user: root, port: 22, identity: ~/.ssh/id_ed25519, known_hosts: ~/.ssh/known_hosts }',
    '  tproxy: { mark: 1, table: 100, ports: [80], families: [ipv4, ipv6], interfaces: [eth0], bypass: [{ source: 198.51.100.7 }] }',
    '  squid: { http_port: 3128, tproxy_port: 3129, clients: [198.51.100.0/24, 2001:db8:c::/64] }',
    'routers:',
  ];
  const addr = (i: number) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
  const routers = Math.ceil((n * 3) / 4);
  for (let i = 0; i < routers; i++) {
    out.push(i % 10 === 0 ? `  r${i}: { address: ${addr(i)}, tproxy: { interfaces: [eth1] } }` : `  r${i}: { address: ${addr(i)} }`);
  }
  out.push('bridges:');
  for (let i = routers; i < n; i++) out.push(`  b${i}: { address: ${addr(i)}, bridge: { client_interface: eth0, internet_interface: eth1 } }`);
  // One WCCP router per 100 routing caches, as a large site would have.
  out.push('wccp_peers:');
  for (let p = 0; p * 100 < routers; p++) {
    const caches = Array.from({ length: Math.min(100, routers - p * 100) }, (_, k) => `r${p * 100 + k}`);
    out.push(`  gw${p}:`, `    address: 203.0.${(p >> 8) & 255}.${p & 255}`, `    caches: [${caches.join(', ')}]`, '    customer_interfaces: [Gi0/1]');
  }
  return out.join('\n') + '\n';
}

async function child(file: string): Promise<void> {
  const { loadInventory } = await import('../src/inventory/load.ts');
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const r = loadInventory(file);
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(c0);
  const errors = r.diagnostics.filter((d) => d.severity === 'error');
  process.stdout.write(
    JSON.stringify({
      seconds,
      cpuSeconds: (cpu.user + cpu.system) / 1e6,
      maxRssMB: process.resourceUsage().maxRSS / 1024,
      hosts: r.inventory?.hosts.length ?? 0,
      errors: errors.length,
      first: errors[0]?.message,
    }) + '\n',
  );
}

function main(): void {
  const i = process.argv.indexOf('--hosts');
  const sizes = i > 0 ? process.argv[i + 1]!.split(',').map(Number) : [10_000, 40_000];
  const dir = mkdtempSync(join(tmpdir(), 'tprun-bench-validate-'));
  const self = fileURLToPath(import.meta.url);
  try {
    // CPU seconds as well as wall seconds: on a shared machine the wall clock includes waiting.
    console.log('| hosts | file MB | validate s (wall) | CPU s | peak RSS MB |');
    console.log('|---:|---:|---:|---:|---:|');
    for (const n of sizes) {
      const file = join(dir, `inv-${n}.yml`);
      writeFileSync(file, generateInventory(n));
      const r = spawnSync(process.execPath, ['--import', 'tsx', self, '--child', file], { encoding: 'utf8', maxBuffer: 1 << 26 });
      if (r.status !== 0) throw new Error(`validate of ${n} hosts failed: ${r.stderr}`);
      const m = JSON.parse(r.stdout.trim().split('\n').pop()!) as {
        seconds: number;
        cpuSeconds: number;
        maxRssMB: number;
        hosts: number;
        errors: number;
        first?: string;
      };
      if (m.errors || m.hosts !== n) throw new Error(`${n} hosts: expected a valid inventory, got ${m.errors} errors (${m.first}) and ${m.hosts} hosts`);
      console.log(`| ${n} | ${(statSync(file).size / 1e6).toFixed(1)} | ${m.seconds.toFixed(2)} | ${m.cpuSeconds.toFixed(2)} | ${m.maxRssMB.toFixed(0)} |`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const c = process.argv.indexOf('--child');
if (c > 0) await child(process.argv[c + 1]!);
else if (process.argv[1] === fileURLToPath(import.meta.url)) main();
