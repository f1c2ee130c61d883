import t, { type Test } from 'tap';
import { pack } from 'msgpackr';
import {
  type CachedResponse,
  ENTRY_FORMAT_VERSION,
  decodeEntry,
  encodeEntry,
  entrySize,
} from '../../src/cache/entry.js';

const NOW = 1_700_000_000_000;

function entry(over: Partial<CachedResponse> = {}): CachedResponse {
  return {
    status: 200,
    headers: ['content-type', 'application/json', 'etag', '"abc"'],
    body: Buffer.from('{"ok":true}'),
    storedAt: NOW,
    expiresAt: NOW + 300_000,
    ...over,
  };
}

function roundTrip(t: Test, e: CachedResponse, msg: string) {
  const d = decodeEntry(encodeEntry(e));
  t.ok(d, msg);
  if (!d) return;
  t.equal(d.status, e.status, `${msg}: status`);
  t.same(d.headers, e.headers, `${msg}: headers`);
  t.ok(Buffer.isBuffer(d.body), `${msg}: body is a Buffer`);
  t.ok(d.body.equals(e.body), `${msg}: body bytes`);
  t.equal(d.storedAt, e.storedAt, `${msg}: storedAt`);
  t.equal(d.expiresAt, e.expiresAt, `${msg}: expiresAt`);
}

t.test('round trips', async (t) => {
  roundTrip(t, entry(), 'plain');
  const all = Buffer.alloc(256 * 4);
  for (let i = 0; i < all.length; i++) all[i] = i & 0xff;
  roundTrip(t, entry({ body: all }), 'every byte value');
  roundTrip(t, entry({ body: Buffer.alloc(0) }), 'empty body');
  roundTrip(t, entry({ headers: [] }), 'no headers');
  const many: string[] = [];
  for (let i = 0; i < 500; i++) many.push(`x-h${i}`, i % 7 === 0 ? '' : `välue ${i} ✓ ${'z'.repeat(i)}`);
  roundTrip(t, entry({ headers: many }), '500 headers, unicode and empty values');
  roundTrip(t, entry({ headers: ['set-cookie', 'a=1', 'set-cookie', 'b=2'] }), 'repeated header names');
  roundTrip(t, entry({ body: Buffer.alloc(1048576, 0xab) }), '1 MiB body');
  roundTrip(t, entry({ status: 599, storedAt: 0, expiresAt: 0 }), 'zero times, status 599');
  roundTrip(t, entry({ status: 100, storedAt: 8_640_000_000_000_000, expiresAt: 8_640_000_000_000_000 }), 'max Date times');
  roundTrip(t, entry({ storedAt: NOW + 0.5, expiresAt: NOW + 1.25 }), 'fractional ms');
  // A body that is a view into a bigger buffer is written as only its own bytes.
  const big = Buffer.from('xxxxHELLOyyyy');
  const d = decodeEntry(encodeEntry(entry({ body: big.subarray(4, 9) })));
  t.equal(d?.body.toString(), 'HELLO', 'sliced body');
});

t.test('compact array form with a leading version', async (t) => {
  const buf = encodeEntry(entry());
  t.equal(buf[0], 0x96, 'a 6-item array');
  t.equal(buf[1], ENTRY_FORMAT_VERSION, 'version first');
  t.ok(buf.length < 80, `small: ${buf.length} bytes`);
  t.ok(Buffer.isBuffer(buf));
});

t.test('decode accepts a Uint8Array view and returns a Buffer body', async (t) => {
  const buf = encodeEntry(entry({ body: Buffer.from([1, 2, 3]) }));
  const u8 = new Uint8Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length));
  const d = decodeEntry(u8 as Buffer);
  t.ok(d && Buffer.isBuffer(d.body) && d.body.equals(Buffer.from([1, 2, 3])));
});

