/**
 * Boot persistence is the framework's job, so any subset of roles leaves a bootable host:
 * each role's boot steps become /etc/tprun/boot.d/ORDER-NAME.sh, run in order by
 * /etc/tprun/boot.sh from tprun-boot.service, enabled by its wants/ link (no systemctl needed).
 */
import { symlink } from '../facts/shared.ts';
import type { Host } from '../inventory/types.ts';
import type { Change, Handler } from '../resources/change.ts';
import { raw } from '../shell.ts';
import type { Artifact } from '../resources/file.ts';
import { symlinkChange } from '../resources/symlink.ts';
import { templates } from '../render/templates.ts';
import type { Role } from '../role/contract.ts';

export const BOOT_ROLE = 'boot';
export const UNIT = '/etc/systemd/system/tprun-boot.service';
export const UNIT_LINK = '/etc/systemd/system/multi-user.target.wants/tprun-boot.service';
/** nftables.service's `flush ruleset` removes tprun's rules: this drop-in re-runs the boot runner after it. */
export const NFTABLES_DROPIN = '/etc/systemd/system/nftables.service.d/50-tprun.conf';
export const unitLink = symlink(UNIT_LINK);
const render = templates(import.meta.url);

const pad = (n: number) => String(n).padStart(2, '0');

/** A role's boot steps as the files boot.sh runs. */
export const bootSteps = (role: Role, host: Host): Artifact[] =>
  role.boot(host).map((s) => ({ role: role.name, path: `/etc/tprun/boot.d/${pad(s.order)}-${s.name}.sh`, mode: '0755', content: s.content, install: true }));

/** The runner and its unit, needed once any role has a boot step. */
export const bootRunner = (): Artifact[] => [
  { role: BOOT_ROLE, path: '/etc/tprun/boot.sh', mode: '0755', content: render('boot.sh.eta', {}), install: true },
  { role: BOOT_ROLE, path: UNIT, mode: '0644', content: render('tprun-boot.service.eta', {}), install: true },
  // systemd reads a changed drop-in only after daemon-reload (the handler below).
  { role: BOOT_ROLE, path: NFTABLES_DROPIN, mode: '0644', content: render('nftables-dropin.conf.eta', {}), install: true, notify: 'systemd-daemon-reload' },
];

/** systemctl daemon-reload once a notifying unit file changed (where systemd runs). */
export const daemonReload: Handler = {
  id: 'handler systemd daemon-reload',
  name: 'systemd-daemon-reload',
  commands: [raw('[ ! -d /run/systemd/system ] || systemctl daemon-reload')],
  undo: [raw('[ ! -d /run/systemd/system ] || systemctl daemon-reload')],
};

export const bootEnabled = (link: string | null): Change => symlinkChange(BOOT_ROLE, 'service tprun-boot enabled', UNIT_LINK, UNIT, link);
