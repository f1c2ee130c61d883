/**
 * Function-pool micro-benchmark: what one invocation costs through piscina (as src/functions/pool.ts
 * runs it) against hand-written worker_threads pools (one message per invocation, batched per turn,
 * compact positional / msgpackr encoding), plus the cost of the per-call AbortController + timer.
 *
 *   node dist/bench/function-pool.js [--duration 3] [--warmup 0.5] [--rounds 3] [--inflight 50,200]
 *        [--threads 2] [--variants a,b,...] [--timers percall|sweep|none] [--headers 5] [--timers-only]
 *        [--selftest]
 *
 * Closed loop: `inflight` invocations are kept outstanding; each completion issues the next one from
 * its .then (as the gateway's integration does). Every invocation builds a fresh InvokeRequest the way
 * src/integrations/function.ts does, the thread builds the payload-2.0 event, runs the hello handler
 * (test/fixtures/functions/hello.mjs) and maps its result; the main thread wraps the reply body in a
 * Uint8Array as sendComplete would. CPU is process.cpuUsage() (all threads) and the main thread's
 * own utime+stime from /proc/self/task/<pid>/stat (10 ms ticks). Variants alternate within each
 * round (order reversed every other round); medians over rounds are reported.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { Piscina } from 'piscina';
import uws from '../native/uws.js';
import { Packr, Unpackr } from 'msgpackr';
import { median } from './stats.js';
import { FunctionPool } from '../src/functions/pool.js';
import type { InvokeReply, InvokeRequest } from '../src/functions/types.js';
import { runOne, type RouteInfo } from './function-pool-worker.js';

const WORKER = fileURLToPath(new URL('./function-pool-worker.js', import.meta.url));
const RUNNER = fileURLToPath(new URL('../src/functions/runner.js', import.meta.url));
const HELLO = fileURLToPath(new URL('../../test/fixtures/functions/hello.mjs', import.meta.url));

// ------------------------------------------------------------------------------------------------
// Options
// ------------------------------------------------------------------------------------------------

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1]! : def;
}
const flag = (name: string): boolean => process.argv.includes(`--${name}`);

const DURATION_MS = Number(arg('duration', '3')) * 1000;
const WARMUP_MS = Number(arg('warmup', '0.5')) * 1000;
const ROUNDS = Number(arg('rounds', '3'));
const INFLIGHT = arg('inflight', '50,200').split(',').map(Number);
const THREADS = Number(arg('threads', '2'));
const HEADER_PAIRS = Number(arg('headers', '5'));
const TIMEOUT_MS = 3000;

// ------------------------------------------------------------------------------------------------
// Request shape (as src/integrations/function.ts builds it)
// ------------------------------------------------------------------------------------------------

const ROUTE: RouteInfo = {
  module: HELLO, exportName: 'handler', format: '2.0', timeoutMs: TIMEOUT_MS, functionName: 'hello', memoryLimitInMB: 128,
  routeKey: 'GET /hello', stage: '$default', stageVariables: null, apiId: 'bench', accountId: '123456789012',
};

const HEADER_POOL = [
  'host', 'localhost:8080', 'user-agent', 'autocannon/9.0.0', 'accept', '*/*', 'accept-encoding', 'gzip, deflate, br',
  'x-forwarded-for', '10.1.2.3', 'accept-language', 'en-US,en;q=0.9', 'cache-control', 'no-cache',
  'x-request-source', 'bench', 'referer', 'http://localhost/', 'x-trace', 'abcdef0123456789',
];
const HEADERS = HEADER_POOL.slice(0, HEADER_PAIRS * 2);

let seq = 0;
function makeRequest(): InvokeRequest {
  const n = ++seq;
  return {
    module: ROUTE.module, exportName: ROUTE.exportName, format: ROUTE.format, timeoutMs: ROUTE.timeoutMs,
    functionName: ROUTE.functionName, memoryLimitInMB: ROUTE.memoryLimitInMB,
    method: 'GET', rawPath: '/hello', query: '', headers: HEADERS.slice(), sourceIp: '127.0.0.1',
    requestId: `req-${n.toString(36)}-0000000000`, requestTimeEpochMs: Date.now(), routeKey: ROUTE.routeKey, stage: ROUTE.stage,
    pathParameters: null, stageVariables: ROUTE.stageVariables,
    domainName: 'localhost', apiId: ROUTE.apiId, accountId: ROUTE.accountId, body: null,
  };
}

// ------------------------------------------------------------------------------------------------
// Pools
// ------------------------------------------------------------------------------------------------

type Timers = 'percall' | 'sweep' | 'none';

