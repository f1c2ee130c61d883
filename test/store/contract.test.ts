import t, { type Test } from 'tap';
import { MemoryStore } from '../../src/store/memory.js';
import { RedisStore } from '../../src/store/redis.js';
import { BUCKET, QUOTA, StoreUnavailableError, type Limit, type Store } from '../../src/store/types.js';
import { startRedis, startRedisCluster, startRedisSentinel } from '../helpers/redis.js';

// One contract, run against the memory store and against a real private redis-server.

const redis = await startRedis();
t.teardown(() => redis.close());

/** One bucket, `cost` tokens or nothing: decide() over a single limit. */
async function take(store: Store, key: string, rate: number, burst: number, cost = 1): Promise<{ allowed: boolean; retryAfterMs: number }> {
  const d = await store.decide([{ kind: BUCKET, key, rate, burst }], cost, cost);
  return { allowed: d.allowed, retryAfterMs: d.retryAfterMs };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let n = 0;
const key = (s: string) => `${s}-${process.pid}-${++n}`;

async function contract(t: Test, make: () => Promise<Store>): Promise<void> {
  const store = await make();
  t.teardown(() => store.close());

  // 1/s, not 10/s: the seven takes must fit in the time one token needs (100 ms is little on a busy machine).
  t.test('token bucket: the burst passes, then denials with a retry-after; refills at the rate', async (t) => {
    const k = key('tb');
    const got = [];
    for (let i = 0; i < 7; i++) got.push(await take(store, k, 1, 5));
    t.same(got.map((g) => g.allowed), [true, true, true, true, true, false, false]);
    const denied = got[5]!;
    t.ok(denied.retryAfterMs > 0 && denied.retryAfterMs <= 1000, `retry after ${denied.retryAfterMs} ms (1 token at 1/s)`);
    await sleep(1250);
    const after = await take(store, k, 1, 5);
    t.ok(after.allowed, 'tokens back after 1.25 s at 1/s');
  });

  t.test('token bucket: cost above 1, and a cost above the burst is never allowed', async (t) => {
    const k = key('cost');
    t.ok((await take(store, k, 1, 10, 6)).allowed);
    t.notOk((await take(store, k, 1, 10, 6)).allowed);
    t.notOk((await take(store, key('big'), 100, 3, 4)).allowed);
  });

  t.test('token bucket: exact under concurrency (100 takes at once, burst 40)', async (t) => {
    const k = key('race');
    const rs = await Promise.all(Array.from({ length: 100 }, () => take(store, k, 0.001, 40)));
    t.equal(rs.filter((r) => r.allowed).length, 40);
  });

  t.test('quota counter: counts to the limit, denies past it, a new counter after its ttl', async (t) => {
    // ttl 1 s, not 300 ms: the window must outlast the five decides and the count on a busy machine.
    const q: Limit = { kind: QUOTA, key: key('q'), limit: 3, ttlMs: 1000 };
    const got = [];
    for (let i = 0; i < 5; i++) got.push(await store.decide([q], 1, 1));
    t.same(got.map((g) => g.allowed), [true, true, true, false, false]);
    t.equal(got[3]!.retryAfterMs, -1, 'a quota says no retry time (its period decides)');
    t.equal(await store.count(q.key), 3, 'denied requests are not counted');
    await sleep(1200);
    t.ok((await store.decide([q], 1, 1)).allowed, 'a new window after the ttl');
    t.equal(await store.count(q.key), 1);
    const unlimited: Limit = { kind: QUOTA, key: key('u'), limit: -1, ttlMs: 10_000 };
    for (let i = 0; i < 4; i++) await store.decide([unlimited], 1, 1);
    t.equal(await store.count(unlimited.key), 4, 'limit -1 counts without limiting');
  });

  t.test('decide over several limits is all or nothing', async (t) => {
    const a: Limit = { kind: BUCKET, key: key('a'), rate: 0.001, burst: 5 };
    const b: Limit = { kind: BUCKET, key: key('b'), rate: 0.001, burst: 2 };
    const q: Limit = { kind: QUOTA, key: key('q'), limit: 100, ttlMs: 10_000 };
    const got = [];
    for (let i = 0; i < 4; i++) got.push(await store.decide([a, b, q], 1, 1));
    t.same(got.map((g) => g.allowed), [true, true, false, false]);
    t.same(got[2]!.denied, 1, 'the second limit denied');
    t.equal(await store.count(q.key), 2, 'the quota only counted admitted requests');
    // a still has 3 tokens: b's denials took nothing from it.
    t.same((await store.decide([a], 3, 3)).granted, [3]);
    t.notOk((await store.decide([a], 1, 1)).allowed);
  });

  t.test('leases: want grants what is there (at least min); give-back returns units', async (t) => {
    const a: Limit = { kind: BUCKET, key: key('lease'), rate: 0.001, burst: 10 };
    const q: Limit = { kind: QUOTA, key: key('lq'), limit: 25, ttlMs: 10_000 };
    t.same((await store.decide([a, q], 4, 1)).granted, [4, 4]);
    t.same((await store.decide([a, q], 4, 1)).granted, [4, 4]);
    t.same((await store.decide([a, q], 4, 1)).granted, [2, 4], 'the bucket had 2 left: partial grant');
    t.notOk((await store.decide([a], 4, 1)).allowed, 'empty bucket: denied');
    await store.giveBack([a, q], [3, 5]);
    t.same((await store.decide([a], 10, 1)).granted, [3], 'returned tokens are there again');
    t.equal(await store.count(q.key), 7, 'the counter went down by the returned units');
    await store.giveBack([q], [100]);
    t.equal(await store.count(q.key), 0, 'never below 0');
  });

  t.test('fill lock, prefix delete, hashes', async (t) => {
    const k = key('lock');
    t.ok(await store.setIfAbsent(k, Buffer.from('1'), 1000));
    t.notOk(await store.setIfAbsent(k, Buffer.from('2'), 1000), 'held');
    t.same(await store.get(k), Buffer.from('1'));
    const p = key('flush');
    for (let i = 0; i < 30; i++) await store.set(`${p}:e${i}`, Buffer.from('x'), 10_000);
    await store.set(`${p}x:other`, Buffer.from('y'), 10_000);
    t.equal(await store.delPrefix(`${p}:`), 30);
    t.equal(await store.get(`${p}:e3`), null);
    t.same(await store.get(`${p}x:other`), Buffer.from('y'), 'keys outside the prefix stay');
    const h = key('h');
    await store.hset(h, 'f1', Buffer.from('a'));
    await store.hset(h, 'f2', Buffer.from('b'));
    t.same(await store.hget(h, 'f1'), Buffer.from('a'));
    await store.hdel(h, 'f1');
    t.same([...(await store.hgetall(h)).entries()], [['f2', Buffer.from('b')]]);
    t.equal(await store.hget(h, 'f1'), null);
  });

  t.test('values: set, get, ttl; a lock is released only by its holder', async (t) => {
    const k = key('v');
    t.equal(await store.get(k), null);
    await store.set(k, Buffer.from([1, 2, 3]), 10_000); // outlives the checks below (expiry is checked next)
    t.same(await store.get(k), Buffer.from([1, 2, 3]));
    await store.delIfEquals(k, Buffer.from([9]));
    t.same(await store.get(k), Buffer.from([1, 2, 3]), 'another token: kept');
    await store.delIfEquals(k, Buffer.from([1, 2, 3]));
    t.equal(await store.get(k), null, 'our token: released');
    await store.set(k, Buffer.from('x'), 100);
    await sleep(200);
    t.equal(await store.get(k), null, 'expired');
  });
}

t.test('memory store', (t) => contract(t, async () => new MemoryStore()));
t.test('redis store', (t) => contract(t, async () => {
  const s = new RedisStore({ url: redis.url, keyPrefix: 'contract:' });
  await s.ready();
  return s;
}));

// The same contract on a Cluster (limit keys share the {l} hash tag, prefix deletes scan every
// master) and through Sentinel.
for (const [name, begin] of [['on a cluster', startRedisCluster], ['through sentinel', () => startRedisSentinel()]] as const) {
  t.test(`redis store ${name}`, async (t) => {
    const topology = await begin();
    t.teardown(() => topology.close());
    await contract(t, async () => {
      const s = new RedisStore({ ...topology.connect, keyPrefix: 'contract:' });
      await s.ready(10_000);
      return s;
    });
  });
}

t.test('redis down: calls fail fast with StoreUnavailableError; back up: they work again', async (t) => {
  const states: boolean[] = [];
  const s = new RedisStore({ url: redis.url, keyPrefix: 'down:', commandTimeoutMs: 100, onStateChange: (up) => states.push(up) });
  t.teardown(() => s.close());
  await s.ready();
  t.ok((await take(s, 'k', 10, 5)).allowed);
  await redis.stop(true);
  // Queued calls would wait for the restart below, which only happens after they settle: rejects proves no queue.
  await t.rejects(take(s, 'k', 10, 5), StoreUnavailableError);
  await t.rejects(s.get('k'), StoreUnavailableError);
  await redis.start();
  await s.ready(10_000);
  t.ok((await take(s, 'k2', 10, 5)).allowed, 'works again; the script reloaded after NOSCRIPT');
  t.same(states, [true, false, true], 'state changes reported once each');
});
