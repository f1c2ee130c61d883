import { randomBytes } from 'node:crypto';
import { IdClock } from '../websocket/bus.js';
import cluster from 'node:cluster';
import type { Worker } from 'node:cluster';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { resolveWorkers } from '../config/index.js';
import type { Config } from '../config/index.js';
import { compilePlan } from '../compile/plan.js';
import { MetricsAggregator } from '../observability/metrics.js';
import type { Logger } from '../observability/log.js';
import type { FromWorker, ToWorker } from './messages.js';
import { SharedAdmin } from './admin-api.js';

/**
 * The master: forks the uWS workers (each listens on the shared port with SO_REUSEPORT), restarts
 * crashed ones with exponential backoff, drains on SIGTERM, rolls workers one at a time on SIGHUP,
 * and serves the admin listener (/health, /ready, /metrics aggregated across workers).
 */

export interface SupervisorOptions {
  /** Re-reads and validates the config (SIGHUP); throws with a readable message on invalid config. */
  loadConfig: () => Config;
  log: Logger;
  /** Time a new worker has to report ready before a start or reload counts as failed. */
  readyTimeoutMs?: number;
}

/** First restart waits 100 ms, doubling per consecutive crash up to 30 s. */
const BACKOFF_BASE_MS = 100;
const BACKOFF_MAX_MS = 30_000;
/** A worker that lived this long is not part of a crash loop: its slot's crash count resets. */
const STABLE_AFTER_MS = 30_000;
/** This many consecutive crashes of one slot, each within STABLE_AFTER_MS of its start: stop restarting it. */
const CRASH_LOOP_LIMIT = 8;

interface Slot {
  index: number;
  worker: Worker | null;
  startedAt: number;
  crashes: number;
  restartTimer: NodeJS.Timeout | null;
  gaveUp: boolean;
}

export class Supervisor {
  private config: Config;
  private readonly opts: SupervisorOptions;
  private readonly log: Logger;
  private slots: Slot[] = [];
  /** Workers we asked to stop (drain on reload/shutdown): their exit is not a crash. */
  private retiring = new Set<Worker>();
  private ready = new Set<Worker>();
  private pendingStart = new Map<Worker, ToWorker>();
  private readyWaiters = new Map<Worker, (ok: boolean, why?: string) => void>();
  private aggregator = new MetricsAggregator();
  private admin: Server | null = null;
  private shuttingDown = false;
  private reloading: Promise<void> | null = null;
  private reloadAgain = false;
  private snapshotNonce = 0;
  private snapshotWaiters = new Map<number, { pending: Set<Worker>; done: () => void }>();
  private generation = 0;
  /** Workers by serial (the generation number in their id): WebSocket connection ids name their owner so. */
  private readonly bySerial = new Map<number, Worker>();
  /** This gateway's node id: the first 4 bytes of every WebSocket connection id its workers issue. */
  readonly nodeId = randomBytes(4).readUInt32BE(0);
  /** Local broadcast bus ids (without Redis). */
  private readonly busIds = new IdClock();
  readonly exited: Promise<number>;
  private resolveExit!: (code: number) => void;

  private readonly shared: SharedAdmin;
  private usageNonce = 0;
  private usageWaiters = new Map<number, { pending: Set<Worker>; sums: number[]; done: () => void }>();

  constructor(config: Config, opts: SupervisorOptions) {
    this.config = config;
    this.opts = opts;
    this.log = opts.log;
    this.shared = new SharedAdmin(
      config, opts.log,
      (event) => { for (const w of this.ready) this.send(w, { type: 'event', event }); },
      (keys) => this.workerCounts(keys),
    );
    this.exited = new Promise((r) => { this.resolveExit = r; });
    cluster.setupPrimary({ exec: fileURLToPath(new URL('../worker/main.js', import.meta.url)) });
    cluster.on('exit', (w, code, signal) => this.onExit(w, code, signal));
    cluster.on('message', (w, msg: FromWorker) => this.onMessage(w, msg));
  }

