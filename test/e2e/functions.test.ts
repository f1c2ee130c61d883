import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { get, startGateway, waitFor } from '../helpers/gateway.js';
import { rawRequest, statusOf } from '../helpers/raw.js';

// Function integrations through a real gateway process: handlers on its piscina threads.

const FN = fileURLToPath(new URL('../../../test/fixtures/functions/', import.meta.url));

const gw = await startGateway({
  functions: { threads: 2, maxQueue: 64 },
  apis: [
    {
      name: 'fns',
      routes: [
        { route: 'ANY /echo/{proxy+}', integration: { type: 'function', handler: `${FN}echo.mjs#handler`, timeoutMs: 5000, memoryMB: 256 } },
        { route: 'GET /shapes', integration: { type: 'function', handler: `${FN}shapes.mjs` } },
        { route: 'GET /throws', integration: { type: 'function', handler: `${FN}failing.mjs#throws` } },
        { route: 'GET /slow', integration: { type: 'function', handler: `${FN}failing.mjs#slow`, timeoutMs: 300 } },
        { route: 'GET /spin', integration: { type: 'function', handler: `${FN}failing.mjs#spin`, timeoutMs: 300 } },
        { route: 'GET /never', integration: { type: 'function', handler: `${FN}failing.mjs#never`, timeoutMs: 300 } },
        { route: 'GET /exit', integration: { type: 'function', handler: `${FN}failing.mjs#exit` } },
        { route: 'GET /counter', integration: { type: 'function', handler: `${FN}failing.mjs#counter` } },
        { route: 'GET /slow-untimed', integration: { type: 'function', handler: `${FN}failing.mjs#slow` } },
        { route: 'GET /stray', integration: { type: 'function', handler: `${FN}failing.mjs#strayRejection` } },
        { route: 'GET /informational', integration: { type: 'function', handler: `${FN}failing.mjs#informational` } },
        { route: 'ANY /mock', integration: { type: 'mock', status: 200, body: 'mocked' } },
        { route: 'GET /callback', integration: { type: 'function', handler: `${FN}callback.cjs#handler`, functionName: 'cbfn' } },
        { route: 'ANY /v1/{id}', integration: { type: 'function', handler: `${FN}v1.mjs#handler`, payloadFormatVersion: '1.0' } },
      ],
    },
    {
      name: 'staged',
      stage: 'prod',
      hosts: ['staged.test'],
      routes: [{ route: 'GET /items/{id}', integration: { type: 'function', handler: `${FN}echo.mjs#handler` } }],
    },
  ],
});
t.teardown(() => gw.stop());

const json = (s: string) => JSON.parse(s) as Record<string, any>;

t.test('payload 2.0 event reaches the handler; its result comes back as HTTP', async (t) => {
  const r = await get(gw.port, '/echo/a/b%20c?x=1&x=2&y=%20z', {
    method: 'POST', headers: { 'content-type': 'application/json', cookie: 'c1=v1; c2=v2', 'x-twice': 'one' }, body: '{"ping":true}',
  });
  t.equal(r.status, 200);
  t.equal(r.headers['x-fn'], 'echo');
  t.equal(r.headers['content-type'], 'application/json');
  t.ok(r.headers['x-request-id'], 'request id returned');
  const { event, context } = json(r.body);
  t.equal(event.version, '2.0');
  t.equal(event.routeKey, 'ANY /echo/{proxy+}');
  t.equal(event.rawPath, '/echo/a/b c', 'HTTP APIs deliver rawPath percent-decoded');
  t.equal(event.rawQueryString, 'x=1&x=2&y=%20z');
  t.same(event.queryStringParameters, { x: '1,2', y: ' z' });
  t.same(event.cookies, ['c1=v1', 'c2=v2']);
  t.equal(event.headers['x-twice'], 'one');
  t.notOk('cookie' in event.headers, 'the cookie header moves to cookies');
  t.equal(event.body, '{"ping":true}');
  t.equal(event.isBase64Encoded, false);
  t.ok(event.pathParameters && typeof event.pathParameters.proxy === 'string');
  t.equal(event.requestContext.http.method, 'POST');
  t.equal(event.requestContext.http.sourceIp, '127.0.0.1');
  t.equal(event.requestContext.stage, '$default');
  t.equal(event.requestContext.requestId, r.headers['x-request-id']);
  t.match(event.requestContext.time, /^\d\d\/[A-Z][a-z]{2}\/\d{4}:\d\d:\d\d:\d\d \+0000$/);
  t.ok(Math.abs(event.requestContext.timeEpoch - Date.now()) < 10_000);
  t.equal(context.awsRequestId, r.headers['x-request-id']);
  t.equal(context.functionName, 'echo');
  t.equal(String(context.memoryLimitInMB), '256');
  t.ok(context.remaining > 3000 && context.remaining <= 5000, `getRemainingTimeInMillis ${context.remaining}`);
});

