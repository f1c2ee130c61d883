import { fromWire, toWire, WsRuntime, type ConnectionReply } from '../websocket/runtime.js';
import { LocalBus, RedisBus, type WsBus } from '../websocket/bus.js';
import { performance } from 'node:perf_hooks';
import { compilePlan } from '../compile/plan.js';
import { resolveWorkers } from '../config/index.js';
import type { Plan } from '../compile/plan.js';
import type { FromWorker, ToWorker } from '../master/messages.js';
import { createAccessLog } from '../observability/access-log.js';
import { epochFromMono } from '../observability/clock.js';
import { createLogger } from '../observability/log.js';
import { startSnapshotReporter, WorkerMetrics } from '../observability/metrics.js';
import { GatewayApp } from './app.js';
import { setForwardedProto } from '../integrations/http-proxy.js';
import type { RequestContext } from './context.js';
import { createSharedState, EVENTS_CHANNEL, type SharedEvent, type SharedState } from '../store/runtime.js';
import { RedisStore } from '../store/redis.js';

/**
 * Worker process entry (forked by the master). Waits for its config over IPC, compiles the plan,
 * listens on the shared port, reports ready, sends metrics snapshots, and drains on request.
 */

const log = createLogger('worker');
let app: GatewayApp | null = null;
let plan: Plan | null = null;
let draining = false;
let accessLog: ReturnType<typeof createAccessLog> | null = null;
let metrics: WorkerMetrics | null = null;
let drainTimeoutMs = 30_000;
let reporter: ReturnType<typeof startSnapshotReporter> | null = null;
let shared: SharedState | null = null;
let bus: WsBus | null = null;
/** This worker's WebSocket connections; its ids name this node and this worker's serial. */
const websocket = new WsRuntime(
  { node: Number(process.env['GATEWAY_NODE_ID'] ?? 0), worker: Number((process.env['GATEWAY_WORKER_ID'] ?? '0.0').split('.')[1] ?? 0) },
  (what, e) => log.warn({ websocket: what, error: e instanceof Error ? e.message : String(e) }, 'websocket integration failed'),
);
/** @connections operations sent to other workers of this node, by request id. */
const wsPending = new Map<number, { resolve: (r: ConnectionReply) => void; timer: NodeJS.Timeout }>();
let wsReqId = 0;
// A worker that does not answer within this (it is exiting) holds no connection any more.
const WS_REMOTE_TIMEOUT_MS = 5000;
websocket.remote = (owner, op) => new Promise((resolve) => {
  const reqId = ++wsReqId;
  const timer = setTimeout(() => {
    wsPending.delete(reqId);
    resolve({ status: 410 });
  }, WS_REMOTE_TIMEOUT_MS);
  wsPending.set(reqId, { resolve, timer });
  send({ type: 'ws-op', to: owner.worker, reqId, op: toWire(op) });
});

/** Tells this worker's own cache events apart when they come back (pub/sub or the master's relay). */
const WORKER_TAG = `${process.pid}:${Math.random().toString(36).slice(2)}`;

/** A cache flush or key change, from the master (IPC) or another node (Redis pub/sub). */
function applyEvent(ev: SharedEvent): void {
  if (shared === null) return;
  if (ev.type === 'cache-flush') shared.l1?.deletePrefix(ev.prefix);
  else if (ev.type === 'cache-evict') { if (ev.from !== WORKER_TAG) shared.l1?.delete(ev.key); }
  else if (shared.store.kind === 'memory') shared.keys.put(ev.record, ev.hash);
  else shared.keys.invalidate(ev.hash);
}

function send(msg: FromWorker): void {
  if (process.connected) process.send!(msg);
}

