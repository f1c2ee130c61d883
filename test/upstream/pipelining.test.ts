import t from 'tap';
import { UpstreamPool, type Exchange, type ResponseSink } from '../../src/upstream/pool.js';
import { header, httpServer, poolFor, rawServer, req, send, shape, sleep, until, type Captured, type RawRequest, type SendHooks } from './helpers.js';

/**
 * HTTP/1.1 pipelining (pool option `pipelining` > 1): bodiless idempotent requests started in the
 * same event-loop turn share a socket and one write; responses are matched in order; whatever
 * ends a socket early sends the unanswered requests again; aborts and timeouts of one request
 * leave the others alone. Real sockets: hand-written upstream bytes and node:http.
 */

/** The request path of a raw request head. */
const pathOf = (r: RawRequest): string => r.head.split(' ')[1]!;

function ok(body: string, extra = ''): string {
  return `HTTP/1.1 200 OK\r\ncontent-length: ${Buffer.byteLength(body)}\r\n${extra}\r\n${body}`;
}

/** A sink that logs every callback into `heard` (for exchanges that must hear nothing after abort). */
function logSink(heard: string[], onData: () => void = () => {}): ResponseSink {
  return {
    onHead: () => { heard.push('head'); }, onData: () => { heard.push('data'); onData(); return true; },
    onEnd: () => { heard.push('end'); }, onError: () => { heard.push('error'); },
  };
}

/**
 * An upstream whose first socket answers only its first request, with `first` (which may also
 * close it, or write nothing); every other socket answers each request with its path.
 */
function firstSocketFails(first: (r: RawRequest) => void): ReturnType<typeof rawServer> {
  return rawServer((r) => {
    if (r.conn === 0) {
      if (r.seq === 0) first(r);
      return;
    }
    r.socket.write(ok(pathOf(r)));
  });
}

/** Starts `n` requests in one turn (paths /0 … /n-1); resolves with each one's outcome. */
function burst(pool: UpstreamPool, n: number, over: (i: number) => Partial<Parameters<typeof req>[0]> = () => ({}), hooks: (i: number) => SendHooks = () => ({})): Promise<Captured[]> {
  const all: Promise<Captured>[] = [];
  for (let i = 0; i < n; i++) all.push(send(pool, req({ path: `/${i}`, ...over(i) }), hooks(i)));
  return Promise.all(all);
}

t.test('requests of one turn share sockets, one write each, answered in order', async (t) => {
  const srv = await rawServer((r) => r.socket.write(ok(`answer ${pathOf(r)}`)));
  const pool = poolFor(srv.port, { pipelining: 4 });
  t.teardown(async () => { pool.close(); await srv.close(); });
  const rs = await burst(pool, 10);
  rs.forEach((r, i) => {
    t.equal(r.error, null, `request ${i}: no error`);
    t.equal(r.body.toString(), `answer /${i}`, `request ${i}: its own response`);
    t.same(shape(r.events), ['head', 'data', 'end']);
  });
  t.equal(srv.connections, 3, '10 requests at 4 per socket: 3 sockets');
  t.same(srv.reads, [1, 1, 1], 'each socket got its requests in one write');
  t.same(srv.requests.map((r) => r.seq), [0, 1, 2, 3, 0, 1, 2, 3, 0, 1]);
  t.equal(pool.outstanding, 0);
  t.same(pool.stats(), { open: 3, idle: 3, busy: 0, queued: 0 });

  // The next turn reuses the idle sockets, again pipelined.
  const again = await burst(pool, 8);
  again.forEach((r, i) => t.equal(r.body.toString(), `answer /${i}`));
  t.equal(srv.connections, 3, 'no new socket');
});

t.test('pipelining 1 (the default) sends one request per socket', async (t) => {
  const srv = await rawServer((r) => r.socket.write(ok(pathOf(r))));
  const pool = poolFor(srv.port);
  t.teardown(async () => { pool.close(); await srv.close(); });
  const rs = await burst(pool, 5);
  rs.forEach((r, i) => t.equal(r.body.toString(), `/${i}`));
  t.equal(srv.connections, 5);
  t.same(srv.requests.map((r) => r.seq), [0, 0, 0, 0, 0]);
});

