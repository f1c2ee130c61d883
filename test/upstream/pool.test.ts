import t from 'tap';
import { createHash } from 'node:crypto';
import net from 'node:net';
import type { Exchange } from '../../src/upstream/pool.js';
import { header, httpServer, poolFor, rawServer, req, send, shape, sleep, until } from './helpers.js';
import { MALFORMED } from './cases.js';

/** Responses of every framing over real sockets, request serialization, keep-alive, the queue. */

t.test('content-length body from node:http', async (t) => {
  const srv = await httpServer((rq, res) => {
    res.setHeader('content-type', 'text/plain');
    res.setHeader('X-Custom', 'Value');
    res.end(`hello ${rq.method} ${rq.url}`);
  });
  const pool = poolFor(srv.port);
  t.teardown(async () => { pool.close(); await srv.close(); });
  const r = await send(pool, req({ path: '/a/b?c=d' }));
  t.equal(r.error, null);
  t.equal(r.status, 200);
  t.equal(r.hasBody, true);
  t.equal(r.body.toString(), 'hello GET /a/b?c=d');
  t.equal(header(r.headers, 'x-custom'), 'Value', 'names lower-cased, values as sent');
  t.equal(header(r.headers, 'content-length'), '18');
  t.same(shape(r.events), ['head', 'data', 'end']);
  t.equal(pool.outstanding, 0);
  t.same(pool.stats(), { open: 1, idle: 1, busy: 0, queued: 0 });
});

t.test('chunked body with extensions and trailers; socket reused after it', async (t) => {
  const srv = await rawServer(({ socket }) => {
    socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;name=value\r\nhello\r\n');
    setTimeout(() => socket.write('6 ; q="x y"\r\n world\r\n0\r\nX-Trailer: t\r\nX-Other: u\r\n\r\n'), 10);
  });
  const pool = poolFor(srv.port);
  t.teardown(async () => { pool.close(); await srv.close(); });
  for (let i = 0; i < 3; i++) {
    const r = await send(pool, req());
    t.equal(r.error, null);
    t.equal(r.body.toString(), 'hello world');
    t.same(shape(r.events), ['head', 'data', 'end']);
  }
  t.equal(srv.connections, 1, 'one connection for three chunked responses');
});

t.test('chunked body with trailers from node:http', async (t) => {
  const srv = await httpServer((_rq, res) => {
    res.writeHead(200, { 'content-type': 'text/plain', trailer: 'x-checksum' });
    res.write('part one, ');
    setTimeout(() => {
      res.write('part two');
      res.addTrailers({ 'x-checksum': 'abc' });
      res.end();
    }, 10);
  });
  const pool = poolFor(srv.port);
  t.teardown(async () => { pool.close(); await srv.close(); });
  const r = await send(pool, req());
  t.equal(r.error, null);
  t.equal(header(r.headers, 'transfer-encoding'), 'chunked');
  t.equal(r.body.toString(), 'part one, part two');
  t.equal(header(r.headers, 'x-checksum'), undefined, 'trailers are discarded');
});

t.test('close-delimited bodies: HTTP/1.1 without length, HTTP/1.0', async (t) => {
  const srv = await rawServer(({ socket, conn }) => {
    if (conn === 0) socket.end('HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\nread until close');
    else {
      socket.write('HTTP/1.0 200 OK\r\n\r\nold ');
      setTimeout(() => socket.end('server'), 10);
    }
  });
  const pool = poolFor(srv.port);
  t.teardown(async () => { pool.close(); await srv.close(); });
  const a = await send(pool, req());
  t.equal(a.error, null);
  t.equal(a.body.toString(), 'read until close');
  t.equal(a.hasBody, true);
  const b = await send(pool, req());
  t.equal(b.error, null);
  t.equal(b.body.toString(), 'old server');
  t.equal(srv.connections, 2, 'a close-delimited response never leaves its socket reusable');
  await until(() => pool.stats().open === 0, 2000, 'sockets closed');
});

