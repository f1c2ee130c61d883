import t, { type Test } from 'tap';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { get, startGateway, waitFor, type Gateway, type SimpleResponse } from '../helpers/gateway.js';
import { startRedis } from '../helpers/redis.js';
import { startUpstream } from '../helpers/upstream.js';

// Response caching through real processes: a counting upstream, gateways with the memory store and
// with a private Redis (L2 shared by workers and processes), flushes through the admin API.

// ---- the counting upstream -------------------------------------------------------------------

/** Upstream calls by path (the query string is not part of it). */
const hits = new Map<string, number>();
const calls = (path: string): number => hits.get(path) ?? 0;
/** Upstream calls in flight by path, and the most seen at once. */
const inflight = new Map<string, number>();
const maxInflight = new Map<string, number>();

/** Random bytes the /big answers are cut from; the first 4 bytes carry the call number. */
const BIG = randomBytes(1_300_000);

function handler(req: IncomingMessage, res: ServerResponse): void {
  const url = new URL(req.url!, 'http://upstream');
  const path = url.pathname;
  const n = calls(path) + 1;
  hits.set(path, n);
  const seg = path.split('/');
  const json = (status: number, extra: Record<string, string> = {}) => {
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'x-upstream-n': String(n), ...extra });
    res.end(JSON.stringify({ path, url: req.url, method: req.method, n }));
  };
  switch (seg[1]) {
    case 'status':
      return json(Number(seg[2]));
    case 'cookie':
      return json(200, { 'set-cookie': `session=s${n}; Path=/; HttpOnly` });
    case 'slow': {
      const now = (inflight.get(path) ?? 0) + 1;
      inflight.set(path, now);
      maxInflight.set(path, Math.max(now, maxInflight.get(path) ?? 0));
      setTimeout(() => {
        inflight.set(path, inflight.get(path)! - 1);
        json(200);
      }, 300);
      return;
    }
    case 'big': {
      const size = Number(seg[3]);
      const body = Buffer.from(BIG.subarray(0, size));
      body.writeUInt32BE(n, 0);
      if (seg[2] === 'cl') {
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(size) });
        res.end(body);
      } else {
        // No Content-Length: node sends it chunked, in 64 KB writes.
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        for (let i = 0; i < size; i += 65536) res.write(body.subarray(i, Math.min(size, i + 65536)));
        res.end();
      }
      return;
    }
    default:
      return json(200);
  }
}

const up = await startUpstream(handler);
t.teardown(() => up.close());

const proxy = (path: string) => ({ type: 'http_proxy', uri: `${up.url}${path}` });
const xc = (r: SimpleResponse) => r.headers['x-cache'];
const nOf = (r: SimpleResponse): number => JSON.parse(r.body).n;

// ---- the memory-store gateway (1 worker) -------------------------------------------------------

const KEY_ADMIN = 'admin-key-0123456789abcdefgh';
const KEY_USER = 'user-key-0123456789abcdefghi';
const STRATEGIES = ['FAIL_WITH_403', 'SUCCEED_WITH_RESPONSE_HEADER', 'SUCCEED_WITHOUT_RESPONSE_HEADER'] as const;
const stageOf = (s: (typeof STRATEGIES)[number]) => s.toLowerCase().replaceAll('_', '-');


