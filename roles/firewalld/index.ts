/**
 * firewalld: with `firewalld: manage`, tprun owns its part of firewalld the firewalld way: the
 * intercepted ports allowed in the zone of each receiving interface (permanent and runtime, so
 * they survive `firewall-cmd --reload` and reboots) and IPv6_rpfilter set so marked IPv6 packets
 * pass. Only what tprun added is recorded (/etc/tprun/firewalld.state) and only that is taken
 * back, when a port or `manage` goes. With `leave` (the default: firewalld is the site's
 * security policy) nothing changes and host-firewall blocks with the fix named. The pure plan
 * lives in src/firewall/firewalld.ts; host-firewall reads it too.
 */
import { CONF, STATE_FILE, firewalldFacts, firewalldPlan, firewalldSetting, zonesOf, type PortStep } from '../../src/firewall/firewalld.ts';
import { file } from '../../src/facts/shared.ts';
import { defineRole, requirement, settingsFiles } from '../../src/role/contract.ts';
import { change, type Change } from '../../src/resources/change.ts';
import { fileChange } from '../../src/resources/file.ts';
import { raw, sh, type Shell } from '../../src/shell.ts';
import './settings.ts';

const ROLE = 'firewalld';

/** firewall-cmd for the permanent and/or runtime configuration a value names. */
function portCmds(verb: 'add' | 'remove', zone: string, port: string, parts: string | null): Shell[] {
  const out: Shell[] = [];
  if (parts?.includes('permanent')) out.push(sh`firewall-cmd -q --permanent --zone=${zone} --${raw(verb)}-port=${port}`);
  if (parts?.includes('runtime')) out.push(sh`firewall-cmd -q --zone=${zone} --${raw(verb)}-port=${port}`);
  return out;
}

/** What is in `a` and not in `b` ("permanent+runtime" minus "permanent" is "runtime"). */
const minus = (a: string | null, b: string | null) =>
  (a ?? '')
    .split('+')
    .filter((x) => x && !(b ?? '').split('+').includes(x))
    .join('+') || null;

function portChange(s: PortStep): Change {
  const [verb, undoVerb] = s.action === 'add' ? (['add', 'remove'] as const) : (['remove', 'add'] as const);
  const moved = s.action === 'add' ? minus(s.after, s.before) : minus(s.before, s.after);
  return change({
    kind: 'firewalld',
    role: ROLE,
    id: `firewalld zone ${s.zone} port ${s.port}`,
    before: s.before,
    after: s.after,
    commands: portCmds(verb, s.zone, s.port, moved),
    undo: portCmds(undoVerb, s.zone, s.port, moved),
  });
}

/** IPv6_rpfilter in firewalld.conf, then a reload (firewalld reads its conf at start and reload only). */
function rpfilterChange(before: string, after: string): Change {
  const snap = raw('"$TPRUN_TX/firewalld.conf"');
  const set = after
    ? sh`if grep -q '^[[:space:]]*IPv6_rpfilter[[:space:]]*=' ${CONF}; then sed -i ${`s/^[[:space:]]*IPv6_rpfilter[[:space:]]*=.*/IPv6_rpfilter=${after}/`} ${CONF}; else echo ${`IPv6_rpfilter=${after}`} >> ${CONF}; fi`
    : sh`sed -i '/^[[:space:]]*IPv6_rpfilter[[:space:]]*=/d' ${CONF}`;
  return change({
    kind: 'firewalld',
    role: ROLE,
    id: 'firewalld IPv6_rpfilter',
    before: before || '(unset: yes)',
    after: after || '(unset: yes)',
    commands: [sh`cp -p ${CONF} ${snap}`, set, sh`firewall-cmd -q --reload`],
    undo: [sh`if [ -e ${snap} ]; then cat ${snap} > ${CONF} && firewall-cmd -q --reload; fi`],
  });
}

export const firewalld = defineRole({
  name: ROLE,
  settings: { key: 'firewalld', ...settingsFiles(import.meta.url) },
  applies: () => true,
  facts: () => ({ firewalld: firewalldFacts, record: file(STATE_FILE) }),
  requirements(host, f) {
    if (firewalldSetting(host) !== 'manage') return [];
    const running = f.firewalld.state === 'running';
    return [
      requirement(ROLE, {
        name: 'firewalld',
        found: running
          ? `running${f.firewalld.version ? ` (${f.firewalld.version})` : ''}; zones of the receiving interfaces: ${zonesOf(host, f.firewalld).join(', ')}`
          : `firewalld ${f.firewalld.state}: nothing to manage`,
        wanted: 'firewalld: manage (the intercepted ports in those zones, IPv6_rpfilter passing marked packets)',
        ok: true,
        blocks: false,
      }),
    ];
  },
  plan(host, f) {
    const p = firewalldPlan(host, f.firewalld);
    const changes: Change[] = [];
    // The reload first: it drops runtime-only settings, the ports below are added to both.
    if (p.rpfilter) changes.push(rpfilterChange(p.rpfilter.before, p.rpfilter.after));
    changes.push(...p.ports.map(portChange));
    if (p.record !== null) changes.push(fileChange({ role: ROLE, path: STATE_FILE, mode: '0644', content: p.record, install: true }, f.record));
    return { changes };
  },
});
