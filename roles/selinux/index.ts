/**
 * selinux: "By default the SELINUX policy for Squid denies some of the operations needed for
 * TPROXY": turn on squid_connect_any and squid_use_tproxy, persistently (setsebool -P).
 * Where the policy lacks a boolean, point at the rendered squidtproxy.te module.
 */
import type { Diagnostic } from '../../src/diagnostics.ts';
import { parseSebool } from '../../src/facts/parsers.ts';
import { probes } from '../../src/facts/probes.ts';
import type { Host } from '../../src/inventory/types.ts';
import { item, type Role } from '../../src/plan/role.ts';
import type { Artifact, Item } from '../../src/plan/types.ts';
import { renderTemplate } from '../../src/render/templates.ts';

export const BOOLEANS = ['squid_connect_any', 'squid_use_tproxy'];
export const MODULE_PATH = '/etc/tprun/selinux/squidtproxy.te';

export const selinux: Role = {
  name: 'selinux',
  applies: (host: Host) => host.vars.selinux !== 'skip',
  artifacts: (host): Artifact[] =>
    host.vars.selinux === 'skip' ? [] : [{ role: 'selinux', path: MODULE_PATH, mode: '0644', content: renderTemplate('selinux', 'squidtproxy.te.eta', {}), install: false }],
  probes: () => [probes.selinuxMode, probes.selinuxBooleans],
  plan(host, facts) {
    const diagnostics: Diagnostic[] = [];
    const mode = facts.get('selinux.mode');
    const state = mode.code === 0 ? mode.stdout.trim() : 'absent';
    if (state === 'absent' || state === 'Disabled') {
      if (host.vars.selinux === 'enforce') {
        diagnostics.push({ severity: 'error', host: host.name, role: 'selinux', message: `selinux: enforce, but SELinux is ${state === 'absent' ? 'not installed (no getenforce)' : 'disabled'} on this host` });
      }
      return { items: [], diagnostics };
    }
    const text = facts.get('selinux.booleans').stdout;
    const values = parseSebool(text);
    // Persistent values: libsemanage's booleans.local (no line: the policy's default). Unknown
    // when the probe could not say where the store is; then the runtime value stands for both.
    const store = /^persistent-store /m.test(text);
    const persistent = new Map([...text.matchAll(/^persistent (\S+)=(\d)/gm)].map((m) => [m[1]!, m[2] === '1' ? 'on' : 'off']));
    const items: Item[] = [];
    for (const b of BOOLEANS) {
      const v = values.get(b) ?? 'missing';
      if (v === 'missing') {
        diagnostics.push({
          severity: 'warning',
          host: host.name,
          role: 'selinux',
          message: `the SELinux policy has no ${b} boolean: build and load the policy module tprun renders (tprun render → ${MODULE_PATH}), or one from audit2allow`,
        });
        continue;
      }
      const p = store ? (persistent.get(b) ?? 'policy default') : v;
      const before = p === v ? v : `${v} (persistent: ${p})`;
      items.push(item({ role: 'selinux', kind: 'selinux-boolean', id: `selinux ${b}`, before, after: 'on', commands: [`setsebool -P ${b} on`], undo: [`setsebool -P ${b} ${v}`] }));
    }
    return { items, diagnostics };
  },
};
