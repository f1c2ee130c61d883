import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { freePort, startProc, waitHttp200 } from '../harness.js';
import { type Scenario } from '../scenario.js';

/** ~60-byte JSON, as proxy-small. */
const BODY = '{"id":"bench","ok":true,"items":[1,2,3],"source":"upstream"}';
const AUDIENCE = 'bench-api';
/**
 * Distinct tokens of the rotating target. More than the authorizer's verified-token cache holds
 * (10,000, insertion-order eviction, src/auth/jwt.ts): in a strict rotation every token has been
 * evicted before it comes back, so every request is a signature check (and no two requests in
 * flight share a token). A set the cache holds (e.g. 1,000) would measure cache hits again.
 */
const ROTATING_TOKENS = 12_000;

/**
 * The issuer's JWKS endpoint in its own process (stopped with every other process of the scenario);
 * it answers once per gateway worker, before the measured runs.
 */
const ISSUER_JS = `
const [port, jwks] = process.argv.slice(1);
require('node:http').createServer((req, res) => {
  if (req.url === '/jwks') return void res.writeHead(200, { 'content-type': 'application/json' }).end(jwks);
  res.writeHead(404).end();
}).listen(Number(port), '127.0.0.1');
`;

export default {
  name: 'jwt',
  title: 'JWT-authorized proxy: cached token, signature check per request',
  about:
    `The proxy-small request through a route with a JWT authorizer (RS256, 2048-bit key from a local JWKS) against the same route without one, every target sent the same-sized \`Authorization: Bearer\` header. ` +
    `jwt: one token on every request, answered by the verified-token cache after its first check. jwt-verify: ${ROTATING_TOKENS.toLocaleString('en-US')} distinct tokens in one rotation, more than the cache holds, so every request is a full verification (decode, claims, RS256 signature).`,
  path: '/items/42',
  expect: { status: 200, body: BODY },
  async setup(ctx) {
    const { privateKey, publicKey } = await generateKeyPair('RS256', { modulusLength: 2048 });
    const jwks = JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: 'bench', alg: 'RS256', use: 'sig' }] });
    const issuerPort = await freePort();
    const issuerProc = startProc('jwt-issuer', process.execPath, ['-e', ISSUER_JS, String(issuerPort), jwks]);
    await waitHttp200(issuerProc, issuerPort, '/jwks');
    const issuer = `http://127.0.0.1:${issuerPort}`;

    // Long expiry (a day): no token expires during the run. Same claims, so every token has the same length.
    const exp = Math.floor(Date.now() / 1000) + 86_400;
    const sign = (sub: string) =>
      new SignJWT({ scope: 'read write' }).setProtectedHeader({ alg: 'RS256', kid: 'bench', typ: 'JWT' })
        .setIssuer(issuer).setAudience(AUDIENCE).setSubject(sub).setIssuedAt().setExpirationTime(exp).sign(privateKey);
    const pad = (i: number) => `user-${String(i).padStart(6, '0')}`;
    const hot = `Bearer ${await sign(pad(0))}`;
    const rotating: string[] = [];
    for (let i = 1; i <= ROTATING_TOKENS; i++) rotating.push(`Bearer ${await sign(pad(i))}`);

    const up = await ctx.upstream(BODY);
    const apis = (jwt: boolean) => [{
      name: 'bench',
      ...(jwt ? { authorizers: { bench: { type: 'jwt', issuer, audience: [AUDIENCE], jwksUri: `${issuer}/jwks`, identitySource: '$request.header.Authorization' } } } : {}),
      routes: [{ route: 'GET /items/{id}', ...(jwt ? { authorizer: 'bench' } : {}), integration: { type: 'http_proxy', uri: `http://127.0.0.1:${up.port}/items/{id}` } }],
    }];
    const hotRequest = { headers: { authorization: hot } };
    await Promise.all([
      ctx.gateway(apis(false), { name: 'proxy', role: 'baseline', note: 'this build, the same route without an authorizer (the token header is sent and forwarded all the same)', request: hotRequest }),
      ctx.gateway(apis(true), { name: 'jwt', note: 'JWT authorizer, one token reused: verified-token cache hits', request: hotRequest }),
      ctx.gateway(apis(true), {
        name: 'jwt-verify',
        note: `JWT authorizer, ${ROTATING_TOKENS.toLocaleString('en-US')} tokens rotated (> cache): an RS256 verification per request`,
        request: { rotate: { header: 'authorization', values: rotating } },
      }),
    ]);
  },
} satisfies Scenario;
