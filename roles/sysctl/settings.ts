/** The sysctl role's settings (inventory key `sysctl`). */
export interface SysctlVars {
  file: string;
  /** Write `set key = value` lines, for systems whose sysctl.conf wants that keyword. */
  set_keyword: boolean;
  strict_rp_filter?: { value: 1 | 2; interfaces: string[] };
  /** Interfaces that take their IPv6 default route from router advertisements: accept_ra=2, which forwarding needs. */
  accept_ra?: string[];
}

declare module '../../src/inventory/types.ts' {
  interface RoleSettings {
    sysctl: SysctlVars;
  }
}
