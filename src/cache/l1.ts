/**
 * The per-process response cache: small, bounded by bytes and entries, least-recently-used first out.
 * No timers: expired entries go on read or by eviction, so the cache never keeps the process alive.
 */
import { type CachedResponse, entrySize } from './entry.js';

export interface L1Options {
  /** Total bytes (entrySize + key length) kept at most. */
  maxBytes: number;
  /** Entries kept at most. */
  maxEntries: number;
}

interface Slot {
  entry: CachedResponse;
  cost: number;
}

export class L1Cache {
  readonly maxBytes: number;
  readonly maxEntries: number;
  // A Map iterates in insertion order: re-inserting on hit makes the first key the least recently used.
  readonly #map = new Map<string, Slot>();
  #bytes = 0;
  #hits = 0;
  #misses = 0;
  #evictions = 0;

  constructor({ maxBytes, maxEntries }: L1Options) {
    if (!Number.isSafeInteger(maxBytes) || maxBytes <= 0) throw new RangeError(`L1Cache maxBytes must be a positive integer, got ${maxBytes}`);
    if (!Number.isSafeInteger(maxEntries) || maxEntries <= 0) throw new RangeError(`L1Cache maxEntries must be a positive integer, got ${maxEntries}`);
    this.maxBytes = maxBytes;
    this.maxEntries = maxEntries;
  }

  /** The live entry for `key` at `now` (epoch ms), or null; an expired entry is dropped. */
  get(key: string, now: number): CachedResponse | null {
    const slot = this.#map.get(key);
    if (slot === undefined) {
      this.#misses++;
      return null;
    }
    this.#map.delete(key);
    if (slot.entry.expiresAt <= now) {
      this.#bytes -= slot.cost;
      this.#misses++;
      return null;
    }
    this.#map.set(key, slot);
    this.#hits++;
    return slot.entry;
  }

  /**
   * Stores `entry` as the most recently used, evicting the least recently used until both bounds hold.
   * Returns false when the entry is too large to keep (over maxBytes / 4, so one response cannot flush
   * the cache); any older entry under `key` is dropped all the same, so it is never served again.
   */
  set(key: string, entry: CachedResponse): boolean {
    const old = this.#map.get(key);
    if (old !== undefined) {
      this.#map.delete(key);
      this.#bytes -= old.cost;
    }
    const cost = entrySize(entry) + key.length;
    if (cost > this.maxBytes / 4) return false;
    const body = entry.body;
    // A body that is a slice of a larger buffer (a socket chunk, a Redis reply, the 8 KiB Buffer pool)
    // would pin all of it for the entry's lifetime: keep a copy in memory of its own instead.
    if (body.buffer.byteLength > body.length * 2) {
      const own = Buffer.allocUnsafeSlow(body.length);
      body.copy(own);
      entry = { ...entry, body: own };
    }
    this.#map.set(key, { entry, cost });
    this.#bytes += cost;
    if (this.#bytes > this.maxBytes || this.#map.size > this.maxEntries) this.#evict();
    return true;
  }

  #evict(): void {
    for (const [key, slot] of this.#map) {
      if (this.#bytes <= this.maxBytes && this.#map.size <= this.maxEntries) return;
      this.#map.delete(key);
      this.#bytes -= slot.cost;
      this.#evictions++;
    }
  }

  /** Whether an entry was there. */
  delete(key: string): boolean {
    const slot = this.#map.get(key);
    if (slot === undefined) return false;
    this.#map.delete(key);
    this.#bytes -= slot.cost;
    return true;
  }

  /** Drops every key starting with `prefix` (a stage's cache flush); returns how many. */
  deletePrefix(prefix: string): number {
    let n = 0;
    for (const [key, slot] of this.#map) {
      if (key.startsWith(prefix)) {
        this.#map.delete(key); // deleting the current key while iterating a Map is safe
        this.#bytes -= slot.cost;
        n++;
      }
    }
    return n;
  }

  /** Drops every entry; counters are kept. */
  clear(): void {
    this.#map.clear();
    this.#bytes = 0;
  }

  get size(): number {
    return this.#map.size;
  }

  get bytes(): number {
    return this.#bytes;
  }

  get hits(): number {
    return this.#hits;
  }

  get misses(): number {
    return this.#misses;
  }

  /** Entries pushed out by the bounds (not expiries, deletes or replacements). */
  get evictions(): number {
    return this.#evictions;
  }
}