t.test('HTTP/1.0 responses: reused only with Connection: keep-alive', async (t) => {
  const srv = await rawServer(({ socket, head }) => {
    if (head.startsWith('GET /ka')) socket.write('HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nka');
    else socket.write('HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nno');
  });
  const pool = poolFor(srv.port);
  t.teardown(async () => { pool.close(); await srv.close(); });
  t.equal((await send(pool, req({ path: '/ka' }))).body.toString(), 'ka');
  t.equal((await send(pool, req({ path: '/ka' }))).body.toString(), 'ka');
  t.equal(srv.connections, 1);
  t.equal((await send(pool, req({ path: '/no' }))).body.toString(), 'no');
  t.equal((await send(pool, req({ path: '/no' }))).body.toString(), 'no');
  t.equal(srv.connections, 2, 'the plain HTTP/1.0 response closed its socket');
});

t.test('1xx responses are skipped, the final one delivered', async (t) => {
  const srv = await rawServer(({ socket }) => {
    socket.write('HTTP/1.1 100 Continue\r\n\r\n');
    setTimeout(() => socket.write('HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n'), 10);
    setTimeout(() => socket.write('HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ndone'), 20);
  });
  const pool = poolFor(srv.port);
  t.teardown(async () => { pool.close(); await srv.close(); });
  const r = await send(pool, req());
  t.equal(r.error, null);
  t.equal(r.status, 200);
  t.same(r.headers, ['content-length', '4']);
  t.equal(r.body.toString(), 'done');
  t.same(shape(r.events), ['head', 'data', 'end']);
});

t.test('204, 304 and HEAD have no body and leave the socket reusable', async (t) => {
  const srv = await rawServer(({ socket, head }) => {
    if (head.startsWith('GET /204')) socket.write('HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n');
    else if (head.startsWith('GET /304')) socket.write('HTTP/1.1 304 Not Modified\r\nContent-Length: 1234\r\nETag: "e"\r\n\r\n');
    else if (head.startsWith('HEAD') || head.startsWith('GET /h2')) socket.write('HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n');
    else socket.write('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nafter');
  });
  const pool = poolFor(srv.port);
  t.teardown(async () => { pool.close(); await srv.close(); });
  for (const [r, status] of [
    [await send(pool, req({ path: '/204' })), 204],
    [await send(pool, req({ path: '/304' })), 304],
    [await send(pool, req({ method: 'HEAD', path: '/head' })), 200],
    [await send(pool, req({ method: 'GET', head: true, path: '/h2' })), 200],
  ] as const) {
    t.equal(r.error, null);
    t.equal(r.status, status);
    t.equal(r.hasBody, false);
    t.same(r.events, ['head', 'end']);
  }
  const after = await send(pool, req({ path: '/next' }));
  t.equal(after.body.toString(), 'after', 'the next response on the same socket parses');
  t.equal(srv.connections, 1);
});

t.test('a response trickled one byte at a time', async (t) => {
  const payload = 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nslow\r\n5;e=1\r\n bits\r\n0\r\nT: 1\r\n\r\n';
  const srv = await rawServer(({ socket }) => {
    socket.setNoDelay(true);
    let i = 0;
    const next = (): void => {
      if (i >= payload.length || socket.destroyed) return;
      socket.write(payload[i++]!);
      setTimeout(next, 1);
    };
    next();
  });
  const pool = poolFor(srv.port);
  t.teardown(async () => { pool.close(); await srv.close(); });
  const r = await send(pool, req());
  t.equal(r.error, null);
  t.equal(r.body.toString(), 'slow bits');
  t.equal(pool.stats().idle, 1);
});

t.test('a 60 KB response head across many reads', async (t) => {
  const big = 'v'.repeat(60_000);
  const srv = await rawServer(({ socket }) => {
    const s = `HTTP/1.1 200 OK\r\nX-Big: ${big}\r\nContent-Length: 2\r\n\r\nok`;
    socket.write(s.slice(0, 20_000));
    setTimeout(() => socket.write(s.slice(20_000)), 10);
  });
  const pool = poolFor(srv.port);
  t.teardown(async () => { pool.close(); await srv.close(); });
  const r = await send(pool, req());
  t.equal(r.error, null);
  t.equal(header(r.headers, 'x-big'), big);
  t.equal(r.body.toString(), 'ok');
});

