import { fileURLToPath } from 'node:url';
import t from 'tap';
import { get, startGateway } from '../helpers/gateway.js';
import { startUpstream } from '../helpers/upstream.js';
import { rawRequest, statusOf } from '../helpers/raw.js';

// AWS request validation in front of real integrations (mock, function, http_proxy).

const FN = fileURLToPath(new URL('../../../test/fixtures/functions/', import.meta.url));
const up = await startUpstream();

const Pet = {
  type: 'object',
  required: ['name', 'tags'],
  properties: {
    name: { type: 'string', minLength: 1 },
    age: { type: 'integer', minimum: 0 },
    tags: { type: 'array', items: { type: 'string' } },
    owner: { $ref: '#/components/schemas/Owner' },
  },
};
const Owner = { type: 'object', required: ['id'], properties: { id: { type: 'string' } } };
const validation = { bodyModels: { 'application/json': 'Pet' }, required: { querystring: ['q'], header: ['x-tenant'] } };

const gw = await startGateway({
  apis: [{
    name: 'v',
    models: { Pet, Owner },
    upstreams: { u: { targets: [up.url] } },
    routes: [
      { route: 'POST /mock', integration: { type: 'mock', status: 201, body: 'created' }, requestValidation: validation },
      { route: 'POST /fn', integration: { type: 'function', handler: `${FN}echo.mjs` }, requestValidation: validation },
      { route: 'POST /proxy', integration: { type: 'http_proxy', upstream: 'u' }, requestValidation: validation },
      { route: 'POST /body-only', integration: { type: 'mock', status: 200, body: 'ok' }, requestValidation: { validateParameters: false, bodyModels: { 'application/json': 'Pet' }, required: { querystring: ['q'] } } },
      { route: 'POST /details', integration: { type: 'mock', status: 200, body: 'ok' }, requestValidation: { bodyModels: { 'application/json': 'Pet' }, details: true } },
      { route: 'POST /loose', integration: { type: 'function', handler: `${FN}echo.mjs` }, requestValidation: { bodyModels: { 'application/json': { type: 'object' } } } },
      { route: 'GET /params/{id}', integration: { type: 'mock', status: 200, body: 'ok' }, requestValidation: { validateBody: false, required: { querystring: ['a', 'b'], header: ['x-h'] } } },
    ],
  }],
});
t.teardown(async () => {
  await gw.stop();
  await up.close();
});

const good = JSON.stringify({ name: 'rex', age: 3, tags: ['a'], owner: { id: 'o1' } });
const post = (path: string, body: string | Buffer, headers: Record<string, string> = {}) =>
  get(gw.port, path, { method: 'POST', body, headers: { 'content-type': 'application/json', 'x-tenant': 't1', ...headers } });
const INVALID = '{"message":"Invalid request body"}';

t.test('valid requests reach each integration, the body intact', async (t) => {
  let r = await post('/mock?q=1', good);
  t.equal(r.status, 201);
  t.equal(r.body, 'created');
  r = await post('/fn?q=1', good);
  t.equal(r.status, 200);
  t.equal(JSON.parse(r.body).event.body, good, 'the function got the validated body');
  r = await post('/proxy?q=1', good);
  t.equal(r.status, 200);
  t.equal(JSON.parse(r.body).body, good, 'the upstream got the validated body');
});

t.test('an invalid body answers 400 Invalid request body, the integration never runs', async (t) => {
  for (const path of ['/mock?q=1', '/fn?q=1', '/proxy?q=1']) {
    for (const body of [JSON.stringify({ name: 'rex' }), JSON.stringify({ name: '', tags: [] }), '{not json', JSON.stringify({ name: 'x', tags: [], owner: {} })]) {
      const r = await post(path, body);
      t.equal(r.status, 400, `${path} ${body}`);
      t.equal(r.body, INVALID);
    }
  }
  t.equal(up.seen.filter((x) => x.method === 'POST').length, 1, 'only the one valid POST reached the upstream');
});

t.test('missing required parameters: AWS message, parameters before the body', async (t) => {
  let r = await post('/mock', '{bad');
  t.equal(r.status, 400);
  t.equal(r.body, '{"message":"Missing required request parameters: [q]"}', 'header given, query missing; the bad body is not looked at');
  r = await get(gw.port, '/params/1?a=1', { headers: {} });
  t.equal(r.status, 400);
  t.equal(JSON.parse(r.body).message, 'Missing required request parameters: [x-h, b]');
  r = await get(gw.port, '/params/1?a=1&b=', { headers: { 'x-h': 'v' } });
  t.equal(JSON.parse(r.body).message, 'Missing required request parameters: [b]', 'an empty value counts as missing');
  r = await get(gw.port, '/params/1?a=1&b=2', { headers: { 'x-h': 'v' } });
  t.equal(r.status, 200);
});

t.test('validateParameters off: only the body is checked', async (t) => {
  let r = await post('/body-only', good);
  t.equal(r.status, 200);
  r = await post('/body-only', '{}');
  t.equal(r.status, 400);
  t.equal(r.body, INVALID);
});

t.test('a content type without a model is not validated (AWS)', async (t) => {
  const r = await post('/mock?q=1', 'plain text', { 'content-type': 'text/plain' });
  t.equal(r.status, 201);
});

t.test('details on: the reason is in the body', async (t) => {
  const r = await post('/details', JSON.stringify({ name: 'x' }));
  t.equal(r.status, 400);
  const b = JSON.parse(r.body);
  t.equal(b.message, 'Invalid request body');
  t.match(JSON.stringify(b), /tags/);
});

t.test('large bodies are validated on a function thread and still reach the integration', async (t) => {
  const tags = Array.from({ length: 4000 }, (_, i) => `tag-${i}`);
  const big = JSON.stringify({ name: 'rex', tags });
  t.ok(big.length > 32 * 1024, `${big.length} bytes, above the inline limit`);
  let r = await post('/proxy?q=1', big);
  t.equal(r.status, 200);
  t.equal(JSON.parse(r.body).bodyLength, big.length, 'upstream got all of it');
  r = await post('/fn?q=1', big);
  t.equal(r.status, 200);
  t.equal(JSON.parse(r.body).event.body.length, big.length, 'function got all of it');
  const bad = JSON.stringify({ name: 'rex', tags: [...tags, 7] });
  r = await post('/proxy?q=1', bad);
  t.equal(r.status, 400);
  t.equal(r.body, INVALID);
  r = await post('/mock?q=1', bad);
  t.equal(r.status, 400);
});

t.test('a model error is a config error', async (t) => {
  await t.rejects(
    startGateway({ apis: [{ name: 'x', models: { Pet: { type: 'object', properties: { a: { $ref: '#/components/schemas/Nope' } } } }, routes: [{ route: 'GET /x', integration: { type: 'mock' } }] }] }),
    /apis\[0\]\.models: .*Nope/,
  );
});

t.test('an empty chunked body passes validation and still reaches the integration (read once)', async (t) => {
  const r = await rawRequest(gw.port, 'POST /loose HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n0\r\n\r\n', 3000);
  t.equal(statusOf(r.text), 200, 'answered, not left hanging');
});