  async start(): Promise<void> {
    const { host, port } = this.config.listen;
    // uWS listens with SO_REUSEPORT, which would silently share the port with a stale gateway; a plain
    // bind first turns "port in use" into a clear error.
    await assertPortFree(host, port);
    const redirect = this.config.listen.tls?.redirectHttp;
    if (redirect !== undefined) await assertPortFree(host, redirect.port);
    await this.startAdmin();
    const n = resolveWorkers(this.config.workers);
    for (let i = 0; i < n; i++) this.slots.push({ index: i, worker: null, startedAt: 0, crashes: 0, restartTimer: null, gaveUp: false });
    const results = await Promise.all(this.slots.map((s) => this.spawn(s, this.config)));
    const failed = results.find((r) => r !== true);
    if (failed !== undefined) {
      await this.shutdown(1, `workers failed to start: ${failed}`);
      throw new Error(`workers failed to start: ${failed}`);
    }
    this.log.info({ workers: n, listen: `${this.config.listen.tls ? 'https' : 'http'}://${host}:${port}`, ...(redirect ? { redirectHttp: redirect.port } : {}), admin: this.config.admin.enabled ? `${this.config.admin.host}:${this.config.admin.port}` : 'off' }, 'gateway started');
    process.on('SIGTERM', () => void this.shutdown(0, 'SIGTERM'));
    process.on('SIGINT', () => void this.shutdown(0, 'SIGINT'));
    process.on('SIGHUP', () => void this.reload());
  }

  /** Forks a worker into the slot; resolves true once it listens, else the reason. */
  private spawn(slot: Slot, config: Config): Promise<true | string> {
    const serial = ++this.generation;
    const workerId = `${slot.index}.${serial}`;
    const w = cluster.fork({ GATEWAY_WORKER_ID: workerId, GATEWAY_NODE_ID: String(this.nodeId) });
    this.bySerial.set(serial, w);
    workerSerials.set(w, serial);
    w.once('exit', () => this.bySerial.delete(serial));
    const previous = slot.worker;
    slot.worker = w;
    slot.startedAt = Date.now();
    const p = this.waitReady(w);
    this.pendingStart.set(w, { type: 'start', config, workerId });
    return p.then((r) => {
      if (r !== true && slot.worker === w) slot.worker = previous;
      return r;
    });
  }

