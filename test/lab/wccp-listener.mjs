// A stand-in WCCP router: records the WCCPv2 messages squid sends to UDP port 2048.
import { createSocket } from 'node:dgram';
import { appendFileSync } from 'node:fs';
const [addr, log] = process.argv.slice(2);
const s = createSocket('udp4');
s.on('message', (msg, rinfo) => {
  // WCCPv2 header: type (4 bytes), version (2), length (2). Type 10 is "Here I Am".
  const type = msg.length >= 4 ? msg.readUInt32BE(0) : -1;
  appendFileSync(log, `${Date.now()} from=${rinfo.address} type=${type} bytes=${msg.length}\n`);
});
s.bind(2048, addr);
