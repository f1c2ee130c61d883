import t from 'tap';
import { checkPath, parseRouteKey, Router, RouteConflictError, type RouteDef } from '../../src/router/index.js';
import { generateRoutes } from '../../bench/router.js';

/** Builds a router whose data is the route key, from `METHOD /path` strings. */
function router(...keys: string[]): Router<string> {
  return new Router(keys.map((k) => {
    const [method, path] = k.split(' ') as [string, string];
    return { method, path, data: k };
  }));
}

/** The matched route key, or null. */
function hit(r: Router<string>, method: string, path: string): string | null {
  return r.match(method, path)?.data ?? null;
}

function conflictsOf(defs: string[]): { a: string; b: string; reason: string }[] {
  try {
    router(...defs);
  } catch (e) {
    if (e instanceof RouteConflictError) return e.conflicts;
    throw e;
  }
  return [];
}

t.test('parseRouteKey', async (t) => {
  t.same(parseRouteKey('GET /pets/{id}'), {
    method: 'GET',
    path: '/pets/{id}',
    segments: [{ kind: 'static', value: 'pets' }, { kind: 'param', name: 'id' }],
  });
  t.same(parseRouteKey('ANY /files/{proxy+}').segments, [{ kind: 'static', value: 'files' }, { kind: 'greedy', name: 'proxy' }]);
  t.same(parseRouteKey('GET /').segments, [{ kind: 'static', value: '' }], 'the root is one empty segment');
  t.same(parseRouteKey('GET /pets/').segments, [{ kind: 'static', value: 'pets' }, { kind: 'static', value: '' }], 'trailing slash kept');
  t.same(parseRouteKey('GET /caf%C3%A9/.well-known').segments, [{ kind: 'static', value: 'caf%C3%A9' }, { kind: 'static', value: '.well-known' }]);

  const bad: [string, RegExp][] = [
    ['GET/pets', /must be "METHOD \/path"/],
    ['GET  /pets', /must be "METHOD \/path"/],
    ['get /pets', /invalid method "get"/],
    ['FETCH /pets', /invalid method "FETCH"/],
    ['$default', /handles it/],
    ['GET pets', /must start with '\/'/],
    ['GET /a{b}', /"a\{b\}" is not a valid \{param\}/],
    ['GET /{a}b', /not a valid \{param\}/],
    ['GET /{}', /not a valid \{param\}/],
    ['GET /{+}', /not a valid \{param\}/],
    ['GET /a b', /must be "METHOD \/path"/],
    ['GET /{a\tb}', /invalid character/],
    ['GET /{p+}/x', /greedy \{p\+\} must be the last segment/],
    ['GET /{id}/{id}', /duplicate parameter name \{id\}/],
    ['GET /{id}/{id+}', /duplicate parameter name \{id\}/],
    ['GET /{__proto__}', /__proto__/],
    ['GET /a//b', /empty segment/],
    ['GET /a/../b', /dot segment/],
    ['GET /a/%2e', /dot segment/],
    ['GET /a?b', /invalid character/],
    ['GET /a#b', /invalid character/],
    ['GET /a\\b', /invalid character/],
    ['GET /café', /invalid character/],
    ['GET /a%2', /invalid percent-escape/],
    ['GET /a%zz', /invalid percent-escape/],
  ];
  for (const [key, msg] of bad) t.throws(() => parseRouteKey(key), msg, key);
});

t.test('precedence: static > {param} > {greedy+} at each segment', async (t) => {
  const r = router('GET /pets/search', 'GET /pets/{id}', 'GET /pets/{rest+}');
  t.equal(hit(r, 'GET', '/pets/search'), 'GET /pets/search');
  t.equal(hit(r, 'GET', '/pets/12'), 'GET /pets/{id}');
  t.equal(hit(r, 'GET', '/pets/12/toys'), 'GET /pets/{rest+}');
  t.equal(hit(r, 'GET', '/pets/search/x'), 'GET /pets/{rest+}');
  t.equal(hit(r, 'GET', '/pets'), null);
  // Insertion order does not matter.
  const r2 = router('GET /pets/{rest+}', 'GET /pets/{id}', 'GET /pets/search');
  t.equal(hit(r2, 'GET', '/pets/search'), 'GET /pets/search');
  t.equal(hit(r2, 'GET', '/pets/12'), 'GET /pets/{id}');
});