t.test('malformed responses end in parse_error and their socket is destroyed', async (t) => {
  const cases = MALFORMED.filter(([name]) => !name.startsWith('bytes after'));
  let current = '';
  const srv = await rawServer(({ socket }) => socket.write(Buffer.from(current, 'latin1')));
  t.teardown(() => srv.close());
  for (const [name, bytes] of cases) {
    current = bytes;
    const pool = poolFor(srv.port);
    const r = await send(pool, req());
    t.equal(r.error?.kind, 'parse_error', name);
    t.equal(r.events.at(-1), 'error', `${name}: ends with onError`);
    t.equal(r.events.filter((e) => e === 'end' || e === 'error').length, 1, `${name}: one terminal callback`);
    t.equal(pool.stats().open, 0, `${name}: socket destroyed`);
    t.equal(pool.outstanding, 0);
    pool.close();
  }
});

t.test('bytes after a complete response (pipelining we never asked for) are a parse error', async (t) => {
  const srv = await rawServer(({ socket }) => {
    socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n');
  });
  const pool = poolFor(srv.port);
  t.teardown(async () => { pool.close(); await srv.close(); });
  const r = await send(pool, req());
  t.equal(r.error?.kind, 'parse_error');
  t.equal(r.error?.responseStarted, true);
  t.equal(r.error?.retryable, false);
  t.equal(pool.stats().open, 0);
});

t.test('bytes arriving on an idle socket close it; the next request uses a new one', async (t) => {
  const srv = await rawServer(({ socket }) => {
    socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
    setTimeout(() => socket.write('garbage'), 30);
  });
  const pool = poolFor(srv.port);
  t.teardown(async () => { pool.close(); await srv.close(); });
  const a = await send(pool, req());
  t.equal(a.error, null);
  await until(() => pool.stats().open === 0, 2000, 'idle socket with stray bytes closed');
  const b = await send(pool, req());
  t.equal(b.error, null);
  t.equal(srv.connections, 2);
});

t.test('keep-alive reuse: sequential requests share one socket, concurrent ones are capped', async (t) => {
  const srv = await httpServer((_rq, res) => setTimeout(() => res.end('x'), 5));
  const pool = poolFor(srv.port, { maxSockets: 4 });
  t.teardown(async () => { pool.close(); await srv.close(); });
  for (let i = 0; i < 20; i++) t.equal((await send(pool, req(), { settleMs: 0 })).body.toString(), 'x');
  t.equal(srv.connections, 1, '20 sequential requests, 1 connection');
  const all = await Promise.all(Array.from({ length: 12 }, () => send(pool, req(), { settleMs: 0 })));
  t.ok(all.every((r) => r.error === null && r.body.toString() === 'x'));
  t.equal(srv.connections, 4, '12 concurrent requests through maxSockets 4');
  t.same(pool.stats(), { open: 4, idle: 4, busy: 0, queued: 0 });
});

t.test('idle sockets are reused last-in first-out', async (t) => {
  // Three requests in flight; the server answers them in arrival order, 20 ms apart.
  let n = 0;
  const srv = await rawServer(({ socket }) => {
    const delay = 20 * ++n;
    setTimeout(() => socket.write('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'), n <= 3 ? delay : 0);
  });
  const pool = poolFor(srv.port);
  t.teardown(async () => { pool.close(); await srv.close(); });
  await Promise.all([send(pool, req()), send(pool, req()), send(pool, req())]);
  const lastAnswered = srv.requests[2]!.conn;
  await send(pool, req());
  t.equal(srv.requests[3]!.conn, lastAnswered, 'the most recently released socket serves the next request');
});

t.test('Connection: close from the upstream is honoured', async (t) => {
  const srv = await httpServer((_rq, res) => {
    res.setHeader('connection', 'close');
    res.end('bye');
  });
  const pool = poolFor(srv.port);
  t.teardown(async () => { pool.close(); await srv.close(); });
  for (let i = 0; i < 3; i++) {
    const r = await send(pool, req());
    t.equal(r.error, null);
    t.equal(r.body.toString(), 'bye');
  }
  t.equal(srv.connections, 3, 'one connection per response');
  t.equal(pool.stats().open, 0);
});

