import { fileURLToPath } from 'node:url';
import t from 'tap';
import { get, startGateway, waitFor } from '../helpers/gateway.js';
import { startUpstream } from '../helpers/upstream.js';
import { managementClient, openWs, type WsClient } from '../helpers/ws.js';

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
      { route: 'join', integration: fn('join'), routeResponse: true },
      { route: 'say', integration: fn('say') },
      { route: 'badTopic', integration: fn('badTopic'), routeResponse: true },
      { route: 'manyTopics', integration: fn('manyTopics'), routeResponse: true },
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

type Client = WsClient;
const open = (path: string, headers: Record<string, string> = {}) => openWs(url(path), headers);
const mgmt = managementClient(gw.port, 'prod', KEY);
const manage = (method: 'POST' | 'GET' | 'DELETE' | 'PUT', id: string, body?: string | Buffer, sign = true, path?: string) =>
  path === undefined ? mgmt.call(method, `/@connections/${encodeURIComponent(id)}`, body, sign) : mgmt.call(method, path.replace(/^\/prod/, ''), body, sign);

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

const broadcast = mgmt.broadcast;
const frame = (c: Client) => c.frame();

t.test('broadcast: subscribers on both workers get every message once, in one order; others get nothing', async (t) => {
  const subs = await Promise.all(Array.from({ length: 6 }, () => open('/prod?topics=news,sport')));
  const other = await open('/prod?topics=weather');
  const ids: string[] = [];
  for (let i = 0; i < 20; i++) {
    const r = await broadcast('news', `n${i}`);
    t.equal(r.status, 200, r.body);
    ids.push(JSON.parse(r.body).messageId);
  }
  for (const c of subs) {
    const got = [];
    for (let i = 0; i < 20; i++) got.push(await frame(c));
    t.same(got.map((f) => f.data), Array.from({ length: 20 }, (_, i) => `n${i}`), 'in publish order');
    t.same(got.map((f) => f.id), ids, 'the ids @broadcast answered');
    t.ok(got.every((f) => f.topic === 'news'));
  }
  send(other, { action: 'mock' });
  t.equal(await other.next(), 'pong', 'the weather subscriber got no news before this');
  t.equal((await broadcast('news', 'x', false)).status, 403, 'unsigned @broadcast is refused');
  t.equal((await broadcast('bad%20topic', 'x')).status, 400);
  for (const c of [...subs, other]) c.ws.close();
});

t.test('routes subscribe and publish (server-side broadcast from a handler); @connections topics', async (t) => {
  const a = await open('/prod');
  const b = await open('/prod');
  send(a, { action: 'join', room: 'lobby' });
  t.equal(await a.next(), 'joined');
  send(b, { action: 'echo' });
  const bid = JSON.parse(await b.next()).connectionId;
  t.equal((await manage('PUT', bid, undefined, true, `/prod/@connections/${bid}/topics/lobby`)).status, 204, 'subscribed through the management API');
  send(b, { action: 'say', room: 'lobby', text: 'hello all' });
  t.same([(await frame(a)).data, (await frame(b)).data], ['hello all', 'hello all']);
  t.equal((await manage('DELETE', bid, undefined, true, `/prod/@connections/${bid}/topics/lobby`)).status, 204);
  send(a, { action: 'say', room: 'lobby', text: 'second' });
  t.equal((await frame(a)).data, 'second');
  send(b, { action: 'mock' });
  t.equal(await b.next(), 'pong', 'b left the topic: no "second"');
  send(a, { action: 'badTopic' });
  t.equal(JSON.parse(await a.next()).message, 'Internal server error', 'an invalid topic effect fails the route');
  t.equal((await manage('PUT', 'AAAAAAAAAAAAAAAA', undefined, true, '/prod/@connections/AAAAAAAAAAAAAAAA/topics/lobby')).status, 410);
  a.ws.close();
  b.ws.close();
});

t.test('a client that reconnects with lastMessageId gets what it missed, then live messages, nothing twice', async (t) => {
  const c1 = await open('/prod?topics=feed');
  await broadcast('feed', 'm1');
  await broadcast('feed', 'm2');
  t.equal((await frame(c1)).data, 'm1');
  const last = await frame(c1);
  t.equal(last.data, 'm2');
  c1.ws.close();
  await c1.closed;
  await broadcast('feed', 'm3');
  await broadcast('other', 'not for feed');
  await broadcast('feed', 'm4');
  const c2 = await open(`/prod?topics=feed&lastMessageId=${last.id}`);
  await broadcast('feed', 'm5');
  t.same([(await frame(c2)).data, (await frame(c2)).data, (await frame(c2)).data], ['m3', 'm4', 'm5']);
  send(c2, { action: 'mock' });
  t.equal(await c2.next(), 'pong', 'nothing else came');
  c2.ws.close();
});

t.test('metrics: open connections and WebSocket events by API stage', async (t) => {
  const c = await open('/prod');
  c.send({ action: 'mock' });
  await c.next();
  let text = '';
  t.ok(await waitFor(async () => {
    text = (await get(gw.adminPort, '/metrics')).body;
    return /gateway_websocket_connections [1-9]/.test(text) && /gateway_websocket_events_total\{api="chat\/prod",kind="message"\} [1-9]/.test(text);
  }, 10_000), text.split('\n').filter((l) => l.includes('websocket')).join('\n'));
  t.match(text, /gateway_websocket_events_total\{api="chat\/prod",kind="connect"\} \d+/);
  t.match(text, /gateway_websocket_events_total\{api="chat\/prod",kind="refused"\} \d+/);
  c.ws.close();
});

t.test('a connection holds at most 1,000 topics: further subscriptions are ignored', async (t) => {
  const c = await open('/prod');
  c.send({ action: 'manyTopics' });
  t.equal(await c.next(), 'many');
  await broadcast('t1000', 'over the limit');
  await broadcast('t999', 'within the limit');
  t.equal((await c.frame()).data, 'within the limit', 't1000 was never subscribed');
  c.ws.close();
});