t.test('responses in one read: content-length, chunked, HEAD, 204, 304 and a 100 Continue', async (t) => {
  const answers = [
    ok('first'),
    'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\nx-t: 1\r\n\r\n',
    'HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n', // HEAD: no body despite the length
    'HTTP/1.1 204 No Content\r\n\r\n',
    'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 304 Not Modified\r\ncontent-length: 9\r\n\r\n',
    ok('last'),
  ];
  const srv = await rawServer((r) => {
    // All six answers in one write, once the sixth request is in.
    if (r.seq === 5) r.socket.write(answers.join(''));
  });
  const pool = poolFor(srv.port, { pipelining: 8 });
  t.teardown(async () => { pool.close(); await srv.close(); });
  const rs = await burst(pool, 6, (i) => (i === 2 ? { method: 'HEAD' } : {}));
  t.equal(srv.connections, 1);
  t.same(rs.map((r) => r.error), [null, null, null, null, null, null]);
  t.same(rs.map((r) => r.status), [200, 200, 200, 204, 304, 200]);
  t.same(rs.map((r) => r.body.toString()), ['first', 'abcde', '', '', '', 'last']);
  t.same(rs.map((r) => r.hasBody), [true, true, false, false, false, true]);
  t.equal(header(rs[2]!.headers, 'content-length'), '5');
  t.equal(pool.stats().idle, 1, 'socket kept after the pipeline');
});

t.test('a response split across reads at every byte boundary hands over to the next', async (t) => {
  const two = ok('one') + 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\ntwo\r\n0\r\n\r\n';
  for (const cut of [1, 17, two.indexOf('one') + 3, two.indexOf('one') + 4, two.length - 3]) {
    const srv = await rawServer((r) => {
      if (r.seq !== 1) return;
      r.socket.write(two.slice(0, cut));
      setTimeout(() => r.socket.write(two.slice(cut)), 15);
    });
    const pool = poolFor(srv.port, { pipelining: 2 });
    const rs = await burst(pool, 2);
    t.same(rs.map((r) => r.body.toString()), ['one', 'two'], `cut at ${cut}`);
    pool.close();
    await srv.close();
  }
});

t.test('requests with a body or non-idempotent ones are never pipelined', async (t) => {
  const srv = await rawServer((r) => r.socket.write(ok(`${r.head.split(' ')[0]} ${pathOf(r)} ${r.body.length}`)));
  const pool = poolFor(srv.port, { pipelining: 8 });
  t.teardown(async () => { pool.close(); await srv.close(); });
  const rs = await burst(pool, 5, (i) => (
    i === 1 ? { method: 'POST', idempotent: false, body: Buffer.from('xyz') }
      : i === 2 ? { method: 'PUT', idempotent: true, body: Buffer.from('ab') }
        : i === 3 ? { method: 'DELETE', idempotent: false } : {}));
  t.same(rs.map((r) => r.body.toString()), ['GET /0 0', 'POST /1 3', 'PUT /2 2', 'DELETE /3 0', 'GET /4 0']);
  t.equal(srv.connections, 4, 'the two GETs share a socket, the others have one each');
  const byConn = new Map<number, string[]>();
  for (const r of srv.requests) byConn.set(r.conn, [...(byConn.get(r.conn) ?? []), pathOf(r)]);
  t.same([...byConn.values()].filter((v) => v.length > 1), [['/0', '/4']]);
});

t.test('"connection: close" mid-pipeline: the unanswered requests go again on another socket', async (t) => {
  // Answer the first request of the first socket, say close, and close: the rest is dropped.
  const srv = await firstSocketFails((r) => r.socket.end(ok(pathOf(r), 'connection: close\r\n')));
  const pool = poolFor(srv.port, { pipelining: 4 });
  t.teardown(async () => { pool.close(); await srv.close(); });
  const rs = await burst(pool, 4);
  t.same(rs.map((r) => r.error), [null, null, null, null]);
  t.same(rs.map((r) => r.body.toString()), ['/0', '/1', '/2', '/3']);
  t.equal(srv.connections, 2);
  t.same(srv.requests.filter((r) => r.conn === 1).map(pathOf), ['/1', '/2', '/3'], 'sent again, in order, pipelined');
});

t.test('the upstream resets after the first response: the rest go again', async (t) => {
  const srv = await firstSocketFails((r) => r.socket.write(ok(pathOf(r)), () => r.socket.destroy()));
  const pool = poolFor(srv.port, { pipelining: 3 });
  t.teardown(async () => { pool.close(); await srv.close(); });
  const rs = await burst(pool, 3);
  t.same(rs.map((r) => r.error), [null, null, null]);
  t.same(rs.map((r) => r.body.toString()), ['/0', '/1', '/2']);
});

t.test('a parse error in one response fails it; the requests behind it go again', async (t) => {
  const srv = await firstSocketFails((r) => r.socket.write('HTTP/1.1 200 OK\r\ncontent-length: nope\r\n\r\n'));
  const pool = poolFor(srv.port, { pipelining: 3 });
  t.teardown(async () => { pool.close(); await srv.close(); });
  const rs = await burst(pool, 3);
  t.equal(rs[0]!.error?.kind, 'parse_error');
  t.same(rs.slice(1).map((r) => r.body.toString()), ['/1', '/2']);
});

