import t from 'tap';
import { get, startGateway } from '../helpers/gateway.js';
import { startUpstream } from '../helpers/upstream.js';

/**
 * Upstream pipelining through the gateway: GETs of many concurrent clients share upstream sockets
 * and each client gets its own answer; HEAD, a POST among them, and an upstream that closes its
 * connections after every few responses (nginx's keepalive_requests) lose nothing.
 */

let served = 0;
/** Requests that arrived on a socket while an earlier response on it was still pending: pipelined. */
let overlapped = 0;
const pendingOn = new WeakMap<object, number>();
const up = await startUpstream((req, res) => {
  served++;
  const open = pendingOn.get(req.socket) ?? 0;
  if (open > 0) overlapped++;
  pendingOn.set(req.socket, open + 1);
  res.on('finish', () => pendingOn.set(req.socket, (pendingOn.get(req.socket) ?? 1) - 1));
  // Every 7th response closes its connection: what was pipelined behind it must be sent again.
  if (served % 7 === 0) res.setHeader('connection', 'close');
  const n = Number(/\/(\d+)/.exec(req.url ?? '')?.[1] ?? 0);
  setTimeout(() => res.end(`${req.method} ${req.url}`), n % 3);
});
const gw = await startGateway({
  apis: [{
    name: 'p',
    upstreams: { u: { targets: [up.url], keepAlive: { pipelining: 8 } } },
    routes: [{ route: 'ANY /{proxy+}', integration: { type: 'http_proxy', upstream: 'u', path: '/{proxy}' } }],
  }],
}, { workers: 1 });
t.teardown(async () => { await gw.stop(); await up.close(); });

t.test('300 concurrent GETs, a HEAD and POSTs among them: every client gets its own answer', async (t) => {
  const jobs = Array.from({ length: 300 }, (_, i) => {
    const method = i % 50 === 7 ? 'POST' : i % 50 === 9 ? 'HEAD' : 'GET';
    return get(gw.port, `/item/${i}?q=${i}`, { method, ...(method === 'POST' ? { body: `b${i}` } : {}) }).then((r) => ({ i, method, r }));
  });
  const all = await Promise.all(jobs);
  const wrong = all.filter(({ i, method, r }) => r.status !== 200 || r.body !== (method === 'HEAD' ? '' : `${method} /item/${i}?q=${i}`));
  t.same(wrong.map(({ i, r }) => `${i}: ${r.status} ${r.body}`), [], 'all 300 answered with their own response');
  t.ok(overlapped > 0, `${overlapped} requests reached the upstream pipelined, over ${up.connections} connections`);
});
