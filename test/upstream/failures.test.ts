import t from 'tap';
import net from 'node:net';
import { Worker } from 'node:worker_threads';
import type { Captured } from './helpers.js';
import { httpServer, poolFor, rawServer, req, send, shape, sleep, until } from './helpers.js';

/** Connection failures, timeouts, the keep-alive race, and abort. */

const OK = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok';

/**
 * Runs two requests where the second is issued from inside the first one's onEnd, so it goes out
 * on the socket the first one just released, before we have seen the upstream close it.
 */
function raceTwo(pool: ReturnType<typeof poolFor>, second: Parameters<typeof send>[1], hooks: Parameters<typeof send>[2] = {}): Promise<[Captured, Captured]> {
  return new Promise((resolve) => {
    let b: Promise<Captured> | null = null;
    void send(pool, req(), { onEnd: () => { b = send(pool, second, hooks); } }).then(async (a) => {
      resolve([a, await b!]);
    });
  });
}

for (const how of ['FIN', 'RST'] as const) {
  t.test(`keep-alive race (${how} right after the response): retried transparently`, async (t) => {
    const srv = await rawServer(({ socket, seq }) => {
      if (seq > 0) return; // a request on a socket we are closing is never answered
      socket.write(OK);
      if (how === 'FIN') socket.end();
      else setImmediate(() => socket.resetAndDestroy());
    });
    const pool = poolFor(srv.port);
    t.teardown(async () => { pool.close(); await srv.close(); });

    const [a, b] = await raceTwo(pool, req({ path: '/second' }));
    t.equal(a.error, null);
    t.equal(b.error, null, 'the race never surfaces');
    t.equal(b.body.toString(), 'ok');
    t.same(shape(b.events), ['head', 'data', 'end']);
    t.equal(srv.connections, 2, 'the retry went out on a fresh connection');

    // Bodies known up-front are replayed even for non-idempotent methods.
    const [, c] = await raceTwo(pool, req({ method: 'POST', idempotent: false, body: Buffer.from('payload') }));
    t.equal(c.error, null, 'POST with a Buffer body is retried');
    t.equal(srv.requests.at(-1)!.body.toString(), 'payload', 'with its body');
    t.equal(pool.outstanding, 0);
  });
}

t.test('keep-alive race with a streamed non-idempotent body is not replayed', async (t) => {
  const srv = await rawServer(({ socket, seq }) => {
    if (seq > 0) return;
    socket.write(OK);
    socket.end();
  });
  const pool = poolFor(srv.port);
  t.teardown(async () => { pool.close(); await srv.close(); });
  const [, b] = await raceTwo(pool, req({ method: 'POST', idempotent: false, body: 'stream' }), {
    started: (ex) => { ex.write(Buffer.from('data')); ex.end(); },
  });
  t.ok(b.error !== null && ['closed_before_response', 'reset'].includes(b.error.kind), `surfaced as ${b.error?.kind}`);
  t.equal(b.error?.requestSent, true);
  t.equal(b.error?.responseStarted, false);
  t.equal(b.error?.retryable, false, 'not idempotent and sent: the caller must not retry');
  t.equal(srv.connections, 1, 'no transparent retry');
});

t.test('a fresh socket closed before any response is not retried', async (t) => {
  const srv = await rawServer(({ socket }) => socket.destroy());
  const pool = poolFor(srv.port);
  t.teardown(async () => { pool.close(); await srv.close(); });
  const get = await send(pool, req());
  t.ok(get.error !== null && ['closed_before_response', 'reset'].includes(get.error.kind), `GET: ${get.error?.kind}`);
  t.equal(get.error?.requestSent, true);
  t.equal(get.error?.retryable, true, 'idempotent, no response byte: the caller may retry');
  const post = await send(pool, req({ method: 'POST', idempotent: false, body: Buffer.from('x') }));
  t.equal(post.error?.retryable, false, 'non-idempotent and sent');
  t.equal(srv.connections, 2, 'one connection per request, no retry');
  t.same(post.events, ['error']);
});

