import type { HttpResponse } from '../../native/uws.js';
import { Errors } from '../errors.js';
import type { Store } from '../store/types.js';
import type { RequestContext } from '../worker/context.js';
import { hooks, isCorsHeader, resume, sendComplete, sendErrorSync, sendStaticSync, watchAbort } from '../worker/respond.js';
import { decodeEntry, encodeEntry, type CachedResponse } from './entry.js';
import { hashKey, type CacheKeyFn } from './key.js';
import type { L1Cache } from './l1.js';

/**
 * Response caching with AWS REST semantics
 * (https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-caching.html):
 * per route, TTL 300 s by default, GET only unless a route enables another method, entries up to
 * 1 MB, key = method + path + the parameters the route names. `Cache-Control: max-age=0` refreshes
 * the entry for an authorized client (an API key with invalidateCache; anyone when
 * requireAuthorizationForCacheControl is false); others get the stage's
 * unauthorizedCacheControlHeaderStrategy. L1 is this worker's memory, L2 is Redis (msgpackr
 * entries). One fill per key at a time: requests for a key being filled in this worker wait for
 * it, and with Redis a lock makes other workers and nodes wait for the entry instead of calling
 * the integration too. Only 2xx responses without Set-Cookie are stored (AWS caches any status; a
 * cached 5xx or someone's cookie served for 5 minutes is a worse default). `x-cache` says
 * hit, miss or refresh.
 */

export interface CacheRuntime {
  l1: L1Cache | null;
  /** L2 and the fill lock: Redis, or null (memory store: L1 only). */
  store: Store | null;
  maxEntryBytes: number;
  counted: (routeKey: string, kind: 'hit' | 'miss' | 'refresh' | 'bypass') => void;
  /** A refreshed entry: every other worker (and node) drops its L1 copy. */
  evict: (key: string) => void;
}

export interface RouteCacheSpec {
  routeKey: string;
  /** `c:{api}/{stage}:` — everything a stage flush deletes starts with it. */
  prefix: string;
  ttlMs: number;
  methods: ReadonlySet<string>;
  key: CacheKeyFn;
  requireAuthorization: boolean;
  unauthorizedStrategy: 'FAIL_WITH_403' | 'SUCCEED_WITH_RESPONSE_HEADER' | 'SUCCEED_WITHOUT_RESPONSE_HEADER';
  /** The fill lock's lifetime: the integration's timeout (a dead filler's lock expires with it). */
  lockMs: number;
  /** The integration needs an abort handler (the route itself answers hits synchronously). */
  innerAsync: boolean;
}

/** AWS wording is not documented; this says what happened. */
const WARNING = ['warning', '199 - "Cache-Control: max-age=0 ignored: the caller may not invalidate the cache"'];
const POLL_MS = 20;
/** Fill without holding the lock (no Redis, or waited as long as the lock lives). */
const NO_LOCK = Buffer.alloc(0);
let lockSeq = 0;
/** Headers never stored: the request id is per request, framing is uWS's, Date is written fresh. */
const NOT_STORED = new Set(['content-length', 'transfer-encoding', 'connection', 'keep-alive', 'date', 'x-cache']);

type Fill = Promise<CachedResponse | null>;

