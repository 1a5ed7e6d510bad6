/** The squid role's settings (inventory key `squid`). */
/** As written in the inventory: the ports and options are optional (3128, 0, none). */
export interface SiblingPeer {
  address: string;
  http_port?: number;
  icp_port?: number;
  options?: string[];
}

export interface SquidVars {
  config: string;
  http_port: number;
  tproxy_port: number;
  /** Extra options for the tproxy http_port line (never intercept/accel: checked). */
  tproxy_port_options: string[];
  /** squid's HTTPS tproxy port, for tproxy.https_ports (absent: no HTTPS interception). */
  https_tproxy_port?: number;
  /** Options of its https_port line (cert= required; tprun adds tproxy and ssl-bump). */
  https_tproxy_port_options: string[];
  clients: string[];
  dns_nameservers: string[];
  siblings: SiblingPeer[];
  /** Raw squid.conf lines, placed after the ports and before tprun's http_access rules. */
  extra: string[];
}

declare module '../../src/inventory/types.ts' {
  interface RoleSettings {
    squid: SquidVars;
  }
}
