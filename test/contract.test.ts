/**
 * The role contract, exercised with a role that exists only here: one definition (settings,
 * a fact, a requirement, a file, a boot step, a planner) plugs into loading, facts, planning,
 * boot and rendering without touching anything else.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Fact, factsScript } from '../src/facts/fact.ts';
import { formatDiagnostic } from '../src/diagnostics.ts';
import { loadInventoryFromSource } from '../src/inventory/load.ts';
import { InventorySource } from '../src/inventory/source.ts';
import { hostArtifacts, hostFacts, planHost } from '../src/plan/planner.ts';
import { defineRole, requirement } from '../src/role/contract.ts';
import { changesOf } from '../src/plan/types.ts';
import { change } from '../src/resources/change.ts';
import { raw, sh } from '../src/shell.ts';
import { ROLES, selectRoles } from '../roles/registry.ts';
import { edited, recorded } from './facts.ts';

const banner = new Fact('motd.banner', raw('cat /etc/motd'), (r) => (r.code === 0 ? r.stdout : null));
const motdOf = (vars: unknown) => (vars as { motd: { text: string } }).motd.text;

const motd = defineRole({
  name: 'motd',
  settings: {
    key: 'motd',
    schema: { type: 'object', additionalProperties: false, properties: { text: { type: 'string', pattern: '^[^\\n]*$' } } },
    defaults: { motd: { text: 'intercepted by squid' } },
    validate: (h, at) => (motdOf(h.vars).length > 40 ? at(['motd', 'text'], 'error', 'motd.text: at most 40 characters') : undefined),
  },
  applies: () => true,
  facts: () => ({ banner }),
  requirements: (_h, f) => [requirement('motd', { name: 'motd readable', found: f.banner === null ? 'no /etc/motd' : 'present', ok: true, wanted: 'any' })],
  artifacts: (h) => [{ role: 'motd', path: '/etc/tprun/motd.txt', mode: '0644', content: motdOf(h.vars) + '\n', install: true }],
  boot: () => [{ order: 50, name: 'motd', content: '#!/bin/sh\ncp /etc/tprun/motd.txt /etc/motd\n' }],
  plan: (h, f) => ({
    changes: [
      change({
        kind: 'file',
        role: 'motd',
        id: 'motd live',
        path: '/etc/motd',
        before: f.banner,
        after: motdOf(h.vars) + '\n',
        commands: [sh`cp /etc/tprun/motd.txt /etc/motd`],
      }),
    ],
  }),
});
const roles = [...ROLES, motd];
const load = (text: string) => loadInventoryFromSource(InventorySource.fromText('inv.yml', text), roles);
const INV = 'routers:\n  h1: { address: 198.18.1.1, motd: { text: hello } }\n  h2: { address: 198.18.1.2 }\n';

test('its settings: schema, defaults and its own checks, with positions', () => {
  const inv = load(INV).inventory!;
  assert.equal(
    inv.hosts.map((h) => motdOf(h.vars)),
    ['hello', 'intercepted by squid'],
  );
  assert.equal(load('routers:\n  h1: { address: 198.18.1.1, motd: { txet: x } }\n').diagnostics.map(formatDiagnostic), [
    'inv.yml:2:38: unknown key "txet" (did you mean "text"?)',
  ]);
  const long = load(`routers:\n  h1: { address: 198.18.1.1, motd: { text: ${'x'.repeat(41)} } }\n`).diagnostics.filter((d) => d.severity === 'error');
  assert.equal(long.map(formatDiagnostic), ['inv.yml:2:44: motd.text: at most 40 characters']);
  // Without the role, the key is unknown: the schema really comes from the role.
  assert.match(loadInventoryFromSource(InventorySource.fromText('inv.yml', INV)).diagnostics.map(formatDiagnostic).join('\n'), /unknown key "motd"/);
});

test('its fact joins the one facts script; its requirement, files, boot step and changes join the plan', () => {
  const h1 = load(INV).inventory!.hosts[0]!;
  const facts = hostFacts(h1, roles);
  assert.ok(
    facts.includes(banner) && facts.some((f) => f.id === 'file:/etc/tprun/motd.txt') && facts.some((f) => f.id === 'file:/etc/tprun/boot.d/50-motd.sh'),
  );
  assert.match(factsScript(facts), /cat \/etc\/motd/);
  const raw = {
    ...recorded('router-compliant'),
    'motd.banner': { stdout: 'old\n', code: 0 },
    'file:/etc/tprun/motd.txt': { stdout: '', code: 3 },
    'file:/etc/tprun/boot.d/50-motd.sh': { stdout: '', code: 3 },
  };
  const p = planHost(h1, roles, raw);
  assert.ok(p.checks.some((c) => c.id === 'require motd readable'));
  assert.equal(
    changesOf(p)
      .filter((c) => c.role === 'motd')
      .map((c) => `${c.action} ${c.id}`),
    ['create file /etc/tprun/motd.txt', 'create file /etc/tprun/boot.d/50-motd.sh', 'update motd live'],
  );
  assert.ok(hostArtifacts(h1, roles).some((a) => a.path === '/etc/tprun/boot.d/50-motd.sh'));
});

test("boot steps are the framework's: --roles iptables alone on a fresh host gets boot.sh, the unit and its link", () => {
  const h1 = load(INV).inventory!.hosts[0]!;
  const p = planHost(h1, selectRoles(['iptables']), edited('router-fresh', {}));
  const ids = changesOf(p).map((c) => c.id);
  for (const want of [
    'file /etc/tprun/boot.d/30-iptables.sh',
    'file /etc/tprun/boot.sh',
    'file /etc/systemd/system/tprun-boot.service',
    'service tprun-boot enabled',
  ])
    assert.ok(ids.includes(want), `${want} missing from ${ids.join(', ')}`);
  assert.not.ok(ids.some((id) => id.includes('20-routing')));
});

test('a planner reads only the facts its role declared (checked by the compiler)', () => {
  defineRole({
    name: 'typo',
    applies: () => true,
    facts: () => ({ banner }),
    // @ts-expect-error: "baner" is not a declared fact; tsc fails here if this ever compiles.
    plan: (_h, f) => ({ changes: f.baner ? [] : [] }),
  });
  assert.ok(true);
});

test.run();
