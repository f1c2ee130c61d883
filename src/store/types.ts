/**
 * Shared state behind throttling, quotas and caching. Two implementations with one contract
 * (test/store/contract.test.ts runs the same suite against both): memory (one process) and Redis
 * (every worker and node). Every Redis call is bounded by a timeout and fails fast while Redis is
 * down (no offline queue); callers decide to fail open or closed.
 */

/** A token bucket (rate tokens/s, capacity burst) or a quota counter (limit per counter lifetime). */
export type Limit =
  | { kind: 0; key: string; rate: number; burst: number }
  | { kind: 1; key: string; limit: number /* -1: count only */; ttlMs: number; /** epoch ms the quota period ends (Retry-After) */ periodEnd?: number };

export const BUCKET = 0 as const;
export const QUOTA = 1 as const;

export interface Decision {
  allowed: boolean;
  /** Units granted per limit (same order), when allowed. */
  granted: number[];
  /** Index of the first limit that denied, -1 when allowed. */
  denied: number;
  /** When a bucket denied: ms until `min` tokens are there. -1 for a quota (its period decides). */
  retryAfterMs: number;
}

export class StoreUnavailableError extends Error {
  override name = 'StoreUnavailableError';
}

export interface Store {
  readonly kind: 'memory' | 'redis';
  /** False while Redis is unreachable (memory: always true); callers skip the call and fall back. */
  readonly isUp: boolean;
  /**
   * One atomic decision over several limits: every limit grants min(want, available) when that is
   * at least `min` for all of them, else nothing is taken anywhere.
   */
  decide(limits: readonly Limit[], want: number | readonly number[], min: number): Promise<Decision>;
  /** Returns unused units of earlier grants (lease mode): buckets capped at burst, counters not below 0. */
  giveBack(limits: readonly Limit[], amounts: readonly number[]): Promise<void>;
  /** A quota counter's value (0 when absent). */
  count(key: string): Promise<number>;
  get(key: string): Promise<Buffer | null>;
  set(key: string, value: Buffer, ttlMs: number): Promise<void>;
  /** Sets only when absent (a fill lock); true when set. */
  setIfAbsent(key: string, value: Buffer, ttlMs: number): Promise<boolean>;
  /** Deletes `key` only while it holds `value` (releasing our lock, never someone else's). */
  delIfEquals(key: string, value: Buffer): Promise<void>;
  /** Hash fields (API key records): one hash per key, fields by id. */
  hget(key: string, field: string): Promise<Buffer | null>;
  hset(key: string, field: string, value: Buffer): Promise<void>;
  hdel(key: string, field: string): Promise<void>;
  hgetall(key: string): Promise<Map<string, Buffer>>;
  /** Deletes every value whose key starts with `prefix` (cache flush); returns how many. */
  delPrefix(prefix: string): Promise<number>;
  close(): Promise<void>;
}