export function withCache(next: (ctx: RequestContext) => void, spec: RouteCacheSpec, rt: CacheRuntime): (ctx: RequestContext) => void {
  /** Fills in progress in this worker, by key. */
  const fills = new Map<string, Fill>();

  /** L1 keeps entries with their hit headers already appended: a hit allocates nothing for headers. */
  const remember = (k: string, e: CachedResponse): void => {
    rt.l1?.set(k, { ...e, headers: [...e.headers, 'x-cache', 'hit'] });
  };

  /** `e` from L1 (hit headers included) or from a fill/L2 (without). */
  const serve = (ctx: RequestContext, e: CachedResponse, fromL1: boolean, warn: boolean, sync: boolean): void => {
    let h = fromL1 ? e.headers : [...e.headers, 'x-cache', 'hit'];
    if (warn) h = [...h, WARNING[0]!, WARNING[1]!];
    if (sync) sendStaticSync(ctx, e.status, h, e.body);
    else sendComplete(ctx, e.status, h, e.body);
  };

  /**
   * Runs the integration with a recorder on the response; resolves with the entry when cacheable.
   * `lock`: our fill-lock token in Redis (released once the entry is written), null when we hold none.
   */
  const fillNow = (ctx: RequestContext, k: string, result: string, warn: boolean, sync: boolean, lock: Buffer | null): Fill => {
    return new Promise<CachedResponse | null>((resolve) => {
      if (spec.innerAsync) watchAbort(ctx);
      const rec = new Recorder(ctx.res, rt.maxEntryBytes, result, warn, ctx.extraHeaders !== null);
      ctx.res = rec as unknown as HttpResponse;
      ctx.onFinish = () => {
        ctx.res = rec.res;
        const e = rec.entry(spec.ttlMs);
        resolve(e);
        if (e !== null) store(k, e, lock, result === 'refresh');
        else if (lock !== null) unlock(k, lock);
      };
      if (sync) next(ctx);
      else resume(ctx, next);
    });
  };

  const l2Key = (k: string): string => spec.prefix + hashKey(k);

  const unlock = (k: string, lock: Buffer): void => {
    const s = rt.store;
    if (s !== null && s.isUp) void s.delIfEquals(`${l2Key(k)}:lock`, lock).catch(() => {});
  };

  /** L1, then L2 (written before the lock is released, so a waiter that sees the lock gone finds the entry). */
  const store = (k: string, e: CachedResponse, lock: Buffer | null, refreshed: boolean): void => {
    remember(k, e);
    const s = rt.store;
    if (s !== null && s.isUp) void s.set(l2Key(k), encodeEntry(e), spec.ttlMs).catch(() => {}).finally(() => { if (lock !== null) unlock(k, lock); });
    // A refresh replaces an entry other workers may hold in their L1: they drop it. Sent after the
    // L2 write on the same connection, so a worker that hears it and reads L2 gets the new entry.
    if (refreshed) rt.evict(k);
  };

  const readL2 = async (s: Store, k: string): Promise<CachedResponse | null> => {
    const b = await s.get(l2Key(k));
    const e = b === null ? null : decodeEntry(b);
    return e !== null && e.expiresAt > Date.now() ? e : null;
  };

  /**
   * L2 lookup; on a miss the fill lock decides who calls the integration. Whoever takes the lock
   * reads L2 once more (the previous holder may have just written it), so one fill serves every
   * worker and node; the others poll L2 until the entry appears or the lock is free to take.
   * Resolves with an entry, or with the lock token to fill with (NO_LOCK: fill without the lock).
   */
  const fromL2OrFill = async (ctx: RequestContext, k: string): Promise<{ entry: CachedResponse } | { lock: Buffer }> => {
    const s = rt.store;
    if (s === null || !s.isUp) return { lock: NO_LOCK };
    const lockKey = `${l2Key(k)}:lock`;
    const token = Buffer.from(`${process.pid}:${++lockSeq}`);
    try {
      const until = Date.now() + spec.lockMs;
      for (;;) {
        const e = await readL2(s, k);
        if (e !== null) return { entry: e };
        if (await s.setIfAbsent(lockKey, token, spec.lockMs)) {
          const again = await readL2(s, k);
          if (again === null) return { lock: token };
          await s.delIfEquals(lockKey, token);
          return { entry: again };
        }
        // Someone else fills: wait for their entry, at most as long as their lock lives.
        if (Date.now() >= until || ctx.aborted) return { lock: NO_LOCK };
        await new Promise((r) => setTimeout(r, POLL_MS));
      }
    } catch {
      return { lock: NO_LOCK }; // Redis failed mid-way: bypass it
    }
  };

  return function cache(ctx: RequestContext): void {
    if (!spec.methods.has(ctx.method)) {
      if (spec.innerAsync) watchAbort(ctx);
      return next(ctx);
    }
    const k = spec.prefix + spec.key(ctx);
    let refresh = false;
    let warn = false;
    const cc = ctx.header('cache-control');
    if (cc !== undefined && /(^|[\s,])max-age\s*=\s*0(?![0-9])/i.test(cc)) {
      if (!spec.requireAuthorization || (ctx.apiKey !== null && ctx.apiKey.invalidateCache)) refresh = true;
      else if (spec.unauthorizedStrategy === 'FAIL_WITH_403') {
        rt.counted(spec.routeKey, 'bypass');
        return sendErrorSync(ctx, Errors.FORBIDDEN, ctx.contentLength > 0 || ctx.chunked);
      } else warn = spec.unauthorizedStrategy === 'SUCCEED_WITH_RESPONSE_HEADER';
    }
    if (!refresh) {
      const e = rt.l1?.get(k, Date.now()) ?? null;
      if (e !== null) {
        rt.counted(spec.routeKey, 'hit');
        return serve(ctx, e, true, warn, true);
      }
      const pending = fills.get(k);
      if (pending !== undefined) {
        if (spec.innerAsync) watchAbort(ctx);
        void pending.then((e) => {
          if (ctx.aborted || ctx.done) return;
          if (e !== null) { rt.counted(spec.routeKey, 'hit'); serve(ctx, e, false, warn, false); }
          else { rt.counted(spec.routeKey, 'miss'); void fillNow(ctx, k, 'miss', warn, false, null); }
        });
        return;
      }
    }
    const result = refresh ? 'refresh' : 'miss';
    // No Redis, or an authorized refresh (it asked for the integration, not for someone's entry): fill now.
    if (rt.store === null || !rt.store.isUp || refresh) {
      rt.counted(spec.routeKey, result);
      const f = fillNow(ctx, k, result, warn, true, null);
      if (!refresh) track(k, f);
      return;
    }
    watchAbort(ctx); // the L2 lookup is asynchronous
    let settle!: (e: CachedResponse | null) => void;
    const mine: Fill = new Promise((r) => { settle = r; });
    track(k, mine);
    void fromL2OrFill(ctx, k).then((r) => {
      if ('lock' in r) {
        const lock = r.lock.length > 0 ? r.lock : null;
        rt.counted(spec.routeKey, result);
        if (ctx.aborted || ctx.done) {
          if (lock !== null) unlock(k, lock);
          return settle(null);
        }
        void fillNow(ctx, k, result, warn, false, lock).then(settle);
        return;
      }
      const got = r.entry;
      remember(k, got);
      settle(got);
      if (ctx.aborted || ctx.done) return;
      rt.counted(spec.routeKey, 'hit');
      serve(ctx, got, false, warn, false);
    });
  };

  function track(k: string, f: Fill): void {
    fills.set(k, f);
    void f.then(() => { if (fills.get(k) === f) fills.delete(k); });
  }
}