t.test('idle timeout closes unused sockets', async (t) => {
  let closed = 0;
  const srv = await httpServer((_rq, res) => res.end('x'));
  srv.server.on('connection', (s) => s.on('close', () => closed++));
  // 1 s, not 150 ms: the socket is idle ~70 ms (settle + sleep) before its reuse, which a busy machine can stretch past 150.
  const pool = poolFor(srv.port, { idleTimeoutMs: 1000 });
  t.teardown(async () => { pool.close(); await srv.close(); });
  await send(pool, req());
  await sleep(50);
  await send(pool, req());
  t.equal(srv.connections, 1, 'reused within the idle timeout');
  await until(() => pool.stats().open === 0, 5000, 'idle socket expired');
  await until(() => closed === 1, 2000, 'server saw the close');
  await send(pool, req());
  t.equal(srv.connections, 2);
});

t.test('request serialization: request line, caller headers, our framing only', async (t) => {
  const srv = await rawServer(({ socket }) => socket.write('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'));
  const pool = poolFor(srv.port);
  t.teardown(async () => { pool.close(); await srv.close(); });

  await send(pool, req({ path: '/x?y=1', headers: 'host: example.com\r\nx-a: 1\r\n' }));
  t.equal(srv.requests[0]!.head, 'GET /x?y=1 HTTP/1.1\r\nhost: example.com\r\nx-a: 1\r\n\r\n', 'GET: no framing headers');

  await send(pool, req({ method: 'POST', idempotent: false }));
  t.match(srv.requests[1]!.head, /^POST \/ HTTP\/1\.1\r\nhost: 127\.0\.0\.1\r\ncontent-length: 0\r\n\r\n$/, 'POST without body: content-length: 0');

  await send(pool, req({ method: 'PUT', body: Buffer.from('{"a":1}') }));
  t.match(srv.requests[2]!.head, /\r\ncontent-length: 7\r\n\r\n$/);
  t.equal(srv.requests[2]!.body.toString(), '{"a":1}');

  const big = Buffer.alloc(300_000, 'z');
  await send(pool, req({ method: 'POST', body: big, idempotent: false }));
  t.equal(srv.requests[3]!.body.length, 300_000, 'large Buffer body (corked path)');

  await send(pool, req({
    method: 'POST', body: Buffer.from('abc'),
    headers: 'host: h\r\nContent-Length: 99\r\nTransfer-Encoding: chunked\r\nConnection: close\r\nKeep-Alive: timeout=5\r\nUpgrade: h2c\r\nx-keep: yes\r\n',
  }));
  t.equal(srv.requests[4]!.head, 'POST / HTTP/1.1\r\nhost: h\r\nx-keep: yes\r\ncontent-length: 3\r\n\r\n', 'caller framing and connection headers dropped');
  t.equal(srv.requests[4]!.body.toString(), 'abc');

  await send(pool, req({ headers: 'host: h\r\nx-utf8: Zoë\r\n' }));
  t.ok(srv.requests[5]!.head.includes(`x-utf8: ${Buffer.from('Zoë', 'utf8').toString('latin1')}`), 'headers are sent as UTF-8');

  await send(pool, req({ headers: 'host: h\r\nCONTENT-LENGTH: 5\r\ncontent-type: text/plain\r\nconnection-id: 7\r\nx-tab:\ta\tb\r\n' }));
  t.equal(srv.requests[6]!.head, 'GET / HTTP/1.1\r\nhost: h\r\ncontent-type: text/plain\r\nconnection-id: 7\r\nx-tab:\ta\tb\r\n\r\n',
    'only exact owned names are dropped, in any case');

  t.equal(srv.connections, 1);
});

