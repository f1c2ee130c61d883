// Native transport only: bytes into a shared buffer, the gateway's own ResponseParser in JS.
import { createRequire } from 'node:module';
import uws from '../../../dist/native/uws.js';
import { ResponseParser } from '../../../dist/src/upstream/parser.js';
const require = createRequire(import.meta.url);
const up = require('./up.node');
const [upPort, port] = process.argv.slice(2).map(Number);
const N = 64;
const idle = [], queue = [];
const shared = Buffer.allocUnsafe(64 * 1024);
class C {
  constructor(id) { this.id = id; this.p = null; this.head = ''; this.chunks = []; this.parser = new ResponseParser(this, {}); }
  onResponseHead(status, h) {
    let head = `${status} OK`;
    for (let i = 0; i < h.length; i += 2) if (h[i] !== 'content-length' && h[i] !== 'date' && h[i] !== 'connection') head += `\r\n${h[i]}: ${h[i + 1]}`;
    this.head = head;
  }
  onResponseBody(c) { this.chunks.push(Buffer.from(c)); return true; }
  onResponseEnd() {
    const p = this.p, chunks = this.chunks, head = this.head;
    this.p = null; this.chunks = [];
    const next = queue.shift();
    if (next !== undefined) dispatch(next, this.id); else idle.push(this.id);
    if (p.gone) return;
    const res = p.res;
    res.cork(() => { res.writeStatus(head).end(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks)); });
  }
  onParseError(r) { console.error('parse error', r); }
}
const conns = [];
up.init((id, n) => { conns[id].parser.execute(shared.subarray(0, n)); }, shared);
for (let i = 0; i < N; i++) { const id = up.connect(upPort); conns[id] = new C(id); idle.push(id); }
function dispatch(p, id) {
  for (; id !== undefined; id = idle.pop()) {
    const c = conns[id];
    c.p = p; c.parser.reset(false);
    if (up.send(id, p.head) >= 0) return;
    c.p = null;
    setTimeout(() => idle.push(id), 50);
  }
  queue.push(p);
}
const hostLine = `host: 127.0.0.1:${upPort}\r\n`;
await new Promise((r) => setTimeout(r, 200));
uws.App().any('/*', (res, req) => {
  const q = req.getQuery();
  const path = q === undefined || q === '' ? req.getUrl() : `${req.getUrl()}?${q}`;
  const ip = new Uint8Array(res.getRemoteAddress());
  const o = ip.length === 4 ? 0 : 12;
  const p = { res, gone: false, head: `GET ${path} HTTP/1.1\r\n${hostLine}x-forwarded-for: ${ip[o]}.${ip[o + 1]}.${ip[o + 2]}.${ip[o + 3]}\r\n\r\n` };
  res.onAborted(() => { p.gone = true; });
  dispatch(p, idle.pop());
}).listen('127.0.0.1', port, (s) => { if (!s) process.exit(1); console.log('ready'); });
