import { createHash, randomBytes } from 'node:crypto';
import { pack, unpack } from 'msgpackr';
import type { Store } from '../store/types.js';

/**
 * API keys. A key is known by the SHA-256 of its value: config keys are hashed at load, keys made
 * through the admin API are stored hashed (the value is shown once, at creation). Records live in
 * the store's hash `apikeys` (field = value hash), so every worker and node sees them.
 */

export interface ApiKeyRecord {
  id: string;
  name: string;
  usagePlans: string[];
  enabled: boolean;
  invalidateCache: boolean;
  source: 'config' | 'api';
  createdDate: string;
  /** hex SHA-256 of the value. */
  hash: string;
}

export const KEYS_HASH = 'apikeys';

export function hashKey(value: string): string {
  return createHash('sha256').update(value).digest('hex');
}

/** Config keys without an id get one derived from the value: stable across restarts and nodes, reveals nothing usable. */
export function derivedKeyId(hash: string): string {
  return `k${hash.slice(0, 12)}`;
}

/** A new key value: 40 characters of base64url from 30 random bytes (AWS values are 40 characters too). */
export function newKeyValue(): string {
  return randomBytes(30).toString('base64url');
}

export function encodeKey(r: ApiKeyRecord): Buffer {
  return pack(r);
}

export function decodeKey(b: Buffer): ApiKeyRecord | null {
  try {
    const r = unpack(b) as ApiKeyRecord;
    return r !== null && typeof r === 'object' && typeof r.id === 'string' && typeof r.hash === 'string' && Array.isArray(r.usagePlans) ? r : null;
  } catch {
    return null;
  }
}

/** Positive answers from the store are trusted this long: a revocation on another node takes effect within it. */
export const KEY_CACHE_MS = 5000;
/** Unknown values are remembered this long, so a flood of wrong keys costs one store read per second each. */
const NEGATIVE_CACHE_MS = 1000;
const CACHE_MAX = 10_000;

/**
 * A worker's view of the keys: config keys (always there), and store keys cached for KEY_CACHE_MS.
 * Lookups are synchronous when the answer is cached, so a hot key costs a hash and a Map lookup.
 */
export class KeyRegistry {
  private readonly config = new Map<string, ApiKeyRecord>();
  /** Memory store: keys the master pushed (created through the admin API); never evicted. */
  private readonly pushed = new Map<string, ApiKeyRecord>();
  private readonly cache = new Map<string, { record: ApiKeyRecord | null; expires: number }>();
  private readonly pending = new Map<string, Promise<ApiKeyRecord | null>>();
  /** Last value -> hash: most traffic repeats a few keys, and SHA-256 costs ~1 us. */
  private lastValue = '';
  private lastHash = '';

  constructor(configKeys: readonly ApiKeyRecord[], private readonly store: Store | null) {
    for (const k of configKeys) this.config.set(k.hash, k);
  }

  hashOf(value: string): string {
    if (value !== this.lastValue) {
      this.lastHash = hashKey(value);
      this.lastValue = value;
    }
    return this.lastHash;
  }

  /** The record for a presented value (null: unknown), now when known, else a promise. */
  lookup(value: string): ApiKeyRecord | null | Promise<ApiKeyRecord | null> {
    const hash = this.hashOf(value);
    const c = this.config.get(hash);
    // Looked up by SHA-256 of the value: timing reveals at most hash prefixes, never the value.
    if (c !== undefined) return c;
    if (this.store === null) return this.pushed.get(hash) ?? null;
    const now = Date.now();
    const e = this.cache.get(hash);
    if (e !== undefined && e.expires > now) return e.record;
    if (!this.store.isUp) return e?.record ?? null;
    let p = this.pending.get(hash);
    if (p === undefined) {
      p = this.store.hget(KEYS_HASH, hash).then(
        (b) => this.remember(hash, b === null ? null : decodeKey(b)),
        () => e?.record ?? null, // store down: the last known answer
      ).finally(() => this.pending.delete(hash));
      this.pending.set(hash, p);
    }
    return p;
  }

  /** Told by the admin API (IPC or pub/sub) that a key changed: the next lookup reads the store. */
  invalidate(hash: string): void {
    this.cache.delete(hash);
  }

  /** Memory store: the master pushes records (null: revoked), there is nothing to read back. */
  put(r: ApiKeyRecord | null, hash: string): void {
    if (r === null) this.pushed.delete(hash);
    else this.pushed.set(hash, r);
  }

  private remember(hash: string, record: ApiKeyRecord | null, ttl = record === null ? NEGATIVE_CACHE_MS : KEY_CACHE_MS): ApiKeyRecord | null {
    if (this.cache.size >= CACHE_MAX) this.cache.clear();
    this.cache.set(hash, { record, expires: Date.now() + ttl });
    return record;
  }
}