t.test('streamed request bodies: Content-Length when known, chunked otherwise', async (t) => {
  const srv = await rawServer(({ socket }) => socket.write('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'));
  const pool = poolFor(srv.port);
  t.teardown(async () => { pool.close(); await srv.close(); });

  await send(pool, req({ method: 'PUT', body: 'stream', contentLength: 10 }), {
    started: (ex) => { ex.write(Buffer.from('01234')); ex.write(Buffer.from('56789')); ex.end(); },
  });
  t.match(srv.requests[0]!.head, /\r\ncontent-length: 10\r\n\r\n$/);
  t.equal(srv.requests[0]!.body.toString(), '0123456789');

  await send(pool, req({ method: 'POST', body: 'stream', idempotent: false }), {
    started: (ex) => {
      ex.write(Buffer.from('hello '));
      ex.write(Buffer.alloc(0));
      setTimeout(() => { ex.write(Buffer.from('world')); ex.end(); }, 10);
    },
  });
  t.match(srv.requests[1]!.head, /\r\ntransfer-encoding: chunked\r\n\r\n$/);
  t.equal(srv.requests[1]!.body.toString(), 'hello world', 'chunked framing decodes to the body (empty write sent nothing)');

  await send(pool, req({ method: 'POST', body: 'stream', idempotent: false }), { started: (ex) => ex.end() });
  t.equal(srv.requests[2]!.body.length, 0, 'empty chunked body');
  t.equal(srv.connections, 1, 'all on one kept-alive socket');
});

t.test('invalid requests fail with invalid_request after request() returns', async (t) => {
  const srv = await rawServer(({ socket }) => socket.write('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'));
  const pool = poolFor(srv.port);
  t.teardown(async () => { pool.close(); await srv.close(); });
  for (const [what, r] of [
    ['method with space', req({ method: 'GE T' })],
    ['CRLF in path', req({ path: '/a\r\nx-injected: 1' })],
    ['space in path', req({ path: '/a b' })],
    ['empty path', req({ path: '' })],
    ['headers not ending in CRLF', req({ headers: 'host: h' })],
    ['empty line in headers', req({ headers: 'host: h\r\n\r\nGET /smuggled HTTP/1.1\r\n' })],
    ['bare LF in headers', req({ headers: 'host: h\nx-a: 1\r\n' })],
    ['obs-fold in headers', req({ headers: 'host: h\r\n x-a: 1\r\n' })],
    ['bare CR in a header value', req({ headers: 'host: h\r\nx-a: 1\rcontent-length: 5\r\n' })],
    ['control character in a header value', req({ headers: 'host: h\r\nx-a: 1\x01\r\n' })],
    ['NUL in a header value', req({ headers: 'host: h\r\nx-a: 1\x00\r\n' })],
    ['space before the colon', req({ headers: 'host: h\r\ncontent-length : 5\r\n' })],
    ['line without a colon', req({ headers: 'host: h\r\nnocolon\r\n' })],
    ['bad contentLength', req({ method: 'POST', body: 'stream', contentLength: -1 })],
  ] as const) {
    const res = await send(pool, r);
    t.equal(res.error?.kind, 'invalid_request', what);
    t.equal(res.error?.requestSent, false);
    t.same(res.events, ['error'], 'one onError, not from inside request()');
  }
  t.equal(srv.requests.length, 0, 'nothing reached the upstream');
  t.equal(pool.outstanding, 0);
});

t.test('a streamed body that breaks its contentLength never reaches the upstream beyond it', async (t) => {
  const srv = await rawServer(() => {});
  const pool = poolFor(srv.port);
  t.teardown(async () => { pool.close(); await srv.close(); });
  const over = await send(pool, req({ method: 'PUT', body: 'stream', contentLength: 3 }), {
    started: (ex) => { ex.write(Buffer.from('ab')); t.equal(ex.write(Buffer.from('cd')), true); },
  });
  t.equal(over.error?.kind, 'invalid_request');
  const short = await send(pool, req({ method: 'PUT', body: 'stream', contentLength: 3 }), {
    started: (ex) => { ex.write(Buffer.from('ab')); ex.end(); },
  });
  t.equal(short.error?.kind, 'invalid_request');
  t.equal(pool.stats().open, 0, 'both sockets destroyed');
  t.equal(srv.requests.length, 0, 'the upstream never got a complete request');
});

