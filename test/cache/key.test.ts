import t from 'tap';
import { type CacheKeyRequest, type CacheKeySpec, compileCacheKey, hashKey } from '../../src/cache/key.js';

function req(over: Partial<CacheKeyRequest> = {}): CacheKeyRequest {
  return { method: 'GET', path: '/pets', query: '', headers: [], params: null, ...over };
}

function spec(over: Partial<CacheKeySpec> = {}): CacheKeySpec {
  return { querystring: [], header: [], path: [], ...over };
}

t.test('method and path only when nothing is named', async (t) => {
  const k = compileCacheKey(spec());
  t.equal(k(req()), '3:GET 5:/pets');
  t.equal(k(req({ query: 'a=1', headers: ['accept', 'x'], params: { id: '1' } })), k(req()), 'unnamed parameters are ignored');
  t.not(k(req({ method: 'POST' })), k(req()), 'method');
  t.not(k(req({ path: '/pets/' })), k(req()), 'path as received: trailing slash');
  t.not(k(req({ path: '/Pets' })), k(req()), 'path as received: case');
  t.not(k(req({ path: '/pets%2F1' })), k(req({ path: '/pets/1' })), 'path as received: no decoding');
  t.not(k(req({ method: 'GET 5:/pets', path: '' })), k(req()), 'the method cannot swallow the path');
});

t.test('readable, length-prefixed text', async (t) => {
  const k = compileCacheKey(spec({ path: ['id'], querystring: ['limit', 'tag'], header: ['Accept'] }));
  t.equal(
    k(req({ path: '/pets/7', query: 'tag=a&limit=10&tag=b', headers: ['accept', 'text/html'], params: { id: '7' } })),
    '3:GET 7:/pets/7 p2:id=1:7 q5:limit=2:10 q3:tag=1:a,1:b h6:accept=9:text/html',
  );
  t.equal(k(req({ path: '/pets/7' })), '3:GET 7:/pets/7 p2:id q5:limit q3:tag h6:accept', 'all absent');
});

t.test('query strings', async (t) => {
  const k = compileCacheKey(spec({ querystring: ['a', 'b'] }));
  t.equal(k(req({ query: 'a=1&b=2' })), k(req({ query: 'b=2&a=1' })), 'order of different names does not matter');
  t.equal(k(req({ query: 'a=1&x=9&b=2' })), k(req({ query: 'b=2&a=1' })), 'unnamed ones are ignored');
  t.not(k(req({ query: 'a=1&a=2' })), k(req({ query: 'a=2&a=1' })), 'repeated values keep request order');
  t.not(k(req({ query: 'a=1&a=2' })), k(req({ query: 'a=1' })), 'all values count');
  t.not(k(req({ query: 'a=1&a=2' })), k(req({ query: 'a=1,1:2' })), 'a value cannot fake a second value');
  t.not(k(req({ query: 'a=1' })), k(req({ query: 'a=1 q1:b=1:2' })), 'a value cannot fake another parameter');
  t.not(k(req({ query: 'a=' })), k(req({ query: '' })), 'empty is not absent');
  t.not(k(req({ query: 'a=' })), k(req({ query: 'b=' })), 'which one is empty');
  t.equal(k(req({ query: 'a' })), k(req({ query: 'a=' })), '`a` and `a=` are both the empty value');
  t.not(k(req({ query: 'a=&a=' })), k(req({ query: 'a=' })), 'two empty values are not one');
  t.equal(k(req({ query: 'a=1&&b=2&' })), k(req({ query: 'a=1&b=2' })), 'empty pieces are skipped');
  t.equal(k(req({ query: 'a=x=y' })), k(req({ query: 'a=x%3Dy' })), 'the first = splits; later ones are value');
  t.not(k(req({ query: 'ab=1' })), k(req({ query: 'a=1' })), 'a longer name does not match');
  t.not(k(req({ query: 'A=1' })), k(req({ query: 'a=1' })), 'query names are case-sensitive');
  t.equal(k(req({ query: '=1&a=2' })), k(req({ query: 'a=2' })), 'an empty name matches nothing here');
});