const mem = await startGateway({
  throttling: { gateway: false },
  usagePlans: { p: { apiStages: STRATEGIES.map((s) => ({ api: stageOf(s) })) } },
  apiKeys: [
    { name: 'admin', value: KEY_ADMIN, usagePlans: ['p'], invalidateCache: true },
    { name: 'user', value: KEY_USER, usagePlans: ['p'] },
  ],
  apis: [
    {
      name: 'main',
      cache: { enabled: true },
      routes: [
        { route: 'GET /v/{name}', integration: proxy('/v/{name}') },
        { route: 'GET /items/{name}', integration: proxy('/items/{name}'), cache: { keyParameters: { querystring: ['id'], header: ['X-Variant'] } } },
        { route: 'GET /things/{id}', integration: proxy('/things/{id}'), cache: { keyParameters: { path: ['id'] } } },
        { route: 'GET /ttl/{name}', integration: proxy('/ttl/{name}'), cache: { ttlSeconds: 1 } },
        { route: 'GET /ttl0/{name}', integration: proxy('/ttl0/{name}'), cache: { ttlSeconds: 0 } },
        { route: 'GET /nocache/{name}', integration: proxy('/nocache/{name}'), cache: { enabled: false } },
        { route: 'ANY /any/{name}', integration: proxy('/any/{name}') },
        { route: 'POST /post/{name}', integration: proxy('/post/{name}') },
        { route: 'POST /postcached/{name}', integration: proxy('/postcached/{name}'), cache: { enabled: true } },
        { route: 'GET /status/{code}', integration: proxy('/status/{code}') },
        { route: 'GET /cookie/{name}', integration: proxy('/cookie/{name}') },
        { route: 'GET /big/{mode}/{size}', integration: proxy('/big/{mode}/{size}') },
        { route: 'GET /slow/{name}', integration: proxy('/slow/{name}') },
      ],
    },
    // The stage cache is off by default.
    { name: 'off', stage: 'off', routes: [{ route: 'GET /v/{name}', integration: proxy('/off/{name}') }] },
    // One API per unauthorized Cache-Control strategy; API keys required (the key decides who may refresh).
    ...STRATEGIES.map((s) => ({
      name: stageOf(s),
      stage: stageOf(s),
      cache: { enabled: true, unauthorizedCacheControlHeaderStrategy: s },
      routes: [{ route: 'GET /cc/{name}', apiKeyRequired: true, integration: proxy(`/cc/${stageOf(s)}/{name}`) }],
    })),
    // Anyone may refresh.
    {
      name: 'open',
      stage: 'open',
      cache: { enabled: true, requireAuthorizationForCacheControl: false },
      routes: [{ route: 'GET /cc/{name}', integration: proxy('/cc/open/{name}') }],
    },
  ],
});
t.teardown(() => mem.stop());

const m = (path: string, opts: Parameters<typeof get>[2] = {}) => get(mem.port, path, opts);

t.test('memory store: miss, then hit with the same status, body and content-type; upstream called once', async (t) => {
  const a = await m('/v/basic');
  t.equal(a.status, 200);
  t.equal(xc(a), 'miss');
  t.equal(nOf(a), 1);
  const b = await m('/v/basic');
  t.equal(b.status, 200);
  t.equal(xc(b), 'hit');
  t.equal(b.body, a.body, 'identical body');
  t.equal(b.headers['content-type'], 'application/json; charset=utf-8');
  t.equal(b.headers['content-type'], a.headers['content-type']);
  t.equal(b.headers['x-upstream-n'], '1', 'upstream headers are replayed');
  t.equal(b.headers['content-length'], String(a.raw.length));
  t.not(b.headers['x-request-id'], a.headers['x-request-id'], 'the request id is per request, not cached');
  const c = await m('/v/basic');
  t.equal(xc(c), 'hit');
  t.equal(calls('/v/basic'), 1, 'the upstream was called once');

  // Not cached at all: the stage cache off, a route with enabled: false, a route with ttlSeconds 0.
  for (const p of ['/off/v/x', '/nocache/x', '/ttl0/x']) {
    const r1 = await m(p);
    const r2 = await m(p);
    t.equal(r1.status, 200, p);
    t.equal(r2.status, 200, p);
    t.equal(xc(r1), undefined, `${p}: no x-cache`);
    t.equal(xc(r2), undefined, `${p}: no x-cache`);
    t.equal(nOf(r2), 2, `${p}: the upstream answered both`);
  }
  t.equal(calls('/off/x'), 2);
  t.equal(calls('/nocache/x'), 2);
  t.equal(calls('/ttl0/x'), 2);
});