class PoolError extends Error {
  constructor(public readonly kind: 'timeout' | 'thread_died' | 'queue_full' | 'unavailable', message: string) {
    super(message);
  }
}

interface Pool {
  /** `signal` only in percall timer mode; `deadline` (epoch ms) in sweep mode. */
  invoke(req: InvokeRequest, route: number, signal: AbortSignal | undefined): Promise<InvokeReply>;
  close(): Promise<void>;
  /** Messages main→threads and threads→main since the last call. */
  messages?(): { out: number; in: number };
}

/** src/functions/pool.ts itself (the gateway's pool; timeouts are its own deadlines). */
async function functionPool(concurrency: number): Promise<Pool> {
  const p = new FunctionPool({ threads: THREADS, concurrencyPerThread: concurrency, maxQueue: 100000, handlers: {} }, [{ module: HELLO, exportName: 'handler' }], TIMEOUT_MS);
  const errs = await p.start();
  if (errs.length > 0) throw new Error(JSON.stringify(errs));
  return {
    invoke: (req) => p.invoke(req),
    close: () => p.close(),
  };
}

/** (a') piscina with the same options but the atomics mode chosen. */
async function rawPiscina(concurrency: number, atomics: 'sync' | 'async' | 'disabled'): Promise<Pool> {
  const p = new Piscina({ filename: RUNNER, minThreads: THREADS, maxThreads: THREADS, concurrentTasksPerWorker: concurrency, maxQueue: 100000, idleTimeout: 60000, atomics });
  await p.run([{ module: HELLO, exportName: 'handler' }], { name: 'load' });
  return {
    invoke: (req, _route, signal) => p.run(req, { signal, name: 'invoke' }) as Promise<InvokeReply>,
    close: () => p.destroy(),
  };
}

/** The main thread runs the invocation itself: the floor (no isolation, no thread crossing). */
function inlinePool(): Pool {
  // Started from setImmediate: a closed loop of microtasks alone would never let timers run.
  return { invoke: (req) => new Promise<void>((r) => setImmediate(r)).then(() => runOne(req)), close: async () => {} };
}

interface Pending {
  resolve: (r: InvokeReply) => void;
  reject: (e: Error) => void;
  deadline: number;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

interface Thread {
  worker: Worker;
  pending: Map<number, Pending>;
  /** Outgoing batch (batch/compact/msgpack modes). */
  out: unknown[];
  transfer: ArrayBuffer[];
  dead: boolean;
}

type Mode = 'single' | 'batch' | 'compact' | 'msgpack';

/**
 * (b)-(d): worker_threads + the Worker's own MessagePort. Least-loaded dispatch, optional per-thread
 * cap with a FIFO queue. Timeouts: per-call AbortSignal (piscina's way) or one interval sweeping
 * deadlines. A timed-out invocation fails 'timeout' and its thread is terminated (a thread in
 * for(;;){} is stopped by worker.terminate()) and replaced; its other in-flight invocations fail
 * 'thread_died'. A thread that exits on its own (process.exit, uncaught error) is replaced the same way.
 */
class HandPool implements Pool {
  private threads: Thread[] = [];
  private nextId = 1;
  private flushScheduled = false;
  private queue: { req: InvokeRequest; route: number; p: Pending }[] = [];
  private qHead = 0;
  private sweepTimer: NodeJS.Timeout | null = null;
  private closed = false;
  private msgsOut = 0;
  private msgsIn = 0;
  private readonly packr = new Packr({ useRecords: false });
  private readonly unpackr = new Unpackr({ useRecords: false });
  readonly restarts: string[] = [];

  constructor(
    private readonly mode: Mode,
    private readonly opts: { threads: number; cap: number; flush: 'micro' | 'immediate'; workerFlush: 'micro' | 'immediate'; timers: Timers; routes: RouteInfo[]; sweepMs?: number; perTurn?: boolean },
  ) {}

  async start(): Promise<void> {
    const ready: Promise<void>[] = [];
    for (let i = 0; i < this.opts.threads; i++) ready.push(this.spawn(i));
    await Promise.all(ready);
    if (this.opts.timers === 'sweep') {
      this.sweepTimer = setInterval(() => this.sweep(), this.opts.sweepMs ?? 100);
      this.sweepTimer.unref();
    }
  }

