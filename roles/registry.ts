/**
 * Every role, in the order their changes are applied: squid listens before TPROXY sends it
 * traffic; firewalld changes before host-firewall judges the ruleset. Adding a role is a folder under roles/ and one line here.
 */
import { ebtables } from './ebtables/index.ts';
import { firewalld } from './firewalld/index.ts';
import { hostFirewall } from './host-firewall/index.ts';
import { iptables } from './iptables/index.ts';
import { nftables } from './nftables/index.ts';
import { kernelCheck } from './kernel-check/index.ts';
import { routing } from './routing/index.ts';
import { selinux } from './selinux/index.ts';
import { squid } from './squid/index.ts';
import { sysctl } from './sysctl/index.ts';
import { wccp } from './wccp/index.ts';
import type { Role } from '../src/role/contract.ts';

export const ROLES: readonly Role[] = [kernelCheck, firewalld, hostFirewall, selinux, sysctl, routing, squid, wccp, nftables, iptables, ebtables];

export const ROLE_NAMES: readonly string[] = ROLES.map((r) => r.name);

/** The roles to run; kernel-check always runs: it is the preflight the others rely on. */
export function selectRoles(names?: readonly string[]): Role[] {
  return ROLES.filter((r) => !names || r.name === 'kernel-check' || names.includes(r.name));
}