t.test('bounded queue: pool_full when full, then served in order', async (t) => {
  const srv = await httpServer((rq, res) => setTimeout(() => res.end(rq.url), 100));
  const pool = poolFor(srv.port, { maxSockets: 1, maxQueue: 1 });
  t.teardown(async () => { pool.close(); await srv.close(); });
  const a = send(pool, req({ path: '/a' }));
  const b = send(pool, req({ path: '/b' }));
  const c = send(pool, req({ path: '/c' }));
  t.same(pool.stats(), { open: 1, idle: 0, busy: 1, queued: 1 });
  t.equal(pool.outstanding, 3);
  const rc = await c;
  t.equal(rc.error?.kind, 'pool_full');
  t.same(rc.events, ['error'], 'not from inside request()');
  t.equal(rc.error?.requestSent, false);
  t.equal(rc.error?.retryable, true);
  t.equal(pool.outstanding, 2);
  t.equal((await a).body.toString(), '/a');
  t.equal((await b).body.toString(), '/b');
  t.equal(srv.connections, 1, 'the queued request took over the released socket');
  t.equal(pool.outstanding, 0);
});

t.test('queue wait timeout → pool_full', async (t) => {
  const srv = await httpServer((_rq, res) => setTimeout(() => res.end('slow'), 600));
  const pool = poolFor(srv.port, { maxSockets: 1, queueTimeoutMs: 100 });
  t.teardown(async () => { pool.close(); await srv.close(); });
  const a = send(pool, req());
  const t0 = Date.now();
  const b = await send(pool, req());
  t.equal(b.error?.kind, 'pool_full');
  t.ok(Date.now() - t0 >= 90, 'not before the queue timeout');
  t.equal(pool.stats().queued, 0);
  t.equal((await a).body.toString(), 'slow');
});

t.test('aborting a queued request removes it from the queue', async (t) => {
  const srv = await httpServer((rq, res) => setTimeout(() => res.end(rq.url), 50));
  const pool = poolFor(srv.port, { maxSockets: 1 });
  t.teardown(async () => { pool.close(); await srv.close(); });
  const a = send(pool, req({ path: '/a' }));
  const b = send(pool, req({ path: '/b' }), { started: (ex) => ex.abort() });
  const c = send(pool, req({ path: '/c' }));
  t.equal(pool.stats().queued, 1);
  t.equal((await a).body.toString(), '/a');
  t.equal((await c).body.toString(), '/c');
  await Promise.race([b.then(() => t.fail('aborted request must get no callback')), sleep(100)]);
  t.equal(pool.outstanding, 0);
});

t.test('response backpressure: no onData between returning false and resume()', async (t) => {
  const total = 8 * 1024 * 1024;
  const hash = createHash('sha256');
  const srv = await httpServer((_rq, res) => {
    res.setHeader('content-length', total);
    const chunk = Buffer.alloc(64 * 1024);
    let sent = 0;
    const pump = (): void => {
      while (sent < total) {
        for (let i = 0; i < chunk.length; i += 4096) chunk[i] = (sent + i) & 0xff;
        hash.update(chunk);
        sent += chunk.length;
        if (!res.write(chunk)) return void res.once('drain', pump);
      }
      res.end();
    };
    pump();
  });
  const pool = poolFor(srv.port);
  t.teardown(async () => { pool.close(); await srv.close(); });
  let paused = false;
  let violations = 0;
  let pauses = 0;
  const got = createHash('sha256');
  const r = await send(pool, req({ timeoutMs: 30_000 }), {
    onData: (chunk, ex) => {
      if (paused) violations++;
      got.update(chunk);
      if (++pauses % 3 !== 0) return true;
      paused = true;
      setTimeout(() => { paused = false; ex.resume(); }, 1);
      return false;
    },
  });
  t.equal(r.error, null);
  t.equal(violations, 0, 'nothing delivered while paused');
  t.ok(pauses > 10);
  t.equal(r.body.length, total);
  t.equal(got.digest('hex'), hash.digest('hex'), 'bytes intact');
});