  private spawn(slot: number): Promise<void> {
    const worker = new Worker(WORKER, { workerData: { fpBench: true, mode: this.mode, flush: this.opts.workerFlush, routes: this.opts.routes } });
    const t: Thread = { worker, pending: new Map(), out: [], transfer: [], dead: false };
    this.threads[slot] = t;
    let resolveReady!: () => void;
    const ready = new Promise<void>((r) => { resolveReady = r; });
    worker.on('message', (m: unknown) => {
      if (m === 'ready') { resolveReady(); return; }
      this.msgsIn++;
      this.onReply(t, m);
    });
    worker.on('error', () => { /* 'exit' follows */ });
    worker.on('exit', (code) => {
      resolveReady();
      if (t.dead) return; // terminated by us: already handled
      this.kill(t, slot, `thread exited with code ${code}`, null);
    });
    return ready;
  }

  /** Fails everything on `t` (except `timedOut`, already failed), stops it, starts a replacement. */
  private kill(t: Thread, slot: number, why: string, timedOut: number | null): void {
    t.dead = true;
    this.restarts.push(why);
    for (const [id, p] of t.pending) {
      if (id === timedOut) continue;
      this.settle(p);
      p.reject(new PoolError('thread_died', why));
    }
    t.pending.clear();
    t.out.length = 0;
    void t.worker.terminate();
    if (!this.closed && this.threads[slot] === t) {
      void this.spawn(slot).then(() => this.drainQueue());
    }
  }

  private settle(p: Pending): void {
    if (p.onAbort !== undefined) p.signal!.removeEventListener('abort', p.onAbort);
  }

  private timeout(t: Thread, id: number, p: Pending): void {
    if (t.dead || !t.pending.has(id)) return;
    t.pending.delete(id);
    this.settle(p);
    p.reject(new PoolError('timeout', `function timed out`));
    this.kill(t, this.threads.indexOf(t), `invocation ${id} timed out`, id);
  }

  private sweep(): void {
    const now = Date.now();
    for (const t of this.threads.slice()) {
      if (t.dead) continue;
      // Insertion order ~ deadline order for one timeout value; scan all: in-flight counts are small.
      for (const [id, p] of t.pending) {
        if (p.deadline <= now) { this.timeout(t, id, p); break; }
      }
    }
  }

  invoke(req: InvokeRequest, route: number, signal: AbortSignal | undefined): Promise<InvokeReply> {
    if (this.closed) return Promise.reject(new PoolError('unavailable', 'closed'));
    return new Promise<InvokeReply>((resolve, reject) => {
      const p: Pending = {
        resolve, reject, deadline: this.opts.timers === 'sweep' ? Date.now() + req.timeoutMs : 0, signal, onAbort: undefined,
      };
      const t = this.opts.perTurn === true ? this.turnPick() : this.pick();
      if (t === null) this.queue.push({ req, route, p });
      else this.dispatch(t, req, route, p);
    });
  }

  /** perTurn: everything issued in one turn goes to one thread (the least loaded when the turn began). */
  private turnThread: Thread | null = null;
  private turnPick(): Thread | null {
    if (this.turnThread === null || this.turnThread.dead) this.turnThread = this.pick();
    return this.turnThread;
  }

  private pick(): Thread | null {
    let best: Thread | null = null;
    for (const t of this.threads) {
      if (t.dead) continue;
      if (best === null || t.pending.size < best.pending.size) best = t;
    }
    return best !== null && best.pending.size < this.opts.cap ? best : null;
  }

  private dispatch(t: Thread, req: InvokeRequest, route: number, p: Pending): void {
    const id = this.nextId++;
    t.pending.set(id, p);
    if (p.signal !== undefined) {
      p.onAbort = () => this.timeout(t, id, p);
      p.signal.addEventListener('abort', p.onAbort, { once: true });
    }
    switch (this.mode) {
      case 'single':
        this.msgsOut++;
        t.worker.postMessage({ id, req }, req.body !== null ? [req.body] : undefined);
        return;
      case 'batch':
        t.out.push(id, req);
        if (req.body !== null) t.transfer.push(req.body);
        break;
      default:
        t.out.push(id, route, req.method, req.rawPath, req.query, req.headers, req.sourceIp, req.requestId,
          req.requestTimeEpochMs, req.pathParameters, req.domainName, req.body);
        if (req.body !== null) t.transfer.push(req.body);
    }
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      if (this.opts.flush === 'micro') queueMicrotask(this.flush);
      else setImmediate(this.flush);
    }
  }

  private readonly flush = (): void => {
    this.flushScheduled = false;
    this.turnThread = null;
    for (const t of this.threads) {
      if (t.out.length === 0 || t.dead) continue;
      const out = t.out, transfer = t.transfer;
      t.out = []; t.transfer = [];
      this.msgsOut++;
      if (this.mode === 'msgpack') {
        const packed = this.packr.pack(out);
        const copy = new Uint8Array(packed.byteLength);
        copy.set(packed);
        t.worker.postMessage(copy, [copy.buffer]);
      } else {
        t.worker.postMessage(out, transfer);
      }
    }
  };

