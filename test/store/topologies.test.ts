import t, { type Test } from 'tap';
import type { RedisOptions } from 'ioredis';
import { connectRedis, whenReady, type RedisClient, type RedisConnectOptions } from '../../src/store/connect.js';
import { REDIS_NO_TLS, startRedisCluster, startRedisSentinel, startRedisTls, type PrivateTlsRedis } from '../helpers/redis.js';

// connectRedis against real private topologies: Sentinel, Cluster, TLS with a password. Each one:
// PING, a Buffer SET/GET, a two-key Lua script (keys share the {l} hash tag, so one cluster slot),
// and fast failures (no offline queue) while the server is stopped.

// Two keys in one script: INCRBY both, return both (exercises EVALSHA with the NOSCRIPT fallback).
const PAIR = `
local a = redis.call('INCRBY', KEYS[1], ARGV[1])
local b = redis.call('INCRBY', KEYS[2], ARGV[1] * 2)
redis.call('PEXPIRE', KEYS[1], 60000)
redis.call('PEXPIRE', KEYS[2], 60000)
return {a, b}`;

type Client = RedisClient & { gwPair(a: string, b: string, by: number): Promise<[number, number]> };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A client with the script defined, disconnected when the test ends. Errors while a server is down are expected. */
function open(t: Test, o: RedisConnectOptions, extra?: RedisOptions): Client {
  const c = connectRedis(o, extra) as Client;
  c.on('error', () => {});
  c.on('node error', () => {});
  c.defineCommand('gwPair', { numberOfKeys: 2, lua: PAIR });
  t.teardown(() => c.disconnect());
  return c;
}

async function basics(t: Test, c: Client, tag: string, keyPrefix = 'gw:'): Promise<void> {
  t.equal(await c.ping(), 'PONG', `${tag}: PING`);
  const value = Buffer.from([0, 1, 2, 0x80, 0xfe, 0xff, 10, 13]);
  t.equal(await c.set(`${keyPrefix}{l}:${tag}:buf`, value, 'PX', 60_000), 'OK');
  t.same(await c.getBuffer(`${keyPrefix}{l}:${tag}:buf`), value, `${tag}: binary value round trip`);
  t.same(await c.gwPair(`${keyPrefix}{l}:${tag}:a`, `${keyPrefix}{l}:${tag}:b`, 1), [1, 2], `${tag}: Lua script on two {l} keys`);
  t.same(await c.gwPair(`${keyPrefix}{l}:${tag}:a`, `${keyPrefix}{l}:${tag}:b`, 1), [2, 4]);
}

/**
 * The call rejects while the server is still down (no offline queue, no retries): a queued call
 * would wait for a restart that only comes after this returns, and tap's timeout would end it.
 */
async function failsFast(t: Test, label: string, call: () => Promise<unknown>): Promise<void> {
  const err = await call().then(() => null, (e: Error) => e);
  t.ok(err, `${label}: rejected${err ? ` (${err.message})` : ''}`);
}

/** Polls `call` every 50 ms until it succeeds; returns how long that took. */
async function recovers(t: Test, label: string, call: () => Promise<unknown>, timeoutMs = 8000): Promise<void> {
  const t0 = performance.now();
  let last: Error | null = null;
  while (performance.now() - t0 < timeoutMs) {
    try {
      await call();
      t.pass(`${label}: recovered by itself after ${(performance.now() - t0).toFixed(0)} ms`);
      return;
    } catch (e) {
      last = e as Error;
      await sleep(50);
    }
  }
  t.fail(`${label}: not recovered after ${timeoutMs} ms (${last?.message})`);
}

