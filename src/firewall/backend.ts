/**
 * Which firewall backend a host gets: `tproxy.backend` (auto | iptables | nftables). auto picks
 * nftables where the host's firewall is nftables-native (nftables.service enabled, firewalld on
 * its nftables backend, or no iptables installed) and iptables elsewhere. Both backend roles read
 * the same fact and the same pure choice, so one plans its rules and the other removes its own.
 */
import { Fact } from '../facts/fact.ts';
import { raw } from '../shell.ts';

export type Backend = 'iptables' | 'nftables';
export type BackendSetting = 'auto' | Backend;

/** What decides the choice, as gathered on the host. */
export interface FirewallFacts {
  nft: boolean;
  iptables: boolean;
  /** iptables' own backend as `iptables -V` says: "nf_tables", "legacy", or "" when unknown/absent. */
  iptablesVariant: string;
  nftablesService: boolean;
  firewalld: boolean;
  /** firewalld.conf FirewallBackend (nftables when unset, firewalld's default since 0.6). */
  firewalldBackend: string;
  /** The backend tprun last applied (/etc/tprun/firewall-backend), "" when none. */
  applied: string;
  /** What `tproxy.backend: auto` picks here, and why (shown by `tprun facts`). */
  auto?: BackendChoice;
}

export interface BackendChoice {
  backend: Backend;
  reason: string;
}

/**
 * A unit is enabled when a *.wants/ link to it leads to a unit file: what `systemctl enable`
 * makes (in /etc, or /run for --runtime) and what a vendor ships (/usr/lib, /lib). Read from the
 * file system, so it works without a running systemd, and costs no `systemctl` process (each is
 * tens of milliseconds of every check).
 */
const enabled = (unit: string) =>
  `for f in /etc/systemd/system/*.wants/${unit} /run/systemd/system/*.wants/${unit} /usr/lib/systemd/system/*.wants/${unit} /lib/systemd/system/*.wants/${unit}; do [ -e "$f" ] && { echo yes; exit 0; }; done; echo no`;

const SCRIPT = [
  'command -v nft >/dev/null 2>&1 && echo nft=yes || echo nft=no',
  // The variant cut out by the shell (a sed less): what is in the last parentheses, as sed's
  // greedy s/.*(\(.*\)).*/\1/ gave.
  'if command -v iptables >/dev/null 2>&1; then echo iptables=yes; v=$(iptables -V 2>/dev/null); case $v in *"("*")"*) v=${v%")"*}; v=${v##*"("};; *) v=;; esac; echo "iptables_variant=$v"; else echo iptables=no; fi',
  `echo "nftables_service=$(${enabled('nftables.service')})"`,
  `echo "firewalld=$(${enabled('firewalld.service')})"`,
  'echo "firewalld_backend=$([ -f /etc/firewalld/firewalld.conf ] && sed -n \'s/^[[:space:]]*FirewallBackend[[:space:]]*=[[:space:]]*//p\' /etc/firewalld/firewalld.conf 2>/dev/null | tail -n 1)"',
  // tprun's own one-line record, read by the shell.
  'a=; IFS= read -r a < /etc/tprun/firewall-backend; echo "applied=$a"',
].join('\n');

export function parseFirewallFacts(stdout: string): FirewallFacts {
  const f = readFacts(stdout);
  return { ...f, auto: chooseBackend('auto', f) };
}

function readFacts(stdout: string): FirewallFacts {
  const kv = new Map(
    stdout
      .split('\n')
      .map((l) => /^([a-z_]+)=(.*)$/.exec(l.trim()))
      .filter((m): m is RegExpExecArray => !!m)
      .map((m) => [m[1]!, m[2]!.trim()]),
  );
  return {
    nft: kv.get('nft') === 'yes',
    iptables: kv.get('iptables') === 'yes',
    iptablesVariant: kv.get('iptables_variant') ?? '',
    nftablesService: kv.get('nftables_service') === 'yes',
    firewalld: kv.get('firewalld') === 'yes',
    firewalldBackend: kv.get('firewalld_backend') || 'nftables',
    applied: kv.get('applied') ?? '',
  };
}

/** The firewall facts of a host, one key=value a line. */
export const firewallFacts = new Fact<FirewallFacts>('firewall.backend', raw(SCRIPT), (r) => parseFirewallFacts(r.stdout));

/** The pure choice, with the reason check and facts print. */
export function chooseBackend(setting: BackendSetting, f: FirewallFacts): BackendChoice {
  if (setting !== 'auto') return { backend: setting, reason: `tproxy.backend: ${setting}` };
  if (f.nftablesService) return { backend: 'nftables', reason: 'auto: nftables.service is enabled' };
  if (f.firewalld && f.firewalldBackend === 'nftables') return { backend: 'nftables', reason: 'auto: firewalld runs on its nftables backend' };
  if (!f.iptables && f.nft) return { backend: 'nftables', reason: 'auto: no iptables installed, nft is' };
  const why = f.firewalld
    ? `firewalld on its ${f.firewalldBackend} backend`
    : f.iptables
      ? `iptables${f.iptablesVariant ? ` (${f.iptablesVariant})` : ''} installed`
      : 'neither nft nor iptables found';
  return { backend: 'iptables', reason: `auto: ${why}, nftables.service not enabled` };
}

export const backendOf = (host: { vars: { tproxy: { backend?: BackendSetting } } }, f: FirewallFacts) => chooseBackend(host.vars.tproxy.backend ?? 'auto', f);

/** Where tprun records the backend it applied: boot scripts load only that backend's rules. */
export const BACKEND_FILE = '/etc/tprun/firewall-backend';
