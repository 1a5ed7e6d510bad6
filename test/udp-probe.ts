/** One UDP datagram from a client namespace to a listener in an origin namespace, for the QUIC (UDP/443) tests of both labs. */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

export interface UdpProbe {
  clientNs: string;
  originNs: string;
  /** The origin's address of the datagram's family. */
  addr: string;
  family: 4 | 6;
  port: number;
  /** Where the listener's log and ready file go. */
  state: string;
  /** How long the client waits for the answer; the listener waits 2 s more. */
  seconds: number;
}

/**
 * A one-shot listener in the origin answers the datagram: `client` is "reply" when it arrived and
 * the answer came back, "timeout" when nothing came back, "refused" on an ICMP port unreachable,
 * "no listener" when the listener ended before it bound (then nothing is sent); `origin` is what
 * the listener saw ("nothing" when no datagram came).
 */
export function udpProbe(p: UdpProbe): { client: string; origin: string } {
  const af = p.family === 4 ? 'AF_INET' : 'AF_INET6';
  const log = `${p.state}/udp-${p.family}-${p.port}.log`;
  const ready = `${p.state}/udp-${p.family}-${p.port}.ready`;
  // The datagram is sent once the listener is bound (it says so in a file), never after a guessed delay.
  const listen = `import socket; s=socket.socket(socket.${af}, socket.SOCK_DGRAM); s.bind(('${p.addr}', ${p.port})); s.settimeout(${p.seconds + 2}); open('${ready}', 'w').close()
try:
    d, a = s.recvfrom(100); print('got', d.decode(), 'from', a[0], flush=True); s.sendto(b'seen', a)
except socket.timeout: print('nothing', flush=True)`;
  const send = `import socket; s=socket.socket(socket.${af}, socket.SOCK_DGRAM); s.connect(('${p.addr}', ${p.port})); s.settimeout(${p.seconds}); s.send(b'quic')
try: s.recv(100); print('reply')
except ConnectionRefusedError: print('refused')
except socket.timeout: print('timeout')`;
  // The listener is this shell's own child, stopped by its own timeout and waited for by its pid.
  const r = spawnSync(
    'sh',
    [
      '-c',
      `rm -f ${ready}; ip netns exec ${p.originNs} timeout ${p.seconds + 6} /usr/bin/python3 -c "$L" > ${log} 2>&1 & p=$!; while [ ! -e ${ready} ] && kill -0 $p 2>/dev/null; do sleep 0.05; done; [ -e ${ready} ] || { echo "no listener"; wait $p; exit 0; }; ip netns exec ${p.clientNs} /usr/bin/python3 -c "$S"; wait $p`,
    ],
    { encoding: 'utf8', env: { ...process.env, L: listen, S: send } },
  );
  return { client: (r.stdout + r.stderr).trim(), origin: readFileSync(log, 'utf8').trim() };
}
