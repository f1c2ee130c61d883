import t from 'tap';
import { get, startGateway } from '../helpers/gateway.js';
import { startUpstream } from '../helpers/upstream.js';
import { bodyOf, rawRequest, statusOf } from '../helpers/raw.js';

// Every limit and bad input gets a clear AWS-style answer, and the worker lives on.

const up = await startUpstream();
const gw = await startGateway({
  limits: { maxBodyBytes: 1024, maxHeaderBytes: 2048, maxUrlBytes: 512 },
  apis: [{
    name: 'api',
    upstreams: { u: { targets: [up.url] } },
    routes: [
      { route: 'ANY /echo/{proxy+}', integration: { type: 'http_proxy', upstream: 'u' } },
      { route: 'GET /ping', integration: { type: 'mock', body: 'pong' } },
    ],
  }],
});
t.teardown(async () => { await gw.stop(); await up.close(); });

const req = (head: string, body = '') => rawRequest(gw.port, `${head}\r\n\r\n${body}`);

t.test('no route: 404 Not Found, whatever the method', async (t) => {
  for (const m of ['GET', 'POST', 'DELETE']) {
    const r = await get(gw.port, '/nope', { method: m });
    t.equal(r.status, 404, m);
    t.same(JSON.parse(r.body), { message: 'Not Found' });
    t.equal(r.headers['content-type'], 'application/json');
  }
  // Route exists for GET only: HTTP APIs answer 404 for other methods too.
  const r = await get(gw.port, '/ping', { method: 'POST', body: 'x' });
  t.equal(r.status, 404);
});

t.test('body over limit (Content-Length): 413 before reading it', async (t) => {
  const r = await req('POST /echo/x HTTP/1.1\r\nHost: a\r\nContent-Length: 5000', 'x'.repeat(5000));
  t.equal(statusOf(r.text), 413);
  t.same(JSON.parse(bodyOf(r.text)), { message: 'Request Entity Too Large' });
});

t.test('chunked body over limit: 413', async (t) => {
  const chunk = 'y'.repeat(800);
  const r = await req('POST /echo/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked',
    `320\r\n${chunk}\r\n320\r\n${chunk}\r\n0\r\n\r\n`);
  t.equal(statusOf(r.text), 413);
});

t.test('body at the limit passes', async (t) => {
  const r = await get(gw.port, '/echo/x', { method: 'POST', body: 'z'.repeat(1024) });
  t.equal(r.status, 200);
  t.equal(JSON.parse(r.body).bodyLength, 1024);
});

t.test('headers over limit: 431', async (t) => {
  const r = await get(gw.port, '/ping', { headers: { 'x-big': 'a'.repeat(3000) } });
  t.equal(r.status, 431);
  t.same(JSON.parse(r.body), { message: 'Request Header Fields Too Large' });
});

t.test('URL over limit: 414', async (t) => {
  const r = await get(gw.port, `/echo/${'a'.repeat(600)}`);
  t.equal(r.status, 414);
});

t.test('bad paths: 400 Bad Request', async (t) => {
  for (const p of ['/echo/../etc/passwd', '/echo/%2e%2e/x', '/echo/./x', '/echo/a%zzb', '/echo/a\\b', '/echo/.%2E/x']) {
    const r = await req(`GET ${p} HTTP/1.1\r\nHost: a`);
    t.equal(statusOf(r.text), 400, p);
    if (statusOf(r.text) === 400) t.same(JSON.parse(bodyOf(r.text)), { message: 'Bad Request' }, p);
  }
});

t.test('duplicate Host: 400', async (t) => {
  const r = await req('GET /ping HTTP/1.1\r\nHost: a\r\nHost: b');
  t.equal(statusOf(r.text), 400);
});

t.test('bad or conflicting Content-Length: 400', async (t) => {
  const a = await req('POST /echo/x HTTP/1.1\r\nHost: a\r\nContent-Length: 1e3', 'x');
  t.ok(statusOf(a.text) === 400 || (a.closed && a.text === ''), `1e3 refused (${statusOf(a.text)})`);
  const b = await req('POST /echo/x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4', 'abcd');
  t.ok(statusOf(b.text) === 400 || (b.closed && b.text === ''), `differing lengths refused (${statusOf(b.text)})`);
});

t.test('Transfer-Encoding other than chunked: 501 or refused', async (t) => {
  const r = await req('POST /echo/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip', 'x');
  t.ok(statusOf(r.text) === 501 || (r.closed && r.text === ''), `refused (${statusOf(r.text)})`);
});

t.test('smuggling shapes are refused by the HTTP parser (connection closed, no response)', async (t) => {
  const r = await req('POST /echo/x HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked', '0\r\n\r\nGET /ping HTTP/1.1\r\nHost: a\r\n\r\n');
  t.equal(statusOf(r.text), 0, 'no response at all');
  t.ok(r.closed);
});

t.test('missing Host, garbage and absolute-form requests are never served and get dropped', { timeout: 30_000 }, async (t) => {
  const heads = ['GET /ping HTTP/1.1', 'GARBAGE', 'GET http://evil/ping HTTP/1.1\r\nHost: a'];
  // uWS does not answer these; it drops the connection at its 10 s request timeout at the latest.
  const results = await Promise.all(heads.map((h) => rawRequest(gw.port, `${h}\r\n\r\n`, 15_000)));
  results.forEach((r, i) => {
    t.ok(r.closed, `closed: ${JSON.stringify(heads[i])}`);
    t.equal(statusOf(r.text), 0, 'no response');
  });
});

t.test('slowloris: headers trickling in are cut by the server', { timeout: 30_000 }, async (t) => {
  const { connect } = await import('node:net');
  const closedAfter = await new Promise<number>((resolve) => {
    const s = connect(gw.port, '127.0.0.1');
    const t0 = Date.now();
    const line = 'GET /ping HTTP/1.1\r\nHost: a\r\nX-A: ' + 'b'.repeat(100);
    let i = 0;
    const iv = setInterval(() => { if (i < line.length) s.write(line[i++]!); }, 500);
    s.on('error', () => {});
    s.on('close', () => { clearInterval(iv); resolve(Date.now() - t0); });
    setTimeout(() => { clearInterval(iv); s.destroy(); resolve(-1); }, 25_000);
  });
  t.ok(closedAfter > 0, `connection dropped (after ${closedAfter} ms)`);
});

t.test('slow POST: a body trickling in is cut by the server', { timeout: 30_000 }, async (t) => {
  const { connect } = await import('node:net');
  const closedAfter = await new Promise<number>((resolve) => {
    const s = connect(gw.port, '127.0.0.1');
    const t0 = Date.now();
    s.write('POST /echo/x HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\n');
    const iv = setInterval(() => s.write('x'), 500);
    s.on('error', () => {});
    s.on('close', () => { clearInterval(iv); resolve(Date.now() - t0); });
    setTimeout(() => { clearInterval(iv); s.destroy(); resolve(-1); }, 25_000);
  });
  t.ok(closedAfter > 0, `connection dropped (after ${closedAfter} ms)`);
});

t.test('the worker is alive after all bad input', async (t) => {
  const r = await get(gw.port, '/ping');
  t.equal(r.status, 200);
  t.equal(r.body, 'pong');
});