t.test('cache key: only the named querystring, header and path parameters split entries', async (t) => {
  const p = '/items/k';
  const q1 = await m(`${p}?id=1`);
  t.equal(xc(q1), 'miss');
  const q2 = await m(`${p}?id=2`);
  t.equal(xc(q2), 'miss', 'another value of a named query parameter is another entry');
  t.equal(calls(p), 2);
  const q1again = await m(`${p}?id=1`);
  t.equal(xc(q1again), 'hit');
  t.equal(q1again.body, q1.body, 'id=1 answer');
  const q2again = await m(`${p}?id=2`);
  t.equal(xc(q2again), 'hit');
  t.equal(q2again.body, q2.body, 'id=2 answer');
  t.not(q1.body, q2.body);
  // Unnamed query parameters and headers do not split.
  const other = await m(`${p}?other=x&id=1&more=y`, { headers: { 'x-other': 'z' } });
  t.equal(xc(other), 'hit', 'unnamed query parameter and header: same entry');
  t.equal(other.body, q1.body);
  t.equal(JSON.parse(other.body).url, `${p}?id=1`, 'the stored answer, not a new one');
  t.equal(calls(p), 2);
  // A named header (named X-Variant in the config; header names are case-insensitive) splits.
  const ha = await m(`${p}?id=1`, { headers: { 'x-variant': 'a' } });
  t.equal(xc(ha), 'miss', 'named header present: another entry');
  const hb = await m(`${p}?id=1`, { headers: { 'X-Variant': 'b' } });
  t.equal(xc(hb), 'miss', 'another value of the named header: another entry');
  const ha2 = await m(`${p}?id=1`, { headers: { 'X-VARIANT': 'a' } });
  t.equal(xc(ha2), 'hit');
  t.equal(ha2.body, ha.body);
  const none = await m(`${p}?id=1`);
  t.equal(xc(none), 'hit');
  t.equal(none.body, q1.body, 'without the header: the first entry');
  t.equal(calls(p), 4);
  // No id at all is one more entry.
  const noId = await m(p);
  t.equal(xc(noId), 'miss');
  t.equal(xc(await m(`${p}?other=1`)), 'hit');
  t.equal(calls(p), 5);

  // A named path parameter splits.
  const t1 = await m('/things/1');
  const t2 = await m('/things/2');
  t.equal(xc(t1), 'miss');
  t.equal(xc(t2), 'miss');
  const t1again = await m('/things/1');
  t.equal(xc(t1again), 'hit');
  t.equal(t1again.body, t1.body);
  const t2again = await m('/things/2');
  t.equal(xc(t2again), 'hit');
  t.equal(t2again.body, t2.body);
  t.equal(calls('/things/1') + calls('/things/2'), 2);
});

t.test('TTL: after ttlSeconds the entry expires and the upstream is called again', async (t) => {
  const a = await m('/ttl/x');
  t.equal(xc(a), 'miss');
  const b = await m('/ttl/x');
  t.equal(xc(b), 'hit', 'within the TTL (1 s)');
  t.equal(b.body, a.body);
  let fresh: SimpleResponse | null = null;
  const expired = await waitFor(async () => {
    const r = await m('/ttl/x');
    if (xc(r) === 'miss') fresh = r;
    return fresh !== null;
  }, 5000, 100);
  t.ok(expired, 'a miss came back within 5 s');
  t.equal(calls('/ttl/x'), 2, 'the upstream was called again, once');
  t.equal(fresh === null ? null : nOf(fresh), 2, 'the new answer is served');
  const c = await m('/ttl/x');
  t.equal(xc(c), 'hit', 'and cached again');
  t.equal(nOf(c), 2);
});