t.test('a binary request body arrives base64-encoded, byte for byte', async (t) => {
  const bytes = Buffer.from([0, 1, 2, 3, 254, 255, 0x80]);
  const r = await get(gw.port, '/echo/bin', { method: 'PUT', headers: { 'content-type': 'application/octet-stream' }, body: bytes });
  const { event } = json(r.body);
  t.equal(event.isBase64Encoded, true);
  t.same(Buffer.from(event.body, 'base64'), bytes);
});

t.test('a 2 MB body crosses to the thread whole', async (t) => {
  const body = Buffer.alloc(2 << 20, 'a');
  const r = await get(gw.port, '/echo/big', { method: 'POST', headers: { 'content-type': 'text/plain' }, body });
  t.equal(r.status, 200);
  t.equal(json(r.body).event.body.length, 2 << 20);
});

t.test('named stage: the stage is in rawPath and requestContext.stage', async (t) => {
  const r = await get(gw.port, '/prod/items/7', { host: 'staged.test' });
  t.equal(r.status, 200);
  const { event } = json(r.body);
  t.equal(event.requestContext.stage, 'prod');
  t.equal(event.rawPath, '/prod/items/7');
  t.same(event.pathParameters, { id: '7' });
  t.equal(event.requestContext.domainName, 'staged.test');
  t.notOk('body' in event, 'no body: no body key');
  t.notOk('queryStringParameters' in event, 'no query: no queryStringParameters key');
});

t.test('result shapes map as AWS documents for 2.0', async (t) => {
  let r = await get(gw.port, '/shapes?shape=object');
  t.equal(r.status, 200);
  t.equal(r.headers['content-type'], 'application/json');
  t.same(json(r.body), { hello: 'world', n: 1 });
  r = await get(gw.port, '/shapes?shape=cookies');
  t.same(r.headers['set-cookie'], ['a=1; Path=/', 'b=2; HttpOnly']);
  t.equal(r.body, 'with cookies');
  r = await get(gw.port, '/shapes?shape=base64');
  t.same(r.raw, Buffer.from([0, 1, 2, 255]));
  r = await get(gw.port, '/shapes?shape=status');
  t.equal(r.status, 418);
  t.equal(r.body, 'teapot');
  r = await get(gw.port, '/shapes?shape=nobody');
  t.equal(r.status, 204);
  t.equal(r.body, '');
  r = await get(gw.port, '/shapes?shape=hop');
  t.equal(r.status, 200);
  t.equal(r.body, 'hop');
  t.equal(r.headers['x-ok'], '1');
  t.equal(r.headers['content-length'], '3', 'the gateway frames the body itself');
  t.not(r.headers['connection'], 'close');
});

const INTERNAL = '{"message":"Internal Server Error"}';

t.test('malformed results answer 502 Internal Server Error', async (t) => {
  for (const shape of ['bad-status', 'bad-body']) {
    const r = await get(gw.port, `/shapes?shape=${shape}`);
    t.equal(r.status, 502, shape);
    t.equal(r.body, INTERNAL, shape);
  }
});

t.test('a handler that throws answers 502 and the pool goes on', async (t) => {
  const r = await get(gw.port, '/throws');
  t.equal(r.status, 502);
  t.equal(r.body, INTERNAL);
  t.equal((await get(gw.port, '/shapes?shape=status')).status, 418);
});

