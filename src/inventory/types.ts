/** The inventory after validation and merging: what every later stage reads. */
export type Family = 'ipv4' | 'ipv6';
export const FAMILIES: readonly Family[] = ['ipv4', 'ipv6'];

export interface SshVars {
  user: string;
  port: number;
  identity?: string;
  /** Name of an environment variable holding the identity's passphrase. */
  passphrase_env?: string;
  known_hosts: string;
  become: boolean;
  connect_timeout: number;
  command_timeout: number;
}

export interface Bypass {
  source?: string;
  destination?: string;
  /** Incoming interface (routers) or bridge port (bridges). */
  interface?: string;
}

export interface TproxyVars {
  mark: number;
  mask: number;
  table: number;
  /** Give each receiving interface its own table (table, table+1, ...). */
  per_interface_tables: boolean;
  ports: number[];
  families: Family[];
  interfaces: string[];
  bypass: Bypass[];
}

export interface SiblingPeer {
  address: string;
  http_port: number;
  icp_port: number;
  options: string[];
}

export interface SquidVars {
  config: string;
  http_port: number;
  tproxy_port: number;
  /** Extra options for the tproxy http_port line (never intercept/accel: checked). */
  tproxy_port_options: string[];
  clients: string[];
  dns_nameservers: string[];
  siblings: SiblingPeer[];
  /** Raw squid.conf lines, placed after the ports and before tprun's http_access rules. */
  extra: string[];
}

export interface SysctlVars {
  file: string;
  /** Write `set key = value` lines, for systems whose sysctl.conf wants that keyword. */
  set_keyword: boolean;
  strict_rp_filter?: { value: 1 | 2; interfaces: string[] };
}

export type SelinuxMode = 'auto' | 'enforce' | 'skip';

export interface WccpHostVars {
  /** Name of the GRE interface that receives redirected packets. */
  interface: string;
}

export interface HostVars {
  ssh: SshVars;
  tproxy: TproxyVars;
  squid: SquidVars;
  sysctl: SysctlVars;
  selinux: SelinuxMode;
  wccp: WccpHostVars;
}

export interface WccpService {
  id: number;
  flags: string[];
  priority: number;
}

export interface WccpPeer {
  name: string;
  address: string;
  caches: string[];
  customer_interfaces: string[];
  proxy_interfaces: string[];
  services: WccpService[];
}

interface HostBase {
  name: string;
  address: string;
  vars: HostVars;
  /** WCCP routers that redirect to this cache (empty when WCCP is not used). */
  wccp: WccpPeer[];
}
export interface RouterHost extends HostBase {
  kind: 'router';
}
export interface BridgeHost extends HostBase {
  kind: 'bridge';
  bridge: { client_interface: string; internet_interface: string };
}
export type Host = RouterHost | BridgeHost;

export interface Inventory {
  path: string;
  /** sha256 of the file's bytes, for reports. */
  sha256: string;
  hosts: Host[];
  peers: WccpPeer[];
}