t.test('query percent-decoding', async (t) => {
  const k = compileCacheKey(spec({ querystring: ['q', 'a b'] }));
  t.equal(k(req({ query: 'q=%41' })), k(req({ query: 'q=A' })), '%41 is A');
  t.equal(k(req({ query: 'q=%c3%a9' })), k(req({ query: 'q=%C3%A9' })), 'hex case');
  t.equal(k(req({ query: 'q=%C3%A9' })), k(req({ query: 'q=é' })), 'UTF-8 sequences');
  t.equal(k(req({ query: 'q=a+b' })), k(req({ query: 'q=a%20b' })), '+ is a space');
  t.not(k(req({ query: 'q=a%2Bb' })), k(req({ query: 'q=a+b' })), '%2B is a plus, not a space');
  t.equal(k(req({ query: '%71=1' })), k(req({ query: 'q=1' })), 'names are decoded too');
  t.equal(k(req({ query: '%71=a+%42' })), k(req({ query: 'q=a B' })), 'an encoded name and an encoded value');
  t.equal(k(req({ query: '%71=AB&q+=x&q=%43' })), k(req({ query: 'q=AB&q=C' })), 'an encoded name then a plain one');
  t.equal(k(req({ query: 'a+b&q=%41+' })), k(req({ query: 'a%20b=&q=A%20' })), 'encoded name without =');
  t.equal(k(req({ query: 'a+b=1' })), k(req({ query: 'a%20b=1' })), 'a name with a space');
  t.equal(k(req({ query: 'q=%2C1%3A2' })), k(req({ query: 'q=,1:2' })), 'separators decode to the same text');
  t.not(k(req({ query: 'q=%2C1%3A2' })), k(req({ query: 'q=&q=2' })), 'and still cannot fake values');
  t.not(k(req({ query: 'q=1%26q%3D2' })), k(req({ query: 'q=1&q=2' })), 'an encoded & is part of the value');
  // Invalid escapes are kept raw and marked: they cannot meet a decoded value.
  t.not(k(req({ query: 'q=%ZZ' })), k(req({ query: 'q=%25ZZ' })), 'invalid escape vs an encoded %');
  t.not(k(req({ query: 'q=%' })), k(req({ query: 'q=%25' })), 'lone %');
  t.not(k(req({ query: 'q=%FF' })), k(req({ query: 'q=%25FF' })), 'invalid UTF-8');
  t.equal(k(req({ query: 'q=%ZZ' })), k(req({ query: 'q=%ZZ' })), 'deterministic');
  t.equal(k(req({ query: '%ZZ=1' })), k(req({ query: '' })), 'an undecodable name matches nothing');
  t.match(k(req({ query: 'q=%E0%A4%A' })), / q1:q=8!%E0%A4%A$/, 'truncated UTF-8 kept raw');
});

t.test('pathological queries stay linear', async (t) => {
  const k = compileCacheKey(spec({ querystring: ['a', 'b'] }));
  for (const [what, q] of [
    ['pieces without =', 'a&'.repeat(100_000)],
    ['encoded names', 'a+=1&'.repeat(50_000) + 'b=%41'],
    ['only separators', '&'.repeat(200_000)],
    ['only =', '='.repeat(200_000)],
    ['percent names, no later %', '%61&'.repeat(50_000) + 'b=1'],
  ] as const) {
    const t0 = Date.now();
    const key = k(req({ query: q }));
    const ms = Date.now() - t0;
    t.ok(ms < 1000 && key.startsWith('3:GET'), `${what}: ${q.length} chars in ${ms} ms`);
  }
});

t.test('headers', async (t) => {
  const k = compileCacheKey(spec({ header: ['Accept-Language', 'X-Api-Version'] }));
  const base = k(req({ headers: ['accept-language', 'en', 'x-api-version', '2'] }));
  t.equal(k(req({ headers: ['x-api-version', '2', 'host', 'h', 'accept-language', 'en'] })), base, 'order and other headers do not matter');
  t.equal(compileCacheKey(spec({ header: ['x-api-version', 'ACCEPT-language'] }))(req({ headers: ['accept-language', 'en', 'x-api-version', '2'] })), base, 'spec names are case-insensitive');
  t.equal(compileCacheKey(spec({ header: ['accept-language', 'Accept-Language', 'x-api-version'] }))(req({ headers: ['accept-language', 'en', 'x-api-version', '2'] })), base, 'duplicate names in the spec count once');
  t.not(k(req({ headers: ['accept-language', 'en', 'accept-language', 'fr'] })), k(req({ headers: ['accept-language', 'fr', 'accept-language', 'en'] })), 'repeated headers keep request order');
  t.not(k(req({ headers: ['accept-language', 'en', 'accept-language', 'fr'] })), k(req({ headers: ['accept-language', 'en,1:fr'] })), 'a value cannot fake a repeat');
  t.not(k(req({ headers: ['accept-language', 'en, fr'] })), k(req({ headers: ['accept-language', 'en', 'accept-language', 'fr'] })), 'a comma list is one value');
  t.not(k(req({ headers: ['accept-language', ''] })), k(req({ headers: [] })), 'empty is not absent');
  t.not(k(req({ headers: ['accept-language', 'en h13:x-api-version=1:2'] })), base, 'a value cannot fake another header');
  t.equal(k(req({ headers: ['accept-language', '%41'] })), k(req({ headers: ['accept-language', '%41'] })));
  t.not(k(req({ headers: ['accept-language', '%41'] })), k(req({ headers: ['accept-language', 'A'] })), 'header values are not percent-decoded');
  t.equal(k(req({ headers: ['accept-language', 'en', 'x-odd'] })), k(req({ headers: ['accept-language', 'en'] })), 'a trailing odd name is ignored');
});

