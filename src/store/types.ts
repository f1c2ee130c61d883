/**
 * Shared state behind throttling, quotas and caching. Two implementations with one contract
 * (test/store/contract.test.ts runs the same suite against both): memory (one process) and Redis
 * (every worker and node). Every Redis call is bounded by a timeout and fails fast while Redis is
 * down (no offline queue); callers decide to fail open or closed.
 */

export interface TokenBucketResult {
  allowed: boolean;
  /** When denied: ms until `cost` tokens are there again. 0 when allowed. */
  retryAfterMs: number;
  /** Whole tokens left after this decision. */
  remaining: number;
}

export class StoreUnavailableError extends Error {
  override name = 'StoreUnavailableError';
}

export interface Store {
  readonly kind: 'memory' | 'redis';
  /** Takes `cost` tokens from the bucket `key` (rate tokens per second, capacity `burst`), atomically. */
  takeToken(key: string, ratePerSec: number, burst: number, cost?: number): Promise<TokenBucketResult>;
  /** Adds `by` to a counter and returns the new value; the counter expires `ttlMs` after it was created. */
  incr(key: string, by: number, ttlMs: number): Promise<number>;
  get(key: string): Promise<Buffer | null>;
  set(key: string, value: Buffer, ttlMs: number): Promise<void>;
  del(key: string): Promise<void>;
  close(): Promise<void>;
}