  private waitReady(w: Worker): Promise<true | string> {
    const timeoutMs = this.opts.readyTimeoutMs ?? 15_000;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.readyWaiters.delete(w);
        this.retire(w, true);
        resolve(`worker ${w.id} not ready after ${timeoutMs} ms`);
      }, timeoutMs);
      this.readyWaiters.set(w, (ok, why) => {
        clearTimeout(timer);
        this.readyWaiters.delete(w);
        resolve(ok ? true : why ?? 'failed');
      });
    });
  }

  private send(w: Worker, msg: ToWorker): void {
    if (w.isConnected()) w.send(msg);
  }

  private onMessage(w: Worker, msg: FromWorker): void {
    switch (msg.type) {
      case 'hello': {
        const start = this.pendingStart.get(w);
        this.pendingStart.delete(w);
        // Retired before it said hello (a SIGTERM or reload while it was loading): a 'drain' sent then
        // found no message listener and was lost, so it would have started and served until killed.
        if (this.retiring.has(w)) {
          this.send(w, { type: 'drain' });
          break;
        }
        // Memory store: keys made through the admin API travel with the start message.
        if (start !== undefined) void this.shared.memoryKeys().then((keys) => this.send(w, start.type === 'start' ? { ...start, keys } : start));
        break;
      }
      case 'event':
        for (const r of this.ready) if (r !== w) this.send(r, { type: 'event', event: msg.event });
        break;
      case 'ws-op': {
        // The owner is gone (exited, or never was): the connection is too.
        const target = this.bySerial.get(msg.to);
        const from = serialOf(w);
        if (target === undefined) this.send(w, { type: 'ws-reply', reqId: msg.reqId, reply: { status: 410 } });
        else this.send(target, { type: 'ws-op', from, reqId: msg.reqId, op: msg.op });
        break;
      }
      case 'ws-publish': {
        // One numbering and one send order for the whole node: every worker delivers in this order.
        const id = this.busIds.next();
        this.send(w, { type: 'ws-published', reqId: msg.reqId, id });
        for (const r of this.ready) this.send(r, { type: 'ws-deliver', id, api: msg.api, topic: msg.topic, data: msg.data });
        break;
      }
      case 'ws-reply': {
        const target = this.bySerial.get(msg.to);
        if (target !== undefined) this.send(target, { type: 'ws-reply', reqId: msg.reqId, reply: msg.reply });
        break;
      }
      case 'usage': {
        const waiter = this.usageWaiters.get(msg.nonce);
        if (waiter !== undefined && waiter.pending.delete(w)) {
          msg.counts.forEach((n, i) => { waiter.sums[i] = (waiter.sums[i] ?? 0) + n; });
          if (waiter.pending.size === 0) waiter.done();
        }
        break;
      }
      case 'ready':
        this.ready.add(w);
        this.readyWaiters.get(w)?.(true);
        break;
      case 'fatal':
        this.log.error({ worker: w.id, error: msg.message }, 'worker failed to start');
        this.retire(w, true);
        this.readyWaiters.get(w)?.(false, msg.message);
        break;
      case 'metrics': {
        this.aggregator.update(String(w.id), msg.snapshot);
        if (msg.nonce !== undefined) {
          const waiter = this.snapshotWaiters.get(msg.nonce);
          if (waiter !== undefined) {
            waiter.pending.delete(w);
            if (waiter.pending.size === 0) waiter.done();
          }
        }
        break;
      }
    }
  }

  /** Asks a worker to drain and exit; `kill` when it never became useful. */
  private retire(w: Worker, kill = false): void {
    this.retiring.add(w);
    this.ready.delete(w);
    if (kill) w.process.kill('SIGKILL');
    else this.send(w, { type: 'drain' });
  }

  private onExit(w: Worker, code: number | null, signal: string | null): void {
    this.ready.delete(w);
    this.pendingStart.delete(w);
    this.aggregator.removeWorker(String(w.id));
    this.readyWaiters.get(w)?.(false, `worker exited (code ${code}, signal ${signal}) before it was ready`);
    if (this.retiring.delete(w)) return;
    if (this.shuttingDown) return;
    const slot = this.slots.find((s) => s.worker === w);
    if (slot === undefined) return;
    slot.worker = null;
    const lived = Date.now() - slot.startedAt;
    slot.crashes = lived >= STABLE_AFTER_MS ? 1 : slot.crashes + 1;
    if (slot.crashes >= CRASH_LOOP_LIMIT) {
      slot.gaveUp = true;
      this.log.error({ slot: slot.index, crashes: slot.crashes }, 'worker crash loop: not restarting this slot');
      if (this.slots.every((s) => s.gaveUp)) void this.shutdown(1, 'every worker is crash-looping');
      return;
    }
    const delay = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** (slot.crashes - 1));
    this.log.warn({ worker: w.id, code, signal, restartInMs: delay }, 'worker died; restarting');
    slot.restartTimer = setTimeout(() => {
      slot.restartTimer = null;
      if (this.shuttingDown) return;
      void this.spawn(slot, this.config).then((r) => {
        if (r !== true) this.log.error({ slot: slot.index, error: r }, 'worker restart failed');
      });
    }, delay);
  }

  /** SIGHUP: re-read and validate; roll workers one at a time; an invalid config keeps the old one. */
  reload(): Promise<void> {
    if (this.shuttingDown) return Promise.resolve();
    if (this.reloading !== null) {
      this.reloadAgain = true;
      return this.reloading;
    }
    this.reloading = this.doReload().finally(() => {
      this.reloading = null;
      if (this.reloadAgain) {
        this.reloadAgain = false;
        void this.reload();
      }
    });
    return this.reloading;
  }

  private async doReload(): Promise<void> {
    let next: Config;
    try {
      next = this.opts.loadConfig();
      void compilePlan(next).close(); // route conflicts and references, before any worker sees it
    } catch (e) {
      this.log.error({ error: (e as Error).message }, 'reload rejected: invalid config; still serving the previous one');
      return;
    }
    if (next.listen.port !== this.config.listen.port || next.listen.host !== this.config.listen.host) {
      this.log.warn('listen address changes need a restart; keeping the current one');
      next = { ...next, listen: this.config.listen };
    }
    // Certificates are re-read by every new worker (renewed files take effect on reload); switching
    // HTTP <-> HTTPS or the redirect port would mix schemes on one port while workers roll.
    const cur = this.config.listen.tls;
    if ((next.listen.tls === undefined) !== (cur === undefined) || next.listen.tls?.redirectHttp?.port !== cur?.redirectHttp?.port) {
      this.log.warn('turning TLS on/off or changing listen.tls.redirectHttp.port needs a restart; keeping the current listen settings');
      next = { ...next, listen: this.config.listen };
    }
    this.log.info('reload: rolling workers');
    for (const slot of this.slots) {
      if (this.shuttingDown) return;
      if (slot.gaveUp) continue;
      const old = slot.worker;
      const r = await this.spawn(slot, next);
      if (r !== true) {
        this.log.error({ error: r }, 'reload aborted: new worker did not become ready; old workers keep serving');
        return;
      }
      if (old !== null) {
        const gone = new Promise<void>((res) => old.once('exit', () => res()));
        this.retire(old);
        await withTimeout(gone, this.config.shutdown.drainTimeoutMs + 2000, () => old.process.kill('SIGKILL'));
      }
    }
    this.config = next;
    this.shared.setConfig(next);
    this.log.info('reload complete');
  }

  /** SIGTERM: stop accepting, let workers drain (bounded), exit. */
  async shutdown(code: number, why: string): Promise<void> {
    if (this.shuttingDown) return;
    this.shuttingDown = true;
    this.log.info({ reason: why }, 'shutting down: draining workers');
    for (const s of this.slots) if (s.restartTimer !== null) clearTimeout(s.restartTimer);
    const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined);
    const exits = workers.map((w) => new Promise<void>((res) => {
      if (w.isDead()) return res();
      w.once('exit', () => res());
      this.retire(w);
    }));
    await withTimeout(Promise.all(exits), this.config.shutdown.drainTimeoutMs + 2000, () => {
      for (const w of workers) if (!w.isDead()) w.process.kill('SIGKILL');
    });
    await new Promise<void>((res) => (this.admin ? this.admin.close(() => res()) : res()));
    await this.shared.close();
    this.log.info('stopped');
    this.resolveExit(code);
  }

  private async startAdmin(): Promise<void> {
    const a = this.config.admin;
    if (!a.enabled) return;
    this.admin = createServer((req, res) => {
      const url = req.url ?? '/';
      const u = new URL(url, 'http://admin');
      if (this.shared.handle(req, res, u.pathname, u.searchParams)) return;
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { 'content-type': 'application/json', allow: 'GET, HEAD' }).end('{"message":"Method Not Allowed"}');
      } else if (url === '/health') {
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
      } else if (url === '/ready') {
        const want = this.slots.filter((s) => !s.gaveUp).length;
        const ok = !this.shuttingDown && this.ready.size >= want && want > 0;
        res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' })
          .end(JSON.stringify({ ready: ok, workers: this.ready.size, expected: want, pids: [...this.ready].map((w) => w.process.pid) }));
      } else if (url === '/metrics') {
        void this.collect().then(() => {
          const text = this.aggregator.render({
            gauges: {
              gateway_workers: [{ help: 'Workers ready to serve.', value: this.ready.size }],
            },
          });
          res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }).end(text);
        });
      } else {
        res.writeHead(404, { 'content-type': 'application/json' }).end('{"message":"Not Found"}');
      }
    });
    await new Promise<void>((resolve, reject) => {
      this.admin!.once('error', reject);
      this.admin!.listen(a.port, a.host, () => resolve());
    });
  }

  /** Memory store: each worker's count of these counters, summed (bounded wait). */
  private workerCounts(keys: string[]): Promise<number[]> {
    const workers = [...this.ready];
    const sums = keys.map(() => 0);
    if (workers.length === 0) return Promise.resolve(sums);
    const nonce = ++this.usageNonce;
    return new Promise((resolve) => {
      const done = () => { clearTimeout(timer); this.usageWaiters.delete(nonce); resolve(sums); };
      const timer = setTimeout(done, 1000);
      this.usageWaiters.set(nonce, { pending: new Set(workers), sums, done });
      for (const w of workers) this.send(w, { type: 'usage', nonce, keys });
    });
  }

  /** Fresh snapshots from every ready worker (bounded wait), so /metrics is current. */
  private collect(): Promise<void> {
    const workers = [...this.ready];
    if (workers.length === 0) return Promise.resolve();
    const nonce = ++this.snapshotNonce;
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.snapshotWaiters.delete(nonce);
        resolve();
      };
      const timer = setTimeout(done, 500);
      this.snapshotWaiters.set(nonce, { pending: new Set(workers), done });
      for (const w of workers) this.send(w, { type: 'snapshot', nonce });
    });
  }
}

function withTimeout(p: Promise<unknown>, ms: number, onTimeout: () => void): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => { onTimeout(); resolve(); }, ms);
    void p.then(() => { clearTimeout(timer); resolve(); });
  });
}

function assertPortFree(host: string, port: number): Promise<void> {
  if (port === 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const s = createNetServer();
    s.once('error', (e: NodeJS.ErrnoException) => {
      reject(new Error(e.code === 'EADDRINUSE' ? `port ${port} on ${host} is already in use` : `cannot listen on ${host}:${port}: ${e.message}`));
    });
    s.listen({ host, port, exclusive: true }, () => s.close(() => resolve()));
  });
}

/** Each worker's serial (the generation part of its GATEWAY_WORKER_ID, "slot.serial"). */
const workerSerials = new WeakMap<Worker, number>();

function serialOf(w: Worker): number {
  return workerSerials.get(w) ?? -1;
}