/**
 * Stands in for the uWS response while an integration answers a cache miss: forwards every call
 * and keeps a copy of status, headers and body (up to the entry limit). tryEnd may accept only part
 * of a chunk; the write offset before and after tells how much.
 */
class Recorder {
  status = 0;
  readonly headers: string[] = [];
  private readonly chunks: Buffer[] = [];
  private size = 0;
  private complete = false;
  private cacheable = true;

  /** `cors`: the API answers CORS itself: its per-origin headers are not part of the entry. */
  constructor(readonly res: HttpResponse, private readonly max: number, private readonly result: string, private readonly warn: boolean, private readonly cors: boolean) {}

  entry(ttlMs: number): CachedResponse | null {
    if (!this.complete || !this.cacheable || this.status < 200 || this.status > 299) return null;
    const now = Date.now();
    return { status: this.status, headers: this.headers, body: Buffer.concat(this.chunks, this.size), storedAt: now, expiresAt: now + ttlMs };
  }

  private keep(chunk: string | ArrayBuffer | ArrayBufferView | undefined, n = -1): void {
    if (!this.cacheable || chunk === undefined) return;
    const b = typeof chunk === 'string' ? Buffer.from(chunk)
      : ArrayBuffer.isView(chunk) ? Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength) : Buffer.from(chunk);
    const part = n >= 0 && n < b.length ? b.subarray(0, n) : b;
    if (this.size + part.length > this.max) { this.cacheable = false; this.chunks.length = 0; return; }
    this.chunks.push(Buffer.from(part)); // a copy: uWS and the upstream parser reuse their buffers
    this.size += part.length;
  }

  writeStatus(s: string): this {
    this.status = parseInt(s, 10);
    // The proxy writes its whole head in one call ("200 OK\r\nname: value\r\n..."): those lines are headers.
    for (let i = s.indexOf('\r\n'); i !== -1;) {
      const next = s.indexOf('\r\n', i + 2);
      const line = next === -1 ? s.slice(i + 2) : s.slice(i + 2, next);
      const c = line.indexOf(':');
      if (c > 0) this.record(line.slice(0, c), line.slice(c + 1).trim());
      i = next;
    }
    this.res.writeStatus(s);
    this.res.writeHeader('x-cache', this.result);
    if (this.warn) this.res.writeHeader(WARNING[0]!, WARNING[1]!);
    return this;
  }

  writeHeader(k: string, v: string): this {
    this.record(k, v);
    this.res.writeHeader(k, v);
    return this;
  }

  private record(k: string, v: string): void {
    const name = k.toLowerCase();
    if (name === 'set-cookie') this.cacheable = false;
    else if (this.cors && (isCorsHeader(name) || (name === 'vary' && v === 'origin'))) { /* written per request */ }
    else if (!NOT_STORED.has(name) && name !== hooks.requestIdHeader) this.headers.push(name, v);
  }

  write(chunk: string | ArrayBuffer | ArrayBufferView): boolean {
    this.keep(chunk);
    return this.res.write(chunk as never);
  }

  end(chunk?: string | ArrayBuffer | ArrayBufferView, close?: boolean): this {
    this.keep(chunk);
    this.complete = true;
    this.res.end(chunk as never, close);
    return this;
  }

  tryEnd(chunk: string | ArrayBuffer | ArrayBufferView, total: number): [boolean, boolean] {
    const before = this.res.getWriteOffset();
    const r = this.res.tryEnd(chunk as never, total);
    if (r[0] || r[1]) this.keep(chunk);
    else this.keep(chunk, this.res.getWriteOffset() - before);
    if (r[1]) this.complete = true;
    return r;
  }

  endWithoutBody(): this {
    this.complete = true;
    this.res.endWithoutBody();
    return this;
  }

  close(): this { this.cacheable = false; this.res.close(); return this; }
  cork(cb: () => void): this { this.res.cork(cb); return this; }
  getWriteOffset(): number { return this.res.getWriteOffset(); }
  onWritable(h: (offset: number) => boolean): this { this.res.onWritable(h); return this; }
  onAborted(h: () => void): this { this.res.onAborted(h); return this; }
  onData(h: (chunk: ArrayBuffer, isLast: boolean) => void): this { this.res.onData(h); return this; }
  pause(): void { this.res.pause(); }
  resume(): void { this.res.resume(); }
  getRemoteAddress(): ArrayBuffer { return this.res.getRemoteAddress(); }
  getRemoteAddressAsText(): ArrayBuffer { return this.res.getRemoteAddressAsText(); }
}

