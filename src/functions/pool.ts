/**
 * The function threads of one worker process: a small worker_threads pool of our own, written
 * because piscina's per-task cost decided the function integration's throughput. Measured with
 * bench/function-pool.ts (hello handler, 2 threads, uWS + autocannon c50, 2 shared cores): piscina
 * ~25k req/s at 44 µs CPU per invocation; this design ~72-82k at 13-15 µs. What it does:
 * - Batching: invocations issued in one event-loop turn of the uWS thread go to a thread as one
 *   message (flushed in setImmediate: uWS runs a microtask checkpoint after every request, so a
 *   microtask flush would send one message per request); threads answer in batches too.
 * - Bodies move in the transfer lists, both ways.
 * - Timeouts are deadlines checked by one sweep timer (a per-call AbortController + timer cost
 *   ~3.6 µs). A timed-out invocation fails with 'timeout' and its thread is terminated (V8 stops
 *   even a `for(;;){}`) and replaced; the thread's other in-flight invocations fail with
 *   'thread_died'. A thread that exits on its own is replaced the same way.
 */
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Functions } from '../config/index.js';
import type { AuthorizeReply, AuthorizeRequest, EventInvokeReply, EventInvokeRequest, InvokeReply, InvokeRequest, ThreadResult, ThreadTask, ValidateReply, ValidateTask } from './types.js';

const THREAD = fileURLToPath(new URL('./thread.js', import.meta.url));

export type PoolFailure = 'queue_full' | 'unavailable' | 'timeout' | 'thread_died';

export class PoolError extends Error {
  constructor(public readonly kind: PoolFailure, message: string) {
    super(message);
  }
}

export interface HandlerRef {
  module: string;
  exportName: string;
}

type LoadFailure = { module: string; exportName: string; error: string };

interface Pending {
  id: number;
  task: ThreadTask;
  transfer: ArrayBuffer[];
  timeoutMs: number;
  /** Date.now() past which it fails; 0 = none. Set when sent to a thread. */
  deadline: number;
  resolve(r: ThreadResult): void;
  reject(e: Error): void;
}

interface Thread {
  worker: Worker;
  inflight: Map<number, Pending>;
  /** False once it is being replaced: its results and exit no longer count. */
  current: boolean;
  /** Its handlers are imported: it takes invocations (a handler's import never counts against its timeout, as Lambda's Init phase does not). */
  ready: boolean;
  startedAt: number;
}

/** Load tasks at start may import large modules. */
const LOAD_TIMEOUT_MS = 30_000;
/** AWS API Gateway's integration timeout: the longest a request waits for a thread. */
const QUEUE_WAIT_MS = 29_000;

export class FunctionPool {
  private threads: Thread[] = [];
  private queue: Pending[] = [];
  private nextId = 1;
  private flushScheduled = false;
  private sweepTimer: NodeJS.Timeout | null = null;
  private closed = false;
  private quickDeaths = 0;

  /** `minTimeoutMs`: the shortest function timeout, which sets how often deadlines are swept. */
  constructor(private readonly opts: Functions, private readonly handlers: HandlerRef[], private readonly minTimeoutMs = 1000) {}

  /** Spawns the threads; every thread imports every handler. Resolves with what failed to load. */
  async start(): Promise<LoadFailure[]> {
    if (this.threads.length > 0 || this.closed) return [];
    for (let i = 0; i < this.opts.threads; i++) this.threads.push(this.spawn(false));
    // Deadlines are checked every tenth of the shortest timeout, 10..100 ms.
    const every = Math.min(100, Math.max(10, Math.floor(this.minTimeoutMs / 10)));
    this.sweepTimer = setInterval(() => this.sweep(), every);
    this.sweepTimer.unref();
    const results = await Promise.all(this.threads.map((t) => this.load(t)));
    const failed: LoadFailure[] = [];
    for (const r of results) {
      if (r.error !== undefined) failed.push(...this.handlers.map((h) => ({ ...h, error: r.error! })));
      for (const f of r.loaded ?? []) if (!failed.some((x) => x.module === f.module && x.exportName === f.exportName)) failed.push(f);
    }
    return failed;
  }

