/**
 * Measurement prototype: uws-pool's shape (uWS.js server, small GET, response buffered) with a
 * minimal pipelining upstream client: K keep-alive sockets, requests of one event-loop turn
 * coalesced into one write per socket (setImmediate flush), responses matched FIFO. Content-Length
 * responses only, no errors handled: it answers "what would pipelining save", nothing more.
 *   node pipe-peer.mjs PORT UPSTREAM_PORT [SOCKETS] [DEPTH]
 */
import net from 'node:net';
import uws from '../../../dist/native/uws.js';

const [port, upPort] = [+process.argv[2], +process.argv[3]];
const K = +(process.argv[4] ?? 8);
const DEPTH = +(process.argv[5] ?? 16);
const hostLine = `host: 127.0.0.1:${upPort}\r\n`;
const buf = Buffer.allocUnsafe(65536);

class C {
  constructor() {
    this.q = []; this.out = ''; this.acc = null;
    this.s = net.connect({ host: '127.0.0.1', port: upPort, noDelay: true, onread: { buffer: buf, callback: (n, b) => { this.read(b.subarray(0, n)); } } });
  }
  read(chunk) {
    let data = this.acc === null ? chunk : Buffer.concat([this.acc, chunk]);
    let off = 0;
    for (;;) {
      const he = data.indexOf('\r\n\r\n', off, 'latin1');
      if (he < 0) break;
      const head = data.latin1Slice(off, he);
      const m = /content-length: *(\d+)/i.exec(head);
      const len = m ? +m[1] : 0;
      const end = he + 4 + len;
      if (end > data.length) break;
      const status = head.slice(9, 12);
      let h = `${status} OK`;
      for (const line of head.split('\r\n').slice(1)) {
        const l = line.toLowerCase();
        if (!l.startsWith('content-length') && !l.startsWith('date') && !l.startsWith('connection')) h += `\r\n${line}`;
      }
      const body = data.subarray(he + 4, end);
      const r = this.q.shift();
      if (!r.gone) r.res.cork(() => { r.res.writeStatus(h).end(body); });
      off = end;
    }
    this.acc = off < data.length ? Buffer.from(data.subarray(off)) : null;
  }
}
const conns = Array.from({ length: K }, () => new C());
let dirty = [];
let scheduled = false;
function flush() {
  scheduled = false;
  for (const c of dirty) { c.s.write(c.out); c.out = ''; }
  dirty = [];
}
let rr = 0;
uws.App().get('/*', (res, req) => {
  const q = req.getQuery();
  const path = q ? `${req.getUrl()}?${q}` : req.getUrl();
  const ip = new Uint8Array(res.getRemoteAddress());
  const r = { res, gone: false };
  res.onAborted(() => { r.gone = true; });
  // Fill the sockets already written this turn first (coalescing), then the least loaded.
  let c = null;
  for (const d of dirty) if (d.q.length < DEPTH) { c = d; break; }
  if (c === null) {
    let best = conns[rr = (rr + 1) % K];
    for (const d of conns) if (d.q.length < best.q.length) best = d;
    c = best;
  }
  if (c.out === '') dirty.push(c);
  c.out += `GET ${path} HTTP/1.1\r\n${hostLine}x-forwarded-for: ${ip[0]}.${ip[1]}.${ip[2]}.${ip[3]}\r\n\r\n`;
  c.q.push(r);
  if (!scheduled) { scheduled = true; setImmediate(flush); }
}).listen('127.0.0.1', port, (t) => { if (!t) process.exit(1); process.stdout.write(`pipe listening on ${port}\n`); });
