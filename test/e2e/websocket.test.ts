import { fileURLToPath } from 'node:url';
import t from 'tap';
import WebSocket from 'ws';
import { SignatureV4 } from '@smithy/signature-v4';
import { Sha256 } from '@aws-crypto/sha256-js';
import { get, startGateway, waitFor } from '../helpers/gateway.js';
import { startUpstream } from '../helpers/upstream.js';

// WebSocket APIs through a real gateway (two workers) with real `ws` clients: route selection,
// $connect / $disconnect / $default, two-way routes, AWS events, limits, authorization at
// $connect, and the @connections API signed by @smithy/signature-v4 (the AWS SDK's signer).

const WS = fileURLToPath(new URL('../../../test/fixtures/functions/ws.mjs', import.meta.url));
const AUTH = fileURLToPath(new URL('../../../test/fixtures/functions/authorizers.mjs', import.meta.url));
const fn = (name: string) => ({ type: 'function', handler: `${WS}#${name}` });
const KEY = { accessKeyId: 'AKIDWEBSOCKETTEST01', secretAccessKey: 'websocket-test-secret-key-0123456789' };

const up = await startUpstream();
t.teardown(() => up.close());

const gw = await startGateway({
  throttling: { gateway: false },
  iam: { credentials: [{ ...KEY, routes: ['chat/prod/*'] }] },
  apis: [{
    name: 'chat',
    stage: 'prod',
    protocol: 'websocket',
    routeSelectionExpression: '$request.body.action',
    routes: [
      { route: '$connect', integration: fn('connect') },
      { route: '$disconnect', integration: { type: 'http_proxy', uri: `${up.url}/disconnected` } },
      { route: 'echo', integration: fn('echo'), routeResponse: true },
      { route: 'whoami', integration: fn('whoami'), routeResponse: true },
      { route: 'silent', integration: fn('echo') },
      { route: 'fail', integration: fn('fail'), routeResponse: true },
      { route: 'mock', integration: { type: 'mock', body: 'pong' }, routeResponse: true },
      { route: 'http', integration: { type: 'http_proxy', uri: `${up.url}/ws-message` }, routeResponse: true },
      { route: '$default', integration: { type: 'mock', body: 'default route' }, routeResponse: true },
    ],
  }, {
    name: 'strict',
    stage: 'strict',
    protocol: 'websocket',
    routeSelectionExpression: '${request.body.service}/${request.body.action}',
    authorizers: { q: { type: 'request', handler: `${AUTH}#request2`, identitySource: ['$request.querystring.token'] } },
    routes: [
      { route: '$connect', authorizer: 'q', integration: { type: 'mock' } },
      { route: 'chat/send', integration: fn('whoami'), routeResponse: true },
    ],
  }],
}, { workers: 2 });
t.teardown(() => gw.stop());

const url = (path: string) => `ws://127.0.0.1:${gw.port}${path}`;

interface Client { ws: WebSocket; next(): Promise<string>; closed: Promise<{ code: number; reason: string }> }

/** Opens a client; `next()` resolves with the next message (queued in order). */
function open(path: string, headers: Record<string, string> = {}): Promise<Client> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url(path), { headers });
    const queue: string[] = [];
    const waiters: ((m: string) => void)[] = [];
    ws.on('message', (d) => {
      const m = d.toString();
      const w = waiters.shift();
      if (w) w(m);
      else queue.push(m);
    });
    const closed = new Promise<{ code: number; reason: string }>((r) => ws.on('close', (code, reason) => r({ code, reason: reason.toString() })));
    ws.once('open', () => resolve({ ws, closed, next: () => (queue.length ? Promise.resolve(queue.shift()!) : new Promise((r) => waiters.push(r))) }));
    ws.once('unexpected-response', (_req, res) => reject(Object.assign(new Error(`handshake ${res.statusCode}`), { status: res.statusCode })));
    ws.once('error', reject);
  });
}