  /** One invocation; `req.body` is moved to the thread. Rejects with PoolError for what is not the handler's doing. */
  async invoke(req: InvokeRequest): Promise<InvokeReply> {
    const r = await this.submit({ id: 0, kind: 'invoke', req }, req.body === null ? [] : [req.body], req.timeoutMs);
    if (r.reply === undefined) throw new PoolError('thread_died', r.error ?? 'no reply');
    return r.reply;
  }

  /** A Lambda authorizer call (no body). Rejects with PoolError for what is not the authorizer's doing. */
  async authorize(req: AuthorizeRequest): Promise<AuthorizeReply> {
    const r = await this.submit({ id: 0, kind: 'authorize', req }, [], req.timeoutMs);
    if (r.authorized === undefined) throw new PoolError('thread_died', r.error ?? 'no reply');
    return r.authorized;
  }

  /** A handler on a ready-made event (WebSocket routes). */
  async invokeEvent(req: EventInvokeRequest): Promise<EventInvokeReply> {
    const r = await this.submit({ id: 0, kind: 'event', req }, [], req.timeoutMs);
    if (r.evented === undefined) throw new PoolError('thread_died', r.error ?? 'no reply');
    return r.evented;
  }

  /** Body validation on a thread; the body is moved there and back. */
  async validate(task: ValidateTask): Promise<ValidateReply> {
    const r = await this.submit({ id: 0, kind: 'validate', task }, [task.body], 0);
    if (r.validated === undefined) throw new PoolError('thread_died', r.error ?? 'no reply');
    return r.validated;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.sweepTimer !== null) clearInterval(this.sweepTimer);
    for (const p of this.queue.splice(0)) p.reject(new PoolError('unavailable', 'function pool closed'));
    const threads = this.threads.splice(0);
    for (const t of threads) this.retire(t, 'unavailable', 'function pool closed');
    await Promise.all(threads.map((t) => t.worker.terminate()));
  }

  // -----------------------------------------------------------------------------------------

  /** A new thread; `load` sends it the handlers to import (start() does that itself, to see the errors). */
  private spawn(load: boolean): Thread {
    const worker = new Worker(THREAD);
    const t: Thread = { worker, inflight: new Map(), current: true, ready: false, startedAt: Date.now() };
    worker.on('message', (results: ThreadResult[]) => this.onResults(t, results));
    worker.on('messageerror', () => {
      this.replace(t, 'thread_died', 'a message from the function thread could not be read');
      void worker.terminate();
    });
    worker.on('error', () => { /* an uncaught error ends the thread: handled on 'exit' */ });
    worker.on('exit', () => this.onExit(t));
    if (load) this.load(t).catch(() => { /* failed loads answer load_error per invocation; a timeout replaces the thread */ });
    return t;
  }

  /** Imports every handler on `t`, then lets it take invocations. */
  private async load(t: Thread): Promise<ThreadResult> {
    const r = await this.send(t, { id: 0, kind: 'load', handlers: this.handlers }, LOAD_TIMEOUT_MS);
    if (t.current) {
      t.ready = true;
      if (this.queue.length > 0) this.flush();
    }
    return r;
  }

  /** A task that must go to this thread (start-up loads), bypassing the queue. */
  private send(t: Thread, task: ThreadTask, timeoutMs: number): Promise<ThreadResult> {
    return new Promise((resolve, reject) => {
      const p: Pending = { id: this.nextId++, task, transfer: [], timeoutMs, deadline: Date.now() + timeoutMs, resolve, reject };
      p.task.id = p.id;
      t.inflight.set(p.id, p);
      t.worker.postMessage([p.task]);
    });
  }

  private submit(task: ThreadTask, transfer: ArrayBuffer[], timeoutMs: number): Promise<ThreadResult> {
    if (this.closed || this.threads.length === 0) return Promise.reject(new PoolError('unavailable', 'function pool is not running'));
    if (this.queue.length >= this.opts.maxQueue + this.freeSlots()) {
      return Promise.reject(new PoolError('queue_full', `function queue is full (${this.queue.length} waiting)`));
    }
    return new Promise((resolve, reject) => {
      const id = this.nextId++;
      task.id = id;
      // Waiting for a thread (busy, or a fresh one importing handlers: Lambda's Init is not the function's
      // time) is bounded by the API Gateway integration timeout, 29 s, or the function's own if longer.
      const wait = timeoutMs > 0 ? Math.max(timeoutMs, QUEUE_WAIT_MS) : 0;
      this.queue.push({ id, task, transfer, timeoutMs, deadline: wait > 0 ? Date.now() + wait : 0, resolve, reject });
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private freeSlots(): number {
    let free = 0;
    for (const t of this.threads) if (t.current && t.ready) free += Math.max(0, this.opts.concurrencyPerThread - t.inflight.size);
    return free;
  }

  /** Sends what is queued: as much as fits to the least-loaded thread, one message per thread. */
  private flush(): void {
    this.flushScheduled = false;
    const cap = this.opts.concurrencyPerThread;
    while (this.queue.length > 0) {
      let best: Thread | null = null;
      for (const t of this.threads) if (t.current && t.ready && t.inflight.size < cap && (best === null || t.inflight.size < best.inflight.size)) best = t;
      if (best === null) return; // all busy: results will flush again
      const n = Math.min(cap - best.inflight.size, this.queue.length);
      const batch = this.queue.splice(0, n);
      const tasks: ThreadTask[] = new Array(n);
      const transfer: ArrayBuffer[] = [];
      const now = Date.now();
      for (let i = 0; i < n; i++) {
        const p = batch[i]!;
        if (p.timeoutMs > 0) p.deadline = now + p.timeoutMs;
        best.inflight.set(p.id, p);
        tasks[i] = p.task;
        for (const b of p.transfer) transfer.push(b);
      }
      try {
        best.worker.postMessage(tasks, transfer);
      } catch (e) {
        // Not cloneable (a bug): fail this batch, never the worker process.
        for (const p of batch) {
          best.inflight.delete(p.id);
          p.reject(new PoolError('thread_died', `could not send to the function thread: ${(e as Error).message}`));
        }
      }
    }
  }

  private onResults(t: Thread, results: ThreadResult[]): void {
    for (let i = 0; i < results.length; i++) {
      const r = results[i]!;
      const p = t.inflight.get(r.id);
      if (p === undefined) continue; // failed already (timeout)
      t.inflight.delete(r.id);
      p.resolve(r);
    }
    if (this.queue.length > 0) this.flush();
  }

  private sweep(): void {
    const now = Date.now();
    if (this.queue.length > 0) {
      this.queue = this.queue.filter((p) => {
        if (p.deadline === 0 || now < p.deadline) return true;
        p.reject(new PoolError('timeout', `no function thread free within ${Math.max(p.timeoutMs, QUEUE_WAIT_MS)} ms`));
        return false;
      });
    }
    for (const t of this.threads) {
      if (!t.current) continue;
      let expired: Pending | null = null;
      for (const p of t.inflight.values()) {
        if (p.deadline !== 0 && now >= p.deadline) { expired = p; break; }
      }
      if (expired === null) continue;
      t.inflight.delete(expired.id);
      expired.reject(new PoolError('timeout', `function timed out after ${expired.timeoutMs} ms`));
      // A thread may be stuck in the handler: end it, and everything it was running with it.
      this.countDeath(t);
      this.replace(t, 'thread_died', 'the function thread was terminated: another invocation on it timed out');
      void t.worker.terminate();
    }
  }

  private onExit(t: Thread): void {
    if (!t.current || this.closed) return;
    // Exited on its own (process.exit in a handler, uncaught error, out of memory).
    this.countDeath(t);
    this.replace(t, 'thread_died', 'the function thread exited');
  }

  /** Threads that die within a second of starting, again and again, are replaced with growing pauses. */
  private countDeath(t: Thread): void {
    if (Date.now() - t.startedAt < 1000) this.quickDeaths++;
    else this.quickDeaths = 0;
  }

  /** Fails what ran on `t` and puts a fresh thread in its place (after a pause if threads keep dying at once). */
  private replace(t: Thread, kind: PoolFailure, message: string): void {
    this.retire(t, kind, message);
    const i = this.threads.indexOf(t);
    if (i < 0 || this.closed) return;
    const fresh = () => {
      if (this.closed) return;
      this.threads[this.threads.indexOf(t)] = this.spawn(true);
    };
    if (this.quickDeaths > 3) setTimeout(fresh, Math.min(5000, 100 * 2 ** (this.quickDeaths - 3))).unref();
    else fresh();
  }

  private retire(t: Thread, kind: PoolFailure, message: string): void {
    t.current = false;
    for (const p of t.inflight.values()) p.reject(new PoolError(kind, message));
    t.inflight.clear();
  }
}