t.test('connect refused', async (t) => {
  const probe = net.createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const port = (probe.address() as net.AddressInfo).port;
  await new Promise((r) => probe.close(r));
  const pool = poolFor(port);
  t.teardown(() => pool.close());
  const r = await send(pool, req({ method: 'POST', idempotent: false, body: Buffer.from('x') }));
  t.equal(r.error?.kind, 'connect_refused');
  t.equal(r.error?.code, 'ECONNREFUSED');
  t.equal(r.error?.requestSent, false);
  t.equal(r.error?.retryable, true, 'never sent, so even a POST may go elsewhere');
  t.same(r.events, ['error']);
  t.same(pool.stats(), { open: 0, idle: 0, busy: 0, queued: 0 });
});

/**
 * A listener that never accepts: a worker thread listens with backlog 1 and then blocks its event
 * loop, so the kernel accept queue fills (2 connections on Linux) and later SYNs are dropped;
 * a connect then hangs exactly as to a black-holed host.
 */
async function blackHole(): Promise<{ port: number; close: () => Promise<void> }> {
  const sab = new SharedArrayBuffer(4);
  const w = new Worker(`
    const { parentPort, workerData } = require('node:worker_threads');
    const net = require('node:net');
    const flag = new Int32Array(workerData.sab);
    const srv = net.createServer(() => {});
    srv.listen({ port: 0, host: '127.0.0.1', backlog: 1 }, () => {
      setTimeout(() => {
        // The port goes out only now: from here on this thread never returns to its event loop, so
        // it accepts none of the fillers (a fixed wait in the caller could end before it blocked).
        parentPort.postMessage(srv.address().port);
        while (Atomics.load(flag, 0) === 0) Atomics.wait(flag, 0, 0, 500);
        srv.close();
        process.exit(0);
      }, 20);
    });
  `, { eval: true, workerData: { sab } });
  const port = await new Promise<number>((r) => w.once('message', r));
  await sleep(100);
  const fillers: net.Socket[] = [];
  for (let i = 0; i < 6; i++) {
    const s = net.connect(port, '127.0.0.1');
    s.on('error', () => {});
    fillers.push(s);
  }
  await sleep(200);
  return {
    port,
    close: async () => {
      for (const s of fillers) s.destroy();
      const flag = new Int32Array(sab);
      Atomics.store(flag, 0, 1);
      Atomics.notify(flag, 0);
      await new Promise((r) => w.once('exit', r));
    },
  };
}

t.test('connect timeout (listener with a full accept queue)', async (t) => {
  const hole = await blackHole();
  const pool = poolFor(hole.port);
  t.teardown(async () => { pool.close(); await hole.close(); });
  const t0 = Date.now();
  const r = await send(pool, req({ connectTimeoutMs: 200, timeoutMs: 5000 }));
  t.equal(r.error?.kind, 'connect_timeout');
  t.equal(r.error?.requestSent, false);
  t.equal(r.error?.retryable, true);
  t.ok(Date.now() - t0 >= 195, 'not before connectTimeoutMs');
  t.equal(pool.stats().open, 0, 'the connecting socket was destroyed');

  const total = await send(pool, req({ connectTimeoutMs: 2000, timeoutMs: 150 }));
  t.equal(total.error?.kind, 'timeout', 'the total budget bounds the connect too');
});

t.test('total timeout before any response byte', async (t) => {
  const srv = await rawServer(() => { /* never answers */ });
  const pool = poolFor(srv.port);
  t.teardown(async () => { pool.close(); await srv.close(); });
  const t0 = Date.now();
  const r = await send(pool, req({ timeoutMs: 200 }));
  t.equal(r.error?.kind, 'timeout');
  t.ok(Date.now() - t0 >= 195, 'not before timeoutMs');
  t.equal(r.error?.requestSent, true);
  t.equal(r.error?.responseStarted, false);
  t.equal(r.error?.retryable, true, 'GET with no response byte');
  t.same(r.events, ['error']);
  await until(() => srv.sockets.size === 0, 2000, 'upstream socket closed');
  t.equal(pool.stats().open, 0);
});