t.test('timeouts: a slow, a never-settling and a spinning handler each answer 502 in time; threads are replaced', async (t) => {
  // Without the timeout: /slow would answer 200 'slow done' after 5 s, /never and /spin never.
  for (const path of ['/slow?ms=5000', '/never', '/spin']) {
    const r = await get(gw.port, path);
    t.equal(r.status, 502, path);
    t.equal(r.body, INTERNAL, path);
  }
  // Both threads are usable again: several requests in parallel succeed.
  const rs = await Promise.all(Array.from({ length: 6 }, () => get(gw.port, '/shapes?shape=status')));
  t.same(rs.map((x) => x.status), [418, 418, 418, 418, 418, 418]);
  const fast = await get(gw.port, '/slow?ms=10');
  t.equal(fast.status, 200);
  t.equal(fast.body, 'slow done');
});

t.test('a handler that exits its thread answers 502; the thread is replaced', async (t) => {
  const r = await get(gw.port, '/exit');
  t.equal(r.status, 502);
  t.equal(r.body, INTERNAL);
  const again = await Promise.all(Array.from({ length: 4 }, () => get(gw.port, '/shapes?shape=status')));
  t.same(again.map((x) => x.status), [418, 418, 418, 418]);
});

t.test('module state lives per thread, as per Lambda execution environment', async (t) => {
  const seen = new Set<string>();
  for (let i = 0; i < 6; i++) seen.add((await get(gw.port, '/counter')).body);
  t.ok(seen.size >= 3, `counter values ${[...seen].join(',')}: state kept between invocations`);
});

t.test('CommonJS callback-style handler', async (t) => {
  let r = await get(gw.port, '/callback');
  t.equal(r.status, 201);
  t.equal(r.body, 'cb cbfn');
  r = await get(gw.port, '/callback?fail=1');
  t.equal(r.status, 502);
  t.equal(r.body, INTERNAL);
});

t.test('payload 1.0: REST proxy event, multiValueHeaders in the result', async (t) => {
  const r = await get(gw.port, '/v1/9?a=1&a=2', { headers: { 'x-h': 'v' } });
  t.equal(r.status, 200);
  t.equal(r.headers['x-multi'], 'one, two');
  const event = json(r.body);
  t.equal(event.version, '1.0');
  t.equal(event.resource, '/v1/{id}');
  t.equal(event.httpMethod, 'GET');
  t.same(event.pathParameters, { id: '9' });
  t.equal(event.queryStringParameters.a, '2', 'single-value map keeps the last value');
  t.same(event.multiValueQueryStringParameters.a, ['1', '2']);
  t.same(event.multiValueHeaders['x-h'], ['v']);
  t.equal(event.body, null);
  t.equal(event.stageVariables, null);
  t.equal(event.requestContext.httpMethod, 'GET');
  t.equal(event.requestContext.identity.sourceIp, '127.0.0.1');
});

t.test('the worker stays up through all of it; failures are counted by kind', async (t) => {
  const r = await get(gw.adminPort, '/ready');
  t.equal(r.status, 200);
  // Workers push their counters to the master periodically: poll until all three are in.
  const want = [
    /gateway_function_errors_total\{route="GET \/throws",kind="handler_error"\} [1-9]/,
    /gateway_function_errors_total\{route="GET \/spin",kind="timeout"\} 1/,
    /gateway_function_errors_total\{route="GET \/shapes",kind="bad_result"\} 2/,
  ];
  let m = '';
  await waitFor(async () => { m = (await get(gw.adminPort, '/metrics')).body; return want.every((re) => re.test(m)); }, 10_000);
  t.match(m, /gateway_function_errors_total\{route="GET \/throws",kind="handler_error"\} [1-9]/);
  t.match(m, /gateway_function_errors_total\{route="GET \/spin",kind="timeout"\} 1/);
  t.match(m, /gateway_function_errors_total\{route="GET \/shapes",kind="bad_result"\} 2/);
});

t.test('a full queue answers 429 Too Many Requests; the others are served', async (t) => {
  const small = await startGateway({
    functions: { threads: 1, concurrencyPerThread: 1, maxQueue: 2 },
    apis: [{ name: 'q', routes: [{ route: 'GET /slow', integration: { type: 'function', handler: `${FN}failing.mjs#slow` } }] }],
  });
  t.teardown(() => small.stop());
  const rs = await Promise.all(Array.from({ length: 8 }, () => get(small.port, '/slow?ms=300')));
  const by = (s: number) => rs.filter((x) => x.status === s).length;
  t.equal(by(200) + by(429), 8, `statuses ${rs.map((x) => x.status).join(',')}`);
  t.equal(by(200), 3, '1 running + 2 queued');
  t.equal(rs.find((x) => x.status === 429)?.body, '{"message":"Too Many Requests"}');
});

