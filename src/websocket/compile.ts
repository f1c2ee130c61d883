/**
 * WebSocket API parts of the plan: route integrations (function, http_proxy, mock) as WsRoute
 * callers, and the @connections management API as HTTP handlers.
 *
 * @connections (https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-how-to-call-websocket-api-connections.html),
 * on the API's own stage path as AWS serves it (`POST|GET|DELETE /{stage}/@connections/{id}`), with
 * the bodies and `x-amzn-ErrorType` headers the AWS SDK's ApiGatewayManagementApi client reads
 * (restJson1: GetConnection answers `{connectedAt, identity: {sourceIp, userAgent}, lastActiveAt}`
 * with RFC 3339 times; PostToConnection 200; DeleteConnection 204; GoneException 410,
 * PayloadTooLargeException 413, LimitExceededException 429).
 */
import type { FunctionPool } from '../functions/pool.js';
import { PoolError } from '../functions/pool.js';
import { ACCOUNT_ID } from '../integrations/function.js';
import { fetchBuffered, FetchError } from '../upstream/fetch.js';
import type { UpstreamGroup } from '../upstream/group.js';
import { readBody } from '../worker/body.js';
import type { RequestContext } from '../worker/context.js';
import { sendComplete, sendError } from '../worker/respond.js';
import { TOPIC, type ConnectionReply, type WsApi, type WsEffects, type WsResult, type WsRuntime } from './runtime.js';

/**
 * A function integration's answer: `{statusCode, body}` as for HTTP, or any value sent as it is (JSON
 * for non-strings). Beyond AWS, the object may carry `subscribe` / `unsubscribe` (topic names, for
 * the calling connection) and `publish` (`{topic, data}` or a list of them: broadcasts).
 */
export function wsResultOf(result: unknown): WsResult {
  if (result === null || result === undefined) return { ok: true, status: 200, body: null };
  if (typeof result === 'string') return { ok: true, status: 200, body: result };
  if (typeof result === 'object' && !Array.isArray(result) && 'statusCode' in result) {
    const r = result as { statusCode: unknown; body?: unknown; subscribe?: unknown; unsubscribe?: unknown; publish?: unknown };
    const status = Number(r.statusCode);
    if (!Number.isInteger(status) || status < 100 || status > 599) return { ok: false, message: `statusCode ${JSON.stringify(r.statusCode)} is not an HTTP status` };
    const body = r.body === undefined || r.body === null ? null : typeof r.body === 'string' ? r.body : JSON.stringify(r.body);
    const effects = effectsOf(r);
    if (typeof effects === 'string') return { ok: false, message: effects };
    return effects === null ? { ok: true, status, body } : { ok: true, status, body, effects };
  }
  return { ok: true, status: 200, body: JSON.stringify(result) };
}

function topicList(v: unknown, what: string): string[] | string {
  if (!Array.isArray(v) || !v.every((t) => typeof t === 'string' && TOPIC.test(t))) return `${what} must be a list of topic names (1-128 of A-Z a-z 0-9 _ . : ~ -)`;
  return v as string[];
}

/** The topic effects of an answer; a string says what is wrong with them. */
function effectsOf(r: { subscribe?: unknown; unsubscribe?: unknown; publish?: unknown }): WsEffects | null | string {
  if (r.subscribe === undefined && r.unsubscribe === undefined && r.publish === undefined) return null;
  const e: WsEffects = {};
  if (r.subscribe !== undefined) {
    const l = topicList(r.subscribe, 'subscribe');
    if (typeof l === 'string') return l;
    e.subscribe = l;
  }
  if (r.unsubscribe !== undefined) {
    const l = topicList(r.unsubscribe, 'unsubscribe');
    if (typeof l === 'string') return l;
    e.unsubscribe = l;
  }
  if (r.publish !== undefined) {
    const list = Array.isArray(r.publish) ? r.publish : [r.publish];
    const out: { topic: string; data: string }[] = [];
    for (const p of list) {
      if (typeof p !== 'object' || p === null || typeof (p as { topic?: unknown }).topic !== 'string' || !TOPIC.test((p as { topic: string }).topic)) return 'publish needs {topic, data} with a valid topic name';
      const d = (p as { data?: unknown }).data;
      out.push({ topic: (p as { topic: string }).topic, data: typeof d === 'string' ? d : JSON.stringify(d ?? null) });
    }
    e.publish = out;
  }
  return e;
}