t.test('a pipelined request aborted before its answer: the others complete, the socket stays', async (t) => {
  for (const which of [0, 1, 2]) {
    // The three answers go in one write, sent by the test once the abort is done.
    let answer: (() => void) | null = null;
    const srv = await rawServer((r) => {
      if (r.seq === 2) answer = () => r.socket.write(['/0', '/1', '/2'].map((p) => ok(`${p} body`)).join(''));
      else if (r.seq > 2) r.socket.write(ok(pathOf(r)));
    });
    const pool = poolFor(srv.port, { pipelining: 4 });
    const heard: string[] = [];
    const sink = logSink(heard);
    const outcomes: Promise<Captured>[] = [];
    let victim: Exchange | null = null;
    for (let i = 0; i < 3; i++) {
      if (i === which) victim = pool.request(req({ path: `/${i}` }), sink);
      else outcomes.push(send(pool, req({ path: `/${i}` })));
    }
    await until(() => answer !== null, 3000, 'three requests');
    victim!.abort();
    answer!();
    const rs = await Promise.all(outcomes);
    t.same(rs.map((r) => r.body.toString()), [0, 1, 2].filter((i) => i !== which).map((i) => `/${i} body`), `aborting #${which}: the others complete`);
    t.same(heard, [], 'the aborted one hears nothing');
    t.equal(pool.outstanding, 0);
    await until(() => pool.stats().idle === 1, 3000, 'socket idle again');
    const after = await send(pool, req({ path: '/after' }));
    t.equal(after.body.toString(), '/after');
    t.equal(srv.connections, 1, 'one socket throughout');
    pool.close();
    await srv.close();
  }
});

t.test('an aborted head whose socket then fails, and a pool closed under one: no callback after abort', async (t) => {
  const heard: string[] = [];
  const sink = logSink(heard);
  let kill: (() => void) | null = null;
  const srv = await rawServer((r) => {
    if (pathOf(r).startsWith('/hold')) return;
    if (r.conn === 0) {
      if (r.seq === 2) kill = () => r.socket.destroy();
      return;
    }
    r.socket.write(ok(pathOf(r)));
  });
  const pool = poolFor(srv.port, { pipelining: 3 });
  t.teardown(async () => { pool.close(); await srv.close(); });
  const victim = pool.request(req({ path: '/0' }), sink);
  const rest = burst(pool, 2, (i) => ({ path: `/${i + 1}` }));
  await until(() => kill !== null, 3000, 'three requests on the first socket');
  victim.abort();
  kill!();
  const rs = await rest;
  t.same(rs.map((r) => r.body.toString()), ['/1', '/2'], 'the others sent again and answered');
  t.equal(pool.outstanding, 0);

  // Closing the pool with a detached head in flight: still nothing for the aborted one.
  const v2 = pool.request(req({ path: '/hold/1' }), sink);
  const other = send(pool, req({ path: '/hold/2' }));
  await until(() => srv.requests.some((r) => pathOf(r) === '/hold/2'), 3000, 'both held requests sent');
  v2.abort();
  pool.close();
  const o = await other;
  t.match(o.error?.message, /pool closed/, 'the live one ends with the pool');
  t.same(shape(o.events), ['error']);
  await sleep(30);
  t.same(heard, [], 'the aborted ones heard nothing');
});

t.test('the head aborted mid-response: its socket goes, the requests behind it go again', async (t) => {
  // Half of the first body, then nothing.
  const srv = await firstSocketFails((r) => r.socket.write('HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nhalf'));
  const pool = poolFor(srv.port, { pipelining: 3 });
  t.teardown(async () => { pool.close(); await srv.close(); });
  let head: Exchange | null = null;
  const heard: string[] = [];
  head = pool.request(req({ path: '/0' }), logSink(heard, () => setImmediate(() => head!.abort())));
  const rs = await burst(pool, 2, (i) => ({ path: `/${i + 1}` }));
  t.same(rs.map((r) => r.error), [null, null]);
  t.same(rs.map((r) => r.body.toString()), ['/1', '/2']);
  t.same(heard, ['head', 'data'], 'nothing after the abort');
  t.equal(srv.connections, 2);
  t.equal(pool.outstanding, 0);
});

