/**
 * The WebSocket side of one worker: the connections it owns, the uWS behaviours of its WebSocket
 * APIs, route dispatch, and the @connections operations (run here for local ids, handed to the
 * owning worker for the others).
 *
 * Limits (AWS, https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html): message
 * 128 KB (larger closes with 1009; see maxPayloadLength below), idle 10 minutes (idleTimeout), connection
 * 2 hours (maxLifetime). Frames: uWS reassembles fragmented messages and bounds the whole message,
 * so a 32 KB frame limit is not enforced separately (a message of many frames is still bounded by
 * maxMessageBytes). Slow consumers: a client whose queued bytes pass maxBackpressureBytes is
 * disconnected (uWS closeOnBackpressureLimit) — memory per connection stays bounded; the
 * @connections API answers 429 before that point when the client's queue is over half the limit.
 */
import { isUtf8 } from 'node:buffer';
import type { HttpResponse, WebSocket, WebSocketBehavior } from '../../native/uws.js';
import type { WebSocketSettings } from '../config/index.js';
import { statusLine } from '../errors.js';
import { eventAuthorizer } from '../functions/payload.js';
import { epochFromMono } from '../observability/clock.js';
import { hostWithoutPort, type RequestContext } from '../worker/context.js';
import { finish } from '../worker/respond.js';
import { connectEvent, disconnectEvent, messageEvent, type WsEventBase } from './events.js';
import { newConnectionId, newMessageId, ownerOf, type ConnectionOwner } from './ids.js';
import type { RouteSelector } from './selection.js';
import type { WireOp } from '../master/messages.js';
import { BUS_ID, compareIds, type BusMessage, type RedisBus, type WsBus } from './bus.js';

/**
 * What an integration answered: a status (decides $connect), a body (the route response) and, beyond
 * AWS, topic effects: subscribe / unsubscribe the calling connection, publish broadcasts.
 */
export type WsResult = { ok: true; status: number; body: string | null; effects?: WsEffects } | { ok: false; message: string };

export interface WsEffects {
  subscribe?: string[];
  unsubscribe?: string[];
  publish?: { topic: string; data: string }[];
}

/** How often a busy connection's registry entry is rewritten (Redis store): lastActiveAt is that coarse there. */
const REGISTRY_REFRESH_MS = 30_000;

/** Subscriptions one connection may hold: per-connection memory stays bounded (further subscribes are ignored). */
const MAX_TOPICS_PER_CONNECTION = 1000;

/** Topic names: safe as one URL path segment (@connections/{id}/topics/{topic}, @broadcast/{topic}). */
export const TOPIC = /^[A-Za-z0-9_.:~-]{1,128}$/;

export interface WsRoute {
  key: string;
  /** Two-way route: the integration's body goes back to the client. */
  routeResponse: boolean;
  call(event: Record<string, unknown>, requestId: string): Promise<WsResult>;
}

/** One compiled WebSocket API (per worker plan). */
export interface WsApi {
  name: string;
  stage: string;
  /** "{name}/{stage}": the bus's API field, the metrics label, the topic key prefix (built once). */
  id: string;
  /** "" for $default, else "/{stage}": the connection URL's path. */
  prefix: string;
  select: RouteSelector;
  routes: ReadonlyMap<string, WsRoute>;
  connect: WsRoute | null;
  disconnect: WsRoute | null;
  defaultRoute: WsRoute | null;
  settings: WebSocketSettings;
}

export interface WsUserData {
  id: string;
  api: WsApi;
  connectedAt: number;
  lastActiveAt: number;
  sourceIp: string;
  userAgent: string;
  domainName: string;
  /** Handshake headers: the DISCONNECT event carries them too. */
  headers: string[];
  authorizer: Record<string, unknown> | null;
  /** Set once uWS reports the close: the socket must not be touched after it. */
  closed: boolean;
  /** Why the gateway closed it (@connections DELETE, drain), for $disconnect's reason. */
  closeReason: string | null;
  /** Topics it is subscribed to (uWS topic keys). */
  topics: Set<string>;
  /** lastMessageId the client gave at connect: every subscription first replays what came after it. */
  resumeFrom: string | null;
  /** Effects of the $connect answer, applied once the socket is open. */
  pending: WsEffects | null;
  /** When the registry entry was last written (Redis store). */
  registeredAt: number;
}