t.test('precedence: backtracking across branches', async (t) => {
  const r = router('GET /a/b/c', 'GET /a/{x}/d', 'GET /a/{x}/{y}/z', 'GET /{p+}');
  t.equal(hit(r, 'GET', '/a/b/c'), 'GET /a/b/c');
  t.equal(hit(r, 'GET', '/a/b/d'), 'GET /a/{x}/d', 'static b fails deeper, {x} matches');
  t.equal(hit(r, 'GET', '/a/b/c/z'), 'GET /a/{x}/{y}/z', 'static b/c fails two levels down');
  t.same(r.match('GET', '/a/b/c/z')!.params, { x: 'b', y: 'c' }, 'params come from the matched route only');
  t.equal(hit(r, 'GET', '/a/b/e'), 'GET /{p+}', 'static and param branches fail, root greedy');
  t.same(r.match('GET', '/a/b/e')!.params, { p: 'a/b/e' });
  t.equal(hit(r, 'GET', '/a/c/e'), 'GET /{p+}');
  // A greedy under the static branch is tried before leaving it for {x}.
  const r1 = router('GET /a/b/c', 'GET /a/{x}/d', 'GET /a/{x}/{y}/z', 'GET /{p+}', 'GET /a/b/{q+}');
  t.equal(hit(r1, 'GET', '/a/b/d'), 'GET /a/b/{q+}');
  t.equal(hit(r1, 'GET', '/a/b/c/z'), 'GET /a/b/{q+}');
  t.same(r1.match('GET', '/a/b/c/z')!.params, { q: 'c/z' });
  t.equal(hit(r1, 'GET', '/a/c/d'), 'GET /a/{x}/d');
  t.equal(hit(r1, 'GET', '/a/b'), 'GET /{p+}', 'greedy under b needs a char after /a/b/');
  // A longer static path beats a shorter greedy, a deeper static beats a shallower param.
  const r2 = router('GET /{id}/x', 'GET /a/{p+}', 'GET /a/b/{c}');
  t.equal(hit(r2, 'GET', '/a/x'), 'GET /a/{p+}', 'static a first, then greedy under it');
  t.equal(hit(r2, 'GET', '/b/x'), 'GET /{id}/x');
  t.equal(hit(r2, 'GET', '/a/b/c'), 'GET /a/b/{c}');
});

t.test('precedence: exact method beats ANY at the same path', async (t) => {
  const r = router('GET /pets/{id}', 'ANY /pets/{id}', 'DELETE /pets/{petId}');
  t.equal(hit(r, 'GET', '/pets/1'), 'GET /pets/{id}');
  t.equal(hit(r, 'DELETE', '/pets/1'), 'DELETE /pets/{petId}');
  t.same(r.match('DELETE', '/pets/1')!.params, { petId: '1' }, 'each route keeps its own names');
  t.equal(hit(r, 'POST', '/pets/1'), 'ANY /pets/{id}');
  t.equal(hit(r, 'PATCH', '/pets/1'), 'ANY /pets/{id}');
  t.equal(hit(r, 'TRACE', '/pets/1'), 'ANY /pets/{id}', 'unknown methods match ANY');
  t.equal(hit(r, 'get', '/pets/1'), 'ANY /pets/{id}', 'methods are case-sensitive');
  const g = router('ANY /files/{p+}', 'GET /files/{q+}');
  t.same(g.match('GET', '/files/a/b'), { data: 'GET /files/{q+}', params: { q: 'a/b' } }, 'greedy: exact method first');
  t.same(g.match('POST', '/files/a/b'), { data: 'ANY /files/{p+}', params: { p: 'a/b' } });
  // Same result whatever the order of definition.
  const r2 = router('ANY /pets/{id}', 'GET /pets/{id}');
  t.equal(hit(r2, 'GET', '/pets/1'), 'GET /pets/{id}');
  t.equal(hit(r2, 'PUT', '/pets/1'), 'ANY /pets/{id}');
  // Path specificity comes first: a more specific ANY beats a less specific exact method.
  const r3 = router('ANY /pets/{id}', 'GET /{proxy+}', 'GET /pets/search');
  t.equal(hit(r3, 'GET', '/pets/1'), 'ANY /pets/{id}');
  t.equal(hit(r3, 'POST', '/pets/search'), 'ANY /pets/{id}', 'static route exists only for GET');
});

