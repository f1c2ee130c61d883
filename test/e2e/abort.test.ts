import t from 'tap';
import { connect } from 'node:net';
import { get, startGateway, waitFor } from '../helpers/gateway.js';
import { startUpstream } from '../helpers/upstream.js';

// Clients that go away at every stage never crash a worker; the upstream side is released.

let upstreamClosed = 0;
const slow = await startUpstream((req, res) => {
  req.socket.once('close', () => { upstreamClosed++; });
  setTimeout(() => { if (!res.destroyed) res.end('late'); }, 1500);
});
const big = await startUpstream((_req, res) => {
  res.writeHead(200, { 'content-length': String(50 * 1024 * 1024) });
  const chunk = Buffer.alloc(64 * 1024, 1);
  let sent = 0;
  const pump = () => {
    while (sent < 50 * 1024 * 1024) {
      sent += chunk.length;
      if (!res.write(chunk)) return void res.once('drain', pump);
    }
    res.end();
  };
  res.on('error', () => {});
  pump();
}, { readBody: false });
const sink = await startUpstream((req, res) => {
  req.on('data', () => {});
  req.on('end', () => res.end('ok'));
  req.on('error', () => {});
}, { readBody: false });

const gw = await startGateway({
  limits: { maxBodyBytes: 100 * 1024 * 1024 },
  apis: [{
    name: 'api',
    upstreams: { slow: { targets: [slow.url] }, big: { targets: [big.url] }, sink: { targets: [sink.url] } },
    routes: [
      { route: 'GET /slow', integration: { type: 'http_proxy', upstream: 'slow' } },
      { route: 'GET /big', integration: { type: 'http_proxy', upstream: 'big' } },
      { route: 'POST /upload', integration: { type: 'http_proxy', upstream: 'sink' } },
      { route: 'GET /ping', integration: { type: 'mock', body: 'pong' } },
    ],
  }],
});
t.teardown(async () => { await gw.stop(); await Promise.all([slow.close(), big.close(), sink.close()]); });

function openAndKill(data: string | Buffer, killAfterMs: number, onData?: (n: number, kill: () => void) => void, killWhen?: Promise<unknown>): Promise<void> {
  return new Promise((resolve) => {
    const s = connect(gw.port, '127.0.0.1', () => s.write(data));
    let n = 0;
    const kill = () => { s.destroy(); resolve(); };
    s.on('data', (d) => { n += d.length; onData?.(n, kill); });
    s.on('error', () => resolve());
    s.on('close', () => resolve());
    if (killAfterMs >= 0) setTimeout(kill, killAfterMs);
    void killWhen?.then(kill);
  });
}

t.test('abort before the response head: upstream exchange dropped', async (t) => {
  const before = upstreamClosed;
  for (let i = 0; i < 5; i++) {
    // Abort once the upstream has the request: a fixed 100 ms could end before the gateway forwarded
    // it on a loaded machine, and then there is no upstream connection to close.
    const seen = slow.seen.length;
    await openAndKill('GET /slow HTTP/1.1\r\nHost: a\r\n\r\n', -1, undefined, waitFor(() => slow.seen.length > seen, 10_000));
  }
  const ok = await new Promise<boolean>((r) => {
    const deadline = Date.now() + 3000;
    const iv = setInterval(() => {
      if (upstreamClosed - before >= 5) { clearInterval(iv); r(true); } else if (Date.now() > deadline) { clearInterval(iv); r(false); }
    }, 20);
  });
  t.ok(ok, 'each aborted request closed its upstream connection');
  t.equal((await get(gw.port, '/ping')).status, 200);
});

t.test('abort mid-download', async (t) => {
  for (let i = 0; i < 5; i++) {
    await openAndKill('GET /big HTTP/1.1\r\nHost: a\r\n\r\n', -1, (n, kill) => { if (n > 1024 * 1024) kill(); });
  }
  t.equal((await get(gw.port, '/ping')).status, 200);
  const r = await get(gw.port, '/big');
  t.equal(r.body.length, 50 * 1024 * 1024, 'a full download still works');
});

t.test('abort mid-upload', async (t) => {
  for (let i = 0; i < 5; i++) {
    await new Promise<void>((resolve) => {
      const s = connect(gw.port, '127.0.0.1', () => {
        s.write('POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 10000000\r\n\r\n');
        s.write(Buffer.alloc(2 * 1024 * 1024, 2), () => { s.destroy(); resolve(); });
      });
      s.on('error', () => resolve());
    });
  }
  t.equal((await get(gw.port, '/ping')).status, 200);
  const r = await get(gw.port, '/upload', { method: 'POST', body: Buffer.alloc(1024 * 1024, 3) });
  t.equal(r.body, 'ok');
});

t.test('abort during the request head and right after sending it', async (t) => {
  await openAndKill('GET /slow HTTP/1.1\r\nHo', 50);
  await openAndKill('GET /slow HTTP/1.1\r\nHost: a\r\n\r\n', 0);
  await openAndKill('POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nabc', 50);
  t.equal((await get(gw.port, '/ping')).status, 200);
  t.notMatch(gw.output(), /uncaught exception/);
});
