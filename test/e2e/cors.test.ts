import t from 'tap';
import { get, startGateway } from '../helpers/gateway.js';
import { startUpstream } from '../helpers/upstream.js';
import { issuesOf, y } from '../config/helpers.js';

// CORS as HTTP APIs do it, through a real gateway: preflight answered by the gateway, headers on
// every answer of a CORS request (refusals included), the integration's own CORS headers dropped,
// and never an arbitrary origin reflected with credentials.

const up = await startUpstream((req, res) => {
  // A backend that sets its own, permissive CORS headers: the gateway must replace them.
  res.writeHead(200, { 'content-type': 'text/plain', 'access-control-allow-origin': '*', 'access-control-allow-credentials': 'true', 'x-up': '1' });
  res.end(`up ${req.method}`);
});
t.teardown(() => up.close());

const gw = await startGateway({
  throttling: { gateway: false },
  apis: [
    {
      name: 'creds', stage: 'creds',
      cors: { allowOrigins: ['https://app.example.com'], allowMethods: ['GET', 'POST'], allowHeaders: ['authorization', 'content-type'], exposeHeaders: ['x-up'], maxAge: 600, allowCredentials: true },
      routes: [
        { route: 'GET /items', integration: { type: 'http_proxy', uri: `${up.url}/items` } },
        { route: 'POST /limited', throttle: { rateLimit: 0.001, burstLimit: 1 }, integration: { type: 'mock', body: 'ok' } },
      ],
    },
    {
      name: 'open', stage: 'open',
      cors: { allowOrigins: ['*'], allowHeaders: ['*'] },
      routes: [{ route: 'GET /items', integration: { type: 'mock', body: 'open', headers: { 'access-control-allow-origin': 'https://evil.example' } } }],
    },
    {
      name: 'https', stage: 'https',
      cors: { allowOrigins: ['https://*'] },
      routes: [{ route: 'GET /x', integration: { type: 'mock', body: 'x' } }],
    },
    { name: 'none', stage: 'none', routes: [{ route: 'GET /items', integration: { type: 'http_proxy', uri: `${up.url}/items` } }] },
  ],
});
t.teardown(() => gw.stop());