t.test('precedence: backtracking when the path matches but the method does not', async (t) => {
  const r = router('GET /pets/{id}', 'ANY /{proxy+}');
  t.equal(hit(r, 'POST', '/pets/1'), 'ANY /{proxy+}');
  t.same(r.match('POST', '/pets/1')!.params, { proxy: 'pets/1' });
  t.equal(hit(r, 'GET', '/pets/1'), 'GET /pets/{id}');

  const r2 = router('GET /pets/search', 'POST /pets/{id}', 'PUT /pets/{id}/{rest+}');
  t.equal(hit(r2, 'POST', '/pets/search'), 'POST /pets/{id}', 'static has no POST: backtrack to {id}');
  t.same(r2.match('POST', '/pets/search')!.params, { id: 'search' });
  t.equal(hit(r2, 'DELETE', '/pets/search'), null, 'no method nor ANY anywhere: 404');
  t.equal(hit(r2, 'HEAD', '/pets/search'), null, 'HEAD does not fall back to GET');

  const r3 = router('GET /a/b/c', 'POST /a/{x}/c', 'PUT /{p+}');
  t.equal(hit(r3, 'POST', '/a/b/c'), 'POST /a/{x}/c', 'deeper method miss backtracks to a param');
  t.equal(hit(r3, 'PUT', '/a/b/c'), 'PUT /{p+}');
  t.equal(hit(r3, 'DELETE', '/a/b/c'), null);
});

t.test('params are raw, greedy values keep slashes', async (t) => {
  const r = router('GET /users/{id}', 'GET /users/{id}/posts/{postId}', 'ANY /files/{path+}', 'GET /health');
  t.same(r.match('GET', '/users/john%20doe')!.params, { id: 'john%20doe' });
  t.same(r.match('GET', '/users/a%2Fb/posts/%E2%9C%93')!.params, { id: 'a%2Fb', postId: '%E2%9C%93' });
  t.same(r.match('GET', '/users/+ok/posts/x')!.params, { id: '+ok', postId: 'x' }, '+ stays +');
  t.same(r.match('PUT', '/files/a/b/c.txt')!.params, { path: 'a/b/c.txt' });
  t.same(r.match('PUT', '/files/a//b/')!.params, { path: 'a//b/' });
  t.same(r.match('PUT', '/files/x%2F..%2Fy')!.params, { path: 'x%2F..%2Fy' }, 'no decoding, no normalising');
  const h = r.match('GET', '/health')!;
  t.same(h.params, {});
  t.ok(Object.isFrozen(h.params), 'the shared params of a static route are frozen');
  t.equal(r.match('GET', '/health'), h, 'static routes return one shared match');
  const a = r.match('GET', '/users/1')!;
  const b = r.match('GET', '/users/2')!;
  t.not(a.params, b.params, 'param routes get a fresh params object');
  t.same([a.params, b.params], [{ id: '1' }, { id: '2' }]);
  t.equal((a.params as { toString?: unknown }).toString, undefined, 'no inherited names');
  t.notOk('constructor' in a.params);
  t.same(Object.keys(r.match('GET', '/users/1/posts/2')!.params), ['id', 'postId']);
});

t.test('trailing slash: /pets/ and /pets are different paths', async (t) => {
  const r = router('GET /pets', 'GET /pets/{id}', 'GET /files/{p+}', 'GET /dir/', 'GET /');
  t.equal(hit(r, 'GET', '/pets'), 'GET /pets');
  t.equal(hit(r, 'GET', '/pets/'), null, '/pets/ is not /pets, and {id} needs a non-empty segment');
  t.equal(hit(r, 'GET', '/pets/1/'), null);
  t.equal(hit(r, 'GET', '/dir/'), 'GET /dir/');
  t.equal(hit(r, 'GET', '/dir'), null);
  t.equal(hit(r, 'GET', '/dir//'), null);
  t.equal(hit(r, 'GET', '/files/'), null, 'greedy needs at least one char');
  t.equal(hit(r, 'GET', '/files'), null);
  t.same(r.match('GET', '/files/a/')!.params, { p: 'a/' });
  t.same(r.match('GET', '/files//')!.params, { p: '/' });
  t.equal(hit(r, 'GET', '/'), 'GET /');
  t.equal(hit(r, 'GET', '//'), null);
  t.equal(hit(r, 'GET', ''), null);
  t.equal(hit(r, 'GET', 'pets'), null, 'a path must start with /');
  const r2 = router('GET /{p+}', 'GET /a/{id}');
  t.equal(hit(r2, 'GET', '/'), null, 'root greedy needs a char');
  t.same(r2.match('GET', '/a/')!.params, { p: 'a/' }, '/a/ falls to the root greedy');
});

