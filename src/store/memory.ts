import type { Store, TokenBucketResult } from './types.js';

/**
 * One process's state: with several workers and no Redis, each worker has its own buckets, so a
 * limit of N req/s admits up to N per worker (workers × N in all); the README says so.
 */
export class MemoryStore implements Store {
  readonly kind = 'memory' as const;
  private readonly buckets = new Map<string, { tokens: number; ts: number; expires: number }>();
  private readonly values = new Map<string, { value: Buffer | number; expires: number }>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(private readonly now: () => number = Date.now) {
    // Expired entries go on a timer as well as on read, so keys never touched again cannot pile up.
    this.sweeper = setInterval(() => this.sweep(), 1000);
    this.sweeper.unref();
  }

  async takeToken(key: string, ratePerSec: number, burst: number, cost = 1): Promise<TokenBucketResult> {
    return this.takeTokenSync(key, ratePerSec, burst, cost);
  }

  /** The same decision as token-bucket.lua, on this process's clock. */
  takeTokenSync(key: string, ratePerSec: number, burst: number, cost = 1): TokenBucketResult {
    const now = this.now();
    let b = this.buckets.get(key);
    if (b === undefined || b.expires <= now) this.buckets.set(key, (b = { tokens: burst, ts: now, expires: 0 }));
    b.tokens = Math.min(burst, b.tokens + (Math.max(0, now - b.ts) * ratePerSec) / 1000);
    b.ts = now;
    b.expires = now + Math.ceil((burst * 1000) / ratePerSec) + 1000;
    if (b.tokens >= cost) {
      b.tokens -= cost;
      return { allowed: true, retryAfterMs: 0, remaining: Math.floor(b.tokens) };
    }
    return { allowed: false, retryAfterMs: Math.ceil(((cost - b.tokens) * 1000) / ratePerSec), remaining: Math.floor(b.tokens) };
  }

  async incr(key: string, by: number, ttlMs: number): Promise<number> {
    const now = this.now();
    const e = this.values.get(key);
    if (e === undefined || e.expires <= now || typeof e.value !== 'number') {
      this.values.set(key, { value: by, expires: now + ttlMs });
      return by;
    }
    e.value += by;
    return e.value;
  }

  async get(key: string): Promise<Buffer | null> {
    const e = this.values.get(key);
    if (e === undefined || typeof e.value === 'number') return null;
    if (e.expires <= this.now()) {
      this.values.delete(key);
      return null;
    }
    return e.value;
  }

  async set(key: string, value: Buffer, ttlMs: number): Promise<void> {
    this.values.set(key, { value, expires: this.now() + ttlMs });
  }

  async del(key: string): Promise<void> {
    this.values.delete(key);
    this.buckets.delete(key);
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    this.buckets.clear();
    this.values.clear();
  }

  private sweep(): void {
    const now = this.now();
    for (const [k, b] of this.buckets) if (b.expires <= now) this.buckets.delete(k);
    for (const [k, e] of this.values) if (e.expires <= now) this.values.delete(k);
  }
}