t.test('total timeout mid-body: onError after onHead', async (t) => {
  const srv = await rawServer(({ socket }) => socket.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial'));
  const pool = poolFor(srv.port);
  t.teardown(async () => { pool.close(); await srv.close(); });
  // 1 s, not 200 ms: the head must arrive before the timeout, also when a busy machine stalls this process.
  const r = await send(pool, req({ timeoutMs: 1000 }));
  t.same(shape(r.events), ['head', 'data', 'error']);
  t.equal(r.error?.kind, 'timeout');
  t.equal(r.error?.responseStarted, true);
  t.equal(r.error?.retryable, false);
  t.equal(r.body.toString(), 'partial');
});

t.test('reset mid-body: onError(reset) after onHead', async (t) => {
  const srv = await rawServer(({ socket }) => {
    socket.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789');
    setTimeout(() => socket.resetAndDestroy(), 20);
  });
  const pool = poolFor(srv.port);
  t.teardown(async () => { pool.close(); await srv.close(); });
  const r = await send(pool, req());
  t.same(shape(r.events), ['head', 'data', 'error']);
  t.equal(r.error?.kind, 'reset');
  t.equal(r.error?.code, 'ECONNRESET');
  t.equal(r.error?.responseStarted, true);
  t.equal(r.error?.retryable, false);
  t.equal(pool.stats().open, 0);
});

t.test('upstream closes mid-body (Content-Length and chunked): reset, never a short success', async (t) => {
  const srv = await rawServer(({ socket, head }) => {
    if (head.startsWith('GET /cl')) socket.end('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort');
    else if (head.startsWith('GET /chunked')) socket.end('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nshort\r\n');
    else socket.end('HTTP/1.1 200 OK\r\nContent-Le');
  });
  const pool = poolFor(srv.port);
  t.teardown(async () => { pool.close(); await srv.close(); });
  for (const path of ['/cl', '/chunked']) {
    const r = await send(pool, req({ path }));
    t.same(shape(r.events), ['head', 'data', 'error'], path);
    t.equal(r.error?.kind, 'reset', path);
  }
  const half = await send(pool, req({ path: '/half-head' }));
  t.equal(half.error?.kind, 'closed_before_response', 'cut inside the head');
  t.equal(half.error?.responseStarted, true);
  t.equal(half.error?.retryable, false, 'response bytes arrived');
});

t.test('abort mid-stream: socket destroyed, never reused, no callbacks after', async (t) => {
  let serverSawClose = false;
  const srv = await httpServer((rq, res) => {
    if (rq.url === '/small') return void res.end('small');
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    const timer = setInterval(() => res.write(Buffer.alloc(16 * 1024, 1)), 2);
    res.on('close', () => { clearInterval(timer); serverSawClose = true; });
  });
  const pool = poolFor(srv.port);
  t.teardown(async () => { pool.close(); await srv.close(); });

  const events: string[] = [];
  let chunks = 0;
  const ex = pool.request(req({ path: '/stream' }), {
    onHead: () => events.push('head'),
    onData: () => {
      events.push('data');
      if (++chunks === 3) {
        ex.abort();
        ex.abort(); // idempotent
      }
      return true;
    },
    onEnd: () => events.push('end'),
    onError: () => events.push('error'),
  });
  await until(() => serverSawClose, 3000, 'upstream saw the socket close');
  await sleep(100);
  t.same(events, ['head', 'data', 'data', 'data'], 'nothing after abort(), even from the same read');
  t.equal(pool.outstanding, 0);
  t.same(pool.stats(), { open: 0, idle: 0, busy: 0, queued: 0 });
  const before = srv.connections;
  const r = await send(pool, req({ path: '/small' }));
  t.equal(r.body.toString(), 'small');
  t.equal(srv.connections, before + 1, 'the aborted socket was not reused');
});

t.test('abort before the response and while connecting', async (t) => {
  const srv = await rawServer(({ socket }) => setTimeout(() => socket.write(OK), 30));
  const pool = poolFor(srv.port);
  t.teardown(async () => { pool.close(); await srv.close(); });
  const events: string[] = [];
  const sink = {
    onHead: () => events.push('head'), onData: () => { events.push('data'); return true; },
    onEnd: () => events.push('end'), onError: () => events.push('error'),
  };
  pool.request(req(), sink).abort(); // still connecting
  const ex = pool.request(req(), sink);
  await until(() => srv.requests.length >= 1, 2000, 'request arrived');
  ex.abort(); // request sent, no response yet
  await sleep(100);
  t.same(events, []);
  t.same(pool.stats(), { open: 0, idle: 0, busy: 0, queued: 0 });
  t.equal(pool.outstanding, 0);
});
