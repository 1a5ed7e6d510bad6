/** The inventory after validation and merging: what every later stage reads. */
export type Family = 'ipv4' | 'ipv6';
export const FAMILIES: readonly Family[] = ['ipv4', 'ipv6'];

/**
 * user, port, known_hosts and connect_timeout are absent unless the inventory sets them: the SSH
 * config, then tprun's own defaults, fill them in (src/ssh/config.ts).
 */
export interface SshVars {
  user?: string;
  port?: number;
  identity?: string;
  /** Name of an environment variable holding the identity's passphrase. */
  passphrase_env?: string;
  known_hosts?: string;
  become: boolean;
  connect_timeout?: number;
  command_timeout: number;
  /** OpenSSH client config to honour (default ~/.ssh/config; "none" for none). */
  config_file?: string;
  /** Jump hosts (user@host:port), in order; overrides the config's ProxyJump. */
  jump?: string | string[];
}

export interface Bypass {
  source?: string;
  destination?: string;
  /** Incoming interface (routers) or bridge port (bridges). */
  interface?: string;
}

export interface TproxyVars {
  /** The firewall backend; auto chooses per host from its facts (src/firewall/backend.ts). */
  backend: 'auto' | 'iptables' | 'nftables';
  mark: number;
  /** Defaults to the mark. */
  mask: number;
  table: number;
  /** Give each receiving interface its own table (table, table+1, ...). */
  per_interface_tables: boolean;
  ports: number[];
  /** Intercepted TLS ports, sent to squid.https_tproxy_port. */
  https_ports: number[];
  /** Reject UDP/443 forwarded from the clients (QUIC bypasses TPROXY); defaults to https_ports being set. */
  block_quic: boolean;
  families: Family[];
  interfaces: string[];
  bypass: Bypass[];
}

/**
 * Each role adds the type of its settings here by declaration merging, from its own folder
 * (roles/<name>/settings.ts), so adding a role does not touch this file.
 */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export interface RoleSettings {}

export interface HostVars extends RoleSettings {
  ssh: SshVars;
  tproxy: TproxyVars;
}

export interface WccpService {
  id: number;
  flags: string[];
  priority: number;
}

export interface WccpPeer {
  name: string;
  address: string;
  /** The router's WCCP router ID, the source of its GRE packets (defaults to address). */
  router_id: string;
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
  /** The paths it was loaded from, as named (files, directories); reviewed plans keep them. */
  files?: string[];
  /** sha256 of the file's bytes, for reports. */
  sha256: string;
  hosts: Host[];
  peers: WccpPeer[];
  /** The inventory's own groups (groups:), each with all its hosts, children's included. */
  groups?: Record<string, string[]>;
  /** Values the inventory tags `!secret`: reports and -v output redact them. */
  secrets?: string[];
}
