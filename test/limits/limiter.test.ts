import t, { type Test } from 'tap';
import { Limiter, leaseSize } from '../../src/limits/limiter.js';
import { MemoryStore } from '../../src/store/memory.js';
import { RedisStore } from '../../src/store/redis.js';
import { BUCKET, QUOTA, type Limit } from '../../src/store/types.js';
import { startRedis } from '../helpers/redis.js';
import { waitFor } from '../helpers/gateway.js';

// The limiter in front of a real private redis-server: two Limiter instances stand for two workers.

const redis = await startRedis();
t.teardown(() => redis.close());
let n = 0;
const key = (s: string) => `${s}-${process.pid}-${++n}`;

async function store(): Promise<RedisStore> {
  const s = new RedisStore({ url: redis.url, keyPrefix: 'lim:' });
  await s.ready();
  return s;
}

const run = async (l: Limiter, limits: Limit[]) => l.check(limits);

/** Two lease-mode limiters on their own connections: two workers. Stores close at teardown. */
async function twoWorkers(t: Test, failMode: 'open' | 'closed', leaseMs: number): Promise<[Limiter, Limiter, RedisStore]> {
  const s1 = await store();
  const s2 = await store();
  t.teardown(async () => { await s1.close(); await s2.close(); });
  return [new Limiter(s1, { mode: 'lease', failMode, leaseMs }), new Limiter(s2, { mode: 'lease', failMode, leaseMs }), s1];
}

t.test('lease size: rate x leaseMs, within 1..burst; quotas follow the request pace, at most 1% of the limit', async (t) => {
  const b = (rate: number, burst: number): Limit => ({ kind: BUCKET, key: 'b', rate, burst });
  t.equal(leaseSize(b(100, 10), 100, []), 10);
  t.equal(leaseSize(b(100, 4), 100, []), 4, 'never more than the burst');
  t.equal(leaseSize(b(1, 10), 100, []), 1, 'at least 1');
  const q: Limit = { kind: QUOTA, key: 'q', limit: 700, ttlMs: 1000 };
  t.equal(leaseSize(q, 100, [q, b(1000, 1000)]), 7, '1% of 700');
  t.equal(leaseSize({ ...q, limit: -1 }, 100, [q, b(1000, 1000)]), 100, 'count-only: the bucket pace');
  t.equal(leaseSize(q, 100, [q]), 1, 'no bucket: one at a time');
});

t.test('exact mode: the burst, then refusals with a retry time', async (t) => {
  const s = await store();
  const l = new Limiter(s, { mode: 'exact', failMode: 'open', leaseMs: 100 });
  t.teardown(async () => { await l.close(); await s.close(); });
  // 1/s, not 10/s: the seven checks must fit in the time one token needs (100 ms is little on a busy machine).
  const lim: Limit[] = [{ kind: BUCKET, key: key('e'), rate: 1, burst: 5 }];
  const got = [];
  for (let i = 0; i < 7; i++) got.push(await run(l, lim));
  t.same(got.map((v) => v === null), [true, true, true, true, true, false, false]);
  t.equal(got[5]!.reason, 'throttle');
  t.ok(got[5]!.retryAfterMs > 0 && got[5]!.retryAfterMs <= 1000);
});

t.test('lease mode, two workers: a bucket never admits more than it holds; unused tokens come back', async (t) => {
  const [a, b, s1] = await twoWorkers(t, 'open', 100);
  // rate 100/s -> leases of 10; no refill to speak of during the test: burst 25, rate 100 but the
  // bucket is checked within a few ms... use a tiny rate so refill cannot blur the count.
  const lim: Limit[] = [{ kind: BUCKET, key: key('l'), rate: 0.001, burst: 25 }];
  let admitted = 0;
  for (let i = 0; i < 60; i++) if ((await run(i % 2 ? a : b, lim)) === null) admitted++;
  t.equal(admitted, 25, 'exactly the burst, however the two workers interleave');
  await a.close();
  await b.close();
  t.notOk((await s1.decide(lim, 1, 1)).allowed, 'nothing left: nothing leased was lost or invented');
});

