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

/** What an integration answered: a status (decides $connect) and a body (the route response). */
export type WsResult = { ok: true; status: number; body: string | null } | { ok: false; message: string };

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
  | { op: 'delete'; id: string };

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
    };
    const upgrade = (): void => {
      if (ctx.aborted || ctx.done) return;
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
      if (r.ok && r.status >= 200 && r.status < 300) return upgrade();
      const status = r.ok ? r.status : 500;
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
      sendPingsAutomatically: true,
      upgrade: upgrade as never,
      open: (ws) => {
        this.connections.set(ws.getUserData().id, ws);
      },
      message: (ws, message, isBinary) => this.onMessage(ws, message, isBinary),
      close: (ws, code, message) => this.onClose(ws, code, message),
    };
  }

  private onMessage(ws: WebSocket<WsUserData>, message: ArrayBuffer, isBinary: boolean): void {
    const u = ws.getUserData();
    u.lastActiveAt = Date.now();
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
    if (route === undefined || route === null) {
      // AWS: no route for the key and no $default.
      ws.send(errorFrame('Forbidden', u.id, requestId), false);
      return;
    }
    const event = messageEvent(this.base(u, route.key, requestId), newMessageId(), body, binary);
    route.call(event, requestId).then((r) => {
      if (u.closed) return;
      if (!r.ok) {
        this.onError(`route ${route.key}`, r.message);
        ws.send(errorFrame('Internal server error', u.id, requestId), false);
      } else if (route.routeResponse && r.body !== null) {
        ws.send(r.body, false);
      }
    }, (e: unknown) => this.onError(`route ${route.key}`, e));
  }

  private onClose(ws: WebSocket<WsUserData>, code: number, message: ArrayBuffer): void {
    const u = ws.getUserData();
    u.closed = true;
    this.connections.delete(u.id);
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
    if (owner === null || owner.node !== this.owner.node) return { status: 410 };
    if (owner.worker === this.owner.worker) return this.local(op);
    if (this.remote === null) return { status: 410 };
    return this.remote(owner, op);
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
      case 'post': {
        // Refused while the client's queue is past half the limit: a burst of posts cannot push it over (and get it dropped).
        if (ws.getBufferedAmount() > u.api.settings.maxBackpressureBytes / 2) return { status: 429 };
        const data = op.data;
        ws.cork(() => ws.send(data, !isUtf8(data)));
        return { status: 200 };
      }
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
