/** Checks of the squid settings that follow from the guide rather than from the schema's shape. */
import type { Host } from '../../src/inventory/types.ts';
import type { ReportSetting } from '../../src/role/contract.ts';

const NOT_WITH_TPROXY = ['intercept', 'transparent', 'accel', 'vhost', 'vport', 'defaultsite', 'ssl-bump', 'protocol'];

export function validateSquid(h: Host, at: ReportSetting): void {
  const { squid } = h.vars;
  if (squid.tproxy_port === squid.http_port) {
    at(
      [
        ['squid', 'tproxy_port'],
        ['squid', 'http_port'],
      ],
      'error',
      `squid.tproxy_port ${squid.tproxy_port} equals squid.http_port: "A dedicated squid port for tproxy is REQUIRED"`,
    );
  }
  squid.tproxy_port_options.forEach((opt, i) => {
    const flag = opt.split('=')[0]!.toLowerCase();
    if (NOT_WITH_TPROXY.includes(flag)) {
      at(
        ['squid', 'tproxy_port_options', i],
        'error',
        `"${flag}" on the tproxy port: "The intercept, accel and related flags cannot be set on the same http_port with tproxy flag"`,
      );
    } else if (flag === 'tproxy') {
      at(['squid', 'tproxy_port_options', i], 'warning', 'tproxy_port_options need not repeat "tproxy": tprun adds it');
    }
  });
  squid.extra.forEach((line, i) => {
    const m = /^\s*(https?)_port\s+(?:\S+:)?(\d+)\b(.*)$/.exec(line);
    if (!m) return;
    const port = Number(m[2]);
    if (port === squid.tproxy_port || port === squid.https_tproxy_port || /\btproxy\b/.test(m[3]!)) {
      const https = m[1] === 'https' ? ' (an HTTPS tproxy port is squid.https_tproxy_port, with tproxy.https_ports and its own TPROXY rule)' : '';
      at(
        ['squid', 'extra', i],
        'error',
        `squid.extra declares the tproxy port again${https}: "Ports using the tproxy flag MUST NOT receive traffic for any other mode Squid can run in"`,
      );
    }
  });
  validateHttps(h, at);
  squid.extra.forEach((line, i) => {
    if (/^\s*host_verify_strict\s+on\b/.test(line))
      at(
        ['squid', 'extra', i],
        'error',
        "host_verify_strict on answers 409 to every intercepted request whose Host does not resolve to the address the client connected to (a CDN, another resolver): refused for interception; set squid.dns_nameservers to the clients' resolvers instead",
      );
  });
  // With TLS interception a Host mismatch is not a lost cache hit but a broken connection (409,
  // halted), so there it is an error.
  if (squid.dns_nameservers.length === 0) {
    const tls = h.vars.tproxy.https_ports.length > 0;
    at(
      ['squid', 'dns_nameservers'],
      tls ? 'error' : 'warning',
      `squid.dns_nameservers is empty: squid resolves with the host's /etc/resolv.conf, and intercepted requests whose Host resolves differently for the clients are not cached nor sent to cache_peers${tls ? ', and intercepted TLS gets 409 and is cut (required with tproxy.https_ports)' : ''} (doctor TP009); set it to the clients' resolvers`,
    );
  }
  if (squid.clients.length === 0) {
    at(
      ['squid', 'clients'],
      'warning',
      'squid.clients is empty: squid will answer intercepted requests with 403 (no http_access allow for the client networks)',
    );
  }
}

/** Well-known TLS ports: intercepted to the HTTP tproxy port they cannot work. */
const TLS_PORTS = [443, 465, 563, 636, 853, 993, 995, 8443];

/**
 * HTTPS interception: TLS sent to an http_port fails, so TLS ports go to their own
 * `https_port N tproxy ssl-bump cert=...` (squid.https_tproxy_port) through their own TPROXY rule.
 */
function validateHttps(h: Host, at: ReportSetting): void {
  const { squid, tproxy } = h.vars;
  tproxy.ports.forEach((p, i) => {
    if (TLS_PORTS.includes(p)) {
      at(
        ['tproxy', 'ports', i],
        'error',
        `tproxy.ports has ${p}, a TLS port: TPROXY would send it to the HTTP tproxy port ${squid.tproxy_port}, which cannot read TLS (every such connection fails); list it under tproxy.https_ports and set squid.https_tproxy_port`,
      );
    }
    if (tproxy.https_ports.includes(p)) at(['tproxy', 'ports', i], 'error', `port ${p} is in both tproxy.ports and tproxy.https_ports`);
  });
  if (tproxy.https_ports.length && squid.https_tproxy_port === undefined) {
    at(
      ['tproxy', 'https_ports'],
      'error',
      `tproxy.https_ports needs squid.https_tproxy_port: intercepted TLS must reach squid's own HTTPS tproxy port (https_port N tproxy ssl-bump cert=...)`,
    );
  }
  if (squid.https_tproxy_port === undefined) return;
  if ([squid.http_port, squid.tproxy_port].includes(squid.https_tproxy_port)) {
    at(
      ['squid', 'https_tproxy_port'],
      'error',
      `squid.https_tproxy_port ${squid.https_tproxy_port} is also an http_port: "A dedicated squid port for tproxy is REQUIRED"`,
    );
  }
  if (!squid.https_tproxy_port_options.some((o) => o.startsWith('cert=') || o.startsWith('tls-cert='))) {
    at(
      [
        ['squid', 'https_tproxy_port_options'],
        ['squid', 'https_tproxy_port'],
      ],
      'error',
      'squid.https_tproxy_port needs a certificate: add cert=/path/to/ca.pem (or tls-cert=) (and usually generate-host-certificates=on) to squid.https_tproxy_port_options',
    );
  }
  squid.https_tproxy_port_options.forEach((opt, i) => {
    const flag = opt.split('=')[0]!.toLowerCase();
    if (['intercept', 'transparent', 'accel', 'tproxy', 'ssl-bump'].includes(flag)) {
      at(
        ['squid', 'https_tproxy_port_options', i],
        flag === 'tproxy' || flag === 'ssl-bump' ? 'warning' : 'error',
        `"${flag}" in squid.https_tproxy_port_options: tprun writes "https_port N tproxy ssl-bump" itself`,
      );
    }
  });
  if (!tproxy.https_ports.length)
    at(['squid', 'https_tproxy_port'], 'warning', 'squid.https_tproxy_port is set but tproxy.https_ports is empty: no TLS port is intercepted');
}