const signer = new SignatureV4({ service: 'execute-api', region: 'us-east-1', credentials: KEY, sha256: Sha256 });
async function manage(method: 'POST' | 'GET' | 'DELETE', id: string, body?: string | Buffer, sign = true) {
  const path = `/prod/@connections/${encodeURIComponent(id)}`;
  const headers: Record<string, string> = { host: `127.0.0.1:${gw.port}` };
  if (body !== undefined) headers['content-type'] = 'application/octet-stream';
  const signed = sign ? await signer.sign({ method, protocol: 'http:', hostname: '127.0.0.1', port: gw.port, path, headers, ...(body !== undefined ? { body } : {}) }) : { headers };
  return get(gw.port, path, { method, headers: signed.headers as Record<string, string>, ...(body !== undefined ? { body } : {}) });
}

const send = (c: Client, msg: unknown) => c.ws.send(typeof msg === 'string' ? msg : JSON.stringify(msg));

t.test('route selection: $request.body.action picks the route; anything else goes to $default', async (t) => {
  const c = await open('/prod');
  send(c, { action: 'echo', text: 'hi' });
  const r = JSON.parse(await c.next());
  t.equal(r.routeKey, 'echo');
  t.equal(r.eventType, 'MESSAGE');
  t.same(JSON.parse(r.echo), { action: 'echo', text: 'hi' });
  send(c, { action: 'mock' });
  t.equal(await c.next(), 'pong');
  for (const other of ['not json', '{"action": "nope"}', '{"no": "action"}', '["echo"]', '{"action": {"x": 1}}']) {
    send(c, other);
    t.equal(await c.next(), 'default route', other);
  }
  c.ws.close();
});

t.test('the MESSAGE event as API Gateway sends it', async (t) => {
  const c = await open('/prod', { 'user-agent': 'ws-test/1' });
  send(c, { action: 'whoami' });
  const e = JSON.parse(await c.next());
  t.same(Object.keys(e), ['requestContext', 'body', 'isBase64Encoded']);
  t.equal(e.isBase64Encoded, false);
  t.same(JSON.parse(e.body), { action: 'whoami' });
  const rc = e.requestContext;
  t.match(rc, {
    routeKey: 'whoami', eventType: 'MESSAGE', messageDirection: 'IN', stage: 'prod', apiId: 'chat', domainName: '127.0.0.1',
    disconnectStatusCode: null, disconnectReason: null, identity: { sourceIp: '127.0.0.1', userAgent: 'ws-test/1' },
  });
  t.match(rc.connectionId, /^[A-Za-z0-9_-]{16}$/);
  t.type(rc.messageId, 'string');
  t.equal(rc.requestId, rc.extendedRequestId);
  t.type(rc.connectedAt, 'number');
  t.match(rc.requestTime, /^\d{2}\/[A-Z][a-z]{2}\/\d{4}:\d{2}:\d{2}:\d{2} \+0000$/);
  c.ws.close();
});

t.test('one-way routes answer nothing; a failing integration sends AWS\'s error frame; the http integration gets the message', async (t) => {
  const c = await open('/prod');
  send(c, { action: 'silent' });
  send(c, { action: 'fail' });
  const err = JSON.parse(await c.next());
  t.equal(err.message, 'Internal server error', 'the silent route sent nothing before this');
  t.type(err.connectionId, 'string');
  t.type(err.requestId, 'string');
  send(c, { action: 'http', n: 1 });
  const echoed = JSON.parse(await c.next());
  t.equal(echoed.method, 'POST');
  t.equal(echoed.url, '/ws-message');
  t.equal(echoed.body, '{"action":"http","n":1}');
  t.equal(echoed.headers['x-event-type'], 'MESSAGE');
  t.equal(echoed.headers['x-route-key'], 'http');
  t.match(echoed.headers['x-connection-id'], /^[A-Za-z0-9_-]{16}$/);
  c.ws.close();
});

