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
  /** How long the client waits for the answer; the listener waits until the client is done, and 2 s more. */
  seconds: number;
}

/**
 * A one-shot listener in the origin answers the datagram: `client` is "reply" when it arrived and
 * the answer came back, "timeout" when nothing came back, "refused" on an ICMP port unreachable,
 * "no listener" when the listener ended before it bound (then nothing is sent); `origin` is what
 * the listener saw ("nothing" when no datagram came).
 *
 * The listener waits until the client is done (and 2 s more), not a fixed time from its bind: it
 * used to give up `seconds + 2` after binding, so a client whose Python took that long to start
 * (a loaded machine, or a pyenv shim) sent its datagram to a closed port and read "refused" while
 * the listener's log said "nothing", as bridge13's block_quic control did once in a CI rehearsal.
 */
export function udpProbe(p: UdpProbe): { client: string; origin: string } {
  const af = p.family === 4 ? 'AF_INET' : 'AF_INET6';
  const log = `${p.state}/udp-${p.family}-${p.port}.log`;
  const ready = `${p.state}/udp-${p.family}-${p.port}.ready`;
  // The datagram is sent once the listener is bound (it says so in a file), never after a guessed delay.
  // One SIGTERM, sent straight to it once the client is done, ends it with "nothing" (os._exit: an
  // interpreter shutdown resets the handler, and a wrapper such as `timeout` signals twice, so
  // the second one killed it: "Terminated"); its own 300 s bound ends it anyway.
  const listen = `import os, signal, socket
def done(*_): print('nothing', flush=True); os._exit(0)
signal.signal(signal.SIGTERM, done)
s=socket.socket(socket.${af}, socket.SOCK_DGRAM); s.bind(('${p.addr}', ${p.port})); s.settimeout(300); open('${ready}', 'w').close()
try:
    d, a = s.recvfrom(100); print('got', d.decode(), 'from', a[0], flush=True); s.sendto(b'seen', a)
except socket.timeout: print('nothing', flush=True)`;
  const send = `import socket; s=socket.socket(socket.${af}, socket.SOCK_DGRAM); s.connect(('${p.addr}', ${p.port})); s.settimeout(${p.seconds}); s.send(b'quic')
try: s.recv(100); print('reply')
except ConnectionRefusedError: print('refused')
except socket.timeout: print('timeout')`;
  // The listener is this shell's own child (ip netns exec execs python: $p is its pid), ended by
  // its SIGTERM or its own bound and waited for by its pid.
  const r = spawnSync(
    'sh',
    [
      '-c',
      `rm -f ${ready}; ip netns exec ${p.originNs} /usr/bin/python3 -c "$L" > ${log} 2>&1 & p=$!; while [ ! -e ${ready} ] && kill -0 $p 2>/dev/null; do sleep 0.05; done; [ -e ${ready} ] || { echo "no listener"; wait $p; exit 0; }; ip netns exec ${p.clientNs} /usr/bin/python3 -c "$S"; i=0; while kill -0 $p 2>/dev/null && [ $i -lt 40 ]; do sleep 0.05; i=$((i+1)); done; kill -TERM $p 2>/dev/null; wait $p`,
    ],
    { encoding: 'utf8', env: { ...process.env, L: listen, S: send } },
  );
  return { client: (r.stdout + r.stderr).trim(), origin: readFileSync(log, 'utf8').trim() };
}
