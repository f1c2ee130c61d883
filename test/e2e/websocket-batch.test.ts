import { fileURLToPath } from 'node:url';
import t from 'tap';
import { startGateway } from '../helpers/gateway.js';
import { managementClient, openWs, type WsClient } from '../helpers/ws.js';

// websocket.broadcastBatchBytes through a real gateway (two workers, the IPC bus) with real `ws`
// clients: broadcasts that reach a worker in one turn share a frame (newline-separated messages,
// capped in bytes), every message arrives once, in bus order, and a client resuming with
// lastMessageId in the middle of a burst gets neither a gap nor a repeat.

const WS = fileURLToPath(new URL('../../../test/fixtures/functions/ws.mjs', import.meta.url));
const KEY = { accessKeyId: 'AKIDWSBATCHTEST0001', secretAccessKey: 'ws-batch-test-secret-0123456789abcd' };
const MAX = 4096;

const gw = await startGateway({
  throttling: { gateway: false },
  iam: { credentials: [{ ...KEY, routes: ['feed/live/*'] }] },
  apis: [{
    name: 'feed', stage: 'live', protocol: 'websocket',
    websocket: { broadcastBatchBytes: MAX },
    routes: [{ route: '$connect', integration: { type: 'function', handler: `${WS}#connect` } }],
  }],
}, { workers: 2 });
t.teardown(() => gw.stop());

const mgmt = managementClient(gw.port, 'live', KEY);
type Msg = { topic: string; id: string; data: string };

/** Reads frames until `count` messages arrived; returns them and the frames' message counts and sizes. */
async function collect(c: WsClient, count: number): Promise<{ msgs: Msg[]; frames: { n: number; bytes: number }[] }> {
  const msgs: Msg[] = [];
  const frames: { n: number; bytes: number }[] = [];
  while (msgs.length < count) {
    const f = await c.next();
    const parts = f.split('\n');
    frames.push({ n: parts.length, bytes: Buffer.byteLength(f) });
    for (const p of parts) msgs.push(JSON.parse(p) as Msg);
  }
  return { msgs, frames };
}

const idOrder = (a: string, b: string): number => {
  const [am, as] = a.split('-').map(Number) as [number, number];
  const [bm, bs] = b.split('-').map(Number) as [number, number];
  return am - bm || as - bs;
};

/** `n` broadcasts on `topic`, `wave` at a time (concurrent, so several reach a worker in one turn). */
async function burst(topic: string, n: number, wave: number, prefix: string): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i += wave) {
    const rs = await Promise.all(Array.from({ length: Math.min(wave, n - i) }, (_, k) => mgmt.broadcast(topic, `${prefix}${i + k}-${'x'.repeat(200)}`)));
    for (const r of rs) {
      if (r.status !== 200) throw new Error(`broadcast ${r.status} ${r.body}`);
      ids.push(JSON.parse(r.body).messageId as string);
    }
  }
  return ids;
}

t.test('a burst: shared frames of newline-separated messages under the cap; every message once, in bus order', async (t) => {
  const subs = await Promise.all(Array.from({ length: 6 }, () => openWs(`ws://127.0.0.1:${gw.port}/live?topics=news`)));
  const other = await openWs(`ws://127.0.0.1:${gw.port}/live?topics=weather`);
  const N = 300;
  const ids = await burst('news', N, 50, 'n');
  const sorted = [...ids].sort(idOrder);
  let multi = 0;
  for (const c of subs) {
    const { msgs, frames } = await collect(c, N);
    t.equal(msgs.length, N, 'exactly N messages (no more inside the last frame)');
    t.same(msgs.map((m) => m.id), sorted, 'every broadcast once, in the bus order of its ids');
    t.ok(msgs.every((m) => m.topic === 'news' && m.data.startsWith('n')));
    t.same(new Set(msgs.map((m) => m.data)).size, N);
    for (const f of frames) if (f.n > 1) { multi++; t.ok(f.bytes <= MAX, `a shared frame stays under the cap (${f.bytes} bytes)`); }
  }
  t.ok(multi > 0, `broadcasts of one turn shared a frame (${multi} frames with several messages)`);
  // Nothing for the other topic came: the next thing it receives is this one broadcast.
  await mgmt.broadcast('weather', 'sunny');
  const w = await collect(other, 1);
  t.same(w.msgs.map((m) => m.data), ['sunny']);
  for (const c of [...subs, other]) c.ws.close();
});

t.test('a message larger than the cap goes alone; a single broadcast is a plain frame', async (t) => {
  const c = await openWs(`ws://127.0.0.1:${gw.port}/live?topics=big`);
  const big = 'B'.repeat(MAX * 2);
  t.equal((await mgmt.broadcast('big', big)).status, 200);
  const f = JSON.parse(await c.next()) as Msg;
  t.equal(f.data, big, 'one frame, one JSON message');
  c.ws.close();
});

t.test('resuming with lastMessageId during a burst: from that id on, nothing missing and nothing twice', async (t) => {
  const first = await openWs(`ws://127.0.0.1:${gw.port}/live?topics=live`);
  const before = await burst('live', 20, 20, 'a');
  const got = await collect(first, 20);
  const last = got.msgs[got.msgs.length - 1]!.id;
  first.ws.close();
  await first.closed;
  // Broadcasts keep coming while clients resume from `last`.
  const during = burst('live', 200, 25, 'b');
  const resumed = await Promise.all(Array.from({ length: 16 }, async (_, i) => {
    await new Promise((r) => setTimeout(r, i * 8));
    return openWs(`ws://127.0.0.1:${gw.port}/live?topics=live&lastMessageId=${last}`);
  }));
  const ids = [...before, ...(await during)].sort(idOrder);
  const expected = ids.filter((id) => idOrder(id, last) > 0);
  t.equal(expected.length, 200);
  for (const c of resumed) {
    const { msgs } = await collect(c, expected.length);
    t.same(msgs.map((m) => m.id), expected, 'the missed ones, then the live ones: each once, in order');
    c.ws.close();
  }
});