t.test('what is not cached', async (t) => {
  t.test('POST on a POST route of a cached stage; GET on an ANY route is cached', async (t) => {
    const p = '/post/p';
    const r1 = await m(p, { method: 'POST', body: 'x' });
    const r2 = await m(p, { method: 'POST', body: 'x' });
    t.equal(r1.status, 200);
    t.equal(xc(r1), undefined, 'no x-cache');
    t.equal(xc(r2), undefined, 'no x-cache');
    t.equal(nOf(r2), 2, 'second POST answered by the upstream');
    t.equal(calls(p), 2);
    // GET on the ANY route is cached.
    const g1 = await m('/any/g');
    const g2 = await m('/any/g');
    t.equal(xc(g1), 'miss');
    t.equal(xc(g2), 'hit');
    t.equal(g2.body, g1.body);
    t.equal(calls('/any/g'), 1);
    // A POST route that enables the cache itself is cached.
    const c1 = await m('/postcached/c', { method: 'POST', body: 'x' });
    const c2 = await m('/postcached/c', { method: 'POST', body: 'x' });
    t.equal(xc(c1), 'miss');
    t.equal(xc(c2), 'hit');
    t.equal(c2.body, c1.body);
    t.equal(calls('/postcached/c'), 1);
  });

  // Its own gateway: with the bug the worker dies, and the other tests should not see the restart.
  t.test('POST and DELETE on an ANY route of a cached stage (memory store) pass through uncached', async (t) => {
    const gw = await startGateway({
      throttling: { gateway: false },
      apis: [{ name: 'main', cache: { enabled: true }, routes: [{ route: 'ANY /any/{name}', integration: proxy('/any/{name}') }] }],
    });
    t.teardown(() => gw.stop());
    for (const method of ['POST', 'DELETE', 'POST']) {
      const r = await get(gw.port, '/any/m', { method, body: 'x' }).catch((e: Error) => ({ status: 0, headers: {}, body: e.message }) as unknown as SimpleResponse);
      t.equal(r.status, 200, `${method}: ${r.status === 0 ? r.body : 'answered'}`);
      t.equal(xc(r), undefined, `${method}: no x-cache`);
    }
    t.equal(calls('/any/m'), 3, 'every request reached the upstream');
    t.notMatch(gw.output(), /worker died/, 'no worker died');
  });

  t.test('error statuses are not cached; other 2xx are', async (t) => {
    for (const code of [500, 404]) {
      const p = `/status/${code}`;
      const r1 = await m(p);
      const r2 = await m(p);
      t.equal(r1.status, code);
      t.equal(r2.status, code);
      t.equal(xc(r1), 'miss');
      t.equal(xc(r2), 'miss', `${code}: not stored`);
      t.equal(nOf(r2), 2);
      t.equal(calls(p), 2, `${code}: the upstream answered both`);
    }
    const r1 = await m('/status/201');
    const r2 = await m('/status/201');
    t.equal(xc(r1), 'miss');
    t.equal(r2.status, 201, 'the cached status is replayed');
    t.equal(xc(r2), 'hit');
    t.equal(r2.body, r1.body);
    t.equal(calls('/status/201'), 1);
  });

  t.test('a response with Set-Cookie is not cached', async (t) => {
    const r1 = await m('/cookie/a');
    const r2 = await m('/cookie/a');
    t.equal(r1.status, 200);
    t.equal(xc(r1), 'miss');
    t.equal(xc(r2), 'miss');
    t.match(r1.headers['set-cookie'], ['session=s1; Path=/; HttpOnly']);
    t.match(r2.headers['set-cookie'], ['session=s2; Path=/; HttpOnly'], 'each client gets its own cookie');
    t.equal(calls('/cookie/a'), 2);
  });

  t.test('bodies over maxEntryBytes are delivered intact and not cached; up to it they are', async (t) => {
    const expect = (size: number, n: number): Buffer => {
      const b = Buffer.from(BIG.subarray(0, size));
      b.writeUInt32BE(n, 0);
      return b;
    };
    for (const mode of ['cl', 'chunked']) {
      for (const size of [1_258_291, 1_048_577]) { // 1.2 MB; one byte over 1 MiB
        const p = `/big/${mode}/${size}`;
        const r1 = await m(p);
        const r2 = await m(p);
        t.equal(r1.status, 200, p);
        t.equal(r2.status, 200, p);
        t.equal(xc(r1), 'miss', p);
        t.equal(xc(r2), 'miss', `${p}: not stored`);
        t.equal(r1.raw.length, size, `${p}: full length`);
        t.ok(r1.raw.equals(expect(size, 1)), `${p}: first answer intact`);
        t.ok(r2.raw.equals(expect(size, 2)), `${p}: second answer intact (a new upstream call)`);
        t.equal(calls(p), 2, p);
      }
      for (const size of [921_600, 1_048_576]) { // 900 KB; exactly 1 MiB
        const p = `/big/${mode}/${size}`;
        const r1 = await m(p);
        const r2 = await m(p);
        t.equal(xc(r1), 'miss', p);
        t.equal(xc(r2), 'hit', `${p}: stored`);
        t.ok(r1.raw.equals(expect(size, 1)), `${p}: miss intact`);
        t.ok(r2.raw.equals(r1.raw), `${p}: the hit is byte-identical`);
        t.equal(r2.headers['content-length'], String(size));
        t.equal(r2.headers['content-type'], 'application/octet-stream');
        t.equal(calls(p), 1, p);
      }
    }
  });
  t.end();
});

