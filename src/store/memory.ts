import { BUCKET, type Decision, type Limit, type Store } from './types.js';

const ADMITTED: Decision = Object.freeze({ allowed: true, granted: [], denied: -1, retryAfterMs: 0 }) as Decision;

/**
 * One process's state: with several workers and no Redis, each worker has its own buckets and
 * counters, so every limit applies per worker (the README says so). Decisions are synchronous
 * (decideSync), the same algorithm as decide.lua on this process's clock.
 */
export class MemoryStore implements Store {
  readonly kind = 'memory' as const;
  readonly isUp = true;
  private readonly buckets = new Map<string, { tokens: number; ts: number; expires: number }>();
  private readonly values = new Map<string, { value: Buffer | number; expires: number }>();
  private readonly hashes = new Map<string, Map<string, Buffer>>();
  private readonly sweeper: NodeJS.Timeout;
  /** Scratch for decideSync (no allocation per decision beyond the result). */
  private readonly avail: number[] = [];

  constructor(private readonly now: () => number = Date.now) {
    // Expired entries go on a timer as well as on read, so keys never touched again cannot pile up.
    this.sweeper = setInterval(() => this.sweep(), 1000);
    this.sweeper.unref();
  }

  async decide(limits: readonly Limit[], want: number | readonly number[], min: number): Promise<Decision> {
    return this.decideSync(limits, want, min);
  }

  decideSync(limits: readonly Limit[], wantAll: number | readonly number[], min: number, report = true): Decision {
    const now = this.now();
    const avail = this.avail;
    for (let i = 0; i < limits.length; i++) {
      const l = limits[i]!;
      const want = typeof wantAll === 'number' ? wantAll : wantAll[i]!;
      if (l.kind === BUCKET) {
        const b = this.bucket(l.key, l.burst, now);
        const tokens = Math.min(l.burst, b.tokens + (Math.max(0, now - b.ts) * l.rate) / 1000);
        if (Math.min(want, Math.floor(tokens)) < min) {
          return { allowed: false, granted: [], denied: i, retryAfterMs: Math.ceil(((min - tokens) * 1000) / l.rate) };
        }
        avail[i] = tokens;
      } else {
        const used = this.counter(l.key, now);
        const g = l.limit < 0 ? want : Math.min(want, l.limit - used);
        if (g < min) return { allowed: false, granted: [], denied: i, retryAfterMs: -1 };
        avail[i] = g;
      }
    }
    const granted: number[] | null = report ? new Array(limits.length) : null;
    for (let i = 0; i < limits.length; i++) {
      const l = limits[i]!;
      if (l.kind === BUCKET) {
        const b = this.buckets.get(l.key)!;
        const g = Math.min(typeof wantAll === 'number' ? wantAll : wantAll[i]!, Math.floor(avail[i]!));
        b.tokens = avail[i]! - g;
        b.ts = now;
        b.expires = now + Math.ceil((l.burst * 1000) / l.rate) + 1000;
        if (granted !== null) granted[i] = g;
      } else {
        const g = avail[i]!;
        const e = this.values.get(l.key);
        if (e === undefined || typeof e.value !== 'number' || e.expires <= now) this.values.set(l.key, { value: g, expires: now + l.ttlMs });
        else { e.value += g; e.expires = now + l.ttlMs; }
        if (granted !== null) granted[i] = g;
      }
    }
    return granted === null ? ADMITTED : { allowed: true, granted, denied: -1, retryAfterMs: 0 };
  }

  /** decideSync(limits, 1, 1) for the hot path: null when admitted, nothing allocated then. */
  admitSync(limits: readonly Limit[]): Decision | null {
    const d = this.decideSync(limits, 1, 1, false);
    return d === ADMITTED ? null : d;
  }

  async giveBack(limits: readonly Limit[], amounts: readonly number[]): Promise<void> {
    const now = this.now();
    for (let i = 0; i < limits.length; i++) {
      const l = limits[i]!;
      if (l.kind === BUCKET) {
        const b = this.buckets.get(l.key);
        if (b === undefined) continue;
        b.tokens = Math.min(l.burst, b.tokens + (Math.max(0, now - b.ts) * l.rate) / 1000 + amounts[i]!);
        b.ts = now;
      } else {
        const e = this.values.get(l.key);
        if (e !== undefined && typeof e.value === 'number') e.value = Math.max(0, e.value - amounts[i]!);
      }
    }
  }

  async count(key: string): Promise<number> {
    return this.counter(key, this.now());
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

  async setIfAbsent(key: string, value: Buffer, ttlMs: number): Promise<boolean> {
    if ((await this.get(key)) !== null) return false;
    await this.set(key, value, ttlMs);
    return true;
  }

  async delIfEquals(key: string, value: Buffer): Promise<void> {
    const v = await this.get(key);
    if (v !== null && v.equals(value)) this.values.delete(key);
  }

  async delPrefix(prefix: string): Promise<number> {
    let n = 0;
    for (const k of this.values.keys()) if (k.startsWith(prefix)) { this.values.delete(k); n++; }
    return n;
  }

  async hget(key: string, field: string): Promise<Buffer | null> {
    return this.hashes.get(key)?.get(field) ?? null;
  }

  async hset(key: string, field: string, value: Buffer): Promise<void> {
    let h = this.hashes.get(key);
    if (h === undefined) this.hashes.set(key, (h = new Map()));
    h.set(field, value);
  }

  async hdel(key: string, field: string): Promise<void> {
    this.hashes.get(key)?.delete(field);
  }

  async hgetall(key: string): Promise<Map<string, Buffer>> {
    return new Map(this.hashes.get(key) ?? []);
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    this.buckets.clear();
    this.values.clear();
    this.hashes.clear();
  }

  private bucket(key: string, burst: number, now: number): { tokens: number; ts: number; expires: number } {
    let b = this.buckets.get(key);
    if (b === undefined || b.expires <= now) this.buckets.set(key, (b = { tokens: burst, ts: now, expires: 0 }));
    return b;
  }

  private counter(key: string, now: number): number {
    const e = this.values.get(key);
    return e === undefined || typeof e.value !== 'number' || e.expires <= now ? 0 : e.value;
  }

  private sweep(): void {
    const now = this.now();
    for (const [k, b] of this.buckets) if (b.expires <= now) this.buckets.delete(k);
    for (const [k, e] of this.values) if (e.expires <= now) this.values.delete(k);
  }
}
