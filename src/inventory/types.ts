/** The inventory after validation and merging: what every later stage reads. */
export type Family = 'ipv4' | 'ipv6';
export const FAMILIES: readonly Family[] = ['ipv4', 'ipv6'];

// ssh and tproxy are typed from base.schema.json and defaults.yml by `npm run schema`, as each
// role's settings are from its schema: a key added to the schema is a key of the type.
import type { TproxyVars, SshVars } from './vars.ts';
export type { TproxyVars, SshVars };
export type Bypass = TproxyVars['bypass'][number];

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
