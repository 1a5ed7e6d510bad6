/** The wccp role's settings (inventory key `wccp`). */
export interface WccpHostVars {
  /** Name of the GRE interface that receives redirected packets. */
  interface: string;
}

declare module '../../src/inventory/types.ts' {
  interface RoleSettings {
    wccp: WccpHostVars;
  }
}