t.test('encoding: %2F never splits, // is an empty segment', async (t) => {
  const r = router('GET /a/{id}/b', 'GET /a/{x}/{y}', 'GET /s/x%2Fy', 'GET /p/{id}');
  t.equal(hit(r, 'GET', '/a/x%2Fy/b'), 'GET /a/{id}/b');
  t.same(r.match('GET', '/a/x%2Fy/b')!.params, { id: 'x%2Fy' });
  t.equal(hit(r, 'GET', '/a/x%2Fy'), null, '%2F is not a separator: one segment after /a');
  t.equal(hit(r, 'GET', '/a/x%5Cy/b'), 'GET /a/{id}/b');
  t.equal(hit(r, 'GET', '/s/x%2Fy'), 'GET /s/x%2Fy', 'static segments compare raw');
  t.equal(hit(r, 'GET', '/s/x%2fy'), null, 'byte for byte: hex case matters');
  t.equal(hit(r, 'GET', '/s/x/y'), null);
  t.equal(hit(r, 'GET', '/a//b'), null, '// is an empty segment, {id} does not take it');
  t.equal(hit(r, 'GET', '//a/1'), null, 'no merging of slashes');
  t.equal(hit(r, 'GET', '/p//'), null);
  t.equal(hit(r, 'GET', '/P/1'), null, 'case-sensitive');
});

t.test('checkPath', async (t) => {
  const ok = ['/', '/pets', '/pets/', '/pets/1', '//', '/a//b', '/.well-known/x', '/a.b/c..d', '/...', '/a/...',
    '/x%2Fy', '/%2e%2e%2e', '/a%20b', '/caf%C3%A9', '/a-b_c~d!$&\'()*+,;=:@', '/\u00e9', '/a/.b', '/a/b.', '/%2fa'];
  for (const p of ok) t.equal(checkPath(p), true, `accepts ${JSON.stringify(p)}`);
  const bad = [
    '', 'pets', '*', 'http://x/y',
    '/.', '/..', '/./a', '/../a', '/a/.', '/a/..', '/a/./b', '/a/../b', '/a/../',
    '/%2e', '/%2E', '/%2e%2e', '/%2E%2e/', '/a/.%2e/b', '/a/%2e./b', '/a/%2E%2E',
    '/a/..%2fb', '/a/..%2Fb', '/a/..%5cb', '/a/b%2F..', '/a/x%2F.%2Fy',
    '/a\\b', '/\\', '/a\u0000b', '/a\tb', '/a\nb', '/a\rb', '/a\u001fb', '/a\u007fb', '/a#b', '/#',
    '/%', '/a%', '/a%2', '/a%zz', '/a%g0', '/a%0g', '/%%30', '/a/%2e%',
  ];
  for (const p of bad) t.equal(checkPath(p), false, `rejects ${JSON.stringify(p)}`);
});

t.test('conflicts: each kind names both route keys', async (t) => {
  const c1 = conflictsOf(['GET /pets/{id}', 'GET /pets/{petId}']);
  t.equal(c1.length, 1);
  t.match(c1[0], { a: 'GET /pets/{id}', b: 'GET /pets/{petId}', reason: /same method and path shape/ });

  const c2 = conflictsOf(['ANY /x', 'ANY /x']);
  t.match(c2, [{ a: 'ANY /x', b: 'ANY /x', reason: /same method and path shape/ }]);

  const c3 = conflictsOf(['GET /files/{a+}', 'GET /files/{b+}']);
  t.match(c3, [{ a: 'GET /files/{a+}', b: 'GET /files/{b+}', reason: /duplicate greedy/ }]);

  const single: [string, RegExp][] = [
    ['GET /{p+}/x', /greedy \{p\+\} must be the last segment/],
    ['GET /a{b}', /not a valid \{param\}/],
    ['GET /{id}/{id}', /duplicate parameter name/],
    ['FETCH /x', /invalid method "FETCH"/],
    ['get /x', /invalid method "get"/],
  ];
  for (const [key, reason] of single) {
    t.match(conflictsOf([key]), [{ a: key, b: key, reason }], key);
  }

  t.same(conflictsOf(['GET /pets/{id}', 'ANY /pets/{id}', 'POST /pets/{id}', 'GET /pets/search', 'GET /pets/{id}/x']), [], 'no conflicts');

  // Every conflict is reported, not just the first.
  let err: unknown;
  try {
    router('GET /a/{x}', 'GET /a/{y}', 'GET /a/{z}', 'POST /b/{p+}', 'POST /b/{q+}', 'GET /c{d}', 'BREW /x', 'GET /ok');
  } catch (e) {
    err = e;
  }
  t.type(err, RouteConflictError);
  const e = err as RouteConflictError;
  t.same(e.conflicts.map((c) => [c.a, c.b]), [
    ['GET /a/{x}', 'GET /a/{y}'],
    ['GET /a/{x}', 'GET /a/{z}'],
    ['POST /b/{p+}', 'POST /b/{q+}'],
    ['GET /c{d}', 'GET /c{d}'],
    ['BREW /x', 'BREW /x'],
  ]);
  t.match(e.message, /5 route conflicts/);
  t.match(e.message, /"GET \/a\/\{x\}" vs "GET \/a\/\{y\}"/);
});

