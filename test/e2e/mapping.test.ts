import t from 'tap';
import { get, startGateway } from '../helpers/gateway.js';
import { startUpstream } from '../helpers/upstream.js';

// AWS non-proxy integrations with VTL mapping templates: mock and http, through a real gateway.

const up = await startUpstream();
const missing = await startUpstream((_req, res) => { res.writeHead(404, { 'content-type': 'application/json' }); res.end('{"error":"no such pet"}'); });

const gw = await startGateway({
  apis: [{
    name: 'm',
    stage: 'prod',
    stageVariables: { env: 'test' },
    upstreams: { u: { targets: [up.url] }, gone: { targets: [missing.url] } },
    routes: [
      {
        route: 'GET /mock/{id}',
        integration: {
          type: 'mock',
          requestTemplates: { 'application/json': '{"statusCode": #if($input.params(\'fail\') == "1")500#{else}200#end}' },
          responses: {
            default: { statusCode: 200, responseTemplates: { 'application/json': '{"id": "$input.params(\'id\')", "stage": "$context.stage", "env": "$stageVariables.env", "path": "$context.resourcePath"}' } },
            '5\\d{2}': { statusCode: 503, responseTemplates: { 'application/json': '{"error": "mock failure"}' }, responseHeaders: { 'x-mapped': 'yes' } },
          },
        },
      },
      {
        route: 'GET /echo-status',
        integration: { type: 'mock', status: 200, body: 'fallback', requestTemplates: { 'application/json': '{"statusCode": $input.params(\'code\')}' } },
      },
      {
        route: 'POST /pets',
        integration: {
          type: 'http', upstream: 'u', path: '/store/pets',
          requestTemplates: { 'application/json': '{"petName": $input.json(\'$.name\'), "q": "$util.urlEncode($input.params(\'q\'))", "n": $input.path(\'$.tags\').size()}' },
          passthroughBehavior: 'NEVER',
          responses: {
            default: {
              statusCode: 201,
              responseTemplates: { 'application/json': '#set($sent = $util.parseJson($input.path(\'$.body\')))\n{"created": "$sent.petName", "upstreamMethod": "$input.path(\'$.method\')", "url": "$input.path(\'$.url\')"}' },
            },
          },
        },
      },
      {
        route: 'POST /raw',
        integration: { type: 'http', upstream: 'u', httpMethod: 'PUT', requestTemplates: { 'application/json': '{"wrapped": $input.json(\'$\')}' } },
      },
      {
        route: 'GET /gone/{id}',
        integration: {
          type: 'http', upstream: 'gone',
          responses: {
            default: { statusCode: 200 },
            '404': { statusCode: 404, responseTemplates: { 'application/json': '{"message": "Pet $input.params(\'id\') not found", "upstream": $input.json(\'$.error\')}' } },
          },
        },
      },
    ],
  }],
});
t.teardown(async () => {
  await gw.stop();
  await Promise.all([up.close(), missing.close()]);
});

t.test('mock: the request template picks the integration response; the response template renders', async (t) => {
  let r = await get(gw.port, '/prod/mock/42');
  t.equal(r.status, 200);
  t.same(JSON.parse(r.body), { id: '42', stage: 'prod', env: 'test', path: '/mock/{id}' });
  t.equal(r.headers['content-type'], 'application/json');
  r = await get(gw.port, '/prod/mock/42?fail=1');
  t.equal(r.status, 503, 'statusCode 500 matched the 5\\d{2} pattern, which answers 503');
  t.same(JSON.parse(r.body), { error: 'mock failure' });
  t.equal(r.headers['x-mapped'], 'yes');
});

t.test('http: request body transformed, upstream answer transformed', async (t) => {
  const r = await get(gw.port, '/prod/pets?q=a%20b', { method: 'POST', headers: { 'content-type': 'application/json', 'x-secret': 's' }, body: JSON.stringify({ name: 'rex', tags: ['a', 'b', 'c'] }) });
  t.equal(r.status, 201);
  t.same(JSON.parse(r.body), { created: 'rex', upstreamMethod: 'POST', url: '/store/pets?q=a%20b' });
  const seen = up.seen.at(-1)!;
  t.equal(seen.headers['content-type'], 'application/json');
  t.notOk(seen.headers['x-secret'], 'non-proxy integrations send only mapped headers');
});

t.test('http: the transformed body is what the upstream received', async (t) => {
  const r = await get(gw.port, '/prod/raw', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"a":[1,2]}' });
  t.equal(r.status, 200, 'no integration responses: the upstream status passes through');
  const echo = JSON.parse(r.body);
  t.equal(echo.method, 'PUT', 'httpMethod overrides the method');
  t.same(JSON.parse(echo.body), { wrapped: { a: [1, 2] } });
});

t.test('passthroughBehavior: NEVER rejects an unmapped content type with 415; WHEN_NO_MATCH passes it through', async (t) => {
  let r = await get(gw.port, '/prod/pets', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'hello' });
  t.equal(r.status, 415);
  t.equal(r.body, '{"message":"Unsupported Media Type"}');
  r = await get(gw.port, '/prod/raw', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'as is' });
  t.equal(r.status, 200);
  const echo = JSON.parse(r.body);
  t.equal(echo.body, 'as is');
  t.equal(echo.headers['content-type'], 'text/plain');
});

t.test('a malformed JSON payload read by a template answers 400', async (t) => {
  const r = await get(gw.port, '/prod/pets', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"name": ' });
  t.equal(r.status, 400);
  t.match(JSON.parse(r.body).message, /^Could not process payload/);
});

t.test('an upstream status selects its integration response', async (t) => {
  const r = await get(gw.port, '/prod/gone/7');
  t.equal(r.status, 404);
  t.same(JSON.parse(r.body), { message: 'Pet 7 not found', upstream: 'no such pet' });
});

t.test('a VTL syntax error is a config error naming the template', async (t) => {
  await t.rejects(
    startGateway({ apis: [{ name: 'x', routes: [{ route: 'GET /x', integration: { type: 'mock', requestTemplates: { 'application/json': '#if($a)\n{"statusCode": 200}' } } }] }] }),
    /apis\[0\]\.routes\[0\]\.integration.*request application\/json/,
  );
});

t.test('a mock status from the template: only final statuses; anything else falls back', async (t) => {
  t.equal((await get(gw.port, '/prod/echo-status?code=404')).status, 404);
  for (const code of ['101', '100', '0', '99999', 'abc', '']) {
    const r = await get(gw.port, `/prod/echo-status?code=${code}`);
    t.equal(r.status, 200, `code=${code}`);
    t.equal(r.body, 'fallback');
  }
});
