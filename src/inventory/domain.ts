/**
 * Checks that follow from the Squid TPROXY guide rather than from the schema's shape.
 * Each message quotes the rule it enforces so the operator sees why.
 */
import { isIP } from 'node:net';
import { canonicalHost, familyOf } from './address.ts';
import type { Diagnostic } from '../diagnostics.ts';
import type { RawInventory } from './load.ts';
import { didYouMean } from './schema.ts';
import type { InventorySource, PathSeg } from './source.ts';
import type { Host, WccpPeer } from './types.ts';
import type { Role } from '../role/contract.ts';
import { receivingInterfaces } from './interfaces.ts';
import { and32, hex, u32 } from './mark.ts';

export const groupOf = (h: Host): 'routers' | 'bridges' => (h.kind === 'router' ? 'routers' : 'bridges');

/**
 * Where a host's effective value was written: on the host, in defaults, or (built-in) the host's
 * name. With several keys (two values that clash), the first one the operator wrote wins.
 */
export function origin(src: InventorySource, h: Host, ...keys: (readonly PathSeg[])[]): { path: PathSeg[]; onKey: boolean } {
  for (const key of keys) {
    const own = [groupOf(h), h.name, ...key];
    if (src.has(own)) return { path: own, onKey: false };
    if (src.has(['defaults', ...key])) return { path: ['defaults', ...key], onKey: false };
  }
  return { path: [groupOf(h), h.name], onKey: true };
}