const preflight = (path: string, origin: string, method: string, headers?: string) =>
  get(gw.port, path, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': method, ...(headers ? { 'access-control-request-headers': headers } : {}) } });

t.test('preflight is answered by the gateway (no OPTIONS route exists): 204 with the configured headers', async (t) => {
  const r = await preflight('/creds/items', 'https://app.example.com', 'POST', 'Content-Type, Authorization');
  t.equal(r.status, 204);
  t.equal(r.body, '');
  t.equal(r.headers['access-control-allow-origin'], 'https://app.example.com');
  t.equal(r.headers['access-control-allow-methods'], 'GET,POST');
  t.equal(r.headers['access-control-allow-headers'], 'authorization,content-type');
  t.equal(r.headers['access-control-allow-credentials'], 'true');
  t.equal(r.headers['access-control-max-age'], '600');
  t.equal(r.headers['vary'], 'origin');
});

t.test('preflight for a path without a route is answered too (the browser asks before it knows)', async (t) => {
  const r = await preflight('/creds/nowhere', 'https://app.example.com', 'GET');
  t.equal(r.status, 204);
  t.equal(r.headers['access-control-allow-origin'], 'https://app.example.com');
});

t.test('preflight refused: origin, method or header not allowed -> 204 without CORS headers', async (t) => {
  for (const [origin, method, headers] of [['https://evil.example', 'GET', ''], ['https://app.example.com', 'DELETE', ''], ['https://app.example.com', 'GET', 'x-custom']] as const) {
    const r = await preflight('/creds/items', origin, method, headers || undefined);
    t.equal(r.status, 204, `${origin} ${method} ${headers}`);
    t.equal(r.headers['access-control-allow-origin'], undefined);
    t.equal(r.headers['access-control-allow-credentials'], undefined);
  }
});

t.test('actual requests: the gateway headers replace the integration CORS headers; other headers stay', async (t) => {
  const r = await get(gw.port, '/creds/items', { headers: { origin: 'https://app.example.com' } });
  t.equal(r.status, 200);
  t.equal(r.body, 'up GET');
  t.equal(r.headers['access-control-allow-origin'], 'https://app.example.com', 'not the backend\'s *');
  t.equal(r.headers['access-control-allow-credentials'], 'true');
  t.equal(r.headers['access-control-expose-headers'], 'x-up');
  t.equal(r.headers['x-up'], '1');
  const evil = await get(gw.port, '/creds/items', { headers: { origin: 'https://evil.example' } });
  t.equal(evil.status, 200, 'CORS is enforced by the browser; the request itself is served');
  t.equal(evil.headers['access-control-allow-origin'], undefined, 'an unlisted origin is never reflected');
  t.equal(evil.headers['access-control-allow-credentials'], undefined, 'the backend\'s credentials header is dropped');
  const plain = await get(gw.port, '/creds/items');
  t.equal(plain.headers['access-control-allow-origin'], undefined, 'no Origin: no CORS headers (and none of the backend\'s)');
});

t.test('refusals of a CORS request carry the headers too (a browser can read the 429)', async (t) => {
  const opts = { method: 'POST', body: 'x', headers: { origin: 'https://app.example.com' } };
  t.equal((await get(gw.port, '/creds/limited', opts)).status, 200);
  const r = await get(gw.port, '/creds/limited', opts);
  t.equal(r.status, 429);
  t.equal(r.headers['access-control-allow-origin'], 'https://app.example.com');
});

t.test('wildcard origins: * answered literally (no credentials); https://* echoes https origins only', async (t) => {
  const r = await get(gw.port, '/open/items', { headers: { origin: 'https://any.example' } });
  t.equal(r.headers['access-control-allow-origin'], '*', 'the mock\'s own header is replaced');
  t.equal(r.headers['access-control-allow-credentials'], undefined);
  const p = await preflight('/open/items', 'https://any.example', 'PUT', 'x-one, x-two');
  t.equal(p.headers['access-control-allow-headers'], 'x-one,x-two', 'allowHeaders * allows what is asked');
  t.equal(p.headers['access-control-allow-methods'], 'PUT', 'allowMethods defaults to *');
  t.equal((await get(gw.port, '/https/x', { headers: { origin: 'https://a.example' } })).headers['access-control-allow-origin'], 'https://a.example');
  t.equal((await get(gw.port, '/https/x', { headers: { origin: 'http://a.example' } })).headers['access-control-allow-origin'], undefined);
});

t.test('an API without CORS passes OPTIONS to routing and keeps the backend headers', async (t) => {
  const r = await preflight('/none/items', 'https://app.example.com', 'GET');
  t.equal(r.status, 404, 'no OPTIONS route, no gateway preflight');
  const g = await get(gw.port, '/none/items', { headers: { origin: 'https://x.example' } });
  t.equal(g.headers['access-control-allow-origin'], '*', 'the backend\'s own header, untouched');
});

t.test('config: wildcard origins with allowCredentials are refused', async (t) => {
  const issues = issuesOf(y`
    apis:
      - name: a
        cors: { allowOrigins: ["https://ok.example", "*", "https://*"], allowCredentials: true }
        routes: [{ route: GET /x, integration: { type: mock } }]
  `).map((i) => `${i.path}: ${i.message}`);
  t.same(issues, [
    'apis[0].cors.allowOrigins[1]: "*" cannot be used with allowCredentials: list the origins',
    'apis[0].cors.allowOrigins[2]: "https://*" cannot be used with allowCredentials: list the origins',
  ]);
  t.match(issuesOf(y`
    apis:
      - name: a
        cors: { allowOrigins: ["https://ok.example/path"] }
        routes: [{ route: GET /x, integration: { type: mock } }]
  `)[0]?.message ?? '', /must be an origin/);
});