export interface WsFunctionTarget {
  pool: FunctionPool;
  module: string;
  exportName: string;
  timeoutMs: number;
  functionName: string;
  memoryMB: number;
}

export function functionCaller(t: WsFunctionTarget): (event: Record<string, unknown>, requestId: string) => Promise<WsResult> {
  return async (event, requestId) => {
    try {
      const reply = await t.pool.invokeEvent({
        module: t.module, exportName: t.exportName, event, timeoutMs: t.timeoutMs, functionName: t.functionName,
        memoryLimitInMB: t.memoryMB, requestId, accountId: ACCOUNT_ID,
      });
      return reply.ok ? wsResultOf(reply.result) : { ok: false, message: `${reply.failure.kind}: ${reply.failure.message}` };
    } catch (e) {
      return { ok: false, message: `${e instanceof PoolError ? e.kind : 'internal'}: ${(e as Error).message}` };
    }
  };
}

export interface WsHttpTarget {
  group: UpstreamGroup;
  path: string;
  timeoutMs: number;
  connectTimeoutMs: number;
  staticHeaders: string;
  maxResponseBytes: number;
  onUpstreamError(kind: string): void;
}

/**
 * HTTP integration of a WebSocket route: the message is POSTed (empty for $connect/$disconnect),
 * with the connection id, route key and event type in headers (x-connection-id, x-route-key,
 * x-event-type) since there is no parameter mapping here; the response's status and body are the
 * integration's answer.
 */
export function httpCaller(t: WsHttpTarget): (event: Record<string, unknown>, requestId: string) => Promise<WsResult> {
  return async (event, requestId) => {
    const rc = event['requestContext'] as Record<string, unknown>;
    const body = typeof event['body'] === 'string' ? Buffer.from(event['body'] as string, event['isBase64Encoded'] === true ? 'base64' : 'utf8') : null;
    const headers = `x-connection-id: ${String(rc['connectionId'])}\r\nx-route-key: ${headerSafe(String(rc['routeKey']))}\r\nx-event-type: ${String(rc['eventType'])}\r\n`
      + `x-request-id: ${requestId}\r\n${body !== null ? 'content-type: application/octet-stream\r\n' : ''}${t.staticHeaders}`;
    try {
      const r = await fetchBuffered(t.group, {
        method: 'POST', path: t.path, headers, body: body ?? Buffer.alloc(0), connectTimeoutMs: t.connectTimeoutMs, timeoutMs: t.timeoutMs,
        maxResponseBytes: t.maxResponseBytes, onUpstreamError: t.onUpstreamError,
      });
      const text = r.body.length > 0 ? r.body.toString('utf8') : null;
      // Topic effects from response headers: x-subscribe / x-unsubscribe, comma-separated names.
      const e: WsEffects = {};
      for (let i = 0; i < r.headers.length; i += 2) {
        const name = r.headers[i];
        if (name !== 'x-subscribe' && name !== 'x-unsubscribe') continue;
        const topics = r.headers[i + 1]!.split(',').map((x) => x.trim()).filter((x) => TOPIC.test(x));
        if (name === 'x-subscribe') (e.subscribe ??= []).push(...topics);
        else (e.unsubscribe ??= []).push(...topics);
      }
      return e.subscribe === undefined && e.unsubscribe === undefined ? { ok: true, status: r.status, body: text } : { ok: true, status: r.status, body: text, effects: e };
    } catch (e) {
      return { ok: false, message: `${e instanceof FetchError ? e.kind : 'internal'}: ${(e as Error).message}` };
    }
  };
}

function headerSafe(s: string): string {
  return s.replace(/[\x00-\x1f\x7f]/g, '');
}

// ---------------------------------------------------------------------------------------------
// @connections

const ERROR_TYPES: Record<number, [string, string]> = {
  410: ['GoneException', 'Gone'],
  413: ['PayloadTooLargeException', 'Message too long'],
  429: ['LimitExceededException', 'Limit exceeded'],
};

