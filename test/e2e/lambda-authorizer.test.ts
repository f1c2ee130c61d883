import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { CLI, get, startGateway } from '../helpers/gateway.js';
import { startUpstream } from '../helpers/upstream.js';

// Lambda (custom) authorizers through a real gateway: TOKEN and REQUEST types, payload 1.0 and 2.0,
// IAM policy and simple answers, result caching, failures, context to integrations and upstreams.

const AUTH = fileURLToPath(new URL('../../../test/fixtures/functions/authorizers.mjs', import.meta.url));
const WHOAMI = fileURLToPath(new URL('../../../test/fixtures/functions/whoami.mjs', import.meta.url));
const whoami = (payloadFormatVersion = '2.0') => ({ type: 'function', handler: `${WHOAMI}#handler`, payloadFormatVersion });

const up = await startUpstream();
t.teardown(() => up.close());

const gw = await startGateway({
  throttling: { gateway: false },
  usagePlans: { partners: { quota: { limit: 2, period: 'DAY' }, apiStages: [{ api: 'keyed', stage: 'keyed' }] } },
  apiKeys: [{ name: 'partner', value: 'partner-key-0123456789abcdef', usagePlans: ['partners'] }],
  // One thread: the fixture's call counter then tells a cached answer from a fresh call.
  functions: { threads: 1 },
  apis: [{
    name: 'api',
    stage: 'prod',
    stageVariables: { env: 'test' },
    authorizers: {
      tok: { type: 'token', handler: `${AUTH}#token`, identityValidationExpression: '[a-z-]+', forwardContext: { 'x-user': 'user', 'x-principal': 'principalId' } },
      req1: { type: 'request', handler: `${AUTH}#request1`, payloadFormatVersion: '1.0', identitySource: ['$request.header.x-token', '$request.querystring.tenant'] },
      req2: { type: 'request', handler: `${AUTH}#request2`, identitySource: ['$request.header.x-token'], resultTtlSeconds: 0 },
      perRoute: { type: 'request', handler: `${AUTH}#request2`, identitySource: ['$request.header.x-token', '$context.routeKey'] },
      simple: { type: 'request', handler: `${AUTH}#simple`, enableSimpleResponses: true, identitySource: ['$request.header.authorization'] },
      // 1 s, not 300 ms: the 'allow' call after the timeout must answer within it on a busy machine too.
      fast: { type: 'token', handler: `${AUTH}#token`, timeoutMs: 1000, resultTtlSeconds: 0 },
    },
    routes: [
      { route: 'GET /tok', authorizer: 'tok', integration: whoami() },
      { route: 'POST /tok', authorizer: 'tok', integration: { type: 'mock', body: 'posted' } },
      { route: 'GET /tok1', authorizer: 'tok', integration: whoami('1.0') },
      { route: 'GET /proxy', authorizer: 'tok', integration: { type: 'http_proxy', uri: `${up.url}/echo` } },
      {
        route: 'GET /mapped', authorizer: 'tok',
        integration: {
          type: 'mock', requestTemplates: { 'application/json': '{"statusCode": 200}' },
          responses: { default: { statusCode: 200, responseTemplates: { 'application/json': '{"user": "$context.authorizer.user", "principal": "$context.authorizer.principalId"}' } } },
        },
      },
      { route: 'GET /req1/{id}', authorizer: 'req1', integration: whoami('1.0') },
      { route: 'GET /req2', authorizer: 'req2', integration: whoami() },
      { route: 'GET /a', authorizer: 'perRoute', integration: whoami() },
      { route: 'GET /b', authorizer: 'perRoute', integration: whoami() },
      { route: 'GET /simple', authorizer: 'simple', integration: whoami() },
      { route: 'GET /fast', authorizer: 'fast', integration: { type: 'mock', body: 'fast' } },
    ],
  }, {
    // REST's apiKeySource AUTHORIZER: the API key is the authorizer's usageIdentifierKey, not x-api-key.
    name: 'keyed',
    stage: 'keyed',
    apiKeyRequired: true,
    apiKeySource: 'AUTHORIZER',
    authorizers: { tok: { type: 'token', handler: `${AUTH}#token` } },
    routes: [{ route: 'GET /k', authorizer: 'tok', integration: { type: 'mock', body: 'keyed' } }],
  }],
});
t.teardown(() => gw.stop());

