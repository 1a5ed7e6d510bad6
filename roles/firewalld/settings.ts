/** The firewalld role's setting (inventory key `firewalld`): leave (the default) or manage. */
import type { FirewalldSetting } from '../../src/firewall/firewalld.ts';

declare module '../../src/inventory/types.ts' {
  interface RoleSettings {
    firewalld: FirewalldSetting;
  }
}