t.test('a request waiting behind a slow response times out alone; the slow one completes', async (t) => {
  // Both answers are written by the test once the follower has timed out.
  let answer: (() => void) | null = null;
  const srv = await rawServer((r) => {
    if (r.seq === 1) answer = () => r.socket.write(ok('slow') + ok('late'));
    else if (r.seq > 1) r.socket.write(ok(pathOf(r)));
  });
  const pool = poolFor(srv.port, { pipelining: 2 });
  t.teardown(async () => { pool.close(); await srv.close(); });
  const slow = send(pool, req({ path: '/0', timeoutMs: 10_000 }));
  const late = send(pool, req({ path: '/1', timeoutMs: 100 }));
  const lateDone = await late;
  await until(() => answer !== null, 3000, 'both requests in');
  answer!();
  const rs = [await slow, lateDone];
  t.equal(rs[0]!.error, null);
  t.equal(rs[0]!.body.toString(), 'slow');
  t.equal(rs[1]!.error?.kind, 'timeout');
  t.same(shape(rs[1]!.events), ['error'], 'no response after the timeout');
  await until(() => pool.stats().idle === 1, 3000, 'socket idle after the dropped response');
  const after = await send(pool, req({ path: '/after' }));
  t.equal(after.body.toString(), '/after');
  t.equal(srv.connections, 1, 'the late response was read and dropped, the socket kept');
});

t.test('the head times out: the requests behind it go again on another socket', async (t) => {
  const srv = await firstSocketFails(() => {}); // never answers
  const pool = poolFor(srv.port, { pipelining: 3 });
  t.teardown(async () => { pool.close(); await srv.close(); });
  const rs = await burst(pool, 3, (i) => ({ timeoutMs: i === 0 ? 150 : 5000 }));
  t.equal(rs[0]!.error?.kind, 'timeout');
  t.same(rs.slice(1).map((r) => r.body.toString()), ['/1', '/2']);
  t.equal(srv.connections, 2);
});

t.test('pause and resume of pipelined requests, before and during their turn', async (t) => {
  const big = 'b'.repeat(200_000);
  const srv = await rawServer((r) => {
    if (r.seq === 2) r.socket.write(ok('a') + ok(big) + ok('c'));
  });
  const pool = poolFor(srv.port, { pipelining: 3 });
  t.teardown(async () => { pool.close(); await srv.close(); });
  let paused = 0;
  const rs = await burst(pool, 3, () => ({}), (i) => (
    i === 1
      ? {
        // Paused before its response comes, resumed later; then paused on every chunk.
        started: (ex) => { ex.pause(); setTimeout(() => ex.resume(), 50); },
        onData: (_c, ex) => { paused++; ex.pause(); setTimeout(() => ex.resume(), 1); return false; },
      }
      : {}));
  t.same(rs.map((r) => r.error), [null, null, null]);
  t.equal(rs[0]!.body.toString(), 'a');
  t.equal(rs[1]!.body.length, big.length);
  t.equal(rs[2]!.body.toString(), 'c');
  t.ok(paused > 0, `paused ${paused} times`);
  t.equal(srv.connections, 1);
});

t.test('through node:http: 200 concurrent GETs at 16 per socket, each gets its own answer', async (t) => {
  const srv = await httpServer((rq, res) => {
    const delay = Number(rq.url!.slice(1)) % 3;
    setTimeout(() => res.end(`for ${rq.url}`), delay);
  });
  const pool = poolFor(srv.port, { pipelining: 16 });
  t.teardown(async () => { pool.close(); await srv.close(); });
  const rs = await burst(pool, 200);
  t.same(rs.filter((r, i) => r.error !== null || r.body.toString() !== `for /${i}`).length, 0, 'all 200 matched');
  t.equal(srv.connections, 13, '200 requests at 16 per socket');
});

t.test('with every socket busy, queued requests are pipelined onto the socket that frees', async (t) => {
  const srv = await rawServer((r) => r.socket.write(ok(pathOf(r))));
  const pool = poolFor(srv.port, { maxSockets: 1, pipelining: 4 });
  t.teardown(async () => { pool.close(); await srv.close(); });
  const rs = await burst(pool, 12, (i) => (i === 6 ? { method: 'POST', idempotent: false, body: Buffer.from('p') } : {}));
  t.same(rs.map((r) => r.body.toString()), Array.from({ length: 12 }, (_, i) => `/${i}`));
  t.equal(srv.connections, 1);
  // /0-/3 together; /4 /5 (the POST waits at the queue's head); the POST alone; /7-/10; /11.
  t.same(srv.requests.map((r) => r.seq), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
  t.equal(srv.reads[0], 5, 'five writes for twelve requests');
});

t.test('pipelining must be a positive integer', async (t) => {
  t.throws(() => new UpstreamPool({ host: '127.0.0.1', port: 1, pipelining: 0 }), /invalid pipelining/);
  t.throws(() => new UpstreamPool({ host: '127.0.0.1', port: 1, pipelining: 1.5 }), /invalid pipelining/);
});