const call = (path: string, headers: Record<string, string> = {}, method = 'GET') => get(gw.port, `/prod${path}`, { method, headers });
const json = (body: string) => JSON.parse(body) as Record<string, any>;
const EXPLICIT_DENY = { Message: 'User is not authorized to access this resource with an explicit deny' };
const NO_ALLOW = { Message: 'User is not authorized to access this resource' };

t.test('TOKEN: an Allow policy admits; the context reaches the 2.0 event as lambda (strings, REST) and the 1.0 event flat', async (t) => {
  const r = await call('/tok', { authorization: 'allow' });
  t.equal(r.status, 200, r.body);
  const a = json(r.body);
  t.same(Object.keys(a), ['lambda'], '2.0 events carry requestContext.authorizer.lambda');
  t.match(a.lambda, { user: 'u1', n: '1', ok: 'true' }, 'TOKEN (REST) context values arrive as strings');
  const r1 = await call('/tok1', { authorization: 'allow' });
  t.equal(r1.status, 200);
  const a1 = json(r1.body);
  t.equal(a1.principalId, 'user-7');
  t.equal(a1.user, 'u1');
  t.type(a1.integrationLatency, 'number');
  t.equal(a1.lambda, undefined, '1.0 events carry the context flat, as REST does');
});

t.test('answers are cached by identity source for the TTL (default 300 s); a cached policy is checked against each route', async (t) => {
  const first = json((await call('/tok', { authorization: 'only-get' })).body).lambda.calls;
  const again = json((await call('/tok', { authorization: 'only-get' })).body).lambda.calls;
  t.equal(again, first, 'the second request was answered from the cache');
  const post = await call('/tok', { authorization: 'only-get' }, 'POST');
  t.equal(post.status, 403, 'the cached policy allows GET only: POST is refused without a new call');
  t.same(json(post.body), NO_ALLOW);
  const other = json((await call('/tok', { authorization: 'allow' })).body).lambda.calls;
  t.not(other, first, 'another token is another cache entry');
});

t.test('resultTtlSeconds 0: every request calls the authorizer', async (t) => {
  const a = json((await call('/req2', { 'x-token': 'allow' })).body).lambda.calls;
  const b = json((await call('/req2', { 'x-token': 'allow' })).body).lambda.calls;
  t.not(a, b);
});

t.test('$context.routeKey in the identity sources caches per route', async (t) => {
  const a1 = json((await call('/a', { 'x-token': 'allow' })).body).lambda.calls;
  const b1 = json((await call('/b', { 'x-token': 'allow' })).body).lambda.calls;
  const a2 = json((await call('/a', { 'x-token': 'allow' })).body).lambda.calls;
  t.not(a1, b1, 'another route: another entry');
  t.equal(a2, a1, 'the same route: cached');
});

t.test('concurrent misses with the same identity share one call', async (t) => {
  const rs = await Promise.all(Array.from({ length: 20 }, () => call('/req1/1?tenant=dedupe', { 'x-token': 'allow' })));
  t.ok(rs.every((r) => r.status === 200), 'all admitted');
  t.equal(new Set(rs.map((r) => json(r.body).calls)).size, 1, 'one authorizer call answered all 20');
});

t.test('policy denials: explicit Deny, no matching Allow, Deny wins over Allow (REST bodies for TOKEN / 1.0)', async (t) => {
  for (const [token, body] of [['deny', EXPLICIT_DENY], ['other-route', NO_ALLOW], ['deny-wins', EXPLICIT_DENY]] as const) {
    const r = await call('/tok', { authorization: token });
    t.equal(r.status, 403, token);
    t.same(json(r.body), body, token);
  }
  const r2 = await call('/req2', { 'x-token': 'deny' });
  t.equal(r2.status, 403, 'payload 2.0 policy deny');
  t.same(json(r2.body), { message: 'Forbidden' }, 'HTTP API body for a 2.0 denial');
});