async function start(msg: Extract<ToWorker, { type: 'start' }>): Promise<void> {
  const config = msg.config;
  drainTimeoutMs = config.shutdown.drainTimeoutMs;
  try {
    const sh = createSharedState(config, {
      connect: true,
      onStateChange: (up, reason) => {
        if (metrics !== null) metrics.storeUp = up;
        if (up) log.info({ store: 'redis' }, 'redis reachable: shared limits and cache in use');
        else log.warn({ store: 'redis', reason, failMode: config.throttling.failMode }, `redis unreachable: throttling fails ${config.throttling.failMode}, cache bypassed`);
      },
      onStoreError: () => metrics?.count('store', 'redis', 'error'),
    });
    shared = sh;
    for (const r of msg.keys ?? []) sh.keys.put(r, r.hash);
    if (sh.store instanceof RedisStore) {
      const rs = sh.store;
      rs.subscribe(EVENTS_CHANNEL, (text) => {
        try { applyEvent(JSON.parse(text) as SharedEvent); } catch { /* not ours */ }
      });
      // Start without waiting for Redis: limits fail open/closed until it answers.
      await rs.ready(2000).catch(() => log.warn({ store: 'redis' }, 'redis not reachable at start: serving with the fallback'));
    }
    // Memory store with one worker: no other L1 to tell about a refresh.
    const peers = resolveWorkers(config.workers) > 1;
    plan = compilePlan(config, {
      onUpstreamError: (id, kind) => metrics?.upstreamError(id, kind),
      onFunctionFailure: (id, kind) => metrics?.functionError(plan!.routes[id]!.routeKey, kind),
      shared: sh,
      onRefused: (routeKey, kind) => metrics?.count('throttle', routeKey, kind),
      onCache: (routeKey, kind) => metrics?.count('cache', routeKey, kind),
      websocket,
      onCacheEvict: (key: string) => {
        const event: SharedEvent = { type: 'cache-evict', key, from: WORKER_TAG };
        // Redis: every worker of every node hears it on pub/sub; memory store: the master relays it to this node's workers.
        if (sh.store instanceof RedisStore) void sh.store.publish(EVENTS_CHANNEL, JSON.stringify(event)).catch(() => {});
        else if (peers) send({ type: 'event', event });
      },
    });
    // WebSocket broadcasts: Redis streams across nodes, else the master relays within the node.
    if (plan.websockets.length > 0) {
      websocket.retentionMessages = Math.max(...plan.websockets.map((w) => w.settings.retentionMessages));
      websocket.retentionMs = 1000 * Math.max(...plan.websockets.map((w) => w.settings.retentionSeconds));
      const redis = config.store.redis;
      if (sh.store instanceof RedisStore && redis !== undefined) {
        const rb = new RedisBus({ ...redis, maxLen: websocket.retentionMessages, startWaitMs: sh.store.isUp ? 2000 : 0 }, (e) => log.warn({ bus: 'redis', error: e.message }, 'websocket bus: redis read failed; resuming from the last id'));
        // @connections calls for connections on other nodes travel over Redis too.
        rb.serve(websocket.owner, (w) => websocket.local(fromWire(w)), redis);
        websocket.remoteNode = (owner, op) => rb.request(owner, toWire(op));
        websocket.registry = rb;
        bus = rb;
      } else {
        bus = new LocalBus((m) => send(m));
      }
      await websocket.startBus(bus);
    }
    // Threads up and every handler imported before the worker takes traffic: a broken handler fails the start.
    await plan.startFunctions();
    metrics = new WorkerMetrics(plan.routes.map((r) => r.routeKey), plan.upstreamNames);
    if (plan.websockets.length > 0) {
      const m = metrics;
      m.wsConnections = () => websocket.connections.size;
      websocket.count = (api, kind) => m.count('websocket', api, kind);
    }
    if (sh.store instanceof RedisStore) metrics.storeUp = sh.store.isUp;
    const wm = metrics;
    const logEnabled = config.accessLog.enabled;
    const al = createAccessLog(logEnabled ? config.accessLog.destination : false);
    accessLog = al;
    const completed = (ctx: RequestContext) => {
      wm.requestEnded();
      const now = performance.now();
      const route = ctx.route;
      const latency = now - ctx.startMs;
      const integration = ctx.integrationStartMs === 0 ? -1 : (ctx.integrationEndMs === 0 ? now : ctx.integrationEndMs) - ctx.integrationStartMs;
      wm.request(route === null ? 0 : route.id, ctx.status, latency, ctx.bytesOut);
      if (integration >= 0) wm.integrationLatency(route === null ? 0 : route.id, integration);
      if (!logEnabled) return; // no entry object to build and drop
      al.log({
        requestId: ctx.requestId,
        ip: ctx.ip,
        requestTimeEpoch: epochFromMono(ctx.startMs),
        httpMethod: ctx.method,
        routeKey: route === null ? '-' : route.routeKey,
        path: ctx.url,
        status: ctx.status,
        protocol: 'HTTP/1.1',
        responseLength: ctx.bytesOut,
        integrationLatency: integration < 0 ? null : Math.round(integration),
        responseLatency: Math.round(latency),
        integrationStatus: ctx.integrationEndMs !== 0 && ctx.status < 600 ? ctx.status : null,
        errorMessage: ctx.errorMessage === '' ? null : ctx.errorMessage,
        userAgent: ctx.header('user-agent') ?? null,
      });
    };
    app = new GatewayApp(plan, {
      limits: config.limits,
      requestIdHeader: config.requestId.header.toLowerCase(),
      trustIncomingRequestId: config.requestId.trustIncoming,
      started: () => wm.requestStarted(),
      completed,
      ...(config.listen.tls !== undefined ? { tls: config.listen.tls } : {}),
      websocket,
    });
    setForwardedProto(config.listen.tls !== undefined ? 'https' : 'http');
    const port = await app.listen(config.listen.host, config.listen.port);
    const redirect = config.listen.tls?.redirectHttp;
    if (redirect !== undefined) await app.listenRedirect(config.listen.host, redirect.port, redirect.status, redirect.httpsPort);
    plan.start();
    send({ type: 'ready', port, planVersion: plan.version });
    reporter = startSnapshotReporter(wm, (snapshot) => send({ type: 'metrics', snapshot }));
  } catch (e) {
    log.error({ error: (e as Error).message }, 'worker start failed');
    send({ type: 'fatal', message: (e as Error).message });
    process.exit(1);
  }
}

