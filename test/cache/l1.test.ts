import t from 'tap';
import { type CachedResponse, entrySize } from '../../src/cache/entry.js';
import { L1Cache } from '../../src/cache/l1.js';

const NOW = 1_700_000_000_000;

function entry(bodyBytes = 10, ttlMs = 60_000, headers: string[] = []): CachedResponse {
  return { status: 200, headers, body: Buffer.alloc(bodyBytes, 0x61), storedAt: NOW, expiresAt: NOW + ttlMs };
}

const cost = (key: string, e: CachedResponse) => entrySize(e) + key.length;

t.test('options are checked', async (t) => {
  t.throws(() => new L1Cache({ maxBytes: 0, maxEntries: 1 }), RangeError);
  t.throws(() => new L1Cache({ maxBytes: 1000, maxEntries: 0 }), RangeError);
  t.throws(() => new L1Cache({ maxBytes: NaN, maxEntries: 1 }), RangeError);
  t.throws(() => new L1Cache({ maxBytes: 1000, maxEntries: 1.5 }), RangeError);
  const c = new L1Cache({ maxBytes: 1000, maxEntries: 5 });
  t.equal(c.maxBytes, 1000);
  t.equal(c.maxEntries, 5);
});

t.test('get, set, counters, size and bytes', async (t) => {
  const c = new L1Cache({ maxBytes: 1 << 20, maxEntries: 100 });
  t.equal(c.get('a', NOW), null);
  const e = entry(100, 60_000, ['content-type', 'text/plain']);
  t.equal(c.set('a', e), true);
  t.equal(c.get('a', NOW), e, 'the same object back');
  t.equal(c.size, 1);
  t.equal(c.bytes, cost('a', e));
  t.equal(c.hits, 1);
  t.equal(c.misses, 1);
  t.equal(c.evictions, 0);

  const e2 = entry(300);
  t.equal(c.set('a', e2), true, 'replace');
  t.equal(c.size, 1);
  t.equal(c.bytes, cost('a', e2), 'bytes follow the replacement');
  t.equal(c.get('a', NOW), e2);
  t.equal(c.evictions, 0, 'a replacement is not an eviction');
});

t.test('expiry on read', async (t) => {
  const c = new L1Cache({ maxBytes: 1 << 20, maxEntries: 100 });
  const e = entry(10, 1000);
  c.set('k', e);
  c.set('other', entry());
  t.equal(c.get('k', NOW + 999), e, 'live just before expiresAt');
  t.equal(c.get('k', NOW + 1000), null, 'gone at expiresAt');
  t.equal(c.size, 1, 'the expired entry was dropped');
  t.equal(c.bytes, cost('other', entry()));
  t.equal(c.get('k', NOW), null, 'still gone when asked with an earlier clock');
  t.equal(c.hits, 1);
  t.equal(c.misses, 2);
  t.equal(c.evictions, 0, 'expiry is not an eviction');
});

t.test('least recently used goes first: entry bound', async (t) => {
  const c = new L1Cache({ maxBytes: 1 << 20, maxEntries: 3 });
  c.set('a', entry());
  c.set('b', entry());
  c.set('c', entry());
  t.ok(c.get('a', NOW), 'a becomes most recent');
  c.set('d', entry());
  t.equal(c.size, 3);
  t.equal(c.evictions, 1);
  t.equal(c.get('b', NOW), null, 'b, the least recently used, was evicted');
  t.ok(c.get('c', NOW));
  t.ok(c.get('a', NOW));
  t.ok(c.get('d', NOW));
  // Now the order (oldest first) is c, a, d; a re-set counts as a use.
  c.set('c', entry());
  c.set('e', entry());
  t.equal(c.get('a', NOW), null, 'a evicted after c was refreshed by set');
  t.ok(c.get('c', NOW));
  t.equal(c.evictions, 2);
});

t.test('least recently used goes first: byte bound', async (t) => {
  const unit = cost('k0', entry(1000));
  const c = new L1Cache({ maxBytes: unit * 8, maxEntries: 1000 });
  for (let i = 0; i < 8; i++) t.equal(c.set(`k${i}`, entry(1000)), true);
  t.equal(c.size, 8);
  t.equal(c.bytes, unit * 8, 'exactly full');
  t.equal(c.evictions, 0);
  c.get('k0', NOW);
  c.set('k8', entry(1000));
  t.equal(c.size, 8);
  t.equal(c.evictions, 1);
  t.equal(c.get('k1', NOW), null, 'k1 evicted, k0 was used');
  // An entry costing two units pushes out the two least recently used.
  const big = entry(2 * unit - entrySize(entry(0)) - 2);
  t.equal(cost('kb', big), 2 * unit);
  t.equal(c.set('kb', big), true);
  t.equal(c.bytes, unit * 8, 'full again, not over');
  t.equal(c.size, 7);
  t.equal(c.evictions, 3);
  t.equal(c.get('k2', NOW), null, 'k2 evicted');
  t.equal(c.get('k3', NOW), null, 'k3 evicted');
  for (const k of ['k0', 'k4', 'k5', 'k6', 'k7', 'k8', 'kb']) t.ok(c.get(k, NOW), `${k} kept`);
});

t.test('oversized entries are refused and drop an older value', async (t) => {
  const c = new L1Cache({ maxBytes: 40_000, maxEntries: 100 });
  const limit = 10_000;
  const fits = entry(limit - entrySize(entry(0)) - 1);
  t.equal(cost('k', fits), limit, 'exactly a quarter');
  t.equal(c.set('k', fits), true, 'a quarter of maxBytes is kept');
  const tooBig = entry(limit - entrySize(entry(0)));
  t.equal(c.set('k', tooBig), false, 'one byte more is not');
  t.equal(c.get('k', NOW), null, 'and the older value under the key is gone');
  t.equal(c.size, 0);
  t.equal(c.bytes, 0);
  t.equal(c.evictions, 0);
  c.set('x', entry());
  t.equal(c.set('y', entry(50_000)), false);
  t.ok(c.get('x', NOW), 'a refused entry evicts nothing');
});