t.test('Cache-Control: max-age=0', async (t) => {
  const user = { 'x-api-key': KEY_USER };
  const admin = { 'x-api-key': KEY_ADMIN };
  for (const s of STRATEGIES) {
    t.test(s, async (t) => {
      const p = `/${stageOf(s)}/cc/k`;
      const up = `/cc/${stageOf(s)}/k`;
      const a = await m(p, { headers: user });
      t.equal(a.status, 200);
      t.equal(xc(a), 'miss');
      t.equal(xc(await m(p, { headers: user })), 'hit');
      // An API key with invalidateCache refreshes: the integration is called and its answer stored.
      const r = await m(p, { headers: { ...admin, 'cache-control': 'max-age=0' } });
      t.equal(r.status, 200);
      t.equal(xc(r), 'refresh');
      t.equal(nOf(r), 2, 'a new answer');
      t.equal(r.headers['warning'], undefined);
      t.equal(calls(up), 2, 'the upstream was called again');
      const after = await m(p, { headers: user });
      t.equal(xc(after), 'hit');
      t.equal(after.body, r.body, 'the refreshed answer is what is cached now');
      const adminPlain = await m(p, { headers: admin });
      t.equal(xc(adminPlain), 'hit', 'without Cache-Control the admin key just reads the cache');
      // A key without invalidateCache: the stage strategy.
      const u = await m(p, { headers: { ...user, 'cache-control': 'max-age=0' } });
      if (s === 'FAIL_WITH_403') {
        t.equal(u.status, 403);
        t.same(JSON.parse(u.body), { message: 'Forbidden' });
        t.equal(xc(u), undefined);
      } else {
        t.equal(u.status, 200);
        t.equal(xc(u), 'hit', 'served from the cache');
        t.equal(u.body, r.body);
        if (s === 'SUCCEED_WITH_RESPONSE_HEADER') t.match(u.headers['warning'], /^199 /, 'with a warning header');
        else t.equal(u.headers['warning'], undefined, 'without a warning header');
      }
      t.equal(calls(up), 2, 'the unauthorized request did not reach the upstream');
      // Other spellings of the directive count too.
      const u2 = await m(p, { headers: { ...user, 'cache-control': 'no-cache, MAX-AGE = 0' } });
      t.equal(u2.status, s === 'FAIL_WITH_403' ? 403 : 200);
      t.equal(calls(up), 2);
      // max-age=10 is no refresh request.
      const u3 = await m(p, { headers: { ...user, 'cache-control': 'max-age=10' } });
      t.equal(u3.status, 200);
      t.equal(xc(u3), 'hit');
      t.equal(u3.headers['warning'], undefined);
      t.equal(calls(up), 2);
    });
  }

  t.test('requireAuthorizationForCacheControl: false lets anyone refresh', async (t) => {
    const a = await m('/open/cc/k');
    t.equal(xc(a), 'miss');
    t.equal(xc(await m('/open/cc/k')), 'hit');
    const r = await m('/open/cc/k', { headers: { 'cache-control': 'no-cache, max-age=0' } });
    t.equal(r.status, 200);
    t.equal(xc(r), 'refresh');
    t.equal(nOf(r), 2);
    t.equal(calls('/cc/open/k'), 2);
    const after = await m('/open/cc/k');
    t.equal(xc(after), 'hit');
    t.equal(after.body, r.body);
    t.equal(calls('/cc/open/k'), 2);
  });
  t.end();
});

