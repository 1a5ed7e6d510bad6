// A TCP relay that delays every byte by a fixed time each way: the lab's stand-in for a WAN link,
// since this kernel has no netem. One listening address per lab host; SSH, tprun and Ansible all
// connect through it, so all three pay the same round trip.
//
//   node --import tsx bench/relay.ts MAP.json DELAY_MS     (DELAY_MS one way: RTT / 2)
//
// MAP.json: [{ "listen": "198.19.0.1", "target": "198.18.0.1" }, ...], port 22 both sides.
// Prints "relay ready N" on stdout once every address listens. Stops on SIGTERM.
import { readFileSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';

interface Route {
  listen: string;
  target: string;
}

const [mapFile, delayArg] = process.argv.slice(2);
const routes = JSON.parse(readFileSync(mapFile!, 'utf8')) as Route[];
const delay = Number(delayArg ?? 0);

const later = (f: () => void) => (delay > 0 ? setTimeout(f, delay) : f());

/**
 * Copies `from` to `to`, each chunk written `delay` ms after it arrived. Node fires timers of one
 * duration in the order they were set, so the byte order holds; the end travels the same way, so a
 * close is not faster than the data before it.
 */
function pipeDelayed(from: Socket, to: Socket): void {
  from.on('data', (chunk) => later(() => to.destroyed || to.write(chunk)));
  from.on('end', () => later(() => to.destroyed || to.end()));
  from.on('error', () => later(() => to.destroy()));
  from.on('close', () => later(() => to.destroy()));
}

const servers: Server[] = [];
let listening = 0;
for (const r of routes) {
  const server = createServer({ noDelay: true }, (client) => {
    // As on a real link: the SYN reaches the host after one delay, the SYN-ACK comes back after
    // another, and only then does the client's first byte leave; the host's banner (sent on
    // accept) arrives one delay after the host accepted.
    client.pause();
    client.on('error', () => client.destroy());
    later(() => {
      if (client.destroyed) return;
      const upstream = createConnection({ host: r.target, port: 22, noDelay: true });
      pipeDelayed(client, upstream);
      pipeDelayed(upstream, client);
      upstream.once('connect', () => later(() => client.resume()));
    });
  });
  server.on('error', (e) => {
    process.stderr.write(`relay: ${r.listen}: ${e.message}\n`);
    process.exit(1);
  });
  server.listen({ host: r.listen, port: 22, backlog: 4096 }, () => {
    if (++listening === routes.length) process.stdout.write(`relay ready ${listening}\n`);
  });
  servers.push(server);
}
process.on('SIGTERM', () => {
  for (const s of servers) s.close();
  process.exit(0);
});