async function drain(): Promise<void> {
  if (draining) return;
  draining = true;
  websocket.closeAll();
  if (app !== null) {
    const clean = await app.drain(drainTimeoutMs);
    if (!clean) log.warn({ inflight: app.inflight }, 'drain timeout: exiting with requests in flight');
  }
  reporter?.stop();
  reporter?.sendNow(); // final counts, so the master's totals include this worker's last requests
  await plan?.close();
  await bus?.close();
  await shared?.close(); // leased tokens and quota units go back to Redis
  await accessLog?.flush();
  process.exit(0);
}

process.on('message', (msg: ToWorker) => {
  switch (msg.type) {
    case 'start': void start(msg); break;
    case 'drain': void drain(); break;
    case 'snapshot':
      if (metrics !== null) send({ type: 'metrics', snapshot: metrics.snapshot(), nonce: msg.nonce });
      break;
    case 'event': applyEvent(msg.event); break;
    case 'ws-op': {
      send({ type: 'ws-reply', to: msg.from, reqId: msg.reqId, reply: websocket.local(fromWire(msg.op)) });
      break;
    }
    case 'ws-published':
      if (bus instanceof LocalBus) bus.published(msg.reqId, msg.id);
      break;
    case 'ws-deliver':
      if (bus instanceof LocalBus) bus.delivered(msg);
      break;
    case 'ws-reply': {
      const p = wsPending.get(msg.reqId);
      if (p !== undefined) {
        wsPending.delete(msg.reqId);
        clearTimeout(p.timer);
        p.resolve(msg.reply);
      }
      break;
    }
    case 'usage':
      if (shared !== null) {
        const store = shared.store;
        void Promise.all(msg.keys.map((k) => store.count(k).catch(() => 0))).then((counts) => send({ type: 'usage', nonce: msg.nonce, counts }));
      }
      break;
  }
});
// Ctrl-C reaches the whole process group: the master decides, workers wait for its 'drain'.
process.on('SIGINT', () => {});
process.on('SIGTERM', () => void drain());
// Master gone (even kill -9): finish what is in flight and leave.
process.on('disconnect', () => void drain());
send({ type: 'hello' });
process.on('uncaughtException', (e) => {
  log.fatal({ error: e.stack ?? String(e) }, 'uncaught exception in worker');
  process.exit(70);
});