  private onReply(t: Thread, m: unknown): void {
    if (t.dead) return;
    if (this.mode === 'single') {
      const r = m as { id: number; reply: InvokeReply };
      this.complete(t, r.id, r.reply);
    } else if (this.mode === 'batch') {
      const a = m as unknown[];
      for (let i = 0; i < a.length; i += 2) this.complete(t, a[i] as number, a[i + 1] as InvokeReply);
    } else {
      const a = (this.mode === 'msgpack' ? this.unpackr.unpack(m as Uint8Array) : m) as unknown[];
      const bodies = a[a.length - 1] as Uint8Array;
      for (let i = 0; i < a.length - 1; i += 6) {
        let reply: InvokeReply;
        if (a[i + 1] === 1) {
          const s = a[i + 4] as number, e = a[i + 5] as number;
          // A view into the turn's one buffer: uWS copies what it writes, so sharing it is fine.
          reply = { ok: true, response: { status: a[i + 2] as number, headers: a[i + 3] as string[], body: s === e ? null : (bodies.subarray(s, e) as unknown as ArrayBuffer) } };
        } else {
          reply = { ok: false, failure: { kind: a[i + 2] as 'handler_error', message: a[i + 3] as string } };
        }
        this.complete(t, a[i] as number, reply);
      }
    }
    this.drainQueue();
  }

  private complete(t: Thread, id: number, reply: InvokeReply): void {
    const p = t.pending.get(id);
    if (p === undefined) return; // timed out meanwhile
    t.pending.delete(id);
    this.settle(p);
    p.resolve(reply);
  }

  private drainQueue(): void {
    while (this.qHead < this.queue.length) {
      const t = this.pick();
      if (t === null) break;
      const q = this.queue[this.qHead]!;
      this.queue[this.qHead++] = undefined as never;
      this.dispatch(t, q.req, q.route, q.p);
    }
    if (this.qHead > 1024 && this.qHead * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.qHead);
      this.qHead = 0;
    }
  }

  messages(): { out: number; in: number } {
    const r = { out: this.msgsOut, in: this.msgsIn };
    this.msgsOut = 0; this.msgsIn = 0;
    return r;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.sweepTimer !== null) clearInterval(this.sweepTimer);
    for (const t of this.threads) { t.dead = true; await t.worker.terminate(); }
  }
}

async function handPool(mode: Mode, cap: number, timers: Timers, flush: 'micro' | 'immediate' = 'micro', workerFlush: 'micro' | 'immediate' = 'micro', perTurn = false): Promise<HandPool> {
  const p = new HandPool(mode, { threads: THREADS, cap, flush, workerFlush, timers, routes: [ROUTE], perTurn });
  await p.start();
  return p;
}

// ------------------------------------------------------------------------------------------------
// Closed-loop driver
// ------------------------------------------------------------------------------------------------

const CLK_TCK = 100;
function mainThreadCpuUs(): number {
  const s = readFileSync(`/proc/self/task/${process.pid}/stat`, 'latin1');
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1e6) / CLK_TCK;
}

interface Result { rps: number; cpuUs: number; mainUs: number; perMsg: number; perIn: number; errors: number }

function drive(pool: Pool, inflight: number, timers: Timers): Promise<Result> {
  return new Promise((resolveRun) => {
    let done = 0, errors = 0, outstanding = 0, stop = false;
    let bodyBytes = 0;
    const perCallTimers = timers === 'percall';

    function issue(): void {
      const req = makeRequest();
      outstanding++;
      let timer: NodeJS.Timeout | undefined;
      let signal: AbortSignal | undefined;
      if (perCallTimers) {
        // src/integrations/function.ts
        const ac = new AbortController();
        timer = setTimeout(() => ac.abort(), req.timeoutMs);
        signal = ac.signal;
      }
      pool.invoke(req, 0, signal).then(
        (reply) => {
          if (timer !== undefined) clearTimeout(timer);
          if (reply.ok) {
            const b = reply.response.body;
            // sendComplete's Uint8Array wrapping (compact modes hand a view already).
            const u = b === null ? null : b instanceof Uint8Array ? b : new Uint8Array(b);
            if (u !== null) bodyBytes += u.byteLength;
          } else errors++;
          next();
        },
        () => {
          if (timer !== undefined) clearTimeout(timer);
          errors++;
          next();
        },
      );
    }
    function next(): void {
      outstanding--;
      done++;
      if (!stop) issue();
      else if (outstanding === 0) finish();
    }

    let snap0: { t: number; n: number; e: number; cpu: NodeJS.CpuUsage; main: number } | null = null;
    let result: Result | null = null;
    function finish(): void { resolveRun(result!); }

    for (let i = 0; i < inflight; i++) issue();
    setTimeout(() => {
      pool.messages?.();
      snap0 = { t: performance.now(), n: done, e: errors, cpu: process.cpuUsage(), main: mainThreadCpuUs() };
      setTimeout(() => {
        const s = snap0!;
        const dt = (performance.now() - s.t) / 1000;
        const cpu = process.cpuUsage(s.cpu);
        const main = mainThreadCpuUs() - s.main;
        const n = done - s.n;
        const msgs = pool.messages?.();
        result = {
          rps: n / dt, cpuUs: (cpu.user + cpu.system) / n, mainUs: main / n,
          perMsg: msgs !== undefined ? n / Math.max(1, msgs.out) : 1, perIn: msgs !== undefined ? n / Math.max(1, msgs.in) : 1, errors: errors - s.e,
        };
        stop = true;
        if (outstanding === 0) finish();
      }, DURATION_MS);
    }, WARMUP_MS);
    void bodyBytes;
  });
}

