import { MemoryStore } from '../store/memory.js';
import { BUCKET, type Decision, type Limit, type Store } from '../store/types.js';

/** Why a request was refused; null = admitted. */
export interface Denial {
  /** 'throttle': a token bucket; 'quota': a usage-plan quota; 'unavailable': Redis down with failMode closed. */
  reason: 'throttle' | 'quota' | 'unavailable';
  /** Index of the limit that refused (-1 for unavailable). */
  index: number;
  /** Bucket: ms until a token is there; quota: -1 (the caller knows the period end). */
  retryAfterMs: number;
}

export type Verdict = Denial | null;

export interface LimiterOptions {
  /** exact: one store decision per request; lease: local batches of tokens (redis only). */
  mode: 'exact' | 'lease';
  failMode: 'open' | 'closed';
  leaseMs: number;
  /** Counts store failures (metric). */
  onStoreError?: () => void;
}

const UNAVAILABLE: Denial = Object.freeze({ reason: 'unavailable', index: -1, retryAfterMs: -1 }) as Denial;

interface Lease {
  limit: Limit;
  /** Units held locally, usable until `expires`. */
  tokens: number;
  expires: number;
  /** After the store refused: refuse locally until then, without asking again. */
  deniedUntil: number;
  denial: Denial | null;
  pending: Promise<void> | null;
  lastUsed: number;
}

/**
 * Admission over a request's limits.
 *
 * - memory store: a synchronous decision in this process.
 * - redis, exact: one atomic script call per request over all its limits (decide.lua).
 * - redis, lease: each worker takes up to `rate x leaseMs` tokens per bucket at once and admits
 *   from them locally (no Redis call on most requests); what a lease did not use goes back to Redis
 *   after leaseMs. Accuracy bound (README): at most one lease per limit per worker is out at a
 *   time, so admissions in any window differ from exact mode by at most (workers across all
 *   nodes) x lease size; they exceed the bucket's own bound (burst + rate x window) by at most one
 *   lease period's worth (rate x leaseMs).
 *
 * With Redis unreachable every decision falls back at once (no waiting): failMode open admits,
 * closed refuses with 'unavailable'.
 */
export class Limiter {
  private readonly leases = new Map<string, Lease>();
  private readonly sweeper: NodeJS.Timeout | null = null;
  private readonly memory: MemoryStore | null;

  constructor(private readonly store: Store, private readonly o: LimiterOptions) {
    this.memory = store instanceof MemoryStore ? store : null;
    if (this.memory === null && o.mode === 'lease') {
      this.sweeper = setInterval(() => this.sweep(), Math.max(5, Math.floor(o.leaseMs / 2)));
      this.sweeper.unref();
    }
  }

  /** A verdict now when it can be had without I/O, else a promise of one. */
  check(limits: readonly Limit[]): Verdict | Promise<Verdict> {
    if (this.memory !== null) {
      const d = this.memory.admitSync(limits);
      return d === null ? null : verdictOf(d);
    }
    if (!this.store.isUp) return this.fallback();
    if (this.o.mode === 'exact') {
      return this.store.decide(limits, 1, 1).then(verdictOf, () => {
        this.o.onStoreError?.();
        return this.fallback();
      });
    }
    return this.checkLeased(limits, 0);
  }

  private fallback(): Verdict {
    return this.o.failMode === 'open' ? null : UNAVAILABLE;
  }

  private checkLeased(limits: readonly Limit[], round: number): Verdict | Promise<Verdict> {
    const now = Date.now();
    let need: Lease[] | null = null;
    let waitFor: Promise<void>[] | null = null;
    for (let i = 0; i < limits.length; i++) {
      const l = limits[i]!;
      let le = this.leases.get(l.key);
      if (le === undefined) {
        le = { limit: l, tokens: 0, expires: 0, deniedUntil: 0, denial: null, pending: null, lastUsed: now };
        this.leases.set(l.key, le);
      }
      le.lastUsed = now;
      if (le.deniedUntil > now) return { ...le.denial!, index: i };
      if (le.tokens >= 1 && le.expires > now) continue;
      if (le.pending !== null) (waitFor ??= []).push(le.pending);
      else (need ??= []).push(le);
    }
    if (need === null && waitFor === null) {
      for (let i = 0; i < limits.length; i++) this.leases.get(limits[i]!.key)!.tokens--;
      return null;
    }
    // Another request is already fetching some of these, or they were just fetched and used up by
    // others: after a few rounds this request asks the store for exactly its own unit (exact mode's
    // decision), so it is never admitted without a unit and never waits without bound.
    if (round >= 3) {
      return this.store.decide(limits, 1, 1).then(verdictOf, () => {
        this.o.onStoreError?.();
        return this.fallback();
      });
    }
    const waits = waitFor ?? [];
    if (need !== null) waits.push(this.fetch(need, now));
    return Promise.all(waits).then(() => this.checkLeased(limits, round + 1), () => this.fallback());
  }