// ------------------------------------------------------------------------------------------------
// Randomized cross-check against a naive reference matcher.

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

interface RefRoute {
  key: string;
  method: string;
  segs: { kind: 'static' | 'param' | 'greedy'; text: string }[];
}

/** Segment-by-segment match with split; null or the param values. */
function refMatchRoute(route: RefRoute, path: string): Record<string, string> | null {
  if (!path.startsWith('/')) return null;
  const parts = path.slice(1).split('/');
  const params: Record<string, string> = {};
  for (let k = 0; k < route.segs.length; k++) {
    const s = route.segs[k]!;
    if (s.kind === 'greedy') {
      const rest = parts.slice(k).join('/');
      if (k >= parts.length || rest === '') return null;
      params[s.text] = rest;
      return params;
    }
    if (k >= parts.length) return null;
    if (s.kind === 'static' && parts[k] !== s.text) return null;
    if (s.kind === 'param') {
      if (parts[k] === '') return null;
      params[s.text] = parts[k]!;
    }
  }
  return parts.length === route.segs.length ? params : null;
}

const RANK = { static: 0, param: 1, greedy: 2 } as const;

/**
 * AWS precedence stated declaratively: among the routes of this method or ANY that match, the one
 * whose segment kinds are smallest in order (static < param < greedy, first difference decides);
 * at the same shape the exact method beats ANY.
 */
function refMatch(routes: RefRoute[], method: string, path: string): { key: string; params: Record<string, string> } | null {
  let best: { route: RefRoute; params: Record<string, string> } | null = null;
  for (const route of routes) {
    if (route.method !== method && route.method !== 'ANY') continue;
    const params = refMatchRoute(route, path);
    if (params === null) continue;
    if (best === null || better(route, best.route, method)) best = { route, params };
  }
  return best === null ? null : { key: best.route.key, params: best.params };
}

function better(a: RefRoute, b: RefRoute, method: string): boolean {
  const n = Math.min(a.segs.length, b.segs.length);
  for (let k = 0; k < n; k++) {
    const d = RANK[a.segs[k]!.kind] - RANK[b.segs[k]!.kind];
    if (d !== 0) return d < 0;
  }
  if (a.segs.length !== b.segs.length) throw new Error(`two routes of different lengths match one path: ${a.key} ${b.key}`);
  return a.method === method && b.method !== method;
}

const LABELS = ['a', 'b', 'users', 'items', 'x', 'search', 'a%2Fb', 'v1'];
const RMETHODS = ['GET', 'GET', 'POST', 'PUT', 'DELETE', 'ANY', 'ANY'];