// ------------------------------------------------------------------------------------------------
// Variants
// ------------------------------------------------------------------------------------------------

interface Variant { key: string; about: string; timers: Timers; make: () => Promise<Pool> }

function variants(timers: Timers): Variant[] {
  const T = timers;
  const pisc = T === 'sweep' ? 'percall' : T; // piscina has no sweep: its timeout is the signal
  return [
    { key: 'inline', about: 'no thread: runOne on the main thread (floor)', timers: T === 'sweep' ? 'none' : T, make: async () => inlinePool() },
    { key: 'pool-c1', about: 'src/functions/pool.ts, concurrencyPerThread 1', timers: 'none', make: () => functionPool(1) },
    { key: 'pool-c64', about: 'src/functions/pool.ts, concurrencyPerThread 64 (default)', timers: 'none', make: () => functionPool(64) },
    { key: 'pisc-c1', about: 'a) piscina, concurrentTasksPerWorker 1 (the first design)', timers: pisc, make: () => rawPiscina(1, 'sync') },
    { key: 'pisc-c8', about: 'a) piscina, concurrentTasksPerWorker 8', timers: pisc, make: () => rawPiscina(8, 'sync') },
    { key: 'pisc-c8-noatom', about: "a') piscina c8, atomics: 'disabled'", timers: pisc, make: () => rawPiscina(8, 'disabled') },
    { key: 'single-c1', about: 'b) hand pool, 1 msg/invocation, 1 in flight per thread', timers: T, make: () => handPool('single', 1, T) },
    { key: 'single', about: 'b) hand pool, 1 msg/invocation, unbounded per thread', timers: T, make: () => handPool('single', Infinity, T) },
    { key: 'batch-micro', about: 'c) batched, queueMicrotask flush (main) + microtask flush (thread), InvokeRequest objects', timers: T, make: () => handPool('batch', Infinity, T, 'micro', 'micro') },
    { key: 'batch', about: 'c) batched, setImmediate flush (main) + microtask flush (thread), InvokeRequest objects', timers: T, make: () => handPool('batch', Infinity, T, 'immediate', 'micro') },
    { key: 'batch-imm2', about: 'c) batched, setImmediate flush on both sides', timers: T, make: () => handPool('batch', Infinity, T, 'immediate', 'immediate') },
    { key: 'compact', about: 'd) batch + positional fields, route index, bodies in one buffer (setImmediate flush)', timers: T, make: () => handPool('compact', Infinity, T, 'immediate', 'micro') },
    { key: 'compact-c8', about: 'd) compact, at most 8 in flight per thread (concurrencyPerThread 8), FIFO queue beyond', timers: T, make: () => handPool('compact', 8, T, 'immediate', 'micro') },
    { key: 'compact-c1', about: 'd) compact, 1 in flight per thread (concurrencyPerThread 1, today\'s default)', timers: T, make: () => handPool('compact', 1, T, 'immediate', 'micro') },
    { key: 'compact-turn', about: 'e) compact, a whole turn to one thread (least loaded): fewer messages/wake-ups', timers: T, make: () => handPool('compact', Infinity, T, 'immediate', 'micro', true) },
    { key: 'msgpack', about: 'd) compact, msgpackr-packed into a transferred buffer (setImmediate flush)', timers: T, make: () => handPool('msgpack', Infinity, T, 'immediate', 'micro') },
  ];
}