t.test('memory store: flush through the admin API ($default given literally)', async (t) => {
  const a = await m('/v/flush');
  t.equal(xc(a), 'miss');
  t.equal(xc(await m('/v/flush')), 'hit');
  const f = await get(mem.adminPort, '/cache/main/$default', { method: 'DELETE' });
  t.equal(f.status, 202, f.body);
  let after: SimpleResponse | null = null;
  t.ok(await waitFor(async () => {
    const r = await m('/v/flush');
    if (xc(r) === 'miss') after = r;
    return after !== null;
  }, 5000), 'a miss after the flush');
  t.equal(after === null ? null : nOf(after), 2);
  t.equal(calls('/v/flush'), 2);
  t.equal(xc(await m('/v/flush')), 'hit', 'filled again');
  const unknown = await get(mem.adminPort, '/cache/nope/$default', { method: 'DELETE' });
  t.equal(unknown.status, 404);
  const wrongStage = await get(mem.adminPort, '/cache/main/prod', { method: 'DELETE' });
  t.equal(wrongStage.status, 404);
});

t.test('memory store, 1 worker: 40 concurrent misses for one key call the upstream once', async (t) => {
  const p = '/slow/stampede-mem';
  const rs = await Promise.all(Array.from({ length: 40 }, () => m(p)));
  t.same(rs.map((r) => r.status), Array(40).fill(200));
  t.equal(new Set(rs.map((r) => r.body)).size, 1, 'one body');
  t.equal(calls(p), 1, 'the upstream was called once');
  t.equal(rs.filter((r) => xc(r) === 'miss').length, 1, 'one miss');
  t.equal(rs.filter((r) => xc(r) === 'hit').length, 39, 'the others waited for it');
});

// ---- Redis: L2 shared by 2 processes x 2 workers ----------------------------------------------

