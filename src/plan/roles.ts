/** The roles in the order their changes are applied: squid listens before TPROXY sends it traffic. */
import { kernelCheck } from '../../roles/kernel-check/index.ts';
import { selinux } from '../../roles/selinux/index.ts';
import { sysctl } from '../../roles/sysctl/index.ts';
import { routing } from '../../roles/routing/index.ts';
import { squid } from '../../roles/squid/index.ts';
import { wccp } from '../../roles/wccp/index.ts';
import { iptables } from '../../roles/iptables/index.ts';
import { ebtables } from '../../roles/ebtables/index.ts';
import type { Role } from './role.ts';
import type { RoleName } from './types.ts';

export const ROLES: readonly Role[] = [kernelCheck, selinux, sysctl, routing, squid, wccp, iptables, ebtables];

export function selectRoles(names?: readonly RoleName[]): Role[] {
  // kernel-check always runs: it is the preflight the other roles rely on.
  return ROLES.filter((r) => !names || r.name === 'kernel-check' || names.includes(r.name));
}