t.test('path parameters', async (t) => {
  const k = compileCacheKey(spec({ path: ['id', 'sub'] }));
  t.equal(k(req({ params: { sub: 'b', id: 'a' } })), k(req({ params: { id: 'a', sub: 'b' } })), 'object order does not matter');
  t.not(k(req({ params: { id: 'a' } })), k(req({ params: { id: 'a', sub: '' } })), 'a named parameter missing is not empty');
  t.equal(k(req({ params: { id: 'a' } })), '3:GET 5:/pets p2:id=1:a p3:sub', 'a missing one is marked absent');
  t.equal(k(req({ params: null })), k(req({ params: {} })), 'no params at all: all absent');
  t.not(k(req({ params: { id: 'a p3:sub=1:b' } })), k(req({ params: { id: 'a', sub: 'b' } })), 'a value cannot fake another parameter');
  const proto = compileCacheKey(spec({ path: ['constructor', '__proto__', 'toString'] }));
  t.equal(proto(req({ params: {} })), '3:GET 5:/pets p9:__proto__ p11:constructor p8:toString', 'inherited names are absent');
  t.equal(proto(req({ params: JSON.parse('{"__proto__":"x","constructor":"y"}') })), '3:GET 5:/pets p9:__proto__=1:x p11:constructor=1:y p8:toString', 'own properties with those names count');
  t.not(k(req({ params: { id: 'a' } })), k(req({ params: { id: 'A' } })), 'values are case-sensitive');
});

t.test('kinds do not mix', async (t) => {
  const k = compileCacheKey(spec({ path: ['x'], querystring: ['x'], header: ['x'] }));
  const a = k(req({ params: { x: '1' } }));
  const b = k(req({ query: 'x=1' }));
  const c = k(req({ headers: ['x', '1'] }));
  t.ok(a !== b && b !== c && a !== c);
  t.equal(k(req()), '3:GET 5:/pets px qx hx'.replace('px', 'p1:x').replace('qx', 'q1:x').replace('hx', 'h1:x'));
});

t.test('the spec is checked and copied', async (t) => {
  t.throws(() => compileCacheKey(spec({ header: [1 as unknown as string] })), TypeError);
  t.throws(() => compileCacheKey(spec({ path: 'id' as unknown as string[] })), TypeError);
  t.equal(compileCacheKey({ querystring: ['a'] } as CacheKeySpec)(req({ query: 'a=1' })), '3:GET 5:/pets q1:a=1:1', 'missing lists are empty');
  const s = spec({ querystring: ['a'] });
  const k = compileCacheKey(s);
  s.querystring.push('b');
  t.equal(k(req({ query: 'a=1&b=2' })), '3:GET 5:/pets q1:a=1:1', 'later changes to the spec do not leak in');
});