/** An upgrade waiting for $connect: what res.upgrade needs, copied out of the request. */
export interface PendingUpgrade {
  api: WsApi;
  key: string;
  protocol: string;
  extensions: string;
  context: unknown;
}

/** @connections operations, answered by the worker that owns the connection. */
export type ConnectionOp =
  | { op: 'post'; id: string; data: Uint8Array }
  | { op: 'get'; id: string }
  | { op: 'delete'; id: string }
  | { op: 'subscribe' | 'unsubscribe'; id: string; topic: string };

export type ConnectionReply =
  | { status: 200; info?: { connectedAt: number; lastActiveAt: number; sourceIp: string; userAgent: string } }
  | { status: 204 | 410 | 429 };

/** Hands an operation to another worker of this node (IPC through the master); null owner unknown. */
export type RemoteOps = (owner: ConnectionOwner, op: ConnectionOp) => Promise<ConnectionReply>;

/** What an error frame says when a message cannot be routed or its integration fails (AWS's shape). */
function errorFrame(message: string, connectionId: string, requestId: string): string {
  return JSON.stringify({ message, connectionId, requestId });
}

export class WsRuntime {
  readonly connections = new Map<string, WebSocket<WsUserData>>();
  /** Set by the worker: a way to reach the other workers of this node. */
  remote: RemoteOps | null = null;

  constructor(readonly owner: ConnectionOwner, private readonly onError: (what: string, e: unknown) => void = () => {}) {}

  /** Counts an event for an API stage (metrics family 'websocket'); set by the worker. */
  count: (api: string, kind: 'connect' | 'refused' | 'disconnect' | 'message' | 'integration_error' | 'broadcast') => void = () => {};

  newId(): string {
    return newConnectionId(this.owner);
  }

  base(u: WsUserData, routeKey: string, requestId: string): WsEventBase {
    return {
      routeKey, connectionId: u.id, connectedAt: u.connectedAt, stage: u.api.stage, apiId: u.api.name, domainName: u.domainName,
      sourceIp: u.sourceIp, userAgent: u.userAgent, requestId, requestTimeEpoch: Date.now(), authorizer: u.authorizer,
    };
  }

  /**
   * The end of the $connect pipeline (after IP policy, authorization and limits): runs the $connect
   * integration and upgrades on a 2xx, else answers with its status (AWS rejects the handshake so).
   */
  accept(ctx: RequestContext, up: PendingUpgrade): void {
    const api = up.api;
    const now = Date.now();
    const u: WsUserData = {
      id: this.newId(), api, connectedAt: now, lastActiveAt: now, sourceIp: ctx.clientIp, userAgent: ctx.header('user-agent') ?? '',
      domainName: hostWithoutPort(ctx.host), headers: ctx.headers, authorizer: ctx.authorizer === null ? null : eventAuthorizer(ctx.authorizer, false), closed: false, closeReason: null,
      topics: new Set(), resumeFrom: resumePoint(ctx.query), pending: null, registeredAt: 0,
    };
    const upgrade = (): void => {
      if (ctx.aborted || ctx.done) return;
      this.count(api.id, 'connect');
      ctx.status = 101;
      ctx.res.cork(() => ctx.res.upgrade(u, up.key, up.protocol, up.extensions, up.context as never));
      finish(ctx);
    };
    if (api.connect === null) return upgrade();
    const requestId = ctx.requestId;
    const event = connectEvent({ ...this.base(u, '$connect', requestId), requestTimeEpoch: epochFromMono(ctx.startMs) }, ctx.headers, ctx.query);
    ctx.integrationStartMs = performance.now();
    api.connect.call(event, requestId).then((r) => {
      ctx.integrationEndMs = performance.now();
      if (ctx.aborted || ctx.done) return;
      if (r.ok && r.status >= 200 && r.status < 300) {
        u.pending = r.effects ?? null;
        return upgrade();
      }
      const status = r.ok ? r.status : 500;
      this.count(api.id, 'refused');
      if (!r.ok) ctx.errorMessage = `$connect: ${r.message}`.slice(0, 500);
      refuseHandshake(ctx, status, r.ok ? r.body : null);
    }, (e: unknown) => {
      ctx.errorMessage = `$connect: ${(e as Error).message}`;
      if (!ctx.aborted && !ctx.done) refuseHandshake(ctx, 500, null);
    });
  }

