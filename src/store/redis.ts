import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Redis, type RedisOptions } from 'ioredis';
import { StoreUnavailableError, type Store, type TokenBucketResult } from './types.js';

// The .lua sources stay in src/ (tsc does not copy them); from dist/src/store/ that is ../../../src/store/lua.
const LUA_DIR = fileURLToPath(new URL('../../../src/store/lua/', import.meta.url));
const TOKEN_BUCKET = readFileSync(`${LUA_DIR}token-bucket.lua`, 'utf8');

export interface RedisStoreOptions {
  /** redis://[:password@]host:port[/db] (rediss:// for TLS), or ioredis options. */
  url?: string;
  options?: RedisOptions;
  keyPrefix?: string;
  /** Every command is bounded by this (ms); past it the call fails and the caller falls back. */
  commandTimeoutMs?: number;
  /** Told when Redis becomes reachable or unreachable (log line + metric). */
  onStateChange?: (up: boolean, reason: string) => void;
}

type WithScripts = Redis & { gwTokenBucket(key: string, rate: number, burst: number, cost: number): Promise<[number, number, number]> };

/**
 * Redis through ioredis. No offline queue and no per-request retries: while Redis is down every
 * call fails at once (StoreUnavailableError) instead of queueing without bound; ioredis reconnects
 * in the background with capped backoff. Scripts run by EVALSHA with the NOSCRIPT fallback to EVAL
 * (ioredis defineCommand), so a Redis restart that flushed the script cache costs one round trip.
 */
export class RedisStore implements Store {
  readonly kind = 'redis' as const;
  private readonly redis: WithScripts;
  private up = false;

  constructor(o: RedisStoreOptions) {
    const base: RedisOptions = {
      keyPrefix: o.keyPrefix ?? 'gw:',
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: o.commandTimeoutMs ?? 100,
      connectTimeout: 1000,
      // Reconnect forever, 50 ms doubling to 2 s: Redis coming back is normal.
      retryStrategy: (times) => Math.min(2000, 50 * 2 ** Math.min(times, 6)),
      lazyConnect: false,
      ...o.options,
    };
    this.redis = (o.url !== undefined ? new Redis(o.url, base) : new Redis(base)) as WithScripts;
    this.redis.defineCommand('gwTokenBucket', { numberOfKeys: 1, lua: TOKEN_BUCKET });
    const state = (up: boolean, reason: string) => {
      if (up === this.up) return;
      this.up = up;
      o.onStateChange?.(up, reason);
    };
    this.redis.on('ready', () => state(true, 'ready'));
    this.redis.on('close', () => state(false, 'connection closed'));
    this.redis.on('error', (e: Error) => state(false, e.message));
  }

  /** Resolves once connected (or rejects after `timeoutMs`). */
  ready(timeoutMs = 5000): Promise<void> {
    if (this.redis.status === 'ready') return Promise.resolve();
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => { this.redis.off('ready', ok); reject(new StoreUnavailableError(`redis not ready after ${timeoutMs} ms`)); }, timeoutMs);
      const ok = () => { clearTimeout(t); resolve(); };
      this.redis.once('ready', ok);
    });
  }

  get isUp(): boolean {
    return this.up;
  }

  async takeToken(key: string, ratePerSec: number, burst: number, cost = 1): Promise<TokenBucketResult> {
    const [allowed, retry, remaining] = await this.call(() => this.redis.gwTokenBucket(key, ratePerSec, burst, cost));
    return { allowed: allowed === 1, retryAfterMs: retry, remaining };
  }

  async incr(key: string, by: number, ttlMs: number): Promise<number> {
    // One round trip: INCRBY, and the expiry only on the first increment (NX keeps a running window).
    const r = await this.call(() => this.redis.multi().incrby(key, by).pexpire(key, ttlMs, 'NX').exec());
    const [err, value] = r![0]!;
    if (err) throw err;
    return Number(value);
  }

  async get(key: string): Promise<Buffer | null> {
    return this.call(() => this.redis.getBuffer(key));
  }

  async set(key: string, value: Buffer, ttlMs: number): Promise<void> {
    await this.call(() => this.redis.set(key, value, 'PX', ttlMs));
  }

  async del(key: string): Promise<void> {
    await this.call(() => this.redis.del(key));
  }

  async close(): Promise<void> {
    this.redis.disconnect();
  }

  /** Any failure (down, timeout, refused while disconnected) becomes StoreUnavailableError. */
  private async call<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      throw new StoreUnavailableError(`redis: ${(e as Error).message}`);
    }
  }
}
