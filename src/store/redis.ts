import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Cluster, type Redis } from 'ioredis';
import { connectRedis, whenReady, type RedisClient, type RedisConnectOptions } from './connect.js';
import { BUCKET, StoreUnavailableError, type Decision, type Limit, type Store } from './types.js';

// The .lua sources stay in src/ (tsc does not copy them); from dist/src/store/ that is ../../../src/store/lua.
const LUA_DIR = fileURLToPath(new URL('../../../src/store/lua/', import.meta.url));
const DECIDE = readFileSync(`${LUA_DIR}decide.lua`, 'utf8');
const GIVE_BACK = readFileSync(`${LUA_DIR}give-back.lua`, 'utf8');
const UNLOCK = readFileSync(`${LUA_DIR}unlock.lua`, 'utf8');

export interface RedisStoreOptions extends RedisConnectOptions {
  keyPrefix?: string;
  /** Told when Redis becomes reachable or unreachable (log line + metric). */
  onStateChange?: (up: boolean, reason: string) => void;
}

type Scripted = {
  gwDecide(...args: (string | number)[]): Promise<number[]>;
  gwGiveBack(...args: (string | number)[]): Promise<number>;
  gwUnlock(key: string, value: Buffer): Promise<number>;
};

/**
 * Redis through ioredis (one instance, Sentinel or Cluster). No offline queue and no per-request
 * retries: while Redis is down every call fails at once (StoreUnavailableError) instead of queueing
 * without bound; ioredis reconnects in the background. Scripts run by EVALSHA with the NOSCRIPT
 * fallback to EVAL (ioredis defineCommand), so a restart that flushed the script cache costs one
 * round trip. On a Cluster every limit key carries the hash tag {l}, so a decision over several
 * limits stays one atomic script on one shard (cache values spread over all shards).
 */
export class RedisStore implements Store {
  readonly kind = 'redis' as const;
  readonly client: RedisClient;
  private readonly redis: RedisClient & Scripted;
  private readonly prefix: string;
  private readonly limitPrefix: string;
  private up = false;

  constructor(o: RedisStoreOptions) {
    this.client = connectRedis(o);
    this.redis = this.client as RedisClient & Scripted;
    this.prefix = o.keyPrefix ?? 'gw:';
    this.limitPrefix = this.client instanceof Cluster ? `${this.prefix}{l}:` : `${this.prefix}l:`;
    this.redis.defineCommand('gwDecide', { lua: DECIDE });
    this.redis.defineCommand('gwGiveBack', { lua: GIVE_BACK });
    this.redis.defineCommand('gwUnlock', { numberOfKeys: 1, lua: UNLOCK });
    const state = (up: boolean, reason: string) => {
      if (up === this.up) return;
      this.up = up;
      o.onStateChange?.(up, reason);
    };
    this.client.on('ready', () => state(true, 'ready'));
    this.client.on('close', () => state(false, 'connection closed'));
    this.client.on('end', () => state(false, 'connection ended'));
    this.client.on('error', (e: Error) => state(false, e.message));
  }

  /** Resolves once connected; rejects (StoreUnavailableError) on a wrong password, a bad certificate or after `timeoutMs`. */
  ready(timeoutMs = 5000): Promise<void> {
    return whenReady(this.client, timeoutMs).catch((e: Error) => { throw new StoreUnavailableError(e.message); });
  }

  get isUp(): boolean {
    return this.up;
  }

  /** Decisions asked for in this event-loop turn: sent as one script call (decide.lua takes a batch). */
  private batch: { limits: readonly Limit[]; want: number | readonly number[]; min: number; resolve: (d: Decision) => void; reject: (e: Error) => void }[] = [];

  decide(limits: readonly Limit[], want: number | readonly number[], min: number): Promise<Decision> {
    return new Promise((resolve, reject) => {
      if (this.batch.push({ limits, want, min, resolve, reject }) === 1) setImmediate(() => this.flush());
    });
  }

  private flush(): void {
    const batch = this.batch;
    this.batch = [];
    const keys: string[] = [];
    const args: (string | number)[] = [batch.length];
    for (const d of batch) {
      args.push(d.limits.length);
      d.limits.forEach((l, i) => {
        keys.push(this.limitPrefix + l.key);
        const w = typeof d.want === 'number' ? d.want : d.want[i]!;
        if (l.kind === BUCKET) args.push(0, l.rate, l.burst, w, d.min);
        else args.push(1, l.limit, l.ttlMs, w, d.min);
      });
    }
    this.call(() => this.redis.gwDecide(keys.length, ...keys, ...args)).then((r) => {
      let o = 0;
      for (const d of batch) {
        const n = d.limits.length;
        if (r[o] === 1) d.resolve({ allowed: true, granted: r.slice(o + 1, o + 1 + n), denied: -1, retryAfterMs: 0 });
        else d.resolve({ allowed: false, granted: [], denied: r[o + 1]! - 1, retryAfterMs: r[o + 2]! });
        o += 1 + Math.max(n, 2);
      }
    }, (e: Error) => { for (const d of batch) d.reject(e); });
  }