async function benchVariants(): Promise<void> {
  const timers = arg('timers', 'percall') as Timers;
  const only = arg('variants', '').split(',').filter((s) => s !== '');
  const list = variants(timers).filter((v) => only.length === 0 || only.includes(v.key));
  console.log(`node ${process.version}, ${THREADS} threads, ${HEADER_PAIRS} header pairs, timers=${timers}, ${DURATION_MS / 1000}s x ${ROUNDS} rounds (+${WARMUP_MS / 1000}s warm-up each)`);
  const results = new Map<string, Result[]>();
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? list : [...list].reverse();
    for (const v of order) {
      const pool = await v.make();
      for (const inflight of INFLIGHT) {
        const r = await drive(pool, inflight, v.timers);
        const k = `${v.key}@${inflight}`;
        (results.get(k) ?? results.set(k, []).get(k)!).push(r);
        console.log(`  r${round + 1} ${k.padEnd(22)} ${r.rps.toFixed(0).padStart(7)}/s  cpu ${r.cpuUs.toFixed(1).padStart(5)} µs  main ${r.mainUs.toFixed(1).padStart(5)} µs  inv/msg out ${r.perMsg.toFixed(1)} in ${r.perIn.toFixed(1)}${r.errors > 0 ? `  errors ${r.errors}` : ''}`);
      }
      await pool.close();
    }
  }
  console.log(`\nmedians (timers=${timers}):`);
  console.log('variant                 inv/s    cpu µs/inv  main µs/inv  inv/msg out/in  (min..max inv/s)');
  for (const v of list) {
    for (const inflight of INFLIGHT) {
      const rs = results.get(`${v.key}@${inflight}`)!;
      const rps = rs.map((r) => r.rps);
      console.log(`${`${v.key}@${inflight}`.padEnd(22)} ${median(rps).toFixed(0).padStart(7)}  ${median(rs.map((r) => r.cpuUs)).toFixed(1).padStart(9)}  ${median(rs.map((r) => r.mainUs)).toFixed(1).padStart(10)}  ${median(rs.map((r) => r.perMsg)).toFixed(1).padStart(5)}/${median(rs.map((r) => r.perIn)).toFixed(1).padEnd(5)}  (${Math.min(...rps).toFixed(0)}..${Math.max(...rps).toFixed(0)})`);
    }
  }
  for (const v of list) console.log(`  ${v.key}: ${v.about}`);
}

// ------------------------------------------------------------------------------------------------
// Timer-only micro-benchmark (no threads): per-call AbortController + setTimeout/clearTimeout vs a sweep
// ------------------------------------------------------------------------------------------------

async function benchTimers(): Promise<void> {
  const N = 1_000_000;
  const K = 200; // outstanding, like the in-flight invocations
  const noop = (): void => {};
  const cases: [string, () => void][] = [
    ['AbortController + setTimeout + clearTimeout + add/removeEventListener (today)', () => {
      const ring: { t: NodeJS.Timeout; s: AbortSignal; l: () => void }[] = new Array(K);
      for (let i = 0; i < N; i++) {
        const old = ring[i % K];
        if (old !== undefined) { clearTimeout(old.t); old.s.removeEventListener('abort', old.l); }
        const ac = new AbortController();
        const l = (): void => {};
        ac.signal.addEventListener('abort', l, { once: true });
        ring[i % K] = { t: setTimeout(() => ac.abort(), 30000), s: ac.signal, l };
      }
      for (const o of ring) { clearTimeout(o.t); o.s.removeEventListener('abort', o.l); }
    }],
    ['AbortController only', () => {
      let x = 0;
      for (let i = 0; i < N; i++) { const ac = new AbortController(); if (ac.signal.aborted) x++; }
      void x;
    }],
    ['setTimeout + clearTimeout only (K outstanding)', () => {
      const ring: NodeJS.Timeout[] = new Array(K);
      for (let i = 0; i < N; i++) {
        const old = ring[i % K];
        if (old !== undefined) clearTimeout(old);
        ring[i % K] = setTimeout(noop, 30000);
      }
      for (const t of ring) clearTimeout(t);
    }],
    ['sweep: Date.now() deadline stored in the pending entry', () => {
      const ring: { d: number }[] = new Array(K);
      let x = 0;
      for (let i = 0; i < N; i++) {
        const old = ring[i % K];
        if (old !== undefined && old.d < 0) x++;
        ring[i % K] = { d: Date.now() + 30000 };
      }
      void x;
    }],
  ];
  console.log(`timer costs, ${N} calls, ${K} outstanding, median of 5 (ns/call):`);
  for (const [name, fn] of cases) {
    const ts: number[] = [];
    for (let r = 0; r < 6; r++) {
      const c0 = process.cpuUsage();
      fn();
      const c = process.cpuUsage(c0);
      if (r > 0) ts.push(((c.user + c.system) * 1000) / N);
      await new Promise((r2) => setImmediate(r2));
    }
    console.log(`  ${median(ts).toFixed(0).padStart(5)} ns  ${name}`);
  }
}

