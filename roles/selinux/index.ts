/**
 * selinux: "By default the SELINUX policy for Squid denies some of the operations needed for
 * TPROXY": turn on squid_connect_any and squid_use_tproxy, persistently (setsebool -P).
 * Where the policy lacks a boolean, point at the rendered squidtproxy.te module.
 */
import type { Diagnostic } from '../../src/diagnostics.ts';
import { defineRole, settingsFiles } from '../../src/role/contract.ts';
import type { Change } from '../../src/resources/change.ts';
import { seboolChange } from '../../src/resources/selinux.ts';
import { templates } from '../../src/render/templates.ts';
import { selinuxBooleans, selinuxMode, selinuxPersistent } from './facts.ts';
import './settings.ts';

const ROLE = 'selinux';
const render = templates(import.meta.url);
export const BOOLEANS = ['squid_connect_any', 'squid_use_tproxy'];
export const MODULE_PATH = '/etc/tprun/selinux/squidtproxy.te';

export const selinux = defineRole({
  name: ROLE,
  settings: { key: 'selinux', ...settingsFiles(import.meta.url) },
  applies: (host) => host.vars.selinux !== 'skip',
  facts: () => ({ mode: selinuxMode, booleans: selinuxBooleans, persistent: selinuxPersistent }),
  artifacts: () => [{ role: ROLE, path: MODULE_PATH, mode: '0644', content: render('squidtproxy.te.eta', {}), install: false }],
  plan(host, f) {
    const diagnostics: Diagnostic[] = [];
    if (f.mode === 'absent' || f.mode === 'Disabled') {
      if (host.vars.selinux === 'enforce') {
        diagnostics.push({
          severity: 'error',
          host: host.name,
          role: ROLE,
          message: `selinux: enforce, but SELinux is ${f.mode === 'absent' ? 'not installed (no getenforce)' : 'disabled'} on this host`,
        });
      }
      return { changes: [], diagnostics };
    }
    const changes: Change[] = [];
    for (const b of BOOLEANS) {
      const v = f.booleans.get(b) ?? 'missing';
      if (v === 'missing') {
        diagnostics.push({
          severity: 'warning',
          host: host.name,
          role: ROLE,
          message: `the SELinux policy has no ${b} boolean: build and load the policy module tprun renders (tprun render → ${MODULE_PATH}), or one from audit2allow`,
        });
        continue;
      }
      // A boolean set without -P is on until the next boot: compare the persistent value too.
      let persistent: 'on' | 'off' | 'unknown' = f.persistent.values.get(b) ?? 'unknown';
      if (persistent === 'unknown' && f.persistent.source === 'booleans.local') persistent = v === 'on' ? 'unknown' : 'off';
      if (persistent === 'unknown' && v === 'on') {
        diagnostics.push({
          severity: 'warning',
          host: host.name,
          role: ROLE,
          message: `${b} is on, but its persistent (boot-time) value cannot be read (no semanage, no booleans.local entry): install semanage (policycoreutils-python-utils) so check can tell whether it survives a reboot`,
        });
      }
      changes.push(seboolChange(ROLE, b, v, persistent, 'on'));
    }
    return { changes, diagnostics };
  },
});