t.test('$connect: a non-2xx answer refuses the handshake with that status; $disconnect runs when the client leaves', async (t) => {
  await t.rejects(open('/prod?deny=1'), /handshake 403/);
  const c = await open('/prod');
  send(c, { action: 'echo' });
  const id = JSON.parse(await c.next()).connectionId;
  c.ws.close(4001, 'bye');
  t.ok(await waitFor(() => up.seen.some((s) => s.url === '/disconnected' && s.headers['x-connection-id'] === id), 5000), '$disconnect reached the upstream');
  const d = up.seen.find((s) => s.headers['x-connection-id'] === id)!;
  t.equal(d.headers['x-event-type'], 'DISCONNECT');
});

t.test('template selection expression; a key without a route and no $default gets the Forbidden frame', async (t) => {
  await t.rejects(open('/strict'), /handshake 401/, 'the authorizer identity source (token query string) is missing');
  await t.rejects(open('/strict?token=deny'), /handshake 403/, 'the authorizer denied');
  const c = await open('/strict?token=allow');
  send(c, { service: 'chat', action: 'send' });
  const e = JSON.parse(await c.next());
  t.equal(e.requestContext.routeKey, 'chat/send');
  t.equal(e.requestContext.authorizer.user, 'u1', 'the $connect authorizer context is in every event (flat, as AWS)');
  t.equal(e.requestContext.authorizer.principalId, 'user-7');
  send(c, { service: 'chat', action: 'other' });
  const f = JSON.parse(await c.next());
  t.equal(f.message, 'Forbidden');
  c.ws.close();
});

t.test('a message over 128 KB closes the connection with 1009', async (t) => {
  const c = await open('/prod');
  c.ws.send('x'.repeat(128 * 1024 + 1));
  const { code } = await c.closed;
  t.equal(code, 1009);
});

t.test('@connections: POST sends, GET describes, DELETE closes; unknown ids are 410 GoneException; unsigned is 403', async (t) => {
  // Several clients: with two workers, some management calls land on the other worker than the connection.
  const clients = await Promise.all(Array.from({ length: 6 }, () => open('/prod', { 'user-agent': 'mgmt-test' })));
  const ids: string[] = [];
  for (const c of clients) {
    send(c, { action: 'echo' });
    ids.push(JSON.parse(await c.next()).connectionId);
  }
  for (let round = 0; round < 3; round++) {
    for (const [i, c] of clients.entries()) {
      const r = await manage('POST', ids[i]!, `hello ${round}`);
      t.equal(r.status, 200, `post ${i}/${round}: ${r.body}`);
      t.equal(await c.next(), `hello ${round}`);
    }
  }
  const g = await manage('GET', ids[0]!);
  t.equal(g.status, 200);
  const info = JSON.parse(g.body);
  t.same(Object.keys(info), ['connectedAt', 'identity', 'lastActiveAt']);
  t.ok(!Number.isNaN(Date.parse(info.connectedAt)) && info.connectedAt.endsWith('Z'), 'RFC 3339 time');
  t.same(info.identity, { sourceIp: '127.0.0.1', userAgent: 'mgmt-test' });

  const d = await manage('DELETE', ids[1]!);
  t.equal(d.status, 204);
  t.equal((await clients[1]!.closed).code, 1000);
  const gone = await manage('POST', ids[1]!, 'late');
  t.equal(gone.status, 410);
  t.equal(gone.headers['x-amzn-errortype'], 'GoneException');
  for (const bad of ['AAAAAAAAAAAAAAAAAAAAAA', 'nope', 'AAAAAAAAAAAAAAAA']) t.equal((await manage('GET', bad)).status, 410, bad);

  const unsigned = await manage('POST', ids[0]!, 'x', false);
  t.equal(unsigned.status, 403);
  const big = await manage('POST', ids[0]!, Buffer.alloc(128 * 1024 + 1, 97));
  t.equal(big.status, 413);
  t.equal(big.headers['x-amzn-errortype'], 'PayloadTooLargeException');
  for (const c of clients) c.ws.close();
});

t.test('a plain HTTP request to the stage path is not a WebSocket route', async (t) => {
  const r = await get(gw.port, '/prod/anything');
  t.equal(r.status, 404);
});