t.test('malformed, truncated, other versions: null, never a throw', async (t) => {
  const good = encodeEntry(entry({ headers: ['a', 'b', 'c', 'd'], body: Buffer.from('body bytes') }));
  t.equal(decodeEntry(Buffer.alloc(0)), null, 'empty');
  for (let n = 1; n < good.length; n++) t.equal(decodeEntry(good.subarray(0, n)), null, `truncated to ${n}`);
  t.equal(decodeEntry(Buffer.concat([good, Buffer.from([0])])), null, 'trailing byte');
  t.equal(decodeEntry(Buffer.from('not msgpack at all')), null, 'text');
  t.equal(decodeEntry(null as unknown as Buffer), null, 'null');
  t.equal(decodeEntry('abc' as unknown as Buffer), null, 'a string');

  const body = Buffer.from('b');
  const arr = (...items: unknown[]) => Buffer.from(pack(items));
  t.ok(decodeEntry(arr(1, 200, [], body, NOW, NOW + 1)), 'hand-packed valid entry decodes');
  t.equal(decodeEntry(arr(2, 200, [], body, NOW, NOW + 1)), null, 'version 2');
  t.equal(decodeEntry(arr(0, 200, [], body, NOW, NOW + 1)), null, 'version 0');
  t.equal(decodeEntry(arr('1', 200, [], body, NOW, NOW + 1)), null, 'version as a string');
  t.equal(decodeEntry(arr(1, 200, [], body, NOW)), null, '5 items');
  t.equal(decodeEntry(arr(1, 200, [], body, NOW, NOW + 1, 'extra')), null, '7 items');
  t.equal(decodeEntry(arr(1, '200', [], body, NOW, NOW + 1)), null, 'status as a string');
  t.equal(decodeEntry(arr(1, 99, [], body, NOW, NOW + 1)), null, 'status 99');
  t.equal(decodeEntry(arr(1, 600, [], body, NOW, NOW + 1)), null, 'status 600');
  t.equal(decodeEntry(arr(1, 200.5, [], body, NOW, NOW + 1)), null, 'fractional status');
  t.equal(decodeEntry(arr(1, 200, ['a'], body, NOW, NOW + 1)), null, 'odd header list');
  t.equal(decodeEntry(arr(1, 200, ['a', 1], body, NOW, NOW + 1)), null, 'non-string header value');
  t.equal(decodeEntry(arr(1, 200, { a: 'b' }, body, NOW, NOW + 1)), null, 'headers as a map');
  t.equal(decodeEntry(arr(1, 200, [], 'text', NOW, NOW + 1)), null, 'body as a string');
  t.equal(decodeEntry(arr(1, 200, [], null, NOW, NOW + 1)), null, 'body null');
  t.equal(decodeEntry(arr(1, 200, [], body, 'x', NOW + 1)), null, 'storedAt as a string');
  t.equal(decodeEntry(arr(1, 200, [], body, NaN, NOW + 1)), null, 'storedAt NaN');
  t.equal(decodeEntry(arr(1, 200, [], body, NOW, Infinity)), null, 'expiresAt Infinity');
  t.equal(decodeEntry(arr(1, 200, [], body, NOW, NOW - 1)), null, 'expires before stored');
  t.equal(decodeEntry(arr(1, 200, [], body, NOW, new Date(NOW + 1))), null, 'timestamp extension');
  t.equal(decodeEntry(Buffer.from(pack({ v: 1 }))), null, 'a map');
  t.equal(decodeEntry(Buffer.from([0x96, 0x01, 0xc1, 0, 0, 0, 0])), null, 'reserved byte 0xc1');
  t.equal(decodeEntry(Buffer.from([0x96, 0x01, 0xd4, 0x72, 0x00])), null, 'record extension');
  t.equal(decodeEntry(Buffer.from([0x96, 0x01, 0xd4, 0x05, 0x00, 0, 0, 0])), null, 'unknown extension');
});

t.test('fuzz: random bytes and mutations never throw', async (t) => {
  let seed = 42;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
  const good = encodeEntry(entry({ headers: ['a', 'b'], body: Buffer.from('0123456789') }));
  let threw = 0;
  let decoded = 0;
  for (let i = 0; i < 5000; i++) {
    let buf: Buffer;
    if (i % 2 === 0) {
      buf = Buffer.from(good);
      const flips = 1 + Math.floor(rnd() * 3);
      for (let k = 0; k < flips; k++) buf[Math.floor(rnd() * buf.length)] = Math.floor(rnd() * 256);
    } else {
      buf = Buffer.alloc(Math.floor(rnd() * 64));
      for (let k = 0; k < buf.length; k++) buf[k] = Math.floor(rnd() * 256);
      if (rnd() < 0.5 && buf.length > 1) (buf[0] = 0x96), (buf[1] = 1);
    }
    try {
      const d = decodeEntry(buf);
      if (d) {
        decoded++;
        // Whatever decodes satisfies the shape.
        if (!Buffer.isBuffer(d.body) || d.headers.length % 2 || d.expiresAt < d.storedAt) threw++;
      }
    } catch {
      threw++;
    }
  }
  t.equal(threw, 0, `no throws and no ill-shaped results (${decoded} mutated inputs still decoded)`);
});

t.test('entrySize', async (t) => {
  const base = entry({ headers: [], body: Buffer.alloc(0) });
  const s0 = entrySize(base);
  t.ok(s0 > 0, 'fixed overhead');
  t.equal(entrySize(entry({ headers: [], body: Buffer.alloc(1000) })), s0 + 1000, 'body bytes count one for one');
  const h = entrySize(entry({ headers: ['content-type', 'text/plain'], body: Buffer.alloc(0) }));
  t.ok(h >= s0 + 'content-type'.length + 'text/plain'.length, 'header text counts');
  t.ok(entrySize(entry({ headers: ['a', ''], body: Buffer.alloc(0) })) > s0, 'even an empty header costs something');
});
