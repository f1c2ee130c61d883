import { createServer } from 'node:http';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { get, startGateway } from '../helpers/gateway.js';
import { startUpstream } from '../helpers/upstream.js';

// The JWT authorizer on routes, through a real gateway and a real OIDC issuer (discovery + JWKS).

const { privateKey, publicKey } = await generateKeyPair('RS256');
const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
let jwksHits = 0;
const issuer = createServer((req, res) => {
  const base = `http://127.0.0.1:${(issuer.address() as { port: number }).port}`;
  if (req.url === '/.well-known/openid-configuration') return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ issuer: base, jwks_uri: `${base}/jwks` }));
  if (req.url === '/jwks') { jwksHits++; return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] })); }
  res.writeHead(404).end();
});
await new Promise<void>((r) => issuer.listen(0, '127.0.0.1', r));
const ISS = `http://127.0.0.1:${(issuer.address() as { port: number }).port}`;
t.teardown(() => issuer.close());

const up = await startUpstream();
t.teardown(() => up.close());

const WHOAMI = fileURLToPath(new URL('../../../test/fixtures/functions/whoami.mjs', import.meta.url));
const gw = await startGateway({
  throttling: { gateway: false },
  apis: [{
    name: 'api',
    authorizers: { oidc: { type: 'jwt', issuer: ISS, audience: ['my-api'], forwardClaims: { 'x-user-sub': 'sub' } } },
    routes: [
      { route: 'GET /me', authorizer: 'oidc', integration: { type: 'function', handler: `${WHOAMI}#handler` } },
      { route: 'GET /admin', authorizer: 'oidc', authorizationScopes: ['admin', 'root'], integration: { type: 'mock', body: 'admin' } },
      { route: 'GET /proxy', authorizer: 'oidc', integration: { type: 'http_proxy', uri: `${up.url}/echo` } },
      { route: 'GET /public', integration: { type: 'mock', body: 'public' } },
    ],
  }],
});
t.teardown(() => gw.stop());

const token = (claims: Record<string, unknown> = {}, o: { exp?: string | number; aud?: string; iss?: string } = {}) =>
  new SignJWT({ sub: 'user-1', scope: 'read admin', ...claims }).setProtectedHeader({ alg: 'RS256', kid: 'k1' })
    .setIssuer(o.iss ?? ISS).setAudience(o.aud ?? 'my-api').setIssuedAt().setExpirationTime(o.exp ?? '5m').sign(privateKey);
const call = (path: string, auth?: string, headers: Record<string, string> = {}) => get(gw.port, path, { headers: { ...(auth ? { authorization: auth } : {}), ...headers } });

t.test('a valid token: claims and scopes reach the function event as requestContext.authorizer.jwt', async (t) => {
  const r = await call('/me', `Bearer ${await token()}`);
  t.equal(r.status, 200);
  const a = JSON.parse(r.body);
  t.equal(a.jwt.claims.sub, 'user-1');
  t.equal(a.jwt.claims.iss, ISS);
  t.same(a.jwt.scopes, ['read', 'admin']);
});

t.test('missing, malformed, expired, wrong audience or issuer, unsigned: 401 Unauthorized with WWW-Authenticate', async (t) => {
  const unsigned = `${Buffer.from(JSON.stringify({ alg: 'none' })).toString('base64url')}.${Buffer.from(JSON.stringify({ sub: 'x', iss: ISS, aud: 'my-api', exp: 9999999999 })).toString('base64url')}.`;
  const cases: [string, string | undefined][] = [
    ['no header', undefined],
    ['not a bearer', 'Basic dXNlcjpwYXNz'],
    ['garbage', 'Bearer not.a.jwt'],
    ['expired', `Bearer ${await token({}, { exp: Math.floor(Date.now() / 1000) - 60 })}`],
    ['wrong audience', `Bearer ${await token({}, { aud: 'other' })}`],
    ['wrong issuer', `Bearer ${await token({}, { iss: 'https://evil.example' })}`],
    ['alg none', `Bearer ${unsigned}`],
  ];
  for (const [what, auth] of cases) {
    const r = await call('/me', auth);
    t.equal(r.status, 401, what);
    t.same(JSON.parse(r.body), { message: 'Unauthorized' }, what);
    t.match(r.headers['www-authenticate'], /^Bearer /, what);
  }
  t.equal((await call('/public')).status, 200, 'a route without an authorizer is open');
});

t.test('authorizationScopes: one of them suffices; none of them -> 403 Forbidden', async (t) => {
  t.equal((await call('/admin', `Bearer ${await token()}`)).status, 200);
  const r = await call('/admin', `Bearer ${await token({ scope: 'read' })}`);
  t.equal(r.status, 403);
  t.same(JSON.parse(r.body), { message: 'Forbidden' });
});

t.test('forwarded claims reach the upstream; a client-sent copy of the header is removed', async (t) => {
  const r = await call('/proxy', `Bearer ${await token({ sub: 'alice' })}`, { 'x-user-sub': 'mallory' });
  t.equal(r.status, 200);
  const seen = JSON.parse(r.body).headers;
  t.equal(seen['x-user-sub'], 'alice', 'the claim, not the forged header');
});

t.test('a hot token costs no key fetch: the JWKS was fetched once for all of the above', async (t) => {
  const tk = `Bearer ${await token()}`;
  for (let i = 0; i < 20; i++) t.equal((await call('/admin', tk)).status, 200);
  t.ok(jwksHits <= 1, `JWKS fetched ${jwksHits} time(s) per worker`);
});
