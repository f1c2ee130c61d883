import t from 'tap';
import { RedisBus, type BusMessage } from '../../src/websocket/bus.js';
import { waitFor } from '../helpers/gateway.js';
import { startRedis } from '../helpers/redis.js';

// The Redis bus through a private redis-server: where a new reader starts.

const redis = await startRedis();
t.teardown(() => redis.close());

/** The bus's writer refuses commands until it is connected (no offline queue). */
const connected = (b: RedisBus) => waitFor(() => b.replay('0-0').then(() => true, () => false), 5000);
const opts = (prefix: string) => ({ url: redis.url, keyPrefix: prefix, maxLen: 1000 });

t.test('a message published right after start() resolves is delivered (the read position is fixed before)', async (t) => {
  for (const [name, seeded] of [['empty stream', false], ['stream with history', true]] as const) {
    const prefix = `start-${seeded ? 'h' : 'e'}:`;
    const publisher = new RedisBus(opts(prefix));
    await connected(publisher);
    if (seeded) for (let i = 0; i < 3; i++) await publisher.publish('api', 'room', Buffer.from(`old${i}`));
    const got: BusMessage[] = [];
    const reader = new RedisBus(opts(prefix));
    await reader.start((m) => got.push(m));
    // Before the fix the first XREAD used '$' and ran only once the reader connection was up: a
    // message published in between was lost for good.
    const id = await publisher.publish('api', 'room', Buffer.from('first'));
    t.ok(await waitFor(() => got.length > 0, 5000), `${name}: delivered`);
    t.same(got.map((m) => m.data.toString()), ['first'], `${name}: exactly the new message, no history`);
    t.equal(got[0]!.id, id);
    await reader.close();
    await publisher.close();
  }
});

t.test('Redis down at start: start() resolves after its bounded wait, and the reader picks up once Redis is back', async (t) => {
  await redis.stop();
  const got: BusMessage[] = [];
  const reader = new RedisBus({ ...opts('down:'), startWaitMs: 300, connectTimeoutMs: 200 });
  await reader.start((m) => got.push(m)); // does not hang
  await redis.start();
  const publisher = new RedisBus(opts('down:'));
  await connected(publisher);
  // The reader starts from '$' once it reconnects: publish until one arrives.
  t.ok(await waitFor(async () => { await publisher.publish('api', 'room', Buffer.from('x')); return got.length > 0; }, 15_000), 'delivered after Redis came back');
  await reader.close();
  await publisher.close();
});
