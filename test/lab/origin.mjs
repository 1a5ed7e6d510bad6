// The lab's origin server: answers every request with the client address it saw.
import { createServer } from 'node:http';
const [addr4, addr6] = process.argv.slice(2);
const handler = (req, res) => {
  const seen = req.socket.remoteAddress.replace(/^::ffff:/, '');
  res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'no-store' });
  res.end(`origin saw ${seen}\n`);
};
createServer(handler).listen(80, addr4);
createServer(handler).listen(80, addr6);