t.test('lease mode: a worker that stops gives its lease back to the other', async (t) => {
  const [a, b, s1] = await twoWorkers(t, 'open', 5000);
  t.teardown(() => b.close());
  const lim: Limit[] = [{ kind: BUCKET, key: key('g'), rate: 1, burst: 5 }]; // lease of 5: the whole bucket
  t.equal(await run(a, lim), null, 'a takes the whole bucket as its lease');
  t.not(await run(b, lim), null, 'b finds it empty');
  await a.close(); // drain: 4 unused tokens go back
  // b cached the refusal until a token refills (~1 s at 1/s): wait it out, then b gets a's tokens.
  await new Promise((r) => setTimeout(r, 1100));
  let admitted = 0;
  for (let i = 0; i < 10; i++) if ((await run(b, lim)) === null) admitted++;
  t.ok(admitted >= 4 && admitted <= 5, `b admitted ${admitted} (4 returned + at most 1 refilled)`);
});

t.test('lease mode quotas: counted exactly once leases are back', async (t) => {
  const [a, b, s1] = await twoWorkers(t, 'open', 50);
  const q: Limit = { kind: QUOTA, key: key('q'), limit: 30, ttlMs: 60_000 };
  const lim: Limit[] = [q, { kind: BUCKET, key: key('qb'), rate: 1000, burst: 1000 }];
  let admitted = 0;
  let quota = 0;
  for (let i = 0; i < 50; i++) {
    const v = await run(i % 2 ? a : b, lim);
    if (v === null) admitted++;
    else if (v.reason === 'quota') quota++;
  }
  t.equal(admitted, 30);
  t.equal(quota, 20, 'the rest refused as quota');
  await a.close();
  await b.close();
  t.equal(await s1.count(q.key), 30, 'usage is exactly what was admitted');
});

t.test('lease mode under concurrency: requests racing for one lease never pass without a unit', async (t) => {
  const [a, b, s1] = await twoWorkers(t, 'closed', 50);
  const q: Limit = { kind: QUOTA, key: key('cq'), limit: 70, ttlMs: 60_000 };
  const lim: Limit[] = [q, { kind: BUCKET, key: key('cb'), rate: 1000, burst: 1000 }];
  const verdicts = await Promise.all(Array.from({ length: 200 }, (_, i) => run(i % 2 ? a : b, lim)));
  t.equal(verdicts.filter((v) => v === null).length, 70, 'exactly the quota admitted');
  t.equal(verdicts.filter((v) => v !== null && v.reason === 'quota').length, 130, 'the rest refused as quota, none as unavailable');
  await a.close();
  await b.close();
  t.equal(await s1.count(q.key), 70);
});

t.test('Redis down: open admits at once, closed refuses as unavailable; memory decides synchronously', async (t) => {
  const s = await store();
  const open = new Limiter(s, { mode: 'exact', failMode: 'open', leaseMs: 100 });
  const closed = new Limiter(s, { mode: 'lease', failMode: 'closed', leaseMs: 100 });
  t.teardown(async () => { await s.close(); });
  const lim: Limit[] = [{ kind: BUCKET, key: key('d'), rate: 1, burst: 1 }];
  await redis.stop(true);
  t.ok(await waitFor(() => !s.isUp, 5000), 'the client noticed');
  t.equal(open.check(lim), null, 'fail open: admitted without waiting');
  t.same(closed.check(lim), { reason: 'unavailable', index: -1, retryAfterMs: -1 }, 'fail closed');
  await redis.start();
  await s.ready(10_000);
  t.equal(await run(open, lim), null, 'back: decided by Redis again');
  t.not(await run(open, lim), null, 'and the bucket holds');
  const m = new Limiter(new MemoryStore(), { mode: 'exact', failMode: 'open', leaseMs: 100 });
  t.equal(m.check(lim), null, 'memory: a verdict, not a promise');
  t.not(m.check(lim), null);
});
