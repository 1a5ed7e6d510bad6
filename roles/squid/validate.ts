/** Checks of the squid settings that follow from the guide rather than from the schema's shape. */
import type { Host } from '../../src/inventory/types.ts';
import type { ReportSetting } from '../../src/plan/role.ts';

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
      at(['squid', 'tproxy_port_options', i], 'error', `"${flag}" on the tproxy port: "The intercept, accel and related flags cannot be set on the same http_port with tproxy flag"`);
    } else if (flag === 'tproxy') {
      at(['squid', 'tproxy_port_options', i], 'warning', 'tproxy_port_options need not repeat "tproxy": tprun adds it');
    }
  });
  squid.extra.forEach((line, i) => {
    const m = /^\s*https?_port\s+(?:\S+:)?(\d+)\b(.*)$/.exec(line);
    if (!m) return;
    const port = Number(m[1]);
    if (port === squid.tproxy_port || /\btproxy\b/.test(m[2]!)) {
      at(['squid', 'extra', i], 'error', `squid.extra declares the tproxy port again: "Ports using the tproxy flag MUST NOT receive traffic for any other mode Squid can run in"`);
    }
  });
  if (squid.clients.length === 0) {
    at(['squid', 'clients'], 'warning', 'squid.clients is empty: squid will answer intercepted requests with 403 (no http_access allow for the client networks)');
  }
}