t.test('redis L2', async (t) => {
  const redis = await startRedis();
  const config = {
    throttling: { gateway: false },
    // 1 s, not the 100 ms default: on a loaded test machine a slow reply would bypass L2 and fail the counts.
    store: { type: 'redis', redis: { url: redis.url, commandTimeoutMs: 1000 } },
    apis: [{
      name: 'shared',
      cache: { enabled: true, requireAuthorizationForCacheControl: false },
      routes: [
        { route: 'GET /r/{name}', integration: proxy('/r/{name}') },
        { route: 'GET /slow/{name}', integration: proxy('/slow/{name}') },
      ],
    }],
  };
  const gws: Gateway[] = [];
  t.teardown(async () => {
    await Promise.all(gws.map((g) => g.stop()));
    await redis.close();
  });
  const start = async () => {
    const g = await startGateway(config, { workers: 2 });
    gws.push(g);
    return g;
  };
  const [A, B] = await Promise.all([start(), start()]);
  const a = (path: string, headers: Record<string, string> = {}) => get(A.port, path, { headers });
  const b = (path: string, headers: Record<string, string> = {}) => get(B.port, path, { headers });

  /** The stage's cache entries in Redis (not the fill locks), read with redis-cli. */
  const l2Entries = () => new Promise<string[]>((resolve, reject) => {
    execFile('redis-cli', ['-p', String(redis.port), '--scan', '--pattern', 'gw:c:shared/$default:*'], (err, out) => {
      if (err) reject(err);
      else resolve(out.split('\n').filter((k) => k !== '' && !k.endsWith(':lock')));
    });
  });
  /** The L2 write follows the response: wait for it before asking the other process. */
  const waitL2 = async (t: Test, n: number) => {
    let seen = 0;
    t.ok(await waitFor(async () => (seen = (await l2Entries()).length) === n, 5000), `${n} entries in Redis (saw ${seen})`);
  };
  /** A request on A that fills a new entry, and its entry in Redis (false when none came within `ms`). */
  const fillOnA = async (path: string, ms = 5000): Promise<{ r: SimpleResponse; stored: boolean }> => {
    const before = (await l2Entries()).length;
    const r = await a(path);
    return { r, stored: await waitFor(async () => (await l2Entries()).length > before, ms) };
  };

  t.test('a miss on process A is a hit on process B; a flush on A empties every worker of A and B', async (t) => {
    const first = await a('/r/one');
    t.equal(xc(first), 'miss');
    await waitL2(t, 1);
    const onB = await b('/r/one');
    t.equal(onB.status, 200);
    t.equal(xc(onB), 'hit', 'B found it in Redis');
    t.equal(onB.body, first.body);
    t.equal(onB.headers['content-type'], first.headers['content-type']);
    t.equal(calls('/r/one'), 1, 'B did not call the upstream');

    // Two keys on every worker we can reach (L1 filled from L2 where it was missing).
    t.equal(xc(await a('/r/two')), 'miss');
    await waitL2(t, 2);
    for (let i = 0; i < 8; i++) {
      for (const path of ['/r/one', '/r/two']) {
        for (const r of [await a(path), await b(path)]) {
          t.equal(xc(r), 'hit', path);
          t.equal(nOf(r), 1, path);
        }
      }
    }
    t.equal(calls('/r/one'), 1);
    t.equal(calls('/r/two'), 1);

    const f = await get(A.adminPort, '/cache/shared/%24default', { method: 'DELETE' });
    t.equal(f.status, 202, f.body);
    t.ok(JSON.parse(f.body).deleted >= 2, 'both L2 entries deleted');
    t.same(await l2Entries(), [], 'Redis holds no entry of the stage');

    // The workers learn it by IPC (A) and Redis pub/sub (B): poll briefly for the miss.
    const missOn = async (send: (p: string) => Promise<SimpleResponse>, path: string) => waitFor(async () => xc(await send(path)) === 'miss', 5000);
    t.ok(await missOn(a, '/r/one'), 'A: miss after the flush');
    t.ok(await missOn(b, '/r/two'), 'B: miss after the flush');
    t.equal(calls('/r/one'), 2, 'refilled once');
    t.equal(calls('/r/two'), 2, 'refilled once');
    await waitL2(t, 2);
    // No worker of either process serves the old answers any more; everybody shares the new ones.
    t.ok(await waitFor(async () => {
      for (let i = 0; i < 8; i++) {
        for (const path of ['/r/one', '/r/two']) {
          for (const r of [await a(path), await b(path)]) if (r.status !== 200 || nOf(r) !== 2) return false;
        }
      }
      return true;
    }, 5000), 'every answer is the refilled one');
    t.equal(calls('/r/one'), 2);
    t.equal(calls('/r/two'), 2);
  });

  t.test('a miss on A is at once a hit on B (no wait for the L2 write)', async (t) => {
    const misses: string[] = [];
    for (let i = 0; i < 20; i++) {
      const p = `/r/at-once-${i}`;
      await a(p);
      const r = await b(p);
      if (xc(r) !== 'hit') misses.push(p);
    }
    t.same(misses, [], 'B answered every key from Redis');
  });

  t.test('stampede: 40 concurrent requests for a cold key on 2 processes x 2 workers', async (t) => {
    const p = '/slow/stampede-redis';
    const rs = await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? a(p) : b(p))));
    t.same(rs.map((r) => r.status), Array(40).fill(200), 'all 200');
    t.equal(maxInflight.get(p), 1, 'the lock held every other worker back while the first fill ran');
    t.equal(calls(p), 1, 'the upstream was called once');
    t.equal(new Set(rs.map((r) => r.body)).size, 1, 'one body');
    t.equal(rs.filter((r) => xc(r) === 'miss').length, 1, 'one miss');
    t.equal(rs.filter((r) => xc(r) === 'hit').length, 39, 'the others waited for it');
  });

  t.test('a refresh on A is what every worker of A and B serves next', async (t) => {
    const p = '/r/refresh';
    t.ok((await fillOnA(p)).stored, 'stored in Redis');
    for (let i = 0; i < 8; i++) { await a(p); await b(p); }
    const r = await a(p, { 'cache-control': 'max-age=0' });
    t.equal(xc(r), 'refresh');
    t.equal(nOf(r), 2);
    // The other workers hear of the refresh by pub/sub (milliseconds): poll until they all serve it...
    const fresh = async () => {
      for (let i = 0; i < 8; i++) for (const send of [a, b]) if (nOf(await send(p)) !== 2) return false;
      return true;
    };
    t.ok(await waitFor(fresh, 10_000), 'every worker of A and B serves the new entry');
    // ...and from then on none goes back to the old one.
    const stale: string[] = [];
    for (let i = 0; i < 8; i++) {
      for (const [name, send] of [['A', a], ['B', b]] as const) {
        const x = await send(p);
        if (nOf(x) !== 2) stale.push(`${name}: ${xc(x)} n=${nOf(x)}`);
      }
    }
    t.same(stale, [], 'no worker serves the replaced entry');
  });

  t.test('Redis down: still served (no 5xx); back up: L2 shared again', async (t) => {
    await redis.stop(true);
    const statuses: number[] = [];
    for (let i = 0; i < 10; i++) {
      for (const r of [await a('/r/down'), await b('/r/down'), await a(`/r/down-${i}`), await b(`/r/down-${i}`)]) {
        statuses.push(r.status);
        t.ok(xc(r) === 'miss' || xc(r) === 'hit', `x-cache ${xc(r)}`);
        t.match(JSON.parse(r.body).path, /^\/r\/down/);
      }
    }
    t.same(statuses, Array(40).fill(200), 'every request answered 200');
    // Without L2 each worker fills on its own: at most one upstream call per worker (L1 still hits).
    t.ok(calls('/r/down') >= 1 && calls('/r/down') <= 4, `/r/down called ${calls('/r/down')} times (4 workers)`);
    t.equal(A.proc.exitCode, null, 'A alive');
    t.equal(B.proc.exitCode, null, 'B alive');

    await redis.start();
    let last = '';
    let i = 0;
    const shared = await waitFor(async () => {
      last = `/r/back-${i++}`;
      // The L2 write follows the response: B is asked once the entry is in Redis.
      const { r: r1, stored } = await fillOnA(last, 1000);
      if (!stored) return false;
      const r2 = await b(last);
      return r1.status === 200 && xc(r2) === 'hit' && r2.body === r1.body;
    }, 20_000, 200);
    t.ok(shared, `a key filled on A is a hit on B again (after ${i} tries)`);
    t.equal(calls(last), 1, 'filled once');
  });
  t.end();
});