// ------------------------------------------------------------------------------------------------
// Self-test: hung and exiting threads in the recommended design (batch/compact + sweep)
// ------------------------------------------------------------------------------------------------

async function selftest(): Promise<void> {
  const spin = 'data:text/javascript,export const handler = () => { for (;;) {} };';
  const exit = 'data:text/javascript,export const handler = () => { process.exit(3) };';
  const slow = 'data:text/javascript,export const handler = () => new Promise((r) => setTimeout(() => r({ statusCode: 200, body: "slow" }), 200));';
  const routes: RouteInfo[] = [ROUTE, { ...ROUTE, module: spin, timeoutMs: 300 }, { ...ROUTE, module: exit }, { ...ROUTE, module: slow }];
  const pool = new HandPool('compact', { threads: 2, cap: Infinity, flush: 'micro', workerFlush: 'micro', timers: 'sweep', routes, sweepMs: 50 });
  await pool.start();
  const req = (route: number): InvokeRequest => ({ ...makeRequest(), ...routes[route]!, module: routes[route]!.module });
  const outcome = (p: Promise<InvokeReply>): Promise<string> => p.then(
    (r) => (r.ok ? `ok ${r.response.status}` : `fail ${r.failure.kind}`), (e: PoolError) => `rejected ${e.kind}`);
  const t0 = Date.now();
  // A spinning handler next to slow ones: the spin times out at ~300 ms (+ sweep granularity), its
  // thread is terminated; slow invocations on that thread die with it, the others complete.
  const spinP = outcome(pool.invoke(req(1), 1, undefined)).then((s) => `${s} after ${Date.now() - t0} ms`);
  const slows = Array.from({ length: 4 }, () => outcome(pool.invoke(req(3), 3, undefined)));
  console.log('spin:', await spinP, '| slow neighbours:', (await Promise.all(slows)).join(', '));
  const t1 = Date.now();
  console.log('after restart, hello:', await outcome(pool.invoke(req(0), 0, undefined)), `(${Date.now() - t1} ms incl. replacement start)`);
  const exitP = outcome(pool.invoke(req(2), 2, undefined));
  const others = Array.from({ length: 4 }, () => outcome(pool.invoke(req(3), 3, undefined)));
  console.log('process.exit:', await exitP, '| others:', (await Promise.all(others)).join(', '));
  console.log('then hello x4:', (await Promise.all(Array.from({ length: 4 }, () => outcome(pool.invoke(req(0), 0, undefined))))).join(', '));
  console.log('restarts:', pool.restarts);
  await pool.close();
}

// ------------------------------------------------------------------------------------------------
// End to end: a bare uWS server in this process, autocannon in a child process
// ------------------------------------------------------------------------------------------------

const AUTOCANNON = createRequire(import.meta.url).resolve('autocannon/autocannon.js');

function autocannonRun(url: string, seconds: number, connections: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [AUTOCANNON, '--json', '-c', String(connections), '-d', String(seconds), url], { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    child.on('exit', () => {
      try {
        const j = JSON.parse(out) as { requests: { total: number }; non2xx: number; errors: number; duration: number };
        if (j.non2xx > 0 || j.errors > 0) console.log(`    (${j.non2xx} non-2xx, ${j.errors} errors)`);
        resolve(j.requests.total);
      } catch (e) { reject(e as Error); }
    });
  });
}