function randomRoutes(rand: () => number, count: number): RefRoute[] {
  const pick = <X>(xs: X[]): X => xs[Math.floor(rand() * xs.length)]!;
  const routes: RefRoute[] = [];
  const shapes = new Set<string>();
  while (routes.length < count) {
    const depth = 1 + Math.floor(rand() * 5);
    const segs: RefRoute['segs'] = [];
    for (let k = 0; k < depth; k++) {
      const last = k === depth - 1;
      const x = rand();
      // No root greedy: it would match nearly every request and hide the misses.
      if (last && k > 0 && x < 0.12) segs.push({ kind: 'greedy', text: `g${k}` });
      else if (x < 0.35) segs.push({ kind: 'param', text: `p${k}` });
      else segs.push({ kind: 'static', text: pick(LABELS) });
    }
    if (segs[segs.length - 1]!.kind !== 'greedy' && rand() < 0.05) segs.push({ kind: 'static', text: '' });
    const method = pick(RMETHODS);
    const path = '/' + segs.map((s) => (s.kind === 'static' ? s.text : s.kind === 'param' ? `{${s.text}}` : `{${s.text}+}`)).join('/');
    const shape = method + ' ' + segs.map((s) => (s.kind === 'static' ? s.text : `{${s.kind}}`)).join('/');
    if (shapes.has(shape)) continue;
    shapes.add(shape);
    routes.push({ key: `${method} ${path}`, method, segs });
  }
  return routes;
}

function randomPath(rand: () => number, routes: RefRoute[]): string {
  const pick = <X>(xs: X[]): X => xs[Math.floor(rand() * xs.length)]!;
  const values = [...LABELS, '1', '42', 'zz', 'x%2Fy', 'a.b', '%E2%9C%93'];
  if (rand() < 0.7) {
    // Derived from a route, with a twist now and then.
    const r = pick(routes);
    const parts = r.segs.map((s) => {
      if (s.kind === 'static') return rand() < 0.1 ? pick(LABELS) : s.text;
      if (s.kind === 'param') return rand() < 0.05 ? '' : pick(values);
      const n = 1 + Math.floor(rand() * 3);
      return Array.from({ length: n }, () => pick(values)).join('/');
    });
    let p = '/' + parts.join('/');
    const y = rand();
    if (y < 0.05) p += '/';
    else if (y < 0.1) p = p.slice(0, p.lastIndexOf('/') + 1);
    else if (y < 0.15) p += '/' + pick(values);
    return p;
  }
  const n = Math.floor(rand() * 6);
  return '/' + Array.from({ length: n }, () => (rand() < 0.08 ? '' : pick(values))).join('/');
}

t.test('randomized cross-check against a reference matcher', async (t) => {
  for (const seed of [1, 2, 3]) {
    const rand = rng(seed);
    const routes = randomRoutes(rand, 1000);
    const r = new Router(routes.map((x): RouteDef<string> => {
      const [method, path] = x.key.split(' ') as [string, string];
      return { method, path, data: x.key };
    }));
    let mismatches = 0;
    let hits = 0;
    const N = 5000;
    for (let k = 0; k < N; k++) {
      const method = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'][Math.floor(rand() * 6)]!;
      const path = randomPath(rand, routes);
      const want = refMatch(routes, method, path);
      const got = r.match(method, path);
      const gotPlain = got === null ? null : { key: got.data, params: { ...got.params } };
      if (want !== null) hits++;
      if (JSON.stringify(gotPlain) !== JSON.stringify(want)) {
        if (mismatches++ < 5) t.same(gotPlain, want, `seed ${seed}: ${method} ${path}`);
      }
    }
    t.equal(mismatches, 0, `seed ${seed}: ${N} requests agree with the reference`);
    t.ok(hits > N * 0.4 && hits < N * 0.95, `seed ${seed}: a useful mix of hits (${hits}) and misses`);
  }
});

t.test('every route of the 1,000-route bench table matches itself', async (t) => {
  const table = generateRoutes(1000);
  t.equal(table.length, 1000);
  const r = new Router(table.map((x): RouteDef<number> => ({ method: x.method, path: x.path, data: x.id })));
  let ok = 0;
  for (const route of table) {
    const params: Record<string, string> = {};
    let n = 0;
    const path = route.path.replace(/\{([^}]+)\}/g, (_, name: string) => {
      n++;
      const v = name.endsWith('+') ? `g${n}/h${n}.js` : `v${n}-${route.id}`;
      params[name.replace('+', '')] = v;
      return v;
    });
    // ANY routes are checked with a method no route names, so only ANY routes can answer.
    const method = route.method === 'ANY' ? 'PURGE' : route.method;
    const m = r.match(method, path);
    if (m !== null && m.data === route.id && JSON.stringify(m.params) === JSON.stringify(params)) ok++;
    else t.fail(`${route.method} ${route.path} as ${method} ${path}: got ${JSON.stringify(m)}`);
  }
  t.equal(ok, 1000);
});