t.test('injective: random requests over an alphabet of separators', async (t) => {
  let seed = 1;
  const rnd = (n: number) => Math.floor(((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32) * n);
  const alphabet = ['a', 'A', '1', '0', ' ', ',', ':', '!', '=', '&', '%', '+', 'p', 'q', 'h', '%41', '%25', '%2C', '%3A', '%2', 'é'];
  const str = (max: number) => {
    let s = '';
    const n = rnd(max);
    for (let i = 0; i < n; i++) s += alphabet[rnd(alphabet.length)];
    return s;
  };
  const k = compileCacheKey(spec({ querystring: ['a', 'q'], header: ['h', 'a'], path: ['p', 'a'] }));
  // The meaning of a request for the key: decoded named query values (raw when invalid), header
  // values and path params, each in order.
  const dec = (s: string) => {
    try {
      return 'd' + decodeURIComponent(s.replaceAll('+', ' '));
    } catch {
      return 'r' + s;
    }
  };
  const meaning = (r: CacheKeyRequest) => {
    const q: Record<string, string[]> = { a: [], q: [] };
    for (const piece of r.query.split('&')) {
      if (piece === '') continue;
      const eq = piece.indexOf('=');
      const rawName = eq === -1 ? piece : piece.slice(0, eq);
      const name = dec(rawName);
      if (name === 'da' || name === 'dq') q[name.slice(1)]!.push(eq === -1 ? 'd' : dec(piece.slice(eq + 1)));
    }
    const h: Record<string, string[]> = { a: [], h: [] };
    for (let i = 0; i < r.headers.length; i += 2) if (r.headers[i] === 'a' || r.headers[i] === 'h') h[r.headers[i]!]!.push(r.headers[i + 1]!);
    return JSON.stringify([r.method, r.path, r.params?.p ?? null, r.params?.a ?? null, q, h]);
  };
  const seen = new Map<string, string>();
  let collisions = 0;
  let n = 0;
  for (let i = 0; i < 30_000; i++) {
    const names = ['a', 'q', 'x', '%61', 'a+'];
    const parts: string[] = [];
    for (let j = rnd(4); j > 0; j--) {
      const nm = names[rnd(names.length)]!;
      parts.push(rnd(4) === 0 ? nm : `${nm}=${str(4)}`);
    }
    const headers: string[] = [];
    for (let j = rnd(3); j > 0; j--) headers.push(['a', 'h', 'z'][rnd(3)]!, str(3));
    const params: Record<string, string> = {};
    if (rnd(2)) params.p = str(3);
    if (rnd(2)) params.a = str(3);
    const r = req({ method: ['GET', 'G'][rnd(2)]!, path: ['/', '/a', '/a 1:b'][rnd(3)]!, query: parts.join('&'), headers, params: rnd(5) ? params : null });
    const key = k(r);
    const m = meaning(r);
    const prev = seen.get(key);
    if (prev === undefined) seen.set(key, m);
    else if (prev !== m) collisions++;
    n++;
  }
  t.equal(collisions, 0, `${n} requests, ${seen.size} distinct keys, every key has one meaning`);
  // And the converse: equal meanings give equal keys (checked by re-keying each meaning's first request).
  const byMeaning = new Map<string, string>();
  let split = 0;
  for (const [key, m] of seen) {
    const prev = byMeaning.get(m);
    if (prev !== undefined && prev !== key) split++;
    byMeaning.set(m, key);
  }
  t.equal(split, 0, 'every meaning has one key');
});

t.test('hashKey', async (t) => {
  const h = hashKey('3:GET 5:/pets');
  t.equal(h.length, 43);
  t.match(h, /^[A-Za-z0-9_-]{43}$/);
  t.equal(hashKey('3:GET 5:/pets'), h, 'deterministic');
  t.not(hashKey('3:GET 5:/pets '), h);
  t.equal(hashKey(''), '47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU', 'SHA-256 of UTF-8 text');
  t.equal(hashKey('é'), hashKey('\u00e9'));
  t.not(hashKey('\ud800'), hashKey('\ufffd'), 'a lone surrogate does not hash as U+FFFD');
  t.not(hashKey('\ud800'), hashKey('\udc00'), 'nor as another lone surrogate');
  t.equal(hashKey('\ud83d\ude00').length, 43, 'a surrogate pair is well-formed text');
  t.equal(hashKey('x'.repeat(100_000)).length, 43, 'fixed length');
});

t.test('speed', async (t) => {
  const k = compileCacheKey(spec({ querystring: ['limit', 'page'], header: ['accept-language'], path: ['id'] }));
  const r = req({
    path: '/pets/123',
    query: 'page=2&limit=50&utm_source=newsletter&utm_medium=email&sort=name',
    headers: ['host', 'api.example.com', 'user-agent', 'Mozilla/5.0', 'accept', '*/*', 'accept-language', 'en-GB', 'x-request-id', 'abc'],
    params: { id: '123' },
  });
  let x = 0;
  for (let i = 0; i < 10_000; i++) x += k(r).length;
  const N = 200_000;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < N; i++) x += k(r).length;
  const ns = Number(process.hrtime.bigint() - t0) / N;
  t.ok(x > 0);
  t.comment(`compileCacheKey: ${ns.toFixed(0)} ns per key`);
  t.ok(ns < 20_000, 'well under 20 µs per key even on a slow machine');
});
