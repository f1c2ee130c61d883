import { fileURLToPath } from 'node:url';
import t from 'tap';
import { startGateway, waitFor, type Gateway } from '../helpers/gateway.js';
import { startRedis } from '../helpers/redis.js';
import { managementClient, openWs } from '../helpers/ws.js';

// WebSocket broadcast and @connections across nodes: two (then three) gateway processes sharing one
// private redis-server; Redis stopped and started again under broadcast.

const WS = fileURLToPath(new URL('../../../test/fixtures/functions/ws.mjs', import.meta.url));
const KEY = { accessKeyId: 'AKIDWSREDISTEST0001', secretAccessKey: 'ws-redis-test-secret-0123456789abcd' };

const redis = await startRedis();
t.teardown(() => redis.close());

const config = {
  throttling: { gateway: false },
  store: { type: 'redis', redis: { url: redis.url, keyPrefix: 'wsr:' } },
  iam: { credentials: [{ ...KEY, routes: ['chat/prod/*'] }] },
  apis: [{
    name: 'chat', stage: 'prod', protocol: 'websocket',
    routes: [
      { route: '$connect', integration: { type: 'function', handler: `${WS}#connect` } },
      { route: 'echo', integration: { type: 'function', handler: `${WS}#echo` }, routeResponse: true },
    ],
  }],
};

const started: Gateway[] = [];
async function node(): Promise<Gateway> {
  const gw = await startGateway(config, { workers: 1 });
  started.push(gw);
  return gw;
}
t.teardown(() => Promise.all(started.map((g) => g.stop())));

const a = await node();
const b = await node();
const ma = managementClient(a.port, 'prod', KEY);
const url = (gw: Gateway, q: string) => `ws://127.0.0.1:${gw.port}/prod${q}`;

t.test('a broadcast on one node reaches subscribers on both, in one order', async (t) => {
  const onA = await openWs(url(a, '?topics=x'));
  const onB = await openWs(url(b, '?topics=x'));
  const ids: string[] = [];
  for (let i = 0; i < 10; i++) {
    const r = await (i % 2 === 0 ? ma : managementClient(b.port, 'prod', KEY)).broadcast('x', `m${i}`);
    t.equal(r.status, 200, r.body);
    ids.push(JSON.parse(r.body).messageId);
  }
  for (const c of [onA, onB]) {
    const got = [];
    for (let i = 0; i < 10; i++) got.push(await c.frame());
    t.same(got.map((f) => f.data), Array.from({ length: 10 }, (_, i) => `m${i}`));
    t.same(got.map((f) => f.id), ids, 'Redis stream ids, the same everywhere');
  }
  onA.ws.close();
  onB.ws.close();
});

t.test('@connections on node A for a connection held by node B', async (t) => {
  const onB = await openWs(url(b, ''), { 'user-agent': 'node-b-client' });
  onB.send({ action: 'echo' });
  const id = JSON.parse(await onB.next()).connectionId as string;
  const post = await ma.connection('POST', id, 'across nodes');
  t.equal(post.status, 200, post.body);
  t.equal(await onB.next(), 'across nodes');
  const g = await ma.connection('GET', id);
  t.equal(g.status, 200);
  t.same(JSON.parse(g.body).identity, { sourceIp: '127.0.0.1', userAgent: 'node-b-client' });
  t.equal((await ma.topic('PUT', id, 'y')).status, 204);
  await ma.broadcast('y', 'topic set from node A');
  t.equal((await onB.frame()).data, 'topic set from node A');
  t.equal((await ma.connection('DELETE', id)).status, 204);
  t.equal((await onB.closed).code, 1000);
  t.equal((await ma.connection('GET', id)).status, 410, 'closed: gone');
});

t.test('a node that started later replays from the Redis stream for a client that resumes there', async (t) => {
  const first = await openWs(url(a, '?topics=z'));
  await ma.broadcast('z', 'z1');
  const seen = await first.frame();
  first.ws.close();
  await ma.broadcast('z', 'z2');
  await ma.broadcast('z', 'z3');
  const c = await node(); // its memory holds nothing of z2, z3
  const resumed = await openWs(url(c, `?topics=z&lastMessageId=${seen.id}`));
  t.same([(await resumed.frame()).data, (await resumed.frame()).data], ['z2', 'z3']);
  await ma.broadcast('z', 'z4');
  t.equal((await resumed.frame()).data, 'z4', 'then live');
  resumed.ws.close();
});

t.test('Redis stopped under broadcast: no crash; broadcasts fail cleanly; after it is back, readers resume', async (t) => {
  const onA = await openWs(url(a, '?topics=r'));
  const onB = await openWs(url(b, '?topics=r'));
  await ma.broadcast('r', 'before');
  t.equal((await onA.frame()).data, 'before');
  t.equal((await onB.frame()).data, 'before');
  await redis.stop(true);
  const during = await ma.broadcast('r', 'during');
  t.equal(during.status, 500, 'no bus: the broadcast is refused, not lost silently');
  onA.send({ action: 'echo', n: 1 });
  t.equal(JSON.parse(await onA.next()).routeKey, 'echo', 'WebSocket routes keep working without Redis');
  await redis.start();
  t.ok(await waitFor(async () => (await ma.broadcast('r', 'after')).status === 200, 15_000), 'broadcasts work again');
  // The readers reconnect and read from their last id: 'after' arrives (maybe more than once if it was retried).
  t.equal((await onA.frame()).data, 'after');
  t.equal((await onB.frame()).data, 'after');
  t.equal(a.proc.exitCode, null, 'node A still runs');
  t.equal(b.proc.exitCode, null, 'node B still runs');
  onA.ws.close();
  onB.ws.close();
});