t.test('a handler module without the export fails the start with a clear message', async (t) => {
  await t.rejects(
    startGateway({ apis: [{ name: 'x', routes: [{ route: 'GET /x', integration: { type: 'function', handler: `${FN}echo.mjs#nope` } }] }] }),
    /echo\.mjs has no exported function "nope"/,
  );
});

t.test('SIGHUP reload re-imports handler code', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'fn-reload-'));
  const file = join(dir, 'version.mjs');
  writeFileSync(file, "export const handler = async () => ({ statusCode: 200, body: 'v1' });\n");
  const g = await startGateway({ apis: [{ name: 'r', routes: [{ route: 'GET /v', integration: { type: 'function', handler: file } }] }] });
  t.teardown(() => g.stop());
  t.equal((await get(g.port, '/v')).body, 'v1');
  writeFileSync(file, "export const handler = async () => ({ statusCode: 200, body: 'v2' });\n");
  g.proc.kill('SIGHUP');
  t.ok(await waitFor(async () => (await get(g.port, '/v')).body === 'v2', 15_000), 'new workers serve the new code');
});

t.test('HEAD and 204 carry one honest Content-Length or none; the worker lives', async (t) => {
  const head = async (path: string) => (await rawRequest(gw.port, `HEAD ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, 3000)).text;
  for (const [path, len, status] of [['/mock', '6', 200], ['/echo/h', '', 200], ['/nowhere', '23', 404]] as const) {
    const text = await head(path);
    t.equal(statusOf(text), status, path);
    const cls = (text.match(/content-length: *\d+/gi) ?? []).map((x) => x.split(':')[1]!.trim());
    t.equal(cls.length, 1, `HEAD ${path}: one Content-Length`);
    if (len !== '') t.equal(cls[0], len, "the GET body's length");
    else t.ok(Number(cls[0]) > 100, `the GET body's length (${cls[0]})`);
    t.equal(text.split('\r\n\r\n')[1], '', 'no body');
  }
  const r = await rawRequest(gw.port, 'GET /shapes?shape=nobody HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', 3000);
  t.equal(statusOf(r.text), 204);
  t.notMatch(r.text, /content-length/i, '204 without Content-Length');
  t.equal((await get(gw.adminPort, '/ready')).status, 200, 'worker alive');
});

t.test('a handler returning a 1xx status is a bad result (502), not an interim response', async (t) => {
  const r = await get(gw.port, '/informational');
  t.equal(r.status, 502);
});

t.test("a handler's stray unhandled rejection costs no other invocation", async (t) => {
  // /slow-untimed has the default timeout: /slow's 300 ms one raced the 300 ms sleep (flaky in CI).
  const rs = await Promise.all([get(gw.port, '/slow-untimed?ms=300'), get(gw.port, '/stray'), get(gw.port, '/slow-untimed?ms=300'), get(gw.port, '/stray')]);
  t.same(rs.map((x) => x.status), [200, 200, 200, 200]);
  t.equal(rs[1]!.body, 'survived');
});

t.test('an empty chunked body reaches the function', async (t) => {
  const r = await rawRequest(gw.port, 'POST /echo/empty HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n0\r\n\r\n', 3000);
  t.equal(statusOf(r.text), 200);
  t.notMatch(r.text, /"body":/, 'no body key in the event');
});

t.test('a replacement thread imports handlers before it takes invocations; the import is not the timeout', async (t) => {
  const g = await startGateway({
    functions: { threads: 1 },
    apis: [{ name: 's', routes: [
      { route: 'GET /init', integration: { type: 'function', handler: `${FN}slowinit.mjs`, timeoutMs: 1000 } },
      { route: 'GET /exit', integration: { type: 'function', handler: `${FN}failing.mjs#exit` } },
    ] }],
  });
  t.teardown(() => g.stop());
  t.equal((await get(g.port, '/init')).body, 'initialised');
  t.equal((await get(g.port, '/exit')).status, 502, 'thread gone');
  const r = await get(g.port, '/init');
  t.equal(r.status, 200, 'waited for the new thread to import (1.5 s) instead of timing out after 1 s');
  t.equal(r.body, 'initialised');
});
