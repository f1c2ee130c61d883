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
import type { ConnectionReply, WsResult, WsRuntime } from './runtime.js';

/** A function integration's answer: `{statusCode, body}` as for HTTP, or any value sent as it is (JSON for non-strings). */
export function wsResultOf(result: unknown): WsResult {
  if (result === null || result === undefined) return { ok: true, status: 200, body: null };
  if (typeof result === 'string') return { ok: true, status: 200, body: result };
  if (typeof result === 'object' && !Array.isArray(result) && 'statusCode' in result) {
    const r = result as { statusCode: unknown; body?: unknown };
    const status = Number(r.statusCode);
    if (!Number.isInteger(status) || status < 100 || status > 599) return { ok: false, message: `statusCode ${JSON.stringify(r.statusCode)} is not an HTTP status` };
    const body = r.body === undefined || r.body === null ? null : typeof r.body === 'string' ? r.body : JSON.stringify(r.body);
    return { ok: true, status, body };
  }
  return { ok: true, status: 200, body: JSON.stringify(result) };
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
      return { ok: true, status: r.status, body: r.body.length > 0 ? r.body.toString('utf8') : null };
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

/** The three @connections handlers (IAM authorization is wrapped around them by the plan). */
export function connectionHandlers(ws: WsRuntime, maxMessageBytes: number): { post: (ctx: RequestContext) => void; get: (ctx: RequestContext) => void; del: (ctx: RequestContext) => void } {
  const idOf = (ctx: RequestContext): string => ctx.params?.['connectionId'] ?? '';
  return {
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
