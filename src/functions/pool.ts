/**
 * The function threads of one worker process: a piscina pool running runner.ts. Started only in
 * workers (the master's dry-run compile never spawns threads). A task past its timeout is aborted,
 * which makes piscina terminate the thread running it and start a fresh one: a handler that spins
 * or never settles costs one thread restart, never the worker.
 */
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import type { Functions } from '../config/index.js';
import type { InvokeReply, InvokeRequest, ValidateReply, ValidateTask } from './types.js';

const RUNNER = fileURLToPath(new URL('./runner.js', import.meta.url));

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

export class FunctionPool {
  private pool: Piscina | null = null;
  private closed = false;

  constructor(private readonly opts: Functions, private readonly handlers: HandlerRef[]) {}

  /** Spawns the threads and imports every handler in one of them; resolves with load errors (empty when all loaded). */
  async start(): Promise<{ module: string; exportName: string; error: string }[]> {
    if (this.pool !== null || this.closed) return [];
    this.pool = new Piscina({
      filename: RUNNER,
      minThreads: 1,
      maxThreads: this.opts.threads,
      concurrentTasksPerWorker: this.opts.concurrencyPerThread,
      maxQueue: this.opts.maxQueue,
      idleTimeout: this.opts.idleTimeoutMs,
      // Handlers' own console output reaches the worker's stdout/stderr, as Lambda's goes to its log.
    });
    try {
      return (await this.pool.run(this.handlers, { name: 'load' })) as { module: string; exportName: string; error: string }[];
    } catch (e) {
      return this.handlers.map((h) => ({ ...h, error: (e as Error).message }));
    }
  }

  /**
   * Runs one invocation; `req.body` is moved to the thread. Rejects with PoolError for anything that
   * is not the handler's own doing (full queue, timeout, dead thread, pool closed).
   */
  async invoke(req: InvokeRequest, signal: AbortSignal): Promise<InvokeReply> {
    const pool = this.pool;
    if (pool === null || this.closed) throw new PoolError('unavailable', 'function pool is not running');
    // piscina's own check throws asynchronously; a synchronous one keeps a full queue cheap.
    if (this.opts.maxQueue >= 0 && pool.queueSize >= this.opts.maxQueue && pool.queueSize > 0) {
      throw new PoolError('queue_full', `function queue is full (${pool.queueSize} waiting)`);
    }
    try {
      return (await pool.run(req, { signal, transferList: req.body !== null ? [req.body] : undefined })) as InvokeReply;
    } catch (e) {
      const err = e as Error & { code?: string };
      if (signal.aborted) throw new PoolError('timeout', `function timed out after ${req.timeoutMs} ms`);
      if (/queue is at limit/i.test(err.message)) throw new PoolError('queue_full', err.message);
      if (this.closed || /terminated|destroyed|closed/i.test(err.message) && this.pool === null) throw new PoolError('unavailable', err.message);
      throw new PoolError('thread_died', err.message);
    }
  }

  /** Body validation on a thread; the body is moved there and back. */
  async validate(task: ValidateTask): Promise<ValidateReply> {
    const pool = this.pool;
    if (pool === null || this.closed) throw new PoolError('unavailable', 'function pool is not running');
    return (await pool.run(task, { name: 'validate', transferList: [task.body] })) as ValidateReply;
  }

  get stats(): { threads: number; queued: number; completed: number } {
    const p = this.pool;
    return p === null ? { threads: 0, queued: 0, completed: 0 } : { threads: p.threads.length, queued: p.queueSize, completed: p.completed };
  }

  async close(): Promise<void> {
    this.closed = true;
    const p = this.pool;
    this.pool = null;
    if (p !== null) await p.destroy();
  }
}