async function e2e(): Promise<void> {
  const timers = arg('timers', 'percall') as Timers;
  const conns = INFLIGHT[0]!;
  const only = arg('variants', 'mock,pisc-c1,pool-c1,pool-c64,single,batch,compact,compact-turn').split(',');
  const all = new Map(variants(timers).map((v) => [v.key, v]));
  const BODY = '{"hello":"world"}';
  let pool: Pool | null = null;
  let poolTimers: Timers = timers;
  let n = 0;
  const app = uws.App();
  app.get('/mock', (res) => { res.writeStatus('200 OK').writeHeader('content-type', 'application/json').end(BODY); });
  app.get('/fn', (res, req) => {
    const headers: string[] = [];
    req.forEach((k, v) => { headers.push(k, v); });
    const r: InvokeRequest = {
      module: ROUTE.module, exportName: ROUTE.exportName, format: ROUTE.format, timeoutMs: ROUTE.timeoutMs,
      functionName: ROUTE.functionName, memoryLimitInMB: ROUTE.memoryLimitInMB,
      method: req.getMethod().toUpperCase(), rawPath: req.getUrl(), query: req.getQuery() ?? '', headers, sourceIp: '127.0.0.1',
      requestId: `req-${(++n).toString(36)}-0000000000`, requestTimeEpochMs: Date.now(), routeKey: ROUTE.routeKey, stage: ROUTE.stage,
      pathParameters: null, stageVariables: null, domainName: 'localhost', apiId: ROUTE.apiId, accountId: ROUTE.accountId, body: null,
    };
    let aborted = false;
    res.onAborted(() => { aborted = true; });
    let timer: NodeJS.Timeout | undefined;
    let signal: AbortSignal | undefined;
    if (poolTimers === 'percall') {
      const ac = new AbortController();
      timer = setTimeout(() => ac.abort(), r.timeoutMs);
      signal = ac.signal;
    }
    pool!.invoke(r, 0, signal).then((reply) => {
      if (timer !== undefined) clearTimeout(timer);
      if (aborted) return;
      res.cork(() => {
        if (!reply.ok) { res.writeStatus('502 Bad Gateway').end(); return; }
        const rr = reply.response;
        res.writeStatus(rr.status === 200 ? '200 OK' : `${rr.status} X`);
        for (let i = 0; i < rr.headers.length; i += 2) res.writeHeader(rr.headers[i]!, rr.headers[i + 1]!);
        const b = rr.body;
        res.end(b === null ? '' : b instanceof Uint8Array ? b : new Uint8Array(b));
      });
    }, () => {
      if (timer !== undefined) clearTimeout(timer);
      if (!aborted) res.cork(() => res.writeStatus('502 Bad Gateway').end());
    });
  });
  const port = await new Promise<number>((resolve) => app.listen('127.0.0.1', 0, (tok) => resolve(uws.us_socket_local_port(tok))));
  console.log(`e2e: uWS on :${port}, autocannon -c ${conns} (child process, not counted), timers=${timers}, ${DURATION_MS / 1000}s x ${ROUNDS}`);
  const results = new Map<string, Result[]>();
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? only : [...only].reverse();
    for (const key of order) {
      let path = '/fn';
      if (key === 'mock') path = '/mock';
      else { const v = all.get(key)!; pool = await v.make(); poolTimers = v.timers; }
      await autocannonRun(`http://127.0.0.1:${port}${path}`, 1, conns); // warm-up
      pool?.messages?.();
      const c0 = process.cpuUsage(), m0 = mainThreadCpuUs(), t0 = performance.now();
      const total = await autocannonRun(`http://127.0.0.1:${port}${path}`, DURATION_MS / 1000, conns);
      const dt = (performance.now() - t0) / 1000;
      const cpu = process.cpuUsage(c0), main = mainThreadCpuUs() - m0;
      const msgs = pool?.messages?.();
      const r: Result = { rps: total / dt, cpuUs: (cpu.user + cpu.system) / total, mainUs: main / total, perMsg: msgs !== undefined ? total / Math.max(1, msgs.out) : 1, perIn: msgs !== undefined ? total / Math.max(1, msgs.in) : 1, errors: 0 };
      (results.get(key) ?? results.set(key, []).get(key)!).push(r);
      console.log(`  r${round + 1} ${key.padEnd(12)} ${r.rps.toFixed(0).padStart(7)} req/s  server cpu ${r.cpuUs.toFixed(1).padStart(5)} µs  main ${r.mainUs.toFixed(1).padStart(5)} µs  inv/msg out ${r.perMsg.toFixed(1)} in ${r.perIn.toFixed(1)}`);
      if (pool !== null) { await pool.close(); pool = null; }
    }
  }
  console.log('\nmedians:');
  for (const key of only) {
    const rs = results.get(key)!;
    console.log(`${key.padEnd(12)} ${median(rs.map((r) => r.rps)).toFixed(0).padStart(7)} req/s  cpu ${median(rs.map((r) => r.cpuUs)).toFixed(1).padStart(5)} µs  main ${median(rs.map((r) => r.mainUs)).toFixed(1).padStart(5)} µs  inv/msg out ${median(rs.map((r) => r.perMsg)).toFixed(1)} in ${median(rs.map((r) => r.perIn)).toFixed(1)}  (${Math.min(...rs.map((r) => r.rps)).toFixed(0)}..${Math.max(...rs.map((r) => r.rps)).toFixed(0)})`);
  }
  process.exit(0);
}

if (flag('e2e')) await e2e();
else if (flag('selftest')) await selftest();
else if (flag('timers-only')) await benchTimers();
else await benchVariants();
