/**
 * Interfaces that follow from a host's place in the topology, needed by several roles
 * (routing, sysctl, wccp) and by validation: a WCCP cache's GRE tunnels, and every interface
 * intercepted packets and their replies arrive on.
 */
import type { Host } from './types.ts';

export interface Tunnel {
  name: string;
  remote: string;
  local: string;
}

/** One GRE interface per WCCP router the host caches for: wccp0, wccp01, … */
export function tunnels(host: Host): Tunnel[] {
  return host.wccp.map((p, i) => ({ name: i === 0 ? host.vars.wccp.interface : `${host.vars.wccp.interface}${i}`, remote: p.router_id, local: host.address }));
}

/**
 * Where intercepted packets and their replies arrive: the listed tproxy.interfaces, and those
 * tprun knows itself: a bridge's two ports (brouted frames reach the IP stack there) and
 * a WCCP cache's GRE interfaces (redirected packets, and with service 90 the replies, arrive there).
 */
export function receivingInterfaces(host: Host): string[] {
  const known = [...(host.kind === 'bridge' ? [host.bridge.client_interface, host.bridge.internet_interface] : []), ...tunnels(host).map((t) => t.name)];
  return [...new Set([...host.vars.tproxy.interfaces, ...known])];
}