t.test('options are checked before connecting', async (t) => {
  t.throws(() => connectRedis({}), /exactly one of url, sentinels, cluster/);
  t.throws(() => connectRedis({ url: 'redis://x:1', cluster: [{ host: 'x', port: 1 }] }), /exactly one/);
  t.throws(() => connectRedis({ sentinels: [{ host: 'x', port: 1 }] }), /group name/);
  t.throws(() => connectRedis({ url: 'http://x:1' }), /redis:\/\/ or rediss:\/\//);
  t.throws(() => connectRedis({ url: 'redis://x:1/?family=6' }), /query parameters/);
  t.throws(() => connectRedis({ cluster: [{ host: 'x', port: 1 }], db: 2 }), /only db 0/);
});

t.test('sentinel: connect through the sentinel; master stopped: fail fast; master back: recovers by itself', async (t) => {
  const s = await startRedisSentinel();
  t.teardown(() => s.close());
  const c = open(t, s.connect);
  await whenReady(c, 5000);
  await basics(t, c, 'sentinel');

  await s.master.stop(true);
  await failsFast(t, 'master just killed: PING', () => c.ping());
  await failsFast(t, 'master just killed: script', () => c.gwPair('gw:{l}:s:a', 'gw:{l}:s:b', 1));
  await sleep(300);
  await failsFast(t, 'master down 300 ms: GET', () => c.get('gw:{l}:sentinel:buf'));

  await s.master.start(); // same port, empty (nothing on disk), script cache flushed
  await recovers(t, 'master restarted', () => c.ping());
  t.equal(await c.get('gw:{l}:sentinel:buf'), null, 'the restarted master is empty');
  t.same(await c.gwPair('gw:{l}:sentinel:a', 'gw:{l}:sentinel:b', 1), [1, 2], 'the script runs again (NOSCRIPT fallback)');
});

t.test('cluster: three masters, {l} keys in one slot; its node stopped: fail fast; back: recovers', async (t) => {
  const s = await startRedisCluster();
  t.teardown(() => s.close());
  const c = open(t, s.connect);
  await whenReady(c, 5000);
  await basics(t, c, 'cluster');

  await t.test('keyPrefix applies cluster-wide: slots, scripts and the stored key names', async (t) => {
    const p = open(t, s.connect, { keyPrefix: 'gw:' });
    await whenReady(p, 5000);
    await basics(t, p, 'prefixed', '');
    t.same(await c.getBuffer('gw:{l}:prefixed:buf'), Buffer.from([0, 1, 2, 0x80, 0xfe, 0xff, 10, 13]), 'stored under gw:{l}:...');
    t.equal(await c.get('gw:{l}:prefixed:b'), '4');
  });

  // Which master owns the {l} slot: CLUSTER KEYSLOT, then the CLUSTER SLOTS range holding it.
  const slot = Number(await c.cluster('KEYSLOT', 'gw:{l}:a'));
  const owner = (await c.cluster('SLOTS')).find(([from, to]) => slot >= from && slot <= to)?.[2]?.[1];
  const node = s.nodes.find((n) => n.port === owner)!;
  t.ok(node, `slot ${slot} is on :${owner}`);

  await node.stop(true);
  await failsFast(t, '{l} node just killed: script', () => c.gwPair('gw:{l}:c:a', 'gw:{l}:c:b', 1));
  await failsFast(t, '{l} node just killed: GET', () => c.get('gw:{l}:cluster:buf'));
  await sleep(300);
  await failsFast(t, '{l} node down 300 ms: GET', () => c.get('gw:{l}:cluster:a'));

  await node.start(); // same port and nodes.conf: same node id and slots, empty data
  await recovers(t, '{l} node restarted', () => c.gwPair('gw:{l}:c:a', 'gw:{l}:c:b', 1));

  await Promise.all(s.nodes.map((n) => n.stop(true)));
  await failsFast(t, 'every node killed: GET', () => c.get('gw:{l}:cluster:a'));
  await sleep(300);
  await failsFast(t, 'every node down 300 ms: script', () => c.gwPair('gw:{l}:c:a', 'gw:{l}:c:b', 1));
});

// TLS needs a redis-server built with it: find out once, and skip with the reason when it is not.
const PASSWORD = `pw-${process.pid}-${Date.now()}`;
let tls: PrivateTlsRedis | null = null;
let noTls: string | false = false;
try {
  tls = await startRedisTls({ password: PASSWORD });
  t.teardown(() => tls?.close());
} catch (e) {
  if (!(e as Error).message.startsWith(REDIS_NO_TLS)) throw e;
  noTls = REDIS_NO_TLS;
}

t.test('tls + password: private CA, rediss:// url', { skip: noTls }, async (t) => {
  const s = tls!;
  const c = open(t, s.connect);
  await whenReady(c, 5000);
  await basics(t, c, 'tls');

  await t.test('a user in the url and the password as an option: the option is used', async (t) => {
    const u = open(t, { ...s.connect, url: s.connect.url!.replace('rediss://', 'rediss://default@') });
    await whenReady(u, 5000);
    t.equal(await u.ping(), 'PONG');
  });

  await t.test('wrong password: a clear WRONGPASS at once, and PING fails fast (no hang)', async (t) => {
    const w = open(t, { ...s.connect, password: 'wrong' });
    // The WRONGPASS reason (not the 5 s "not ready" one) shows it gave up on the server's answer.
    await t.rejects(whenReady(w, 5000), /cannot connect: WRONGPASS/);
    await failsFast(t, 'wrong password: PING', () => w.ping());
  });

  await t.test('no password: NOAUTH', async (t) => {
    const { password: _, ...rest } = s.connect;
    const w = open(t, rest);
    await t.rejects(whenReady(w, 5000), /NOAUTH/);
    await failsFast(t, 'no password: PING', () => w.ping());
  });

  await t.test('the system CAs do not know the private CA: a clear certificate error', async (t) => {
    const w = open(t, { ...s.connect, tls: true });
    await t.rejects(whenReady(w, 5000), /certificate/);
    await failsFast(t, 'untrusted certificate: PING', () => w.ping());
  });

  await t.test('server stopped: fail fast; started again: recovers by itself', async (t) => {
    await s.server.stop(true);
    await failsFast(t, 'TLS server just killed: PING', () => c.ping());
    await sleep(300);
    await failsFast(t, 'TLS server down 300 ms: script', () => c.gwPair('gw:{l}:t:a', 'gw:{l}:t:b', 1));
    await s.server.start();
    await recovers(t, 'TLS server restarted', () => c.ping());
    t.same(await c.gwPair('gw:{l}:t:a', 'gw:{l}:t:b', 1), [1, 2]);
  });
});