  private fetch(need: Lease[], now: number): Promise<void> {
    // Units of an expired lease the sweeper has not returned yet go back now, not into the new lease.
    const stale = need.filter((le) => le.expires <= now && le.tokens >= 1);
    if (stale.length > 0) {
      void this.store.giveBack(stale.map((le) => le.limit), stale.map((le) => Math.floor(le.tokens))).catch(() => this.o.onStoreError?.());
      for (const le of stale) le.tokens = 0;
    }
    const limits = need.map((le) => le.limit);
    const want = need.map((le) => leaseSize(le.limit, this.o.leaseMs, limits));
    const p = this.store.decide(limits, want, 1).then(
      (d) => {
        for (const le of need) le.pending = null;
        if (d.allowed) {
          const expires = Date.now() + this.o.leaseMs;
          need.forEach((le, i) => {
            le.tokens = (le.expires > now ? le.tokens : 0) + d.granted[i]!;
            le.expires = expires;
          });
        } else {
          const le = need[d.denied]!;
          const v = verdictOf(d)!;
          le.denial = v;
          // A quota stays spent until its period ends or another worker gives units back: ask again in 1 s.
          le.deniedUntil = Date.now() + (v.retryAfterMs >= 0 ? v.retryAfterMs : 1000);
        }
      },
      (e) => {
        for (const le of need) le.pending = null;
        this.o.onStoreError?.();
        throw e;
      },
    );
    for (const le of need) le.pending = p;
    return p;
  }

  /** Returns what expired leases did not use; forgets leases idle for a while. */
  private sweep(): void {
    const now = Date.now();
    const back: Limit[] = [];
    const amounts: number[] = [];
    for (const [k, le] of this.leases) {
      if (le.pending !== null || le.expires > now) continue;
      if (le.tokens >= 1) {
        back.push(le.limit);
        amounts.push(Math.floor(le.tokens));
        le.tokens = 0;
      }
      if (now - le.lastUsed > 10 * this.o.leaseMs + 1000 && le.deniedUntil <= now) this.leases.delete(k);
    }
    if (back.length > 0 && this.store.isUp) void this.store.giveBack(back, amounts).catch(() => this.o.onStoreError?.());
  }

  /** Gives every held unit back (drain/shutdown), so usage counts stay exact. */
  async close(): Promise<void> {
    if (this.sweeper !== null) clearInterval(this.sweeper);
    const back: Limit[] = [];
    const amounts: number[] = [];
    for (const le of this.leases.values()) {
      // Expired or not: whatever was not used goes back (the sweeper may not have run yet).
      if (le.tokens >= 1) { back.push(le.limit); amounts.push(Math.floor(le.tokens)); }
      le.tokens = 0;
    }
    this.leases.clear();
    if (back.length > 0 && this.store.isUp) await this.store.giveBack(back, amounts).catch(() => {});
  }
}

/**
 * Lease size: a bucket's rate x leaseMs (at least 1, at most its burst). A quota counter takes the
 * largest bucket lease of the same request (it is used at that pace), at most 1% of its limit.
 */
export function leaseSize(l: Limit, leaseMs: number, all: readonly Limit[]): number {
  if (l.kind === BUCKET) return Math.max(1, Math.min(l.burst, Math.ceil((l.rate * leaseMs) / 1000)));
  let n = 1;
  for (const o of all) if (o.kind === BUCKET) n = Math.max(n, leaseSize(o, leaseMs, all));
  return l.limit < 0 ? n : Math.max(1, Math.min(n, Math.floor(l.limit / 100)));
}

function verdictOf(d: Decision): Verdict {
  if (d.allowed) return null;
  return { reason: d.retryAfterMs < 0 ? 'quota' : 'throttle', index: d.denied, retryAfterMs: d.retryAfterMs };
}