  /** The uWS behaviour for a path's WebSocket APIs; `upgrade` is the app's (it runs the HTTP phases). */
  behavior(settings: WebSocketSettings, upgrade: (res: HttpResponse, req: import('../../native/uws.js').HttpRequest, context: unknown) => void): WebSocketBehavior<WsUserData> {
    return {
      // uWS drops a connection whose message passes maxPayloadLength without a close frame (1006); AWS
      // closes with 1009. So uWS gets twice the limit (the memory bound per message) and the message
      // handler closes with 1009 above the limit; only beyond twice the limit does a client see 1006.
      maxPayloadLength: settings.maxMessageBytes * 2,
      idleTimeout: settings.idleTimeoutSeconds,
      maxLifetime: settings.maxConnectionMinutes,
      maxBackpressure: settings.maxBackpressureBytes,
      closeOnBackpressureLimit: 1 as never,
      // AWS closes a connection that sends nothing for the idle timeout; pings from the gateway would
      // keep every silent client alive (their pongs count as traffic), so none are sent.
      sendPingsAutomatically: false,
      upgrade: upgrade as never,
      open: (ws) => {
        const u = ws.getUserData();
        this.connections.set(u.id, ws);
        this.registry?.register(u.id, { ...this.owner, connectedAt: u.connectedAt, lastActiveAt: u.lastActiveAt, sourceIp: u.sourceIp, userAgent: u.userAgent }, this.registryTtl(u));
        u.registeredAt = u.lastActiveAt;
        if (u.pending !== null) {
          const e = u.pending;
          u.pending = null;
          // Not inside open: it runs within the handshake response's cork, and writes to the new
          // socket from there (replayed broadcasts) were seen to break the connection (1006). The
          // next turn is still before any client reaction to the 101 can arrive.
          setImmediate(() => {
            if (!ws.getUserData().closed) ws.cork(() => this.apply(ws, e));
          });
        }
      },
      message: (ws, message, isBinary) => this.onMessage(ws, message, isBinary),
      close: (ws, code, message) => this.onClose(ws, code, message),
    };
  }

  private onMessage(ws: WebSocket<WsUserData>, message: ArrayBuffer, isBinary: boolean): void {
    const u = ws.getUserData();
    u.lastActiveAt = Date.now();
    // The registry's lastActiveAt and expiry are refreshed at most every REGISTRY_REFRESH_MS per connection.
    if (this.registry !== null && u.lastActiveAt - u.registeredAt > REGISTRY_REFRESH_MS) {
      u.registeredAt = u.lastActiveAt;
      this.registry.register(u.id, { ...this.owner, connectedAt: u.connectedAt, lastActiveAt: u.lastActiveAt, sourceIp: u.sourceIp, userAgent: u.userAgent }, this.registryTtl(u));
    }
    const api = u.api;
    if (message.byteLength > api.settings.maxMessageBytes) {
      u.closeReason = 'Message too big';
      ws.end(1009, 'Message too big');
      return;
    }
    // `message` is only valid in this call: decode it now.
    const bytes = Buffer.from(message);
    const binary = isBinary || !isUtf8(bytes);
    const body = binary ? bytes.toString('base64') : bytes.toString('utf8');
    const key = binary ? null : api.select(body);
    const route = (key !== null ? api.routes.get(key) : undefined) ?? api.defaultRoute;
    const requestId = newMessageId();
    this.count(api.id, 'message');
    if (route === undefined || route === null) {
      // AWS: no route for the key and no $default.
      ws.send(errorFrame('Forbidden', u.id, requestId), false);
      return;
    }
    const event = messageEvent(this.base(u, route.key, requestId), newMessageId(), body, binary);
    route.call(event, requestId).then((r) => {
      if (u.closed) return;
      // After an await: writes go through cork (one syscall, and uWS's rule outside its callbacks).
      ws.cork(() => {
        if (!r.ok) {
          this.count(api.id, 'integration_error');
          this.onError(`route ${route.key}`, r.message);
          ws.send(errorFrame('Internal server error', u.id, requestId), false);
        } else {
          if (route.routeResponse && r.body !== null) ws.send(r.body, false);
          if (r.effects !== undefined) this.apply(ws, r.effects);
        }
      });
    }, (e: unknown) => this.onError(`route ${route.key}`, e));
  }