t.test('401 without calling the authorizer: missing identity source, token not matching identityValidationExpression; 401 when it says Unauthorized', async (t) => {
  const cases: [string, Record<string, string>][] = [
    ['/tok', {}],
    ['/tok', { authorization: 'NOT-lower' }],
    ['/tok', { authorization: '' }],
    ['/req1/1', { 'x-token': 'allow' }], // the tenant query string is missing
    ['/req1/1?tenant=', { 'x-token': 'allow' }],
    ['/tok', { authorization: 'unauthorized' }],
    ['/simple', { authorization: 'unauthorized' }], // callback('Unauthorized')
  ];
  for (const [path, headers] of cases) {
    const r = await call(path, headers);
    t.equal(r.status, 401, `${path} ${JSON.stringify(headers)}`);
    t.same(json(r.body), { message: 'Unauthorized' });
  }
});

t.test('a failing authorizer is 500 Internal Server Error: throw, invalid answers, timeout; the next request is served', async (t) => {
  for (const token of ['boom', 'bad', 'no-principal', 'nested-context']) {
    const r = await call('/tok', { authorization: token });
    t.equal(r.status, 500, token);
    t.same(json(r.body), { message: 'Internal Server Error' }, token);
  }
  const notBoolean = await call('/simple', { authorization: 'not-boolean' });
  t.equal(notBoolean.status, 500, 'a simple response without a boolean isAuthorized');
  const slow = await call('/fast', { authorization: 'slow' });
  t.equal(slow.status, 500, 'past its timeoutMs');
  t.equal((await call('/fast', { authorization: 'allow' })).status, 200, 'a fresh thread took over');
});

t.test('simple responses (payload 2.0): isAuthorized true admits with the context as is; false is 403 Forbidden', async (t) => {
  const ok = await call('/simple', { authorization: 'secretToken' });
  t.equal(ok.status, 200);
  t.match(json(ok.body).lambda, { user: 'u2', arr: [1, 2], map: { k: 'v' } }, 'JSON values kept (HTTP API)');
  const no = await call('/simple', { authorization: 'wrong' });
  t.equal(no.status, 403);
  t.same(json(no.body), { message: 'Forbidden' });
});

t.test('the events the authorizer gets, as AWS documents them', async (t) => {
  const tokenEvent = json(json((await call('/tok', { authorization: 'echo' })).body).lambda.event);
  t.same(tokenEvent, { type: 'TOKEN', authorizationToken: 'echo', methodArn: 'arn:aws:execute-api:us-east-1:123456789012:api/prod/GET/tok' });

  const r1 = await call('/req1/42?tenant=acme', { 'x-token': 'echo' });
  const e1 = json(json(r1.body).event);
  t.match(e1, {
    version: '1.0', type: 'REQUEST', methodArn: 'arn:aws:execute-api:us-east-1:123456789012:api/prod/GET/req1/42',
    identitySource: 'echo,acme', authorizationToken: 'echo,acme', resource: '/req1/{id}', path: '/prod/req1/42', httpMethod: 'GET',
    headers: { 'x-token': 'echo' }, queryStringParameters: { tenant: 'acme' }, pathParameters: { id: '42' }, stageVariables: { env: 'test' },
    requestContext: { stage: 'prod', httpMethod: 'GET', identity: { sourceIp: '127.0.0.1' } },
  });
  t.equal(e1.body, undefined, 'no body reaches an authorizer');

  const e2 = json((await call('/simple?x=1', { authorization: 'echo', cookie: 'a=1; b=2' })).body).lambda.event;
  t.match(e2, {
    version: '2.0', type: 'REQUEST', routeArn: 'arn:aws:execute-api:us-east-1:123456789012:api/prod/GET/simple',
    identitySource: ['echo'], routeKey: 'GET /simple', rawPath: '/prod/simple', rawQueryString: 'x=1', cookies: ['a=1', 'b=2'],
    headers: { authorization: 'echo' }, queryStringParameters: { x: '1' },
    requestContext: { accountId: '123456789012', apiId: 'api', stage: 'prod', routeKey: 'GET /simple', http: { method: 'GET', path: '/prod/simple' } },
    stageVariables: { env: 'test' },
  });
  t.same(Object.keys(e2).slice(0, 4), ['version', 'type', 'routeArn', 'identitySource'], 'keys in the documented order');
});

