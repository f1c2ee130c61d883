// Measurement prototype for ab.mjs (see there): not part of the gateway.
import { createRequire } from 'node:module';
import uws from '../../../dist/native/uws.js';
const require = createRequire(import.meta.url);
const up = require('./up.node');
const [upPort, port] = process.argv.slice(2).map(Number);
const N = 64;
const idle = [];
const pending = new Array(N).fill(null);
const queue = [];
up.init((id, status, hs, body) => {
  const p = pending[id];
  pending[id] = null;
  const next = queue.shift();
  if (next !== undefined) dispatch(next, id); else idle.push(id);
  if (p.gone) return;
  let head = `${status} OK`;
  const lines = hs.split('\r\n');
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i]; const c = l.indexOf(':'); const name = l.slice(0, c).toLowerCase();
    if (name !== 'content-length' && name !== 'date' && name !== 'connection') head += `\r\n${name}: ${l.slice(c + 1).trim()}`;
  }
  const res = p.res;
  res.cork(() => { res.writeStatus(head).end(body); });
});
for (let i = 0; i < N; i++) idle.push(up.connect(upPort));
function dispatch(p, id) {
  for (; id !== undefined; id = idle.pop()) {
    pending[id] = p;
    if (up.send(id, p.head) >= 0) return;
    pending[id] = null;
    setTimeout(() => idle.push(id), 50); // reconnecting: back in a moment
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