  private onClose(ws: WebSocket<WsUserData>, code: number, message: ArrayBuffer): void {
    const u = ws.getUserData();
    u.closed = true;
    this.connections.delete(u.id);
    this.registry?.unregister(u.id);
    this.count(u.api.id, 'disconnect');
    const d = u.api.disconnect;
    if (d === null) return;
    const text = Buffer.from(message).toString('utf8');
    const reason = u.closeReason ?? (code === 1005 ? 'Client-side close frame status not set' : text !== '' ? text : `Connection closed with status ${code}`);
    const requestId = newMessageId();
    // Best effort, as on AWS: the client is gone, nothing can be answered.
    d.call(disconnectEvent(this.base(u, '$disconnect', requestId), u.headers, code, reason), requestId).then(
      (r) => { if (!r.ok) this.onError('$disconnect', r.message); },
      (e: unknown) => this.onError('$disconnect', e),
    );
  }

  /** An @connections operation on any id: here when this worker owns it, else by the owner. */
  async operate(op: ConnectionOp): Promise<ConnectionReply> {
    const owner = ownerOf(op.id);
    if (owner === null) return { status: 410 };
    if (owner.node === this.owner.node && owner.worker === this.owner.worker) return this.local(op);
    // Another node: over Redis (without Redis there is no other node); another worker here: over the master.
    // A GET on another node's connection is answered from the registry.
    if (op.op === 'get' && owner.node !== this.owner.node && this.registry !== null) {
      const info = await this.registry.lookup(op.id);
      return info === null ? { status: 410 } : { status: 200, info };
    }
    const remote = owner.node === this.owner.node ? this.remote : this.remoteNode;
    if (remote === null) return { status: 410 };
    return remote(owner, op);
  }

  /** Reaches workers of other nodes (Redis); null without Redis. */
  remoteNode: RemoteOps | null = null;
  /** The Redis connection registry (owner, times, identity; expiring); null with the memory store (this map is the registry). */
  registry: Pick<RedisBus, 'register' | 'unregister' | 'lookup'> | null = null;

  /** An entry outlives the connection's idle timeout by a minute, so only a dead owner lets it expire. */
  private registryTtl(u: WsUserData): number {
    return u.api.settings.idleTimeoutSeconds * 1000 + 60_000;
  }

  /** An operation on a connection this worker owns (also what remote calls run). */
  local(op: ConnectionOp): ConnectionReply {
    const ws = this.connections.get(op.id);
    if (ws === undefined) return { status: 410 };
    const u = ws.getUserData();
    if (u.closed) return { status: 410 };
    switch (op.op) {
      case 'get':
        return { status: 200, info: { connectedAt: u.connectedAt, lastActiveAt: u.lastActiveAt, sourceIp: u.sourceIp, userAgent: u.userAgent } };
      case 'delete':
        u.closeReason = 'Connection deleted through the @connections API';
        ws.cork(() => ws.end(1000, 'Goodbye'));
        return { status: 204 };
      case 'subscribe':
        this.subscribe(ws, [op.topic]);
        return { status: 204 };
      case 'unsubscribe':
        this.unsubscribe(ws, [op.topic]);
        return { status: 204 };
      case 'post': {
        // Refused while the client's queue is past half the limit: a burst of posts cannot push it over (and get it dropped).
        if (ws.getBufferedAmount() > u.api.settings.maxBackpressureBytes / 2) return { status: 429 };
        const data = op.data;
        ws.cork(() => ws.send(data, !isUtf8(data)));
        return { status: 200 };
      }
    }
  }

  // ---- topics and broadcast ----

  /** The bus (local or Redis) and the uWS publish of this worker's app; set by the worker. */
  bus: WsBus | null = null;
  publishFrame: ((key: string, frame: string) => void) | null = null;
  /** Recent broadcasts in bus order (replay for reconnecting clients), bounded by count and age. */
  private readonly ring: { id: string; key: string; frame: string; at: number }[] = [];
  private ringStart = 0;
  /** Retention: the largest of the WebSocket APIs' settings (the worker serves them all). */
  retentionMessages = 10_000;
  retentionMs = 300_000;