t.test('forwardContext: context values reach the upstream as headers; client copies are dropped; values are header-safe', async (t) => {
  const r = await call('/proxy', { authorization: 'allow', 'x-user': 'forged', 'x-principal': 'forged' });
  t.equal(r.status, 200);
  const h = json(r.body).headers;
  t.equal(h['x-user'], 'u1');
  t.equal(h['x-principal'], 'user-7');
  const inj = json((await call('/proxy', { authorization: 'inject' })).body).headers;
  t.equal(inj['x-user'], 'evilx-injected: 1', 'CR/LF removed');
  t.equal(inj['x-injected'], undefined, 'no header smuggled');
});

t.test('apiKeySource AUTHORIZER: the usageIdentifierKey is the API key (its usage plan applies); x-api-key is not read', async (t) => {
  const k = (token: string, headers: Record<string, string> = {}) => get(gw.port, '/keyed/k', { headers: { authorization: token, ...headers } });
  t.equal((await k('allow', { 'x-api-key': 'partner-key-0123456789abcdef' })).status, 403, 'no usageIdentifierKey: 403 even with a valid x-api-key');
  t.equal((await k('with-unknown-key')).status, 403, 'an unknown key: 403');
  t.equal((await k('with-key')).status, 200);
  t.equal((await k('with-key')).status, 200);
  const over = await k('with-key');
  t.equal(over.status, 429, "the key's plan quota (2 a day) counts these requests");
  t.same(json(over.body), { message: 'Limit Exceeded' });
});

t.test('mapping templates read $context.authorizer', async (t) => {
  const r = await call('/mapped', { authorization: 'allow' });
  t.equal(r.status, 200);
  t.same(json(r.body), { user: 'u1', principal: 'user-7' });
});

t.test('config errors name the authorizer setting', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'gw-lauth-'));
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ type: 'request', handler: `${AUTH}#simple`, enableSimpleResponses: true, payloadFormatVersion: '1.0', identitySource: ['$request.header.a'] }, /x\.enableSimpleResponses: simple responses need payloadFormatVersion 2\.0/],
    [{ type: 'request', handler: `${AUTH}#simple`, resultTtlSeconds: 60 }, /x\.resultTtlSeconds: caching needs at least one identity source/],
    [{ type: 'request', handler: `${AUTH}#simple`, identitySource: ['$context.nope'] }, /x\.identitySource: .*supported context variables/],
    [{ type: 'token', handler: `${AUTH}#token`, identityValidationExpression: '(' }, /x\.identityValidationExpression: /],
    [{ type: 'token', handler: './missing.mjs#token' }, /x\.handler: handler module not found/],
    [{ type: 'token', handler: `${AUTH}#token`, resultTtlSeconds: 3601 }, /resultTtlSeconds/],
  ];
  for (const [authorizer, re] of cases) {
    const f = join(dir, 'c.json');
    writeFileSync(f, JSON.stringify({ apis: [{ name: 'a', authorizers: { x: authorizer }, routes: [{ route: 'GET /', authorizer: 'x', integration: { type: 'mock' } }] }] }));
    const r = spawnSync(process.execPath, [CLI, 'validate', '--config', f], { encoding: 'utf8' });
    t.equal(r.status, 1, JSON.stringify(authorizer));
    t.match(r.stderr, re, JSON.stringify(authorizer));
  }
  const keyed = join(dir, 'keyed.json');
  writeFileSync(keyed, JSON.stringify({ apis: [{ name: 'a', apiKeySource: 'AUTHORIZER', routes: [{ route: 'GET /', apiKeyRequired: true, integration: { type: 'mock' } }] }] }));
  const rk = spawnSync(process.execPath, [CLI, 'validate', '--config', keyed], { encoding: 'utf8' });
  t.equal(rk.status, 1);
  t.match(rk.stderr, /apiKeyRequired: apiKeySource AUTHORIZER: the key comes from a Lambda authorizer/);
  const f = join(dir, 'scopes.json');
  writeFileSync(f, JSON.stringify({ apis: [{ name: 'a', authorizers: { x: { type: 'token', handler: `${AUTH}#token` } }, routes: [{ route: 'GET /', authorizer: 'x', authorizationScopes: ['s'], integration: { type: 'mock' } }] }] }));
  const r = spawnSync(process.execPath, [CLI, 'validate', '--config', f], { encoding: 'utf8' });
  t.equal(r.status, 1);
  t.match(r.stderr, /authorizationScopes: authorization scopes need a JWT authorizer/);
});
