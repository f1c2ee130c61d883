import t from 'tap';
import { freePort, get, startGateway } from '../helpers/gateway.js';
import { startRawUpstream, startUpstream } from '../helpers/upstream.js';
import { rawRequest, statusOf } from '../helpers/raw.js';

// Proxying through a real gateway process to real upstream servers.

const up = await startUpstream();
const chunky = await startUpstream((_req, res) => {
  res.writeHead(200, { 'content-type': 'text/plain' }); // no content-length: node sends chunked
  res.write('hello ');
  setTimeout(() => res.end('world'), 20);
});
const slow = await startUpstream((_req, res) => { setTimeout(() => res.end('late'), 3000); });
const raw = await startRawUpstream((s) => {
  s.once('data', (d) => {
    const line = d.toString().split('\r\n')[0]!;
    if (line.includes('/bad-status')) s.end('HTTP/1.1 abc OK\r\n\r\n');
    else if (line.includes('/reset')) s.destroy();
    else if (line.includes('/cl-and-te')) s.end('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n');
    else if (line.includes('/midbody')) { s.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly-part'); setTimeout(() => s.destroy(), 50); }
    else if (line.includes('/close-delimited')) s.end('HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil-close');
    else if (line.includes('/head-cl')) s.end('HTTP/1.1 200 OK\r\nContent-Length: 42\r\n\r\n');
    else s.end('HTTP/1.1 204 No Content\r\n\r\n');
  });
});
const downPort = await (async () => { const u = await startUpstream(); await u.close(); return u.port; })();

const gw = await startGateway({
  apis: [{
    name: 'shop',
    stage: '$default',
    upstreams: {
      catalog: { targets: [up.url] },
      chunky: { targets: [chunky.url] },
      slow: { targets: [slow.url] },
      raw: { targets: [raw.url], retries: 0 },
      down: { targets: [`http://127.0.0.1:${downPort}`], retries: 0 },
    },
    routes: [
      { route: 'GET /pets/{id}', integration: { type: 'http_proxy', upstream: 'catalog', path: '/v1/pets/{id}' } },
      { route: 'POST /pets', integration: { type: 'http_proxy', upstream: 'catalog' } },
      { route: 'ANY /files/{proxy+}', integration: { type: 'http_proxy', uri: `${up.url}/store/{proxy}` } },
      { route: 'GET /chunked', integration: { type: 'http_proxy', upstream: 'chunky' } },
      { route: 'GET /slow', integration: { type: 'http_proxy', upstream: 'slow', timeoutMs: 300 } },
      { route: 'GET /raw/{what}', integration: { type: 'http_proxy', upstream: 'raw' } },
      { route: 'GET /down', integration: { type: 'http_proxy', upstream: 'down' } },
      { route: 'HEAD /pets/{id}', integration: { type: 'http_proxy', upstream: 'catalog' } },
      { route: 'HEAD /raw/{what}', integration: { type: 'http_proxy', upstream: 'raw' } },
    ],
  }],
});
t.teardown(async () => {
  await gw.stop();
  await Promise.all([up.close(), chunky.close(), slow.close(), raw.close()]);
});

t.test('GET with a path parameter goes to the templated upstream path, query kept', async (t) => {
  const r = await get(gw.port, '/pets/42?color=red&x=%20', { headers: { 'x-custom': 'yes' } });
  t.equal(r.status, 200);
  const seen = JSON.parse(r.body);
  t.equal(seen.method, 'GET');
  t.equal(seen.url, '/v1/pets/42?color=red&x=%20');
  t.equal(seen.headers['x-custom'], 'yes');
  t.equal(seen.headers.host, `127.0.0.1:${up.port}`, 'Host is the target\'s');
  t.equal(seen.headers['x-forwarded-for'], '127.0.0.1');
  t.equal(seen.headers['x-forwarded-proto'], 'http');
  t.equal(seen.headers['x-forwarded-host'], `127.0.0.1:${gw.port}`);
  t.match(r.headers['x-request-id'], /^[0-9a-f-]{36}$/, 'request id returned');
  t.equal(seen.headers['x-request-id'], r.headers['x-request-id'], 'same request id upstream');
  t.equal(r.headers['x-upstream'], 'echo', 'upstream headers come back');
});

t.test('percent-encoded parameter values reach the upstream as matched', async (t) => {
  const r = await get(gw.port, '/pets/a%2Fb');
  t.equal(r.status, 200);
  t.equal(JSON.parse(r.body).url, '/v1/pets/a%2Fb');
});

t.test('hop-by-hop and framing headers are not forwarded; XFF is appended', async (t) => {
  const r = await get(gw.port, '/pets/1', {
    headers: { connection: 'keep-alive, x-secret-hop', 'x-secret-hop': 'no', 'keep-alive': 'timeout=5', te: 'trailers', 'x-forwarded-for': '10.0.0.1', 'proxy-authorization': 'Basic abc' },
  });
  const h = JSON.parse(r.body).headers;
  t.equal(h['x-secret-hop'], undefined, 'header named in Connection dropped');
  t.equal(h['keep-alive'], undefined);
  t.equal(h.te, undefined);
  t.equal(h['proxy-authorization'], undefined);
  t.equal(h['x-forwarded-for'], '10.0.0.1, 127.0.0.1');
});

t.test('POST body is forwarded with the gateway\'s own framing', async (t) => {
  const body = JSON.stringify({ name: 'rex', n: 'x'.repeat(1000) });
  const r = await get(gw.port, '/pets', { method: 'POST', body, headers: { 'content-type': 'application/json' } });
  t.equal(r.status, 200);
  const seen = JSON.parse(r.body);
  t.equal(seen.method, 'POST');
  t.equal(seen.url, '/pets');
  t.equal(seen.body, body);
  t.equal(seen.headers['content-length'], String(body.length));
});

t.test('chunked request body is re-framed', async (t) => {
  const payload = 'a'.repeat(100_000);
  const r = await rawRequest(gw.port,
    `POST /pets HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n${(payload.length).toString(16)}\r\n${payload}\r\n0\r\n\r\n`, 5000);
  t.equal(statusOf(r.text), 200);
  t.match(r.text, /"bodyLength":100000/);
});

t.test('greedy path with uri template', async (t) => {
  const r = await get(gw.port, '/files/a/b/c.txt?v=1', { method: 'PUT', body: 'data' });
  t.equal(r.status, 200);
  const seen = JSON.parse(r.body);
  t.equal(seen.method, 'PUT');
  t.equal(seen.url, '/store/a/b/c.txt?v=1');
  t.equal(seen.body, 'data');
});

t.test('chunked upstream response is streamed to the client', async (t) => {
  const r = await get(gw.port, '/chunked');
  t.equal(r.status, 200);
  t.equal(r.body, 'hello world');
});

t.test('close-delimited upstream response', async (t) => {
  const r = await get(gw.port, '/raw/close-delimited');
  t.equal(r.status, 200);
  t.equal(r.body, 'until-close');
});

t.test('204 from upstream has no body', async (t) => {
  const r = await get(gw.port, '/raw/no-content');
  t.equal(r.status, 204);
  t.equal(r.body, '');
});

t.test('HEAD keeps the upstream Content-Length without a body', async (t) => {
  let r = await rawRequest(gw.port, 'HEAD /raw/head-cl HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', 3000);
  t.equal(statusOf(r.text), 200);
  t.same(r.text.match(/content-length: *\d+/gi)?.map((x) => x.split(':')[1]!.trim()), ['42'], "exactly one: the upstream's");
  t.equal(r.text.split('\r\n\r\n')[1], '', 'no body bytes');
  // Node answers HEAD without a length: then none is invented.
  r = await rawRequest(gw.port, 'HEAD /pets/1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', 3000);
  t.equal(statusOf(r.text), 200);
  t.notMatch(r.text, /content-length/i);
  t.equal(r.text.split('\r\n\r\n')[1], '', 'no body bytes');
});

t.test('upstream timeout answers 504 with the AWS body', async (t) => {
  const r = await get(gw.port, '/slow');
  t.equal(r.status, 504);
  t.same(JSON.parse(r.body), { message: 'Endpoint request timed out' });
});

t.test('upstream down answers 502', async (t) => {
  const r = await get(gw.port, '/down');
  t.equal(r.status, 502);
  t.same(JSON.parse(r.body), { message: 'Bad Gateway' });
});

t.test('upstream reset before responding answers 502', async (t) => {
  const r = await get(gw.port, '/raw/reset');
  t.equal(r.status, 502);
});

t.test('malformed upstream responses answer 502', async (t) => {
  for (const p of ['/raw/bad-status', '/raw/cl-and-te']) {
    const r = await get(gw.port, p);
    t.equal(r.status, 502, p);
  }
});

t.test('upstream dying mid-body cuts the client connection (no fake success)', async (t) => {
  const r = await rawRequest(gw.port, 'GET /raw/midbody HTTP/1.1\r\nHost: x\r\n\r\n', 3000);
  t.equal(statusOf(r.text), 200);
  t.ok(r.closed, 'connection closed');
  t.notMatch(r.text, /only-part.{91}/, 'fewer bytes than announced');
});

t.test('the gateway still serves after all of the above', async (t) => {
  const r = await get(gw.port, '/pets/7');
  t.equal(r.status, 200);
});

t.test('client IP text: IPv6 in RFC 5952 form, IPv4-mapped as dotted quad', async (t) => {
  const { formatIpv6 } = await import('../../src/worker/app.js');
  const v6 = (s: string) => Uint8Array.from(Buffer.from(s.replace(/:/g, ''), 'hex'));
  t.equal(formatIpv6(v6('0000:0000:0000:0000:0000:0000:0000:0001')), '::1');
  t.equal(formatIpv6(v6('2001:0db8:0000:0000:0001:0000:0000:0001')), '2001:db8::1:0:0:1');
  t.equal(formatIpv6(v6('2001:0db8:0000:0001:0001:0001:0001:0001')), '2001:db8:0:1:1:1:1:1', 'a single zero group is not compressed');
  t.equal(formatIpv6(v6('0000:0000:0000:0000:0000:0000:0000:0000')), '::');
  // Through a dual-stack listener: an IPv4 client arrives IPv4-mapped and is reported as 127.0.0.1.
  const dualPort = await freePort();
  const dual = await startGateway({ listen: { host: '::', port: dualPort }, apis: [{ name: 'a', upstreams: { u: { targets: [up.url] } }, routes: [{ route: 'GET /ip', integration: { type: 'http_proxy', upstream: 'u' } }] }] });
  t.teardown(() => dual.stop());
  const r = await get(dualPort, '/ip');
  t.equal(JSON.parse(r.body).headers['x-forwarded-for'], '127.0.0.1');
});
