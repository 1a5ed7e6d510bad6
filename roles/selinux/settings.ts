/** The selinux role's setting (inventory key `selinux`): auto, enforce or skip. */
export type SelinuxMode = 'auto' | 'enforce' | 'skip';

declare module '../../src/inventory/types.ts' {
  interface RoleSettings {
    selinux: SelinuxMode;
  }
}