  /** Starts delivering broadcasts from the bus to this worker's subscribers; resolves once every broadcast published from then on reaches this worker. */
  startBus(bus: WsBus): Promise<void> {
    this.bus = bus;
    return bus.start((m) => this.deliver(m));
  }

  /** A broadcast from a route's answer or the @broadcast API; resolves with its id. */
  broadcast(api: WsApi, topic: string, data: Buffer): Promise<string> {
    if (this.bus === null) return Promise.reject(new Error('no broadcast bus'));
    this.count(api.id, 'broadcast');
    return this.bus.publish(api.id, topic, data);
  }

  private deliver(m: BusMessage): void {
    const key = `${m.api}#${m.topic}`;
    const frame = frameOf(m);
    const now = Date.now();
    this.ring.push({ id: m.id, key, frame, at: now });
    // Trim from the front by count and age, in O(1) amortized (compacted now and then).
    while (this.ring.length - this.ringStart > this.retentionMessages || (this.ringStart < this.ring.length && now - this.ring[this.ringStart]!.at > this.retentionMs)) this.ringStart++;
    if (this.ringStart > 4096 && this.ringStart * 2 > this.ring.length) {
      this.ring.splice(0, this.ringStart);
      this.ringStart = 0;
    }
    const max = this.batchBytes.get(m.api) ?? 0;
    if (max === 0) {
      this.publishFrame?.(key, frame);
      return;
    }
    // Batched: every broadcast of this turn for the topic in one frame per subscriber (one send each
    // instead of one per ~14 KB: uWS corks 16 KB), flushed when the turn ends or the batch is full.
    const bytes = Buffer.byteLength(frame);
    let b = this.batches.get(key);
    if (b === undefined) {
      b = { frames: [], bytes: 0 };
      this.batches.set(key, b);
    } else if (b.frames.length > 0 && b.bytes + 1 + bytes > max) {
      this.publishFrame?.(key, b.frames.join('\n'));
      b.frames.length = 0;
      b.bytes = 0;
    }
    b.frames.push(frame);
    b.bytes += bytes + (b.frames.length > 1 ? 1 : 0);
    if (!this.flushQueued) {
      this.flushQueued = true;
      setImmediate(this.flushBatches);
    }
  }

  /** Per API id (set at compile): websocket.broadcastBatchBytes, 0 or absent = one frame per broadcast. */
  readonly batchBytes = new Map<string, number>();
  private readonly batches = new Map<string, { frames: string[]; bytes: number }>();
  private flushQueued = false;

  /** Sends the pending batches; also before any (un)subscribe, so a new subscriber neither gets a broadcast twice (replay + batch) nor one from before it joined. */
  private readonly flushBatches = (): void => {
    this.flushQueued = false;
    if (this.batches.size === 0) return;
    for (const [key, b] of this.batches) {
      if (b.frames.length > 0) this.publishFrame?.(key, b.frames.length === 1 ? b.frames[0]! : b.frames.join('\n'));
    }
    this.batches.clear();
  };

  private apply(ws: WebSocket<WsUserData>, e: WsEffects): void {
    const u = ws.getUserData();
    if (e.unsubscribe !== undefined) this.unsubscribe(ws, e.unsubscribe);
    if (e.subscribe !== undefined) this.subscribe(ws, e.subscribe);
    if (e.publish !== undefined) {
      for (const p of e.publish) {
        this.broadcast(u.api, p.topic, Buffer.from(p.data)).catch((err: unknown) => this.onError(`publish ${p.topic}`, err));
      }
    }
  }