t.test('delete, deletePrefix, clear', async (t) => {
  const c = new L1Cache({ maxBytes: 1 << 20, maxEntries: 100 });
  const keys = ['api1/prod/a', 'api1/prod/b', 'api1/prodx/a', 'api1/dev/a', 'api2/prod/a'];
  for (const k of keys) c.set(k, entry(10 + k.length));
  t.equal(c.delete('nope'), false);
  t.equal(c.delete('api1/dev/a'), true);
  t.equal(c.delete('api1/dev/a'), false);
  t.equal(c.size, 4);
  t.equal(c.deletePrefix('api1/prod/'), 2, 'the stage, not a stage sharing its name as a prefix');
  t.equal(c.size, 2);
  t.ok(c.get('api1/prodx/a', NOW));
  t.ok(c.get('api2/prod/a', NOW));
  t.equal(c.bytes, cost('api1/prodx/a', entry(10 + 12)) + cost('api2/prod/a', entry(10 + 11)));
  t.equal(c.deletePrefix('zzz'), 0);
  t.equal(c.deletePrefix(''), 2, 'the empty prefix flushes everything');
  t.equal(c.size, 0);
  t.equal(c.bytes, 0);
  c.set('a', entry());
  const hits = c.hits;
  c.clear();
  t.equal(c.size, 0);
  t.equal(c.bytes, 0);
  t.equal(c.get('a', NOW), null);
  t.equal(c.hits, hits, 'counters survive clear');
});

t.test('a body pinning a larger buffer is copied', async (t) => {
  const c = new L1Cache({ maxBytes: 1 << 20, maxEntries: 100 });
  const chunk = Buffer.alloc(65536, 0x62);
  const e = { ...entry(), body: chunk.subarray(100, 110) };
  c.set('k', e);
  const got = c.get('k', NOW)!;
  t.equal(got.body.buffer.byteLength, 10, 'own memory');
  t.ok(got.body.equals(Buffer.alloc(10, 0x62)));
  t.equal(e.body.buffer, chunk.buffer, "the caller's entry is left alone");
  const own = entry(5000);
  c.set('own', own);
  t.equal(c.get('own', NOW), own, 'a body owning its memory is kept as is');
  const pooled = { ...entry(), body: Buffer.from('small') };
  t.ok(pooled.body.buffer.byteLength > 5, 'sanity: a slice of the Buffer pool');
  c.set('pooled', pooled);
  const p = c.get('pooled', NOW)!;
  t.equal(p.body.buffer.byteLength, 5, 'a pool slice is copied too (it would pin a whole slab)');
  t.equal(p.body.toString(), 'small');
  t.equal(p.status, pooled.status);
  t.equal(p.expiresAt, pooled.expiresAt);
  const half = { ...entry(), body: Buffer.alloc(100).subarray(0, 60) };
  c.set('half', half);
  t.equal(c.get('half', NOW), half, 'a slice of most of its buffer is kept as is');
});

t.test('model check: random operations against a reference LRU', async (t) => {
  let seed = 7;
  const rnd = (n: number) => Math.floor(((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32) * n);
  const maxBytes = 6000;
  const maxEntries = 8;
  const c = new L1Cache({ maxBytes, maxEntries });
  // Reference: an array, oldest first.
  let ref: { key: string; e: CachedResponse; cost: number }[] = [];
  let now = NOW;
  let bad = 0;
  for (let i = 0; i < 20_000; i++) {
    const key = `s${rnd(3)}/k${rnd(20)}`;
    const op = rnd(10);
    now += rnd(50);
    if (op < 4) {
      const e = { ...entry(rnd(1500), 100 + rnd(2000)), storedAt: now, expiresAt: now + 100 + rnd(2000) };
      const kept = c.set(key, e);
      ref = ref.filter((x) => x.key !== key);
      const k = cost(key, e);
      if (kept !== k <= maxBytes / 4) bad++;
      if (k <= maxBytes / 4) {
        ref.push({ key, e, cost: k });
        while (ref.reduce((s, x) => s + x.cost, 0) > maxBytes || ref.length > maxEntries) ref.shift();
      }
    } else if (op < 8) {
      const got = c.get(key, now);
      const idx = ref.findIndex((x) => x.key === key);
      let want: CachedResponse | null = null;
      if (idx !== -1) {
        const [x] = ref.splice(idx, 1);
        if (x!.e.expiresAt > now) {
          want = x!.e;
          ref.push(x!);
        }
      }
      if (got !== want) bad++;
    } else if (op < 9) {
      c.delete(key);
      ref = ref.filter((x) => x.key !== key);
    } else {
      const prefix = `s${rnd(3)}/`;
      const n = c.deletePrefix(prefix);
      const before = ref.length;
      ref = ref.filter((x) => !x.key.startsWith(prefix));
      if (n !== before - ref.length) bad++;
    }
    if (c.size !== ref.length || c.bytes !== ref.reduce((s, x) => s + x.cost, 0)) bad++;
    if (c.bytes > maxBytes || c.size > maxEntries) bad++;
  }
  t.equal(bad, 0, 'same answers, sizes and bytes as the reference after 20000 operations');
  t.ok(c.hits > 0 && c.misses > 0 && c.evictions > 0, `hits ${c.hits}, misses ${c.misses}, evictions ${c.evictions}`);
});