export function domainDiagnostics(
  src: InventorySource,
  raw: RawInventory,
  hosts: Host[],
  peers: WccpPeer[],
  roles: readonly Role[],
  allNames = hosts.map((h) => h.name),
): Diagnostic[] {
  const out: Diagnostic[] = [];
  const at = (h: Host, key: PathSeg[] | PathSeg[][], severity: Diagnostic['severity'], message: string) => {
    const o = Array.isArray(key[0]) ? origin(src, h, ...(key as PathSeg[][])) : origin(src, h, key as PathSeg[]);
    out.push({ ...src.diag(severity, o.path, message, o.onKey), host: h.name });
  };

  const byAddress = new Map<string, Host>();
  for (const h of hosts) {
    const { tproxy } = h.vars;
    for (const role of roles) role.settings?.validate?.(h, (key, severity, message) => at(h, key, severity, message));

    // Marks are unsigned 32-bit: JavaScript's & is signed, so both sides go through >>> 0.
    if (and32(tproxy.mark, tproxy.mask) !== u32(tproxy.mark)) {
      at(
        h,
        ['tproxy', 'mark'],
        'error',
        `tproxy.mark ${hex(tproxy.mark)} does not fit mask ${hex(tproxy.mask)}: TPROXY --tproxy-mark ${hex(tproxy.mark)}/${hex(tproxy.mask)} would not set the mark the fwmark rule looks up`,
      );
    }
    if (tproxy.per_interface_tables) {
      const receiving = receivingInterfaces(h);
      if (tproxy.table + receiving.length - 1 > 252) {
        at(
          h,
          ['tproxy', 'table'],
          'error',
          `per-interface tables ${tproxy.table}..${tproxy.table + receiving.length - 1} run past 252 (253-255 are the kernel's own)`,
        );
      }
      const lo = tproxy.interfaces.indexOf('lo');
      if (lo >= 0) {
        at(
          h,
          ['tproxy', 'interfaces', lo],
          'error',
          `tproxy.per_interface_tables with lo: the rule "fwmark ... iif lo" never matches forwarded traffic (intercepted packets and their replies arrive on the client and server interfaces); list those interfaces instead`,
        );
      } else if (h.kind === 'router' && !h.wccp.length && receiving.length < 2) {
        at(
          h,
          ['tproxy', 'interfaces'],
          'error',
          `tproxy.per_interface_tables with only ${receiving.join(', ')}: replies from servers arrive on the server-side interface and would match no rule; list every interface intercepted packets and their replies arrive on (a one-armed router needs no per-interface tables: set per_interface_tables: false)`,
        );
      }
    }
    tproxy.bypass.forEach((b, i) => {
      for (const k of ['source', 'destination'] as const) {
        const v = b[k];
        if (!v) continue;
        const fam = familyOf(v);
        if (!tproxy.families.includes(fam))
          at(h, ['tproxy', 'bypass', i, k], 'warning', `bypass ${k} ${v} is ${fam} but tproxy.families has no ${fam}: the rule is not installed`);
      }
    });
    // QUIC (UDP/443) is never intercepted: with TLS interception it is the way around squid.
    if (tproxy.https_ports.length && !tproxy.block_quic)
      at(
        h,
        [
          ['tproxy', 'block_quic'],
          ['tproxy', 'https_ports'],
        ],
        'warning',
        `tproxy.https_ports is set but tproxy.block_quic is off: browsers send HTTPS over QUIC (UDP/443), which TPROXY does not intercept, so most TLS traffic bypasses squid; set block_quic: true (UDP/443 rejected, browsers fall back to TCP/443)`,
      );
    if (h.kind === 'bridge') {
      tproxy.bypass.forEach((b, i) => {
        if (b.interface && !b.source && !b.destination) {
          at(
            h,
            ['tproxy', 'bypass', i, 'interface'],
            'warning',
            `a bridge cannot bypass by port alone: the replies arrive on the other port, match the "--ip-sport" DROP rule and are routed while the requests were bridged; bypass by source or destination address`,
          );
        }
      });
    }
    if (h.kind === 'bridge' && h.bridge.client_interface === h.bridge.internet_interface) {
      out.push({
        ...src.diag(
          'error',
          ['bridges', h.name, 'bridge', 'internet_interface'],
          `the bridge's client_interface and internet_interface are both ${h.bridge.client_interface}: the broute rules need the client side and the internet side`,
        ),
        host: h.name,
      });
    }

    if (h.wccp.length && !isIP(h.address)) {
      out.push({
        ...src.diag(
          'error',
          [groupOf(h), h.name, 'address'],
          `${h.name} is a WCCP cache: its address is the local end of the GRE tunnel and must be an IP address, not "${h.address}"`,
        ),
        host: h.name,
      });
    }
    const key = canonicalHost(h.address);
    const prev = byAddress.get(key);
    if (prev) {
      out.push({
        ...src.diag('error', [groupOf(h), h.name, 'address'], `address ${h.address} is also ${prev.name}'s: each host needs its own address`),
        host: h.name,
      });
    } else byAddress.set(key, h);
  }

  // Sets, not lists or `in`: linear in the hosts, and a host named "constructor" is a name.
  const names = new Set(allNames);
  const bridges = raw.bridges ?? {};
  const dupNames = Object.keys(raw.routers ?? {}).filter((n) => Object.hasOwn(bridges, n));
  for (const n of dupNames) out.push(src.diag('error', ['bridges', n], `host ${n} is both a router and a bridge`, true));

  for (const p of peers) {
    p.caches.forEach((c, i) => {
      if (!names.has(c)) {
        const hint = didYouMean(c, allNames);
        out.push(
          src.diag(
            'error',
            ['wccp_peers', p.name, 'caches', i],
            `wccp_peers.${p.name}: cache "${c}" is not a router or bridge of this inventory${hint ? ` (did you mean "${hint}"?)` : ''}`,
          ),
        );
      }
    });
    const [s80, s90] = p.services;
    const okFirst = s80!.flags.includes('src_ip_hash') && !s80!.flags.includes('dst_ip_hash');
    const okSecond = s90!.flags.includes('dst_ip_hash') && !s90!.flags.includes('src_ip_hash');
    if (!okFirst || !okSecond) {
      const path = src.has(['wccp_peers', p.name, 'services']) ? ['wccp_peers', p.name, 'services'] : ['wccp_peers', p.name];
      out.push(
        src.diag(
          'error',
          path,
          `wccp_peers.${p.name}: with TPROXY, service 80 must hash src_ip_hash and service 90 dst_ip_hash ("When using TPROXY the second method must be used", else replies reach the wrong cache)`,
        ),
      );
    }
    if (p.customer_interfaces.length === 0) {
      out.push(src.diag('warning', ['wccp_peers', p.name], `wccp_peers.${p.name}: no customer_interfaces: the rendered router config redirects nothing`, true));
    }
  }
  return out;
}