function answer(ctx: RequestContext, r: ConnectionReply): void {
  if (r.status === 200) {
    if (r.info === undefined) return sendComplete(ctx, 200, [], null);
    const body = JSON.stringify({
      connectedAt: new Date(r.info.connectedAt).toISOString(),
      identity: { sourceIp: r.info.sourceIp, userAgent: r.info.userAgent },
      lastActiveAt: new Date(r.info.lastActiveAt).toISOString(),
    });
    return sendComplete(ctx, 200, ['content-type', 'application/json'], Buffer.from(body));
  }
  if (r.status === 204) return sendComplete(ctx, 204, [], null);
  const [type, message] = ERROR_TYPES[r.status]!;
  sendComplete(ctx, r.status, ['content-type', 'application/json', 'x-amzn-errortype', type], Buffer.from(JSON.stringify({ message })));
}

/** PayloadTooLargeException; `unread`: the rest of the body is still on the wire, so the connection closes. */
function tooLarge(ctx: RequestContext, unread: boolean): void {
  const [type, message] = ERROR_TYPES[413]!;
  sendError(ctx, { code: type, status: 413, statusLine: '413 Payload Too Large', message, body: JSON.stringify({ message }) }, unread, ['x-amzn-errortype', type]);
}

function failed(ctx: RequestContext, e: unknown): void {
  ctx.errorMessage = `@connections: ${(e as Error).message}`;
  sendComplete(ctx, 500, ['content-type', 'application/json'], Buffer.from('{"message":"Internal server error"}'));
}

const BAD_TOPIC = (ctx: RequestContext): void => sendComplete(ctx, 400, ['content-type', 'application/json', 'x-amzn-errortype', 'BadRequestException'], Buffer.from('{"message":"Invalid topic name"}'));

/**
 * The @connections handlers and, beyond AWS, topics and broadcast (IAM authorization is wrapped
 * around them by the plan): PUT/DELETE @connections/{id}/topics/{topic} (204), POST
 * @broadcast/{topic} (200 {"messageId"}).
 */
export function connectionHandlers(ws: WsRuntime, api: WsApi, maxMessageBytes: number): Record<'post' | 'get' | 'del' | 'subscribe' | 'unsubscribe' | 'broadcast', (ctx: RequestContext) => void> {
  const idOf = (ctx: RequestContext): string => ctx.params?.['connectionId'] ?? '';
  const topicOf = (ctx: RequestContext): string | null => {
    const t = ctx.params?.['topic'] ?? '';
    return TOPIC.test(t) ? t : null;
  };
  const topicOp = (op: 'subscribe' | 'unsubscribe') => (ctx: RequestContext): void => {
    const topic = topicOf(ctx);
    if (topic === null) return BAD_TOPIC(ctx);
    ws.operate({ op, id: idOf(ctx), topic }).then((r) => answer(ctx, r), (e: unknown) => failed(ctx, e));
  };
  return {
    subscribe: topicOp('subscribe'),
    unsubscribe: topicOp('unsubscribe'),
    broadcast: (ctx) => {
      const topic = topicOf(ctx);
      if (topic === null) return BAD_TOPIC(ctx);
      readBody(ctx, maxMessageBytes, (body) => {
        if (body !== null && body.byteLength > maxMessageBytes) return tooLarge(ctx, false);
        ws.broadcast(api, topic, body === null ? Buffer.alloc(0) : Buffer.from(body.buffer, body.byteOffset, body.byteLength)).then(
          (id) => sendComplete(ctx, 200, ['content-type', 'application/json'], Buffer.from(JSON.stringify({ messageId: id }))),
          (e: unknown) => failed(ctx, e),
        );
      }, (c) => tooLarge(c, true));
    },
    post: (ctx) => {
      // The body may have been read already (IAM, to check a signature over it): its size is checked either way.
      readBody(ctx, maxMessageBytes, (body) => {
        if (body !== null && body.byteLength > maxMessageBytes) return tooLarge(ctx, false);
        ws.operate({ op: 'post', id: idOf(ctx), data: body ?? new Uint8Array(0) }).then((r) => answer(ctx, r), (e: unknown) => failed(ctx, e));
      }, (c) => tooLarge(c, true));
    },
    get: (ctx) => {
      ws.operate({ op: 'get', id: idOf(ctx) }).then((r) => answer(ctx, r), (e: unknown) => failed(ctx, e));
    },
    del: (ctx) => {
      ws.operate({ op: 'delete', id: idOf(ctx) }).then((r) => answer(ctx, r), (e: unknown) => failed(ctx, e));
    },
  };
}