  async giveBack(limits: readonly Limit[], amounts: readonly number[]): Promise<void> {
    const args: (string | number)[] = [limits.length];
    for (const l of limits) args.push(this.limitPrefix + l.key);
    limits.forEach((l, i) => {
      if (l.kind === BUCKET) args.push(0, l.rate, l.burst, amounts[i]!);
      else args.push(1, l.limit, l.ttlMs, amounts[i]!);
    });
    await this.call(() => this.redis.gwGiveBack(...args));
  }

  async count(key: string): Promise<number> {
    const v = await this.call(() => this.client.get(this.limitPrefix + key));
    return v === null ? 0 : Number(v);
  }

  async get(key: string): Promise<Buffer | null> {
    return this.call(() => this.client.getBuffer(this.prefix + key));
  }

  async set(key: string, value: Buffer, ttlMs: number): Promise<void> {
    await this.call(() => this.client.set(this.prefix + key, value, 'PX', ttlMs));
  }

  async setIfAbsent(key: string, value: Buffer, ttlMs: number): Promise<boolean> {
    return (await this.call(() => this.client.set(this.prefix + key, value, 'PX', ttlMs, 'NX'))) === 'OK';
  }

  async delIfEquals(key: string, value: Buffer): Promise<void> {
    await this.call(() => this.redis.gwUnlock(this.prefix + key, value));
  }

  async delPrefix(prefix: string): Promise<number> {
    const nodes: Redis[] = this.client instanceof Cluster ? this.client.nodes('master') : [this.client];
    let n = 0;
    const match = `${escapeGlob(this.prefix + prefix)}*`;
    for (const node of nodes) {
      let cursor = '0';
      do {
        const [next, keys] = await this.call(() => node.scan(cursor, 'MATCH', match, 'COUNT', 1000));
        cursor = next;
        // One key per UNLINK on a Cluster: keys of one scan batch live in different slots.
        for (const k of keys) n += await this.call(() => node.unlink(k));
      } while (cursor !== '0');
    }
    return n;
  }

  async hget(key: string, field: string): Promise<Buffer | null> {
    return this.call(() => this.client.hgetBuffer(this.prefix + key, field));
  }

  async hset(key: string, field: string, value: Buffer): Promise<void> {
    await this.call(() => this.client.hset(this.prefix + key, field, value));
  }

  async hdel(key: string, field: string): Promise<void> {
    await this.call(() => this.client.hdel(this.prefix + key, field));
  }

  async hgetall(key: string): Promise<Map<string, Buffer>> {
    const r = await this.call(() => this.client.hgetallBuffer(this.prefix + key));
    return new Map(Object.entries(r));
  }

  private sub: RedisClient | null = null;

  /** Messages on `channel` from any node (cache flushes, key changes); re-subscribes after reconnects. */
  subscribe(channel: string, onMessage: (msg: string) => void): void {
    const sub = (this.client as unknown as { duplicate(): RedisClient }).duplicate();
    this.sub = sub;
    const full = this.prefix + channel;
    sub.on('ready', () => void sub.subscribe(full).catch(() => {}));
    sub.on('error', () => {}); // state is reported by the main connection
    sub.on('message', (ch: string, msg: string) => { if (ch === full) onMessage(msg); });
  }

  async publish(channel: string, msg: string): Promise<void> {
    await this.call(() => this.client.publish(this.prefix + channel, msg));
  }

  async close(): Promise<void> {
    this.sub?.disconnect();
    this.client.disconnect();
  }

  /** Any failure (down, timeout, refused while disconnected) becomes StoreUnavailableError. */
  private async call<T>(fn: () => Promise<T>): Promise<T> {
    if (!this.up && this.client.status !== 'ready') throw new StoreUnavailableError('redis: not connected');
    try {
      return await fn();
    } catch (e) {
      throw new StoreUnavailableError(`redis: ${(e as Error).message}`);
    }
  }
}

function escapeGlob(s: string): string {
  return s.replace(/[*?[\]\\]/g, '\\$&');
}