t.test('exchange.pause() before the body holds it until resume()', async (t) => {
  const srv = await httpServer((_rq, res) => res.end('held body'));
  const pool = poolFor(srv.port);
  t.teardown(async () => { pool.close(); await srv.close(); });
  let resumedAt = 0;
  let dataAt = 0;
  const r = await send(pool, req(), {
    onHead: (ex) => {
      ex.pause();
      setTimeout(() => { resumedAt = Date.now(); ex.resume(); }, 60);
    },
    onData: () => { dataAt = Date.now(); return true; },
  });
  t.equal(r.error, null);
  t.equal(r.body.toString(), 'held body');
  t.ok(resumedAt > 0 && dataAt >= resumedAt, 'data only after resume');
});

t.test('pool.close() ends everything with errors and refuses new requests', async (t) => {
  const srv = await httpServer(() => { /* never answers */ });
  const pool = poolFor(srv.port, { maxSockets: 1 });
  t.teardown(() => srv.close());
  const a = send(pool, req());
  const b = send(pool, req());
  await until(() => srv.connections === 1, 2000, 'connection');
  pool.close();
  t.equal((await a).error?.kind, 'reset');
  t.equal((await b).error?.kind, 'pool_full');
  t.equal((await send(pool, req())).error?.kind, 'pool_full');
  t.same(pool.stats(), { open: 0, idle: 0, busy: 0, queued: 0 });
  t.equal(pool.outstanding, 0);
});

t.test('an early response while the body is still streaming: delivered, socket not reused', async (t) => {
  // Answers as soon as the head arrives, before any body byte (rawServer waits for whole bodies).
  let answered = 0;
  const early = net.createServer((s) => {
    s.on('error', () => {});
    s.once('data', () => { answered++; s.write('HTTP/1.1 413 Payload Too Large\r\nContent-Length: 3\r\n\r\nbig'); });
  });
  await new Promise<void>((r) => early.listen(0, '127.0.0.1', r));
  const port = (early.address() as net.AddressInfo).port;
  const pool = poolFor(port);
  t.teardown(async () => { pool.close(); await new Promise((r) => early.close(r)); });
  let ex!: Exchange;
  const r = await send(pool, req({ method: 'PUT', body: 'stream', contentLength: 1_000_000 }), {
    started: (e) => { ex = e; e.write(Buffer.alloc(1000)); },
  });
  t.equal(r.error, null);
  t.equal(r.status, 413);
  t.equal(r.body.toString(), 'big');
  t.equal(answered, 1);
  t.equal(ex.write(Buffer.alloc(1000)), true, 'writes after the end are dropped');
  ex.end();
  t.equal(pool.stats().open, 0, 'the half-sent request made the socket unusable');
  t.equal(pool.outstanding, 0);
});

t.test('a long queue with most entries aborted still serves the rest in order', async (t) => {
  const srv = await httpServer((rq, res) => setTimeout(() => res.end(rq.url), 1));
  const pool = poolFor(srv.port, { maxSockets: 1, maxQueue: 5000 });
  t.teardown(async () => { pool.close(); await srv.close(); });
  const order: string[] = [];
  const done: Promise<unknown>[] = [];
  for (let i = 0; i < 3000; i++) {
    const keep = i % 300 === 0;
    const p = send(pool, req({ path: `/${i}` }), {
      settleMs: 0,
      started: (ex) => { if (!keep) setTimeout(() => ex.abort(), 0); },
      onEnd: () => order.push(String(i)),
    });
    if (keep) done.push(p);
  }
  await Promise.all(done);
  t.same(order, ['0', '300', '600', '900', '1200', '1500', '1800', '2100', '2400', '2700']);
  t.equal(pool.outstanding, 0);
  t.equal(pool.stats().queued, 0);
});

t.test('the pool rejects an invalid port at construction', async (t) => {
  t.throws(() => poolFor(0), RangeError);
  t.throws(() => poolFor(70000), RangeError);
});
