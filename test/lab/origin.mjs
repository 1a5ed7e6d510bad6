// The lab's origin server: answers every request with the client address it saw.
import { createServer } from 'node:http';
const [addr4, addr6] = process.argv.slice(2);
const handler = (req, res) => {
  const seen = req.socket.remoteAddress.replace(/^::ffff:/, '');
  res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'no-store' });
  res.end(`origin saw ${seen}\n`);
};
// Idle keep-alive connections stay open longer than squid keeps them (pconn_timeout, 1 min): the
// origin never closes one squid may reuse. Node's 5 s default closed them in the middle of a
// drift test, while the broken routing under test dropped the FIN; squid then reused the
// half-closed connection and answered 502 (ERR_READ_ERROR 104) after the repair.
for (const addr of [addr4, addr6]) {
  const server = createServer(handler);
  server.keepAliveTimeout = 120_000;
  server.listen(80, addr);
}
