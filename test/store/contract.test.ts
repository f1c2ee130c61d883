import t, { type Test } from 'tap';
import { MemoryStore } from '../../src/store/memory.js';
import { RedisStore } from '../../src/store/redis.js';
import { StoreUnavailableError, type Store } from '../../src/store/types.js';
import { startRedis } from '../helpers/redis.js';

// One contract, run against the memory store and against a real private redis-server.

const redis = await startRedis();
t.teardown(() => redis.close());

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let n = 0;
const key = (s: string) => `${s}-${process.pid}-${++n}`;

async function contract(t: Test, make: () => Promise<Store>): Promise<void> {
  const store = await make();
  t.teardown(() => store.close());

  t.test('token bucket: the burst passes, then denials with a retry-after; refills at the rate', async (t) => {
    const k = key('tb');
    const got = [];
    for (let i = 0; i < 7; i++) got.push(await store.takeToken(k, 10, 5));
    t.same(got.map((g) => g.allowed), [true, true, true, true, true, false, false]);
    t.same(got.slice(0, 5).map((g) => g.remaining), [4, 3, 2, 1, 0]);
    const denied = got[5]!;
    t.ok(denied.retryAfterMs > 0 && denied.retryAfterMs <= 100, `retry after ${denied.retryAfterMs} ms (1 token at 10/s)`);
    await sleep(250);
    const after = await store.takeToken(k, 10, 5);
    t.ok(after.allowed, 'tokens back after 250 ms at 10/s');
  });

  t.test('token bucket: cost above 1, and a cost above the burst is never allowed', async (t) => {
    const k = key('cost');
    t.ok((await store.takeToken(k, 1, 10, 6)).allowed);
    t.notOk((await store.takeToken(k, 1, 10, 6)).allowed);
    t.notOk((await store.takeToken(key('big'), 100, 3, 4)).allowed);
  });

  t.test('token bucket: exact under concurrency (100 takes at once, burst 40)', async (t) => {
    const k = key('race');
    const rs = await Promise.all(Array.from({ length: 100 }, () => store.takeToken(k, 0.001, 40)));
    t.equal(rs.filter((r) => r.allowed).length, 40);
  });

  t.test('counters: incr adds, the window expires', async (t) => {
    const k = key('q');
    t.equal(await store.incr(k, 1, 300), 1);
    t.equal(await store.incr(k, 2, 300), 3);
    await sleep(400);
    t.equal(await store.incr(k, 1, 300), 1, 'a new window after the ttl');
  });

  t.test('values: set, get, ttl, del', async (t) => {
    const k = key('v');
    t.equal(await store.get(k), null);
    await store.set(k, Buffer.from([1, 2, 3]), 300);
    t.same(await store.get(k), Buffer.from([1, 2, 3]));
    await store.del(k);
    t.equal(await store.get(k), null);
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

t.test('redis down: calls fail fast with StoreUnavailableError; back up: they work again', async (t) => {
  const states: boolean[] = [];
  const s = new RedisStore({ url: redis.url, keyPrefix: 'down:', commandTimeoutMs: 100, onStateChange: (up) => states.push(up) });
  t.teardown(() => s.close());
  await s.ready();
  t.ok((await s.takeToken('k', 10, 5)).allowed);
  await redis.stop(true);
  // Queued calls would wait for the restart below, which only happens after they settle: rejects proves no queue.
  await t.rejects(s.takeToken('k', 10, 5), StoreUnavailableError);
  await t.rejects(s.get('k'), StoreUnavailableError);
  await redis.start();
  await s.ready(10_000);
  t.ok((await s.takeToken('k2', 10, 5)).allowed, 'works again; the script reloaded after NOSCRIPT');
  t.same(states, [true, false, true], 'state changes reported once each');
});