  /**
   * Subscribes; a client that connected with lastMessageId first gets what it missed on the topic
   * (from this worker's recent broadcasts, or the Redis stream when they go back further), then the
   * live ones, with no gap and no repeat: the replay and the subscription happen in one turn.
   */
  subscribe(ws: WebSocket<WsUserData>, topics: readonly string[]): void {
    this.flushBatches();
    const u = ws.getUserData();
    for (const topic of topics) {
      if (!TOPIC.test(topic)) continue;
      const key = `${u.api.id}#${topic}`;
      if (u.topics.has(key) || u.topics.size >= MAX_TOPICS_PER_CONNECTION) continue;
      u.topics.add(key);
      const after = u.resumeFrom;
      if (after === null) {
        ws.subscribe(key);
        continue;
      }
      const oldest = this.ringStart < this.ring.length ? this.ring[this.ringStart]!.id : null;
      if (this.bus === null || this.bus.kind === 'local' || (oldest !== null && compareIds(oldest, after) <= 0)) {
        this.catchUp(ws, key, after);
        continue;
      }
      // Older than this worker's memory: from the stream, then the rest from memory.
      this.bus.replay(after).then((older) => {
        if (u.closed || !u.topics.has(key)) return;
        const first = this.ringStart < this.ring.length ? this.ring[this.ringStart]!.id : null;
        ws.cork(() => {
          for (const m of older) if (`${m.api}#${m.topic}` === key && (first === null || compareIds(m.id, first) < 0)) ws.send(frameOf(m), false);
        });
        this.catchUp(ws, key, after);
      }, (e: unknown) => {
        this.onError('replay', e);
        if (!u.closed && u.topics.has(key)) this.catchUp(ws, key, after);
      });
    }
  }

  /** Sends the retained broadcasts of `key` after `after`, then subscribes (one synchronous step). */
  private catchUp(ws: WebSocket<WsUserData>, key: string, after: string): void {
    this.flushBatches();
    ws.cork(() => {
      for (let i = this.ringStart; i < this.ring.length; i++) {
        const r = this.ring[i]!;
        if (r.key === key && compareIds(r.id, after) > 0) ws.send(r.frame, false);
      }
      ws.subscribe(key);
    });
  }

  unsubscribe(ws: WebSocket<WsUserData>, topics: readonly string[]): void {
    this.flushBatches();
    const u = ws.getUserData();
    for (const topic of topics) {
      const key = `${u.api.id}#${topic}`;
      if (u.topics.delete(key)) ws.unsubscribe(key);
    }
  }

  /** Drain: every connection closed with 1001 Going Away ($disconnect runs for each). */
  closeAll(): void {
    for (const ws of [...this.connections.values()]) {
      const u = ws.getUserData();
      if (u.closed) continue;
      u.closeReason = 'Going away';
      ws.cork(() => ws.end(1001, 'Going away'));
    }
  }
}

function refuseHandshake(ctx: RequestContext, status: number, body: string | null): void {
  const text = body ?? '';
  ctx.status = status;
  ctx.bytesOut = text.length;
  ctx.headSent = true;
  ctx.res.cork(() => {
    ctx.res.writeStatus(statusLine(status));
    if (body !== null) ctx.res.writeHeader('content-type', 'application/json');
    ctx.res.end(text, true);
  });
  finish(ctx);
}

/** `lastMessageId` from the connect URL's query string (a bus id), or null. */
function resumePoint(query: string): string | null {
  if (query === '' || !query.includes('lastMessageId=')) return null;
  for (const pair of query.split('&')) {
    if (pair.startsWith('lastMessageId=')) {
      const v = decodeURIComponent(pair.slice('lastMessageId='.length));
      return BUS_ID.test(v) ? v : null;
    }
  }
  return null;
}

/** What subscribers receive: `{"topic","id","data"}` (data as text, or base64 with "encoding" for binary payloads). */
function frameOf(m: BusMessage): string {
  return isUtf8(m.data)
    ? JSON.stringify({ topic: m.topic, id: m.id, data: m.data.toString('utf8') })
    : JSON.stringify({ topic: m.topic, id: m.id, data: m.data.toString('base64'), encoding: 'base64' });
}

/** An operation as it crosses processes (IPC or Redis, JSON): post data in base64. */
export function toWire(op: ConnectionOp): WireOp {
  return op.op === 'post' ? { op: 'post', id: op.id, data: Buffer.from(op.data).toString('base64') } : op;
}

export function fromWire(w: WireOp): ConnectionOp {
  return w.op === 'post' ? { op: 'post', id: w.id, data: Buffer.from(w.data, 'base64') } : w;
}
