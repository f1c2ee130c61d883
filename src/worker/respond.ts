import type { GatewayError } from '../errors.js';
import { Errors, statusLine } from '../errors.js';

const INTERNAL = Errors.INTERNAL;
import type { RequestContext } from './context.js';

/**
 * Response writing shared by every integration. Every function here may be called outside the uWS
 * handler's synchronous part, so each write is corked; none touches `res` after abort or end.
 */

export interface ResponseHooks {
  /** Header that carries the request id back to the client (and upstream). */
  requestIdHeader: string;
  /** Set while the worker drains: every response then closes its connection. */
  draining: boolean;
  /** Accounting once a request is over (metrics + access log). */
  completed(ctx: RequestContext): void;
}

export const hooks: ResponseHooks = {
  requestIdHeader: 'x-request-id',
  draining: false,
  completed: () => {},
};

const JSON_TYPE = 'application/json';

/** Marks the request over and runs the accounting exactly once. */
export function finish(ctx: RequestContext): void {
  if (ctx.done) return;
  ctx.done = true;
  if (ctx.onFinish !== null) ctx.onFinish(ctx);
  hooks.completed(ctx);
}

function writeError(ctx: RequestContext, err: GatewayError, close: boolean, extra: readonly string[] | null): void {
  const res = ctx.res;
  res.writeStatus(err.statusLine);
  res.writeHeader('content-type', JSON_TYPE);
  if (extra !== null) for (let i = 0; i < extra.length; i += 2) res.writeHeader(extra[i]!, extra[i + 1]!);
  writeExtraHeaders(ctx);
  if (ctx.requestId !== '') res.writeHeader(hooks.requestIdHeader, ctx.requestId);
  if (ctx.method === 'HEAD') {
    // A HEAD answer carries the length of the body a GET would get, never the body.
    res.writeHeader('content-length', String(err.body.length));
    endNoBody(res, close);
    return;
  }
  res.end(err.body, close || hooks.draining);
}

/**
 * Answers with a catalog error. When the head already went out, the only honest signal left is to
 * cut the connection, so the client sees a truncated response instead of a wrong one.
 */
export function sendError(ctx: RequestContext, err: GatewayError, closeConnection = false, extra: readonly string[] | null = null): void {
  if (ctx.aborted || ctx.done) return;
  ctx.status = err.status;
  if (ctx.errorMessage === '') ctx.errorMessage = err.message;
  if (ctx.headSent) {
    ctx.res.close();
  } else {
    ctx.headSent = true;
    ctx.bytesOut = err.body.length;
    ctx.res.cork(() => writeError(ctx, err, closeConnection, extra));
  }
  finish(ctx);
}

/** Same as sendError, for the synchronous part of the handler (no cork needed, no closure). */
export function sendErrorSync(ctx: RequestContext, err: GatewayError, closeConnection = false, extra: readonly string[] | null = null): void {
  ctx.status = err.status;
  ctx.errorMessage = err.message;
  ctx.headSent = true;
  ctx.bytesOut = err.body.length;
  writeError(ctx, err, closeConnection, extra);
  finish(ctx);
}

/**
 * A refusal before the request body was read (authorization, policies, limits), inside the uWS
 * handler (`sync`) or after an await. A client that sent a body gets `Connection: close`: the unread
 * body would otherwise be parsed as the next request.
 */
export function refuse(ctx: RequestContext, err: GatewayError, sync: boolean, extra: readonly string[] | null = null): void {
  const close = ctx.contentLength > 0 || ctx.chunked;
  if (sync) sendErrorSync(ctx, err, close, extra);
  else sendError(ctx, err, close, extra);
}

/** Calls the next phase: directly inside the uWS handler, through resume after an await. */
export function proceed(ctx: RequestContext, next: (ctx: RequestContext) => void, sync: boolean): void {
  if (sync) next(ctx);
  else resume(ctx, next);
}

/**
 * Tells the request when the client goes away. Must run inside the uWS handler before anything
 * asynchronous starts; routes that may answer synchronously (mock, cache hits) skip it, and a phase
 * of such a route that turns out to need the integration arms it before calling on.
 */
export function watchAbort(ctx: RequestContext): void {
  if (ctx.watching) return;
  ctx.watching = true;
  ctx.res.onAborted(() => {
    ctx.aborted = true;
    const a = ctx.abortable;
    ctx.abortable = null;
    if (a !== null) a.abort();
    if (!ctx.done) {
      ctx.status = 499; // nginx's "client closed request"
      ctx.errorMessage = 'client closed connection';
      finish(ctx);
    }
  });
}

/**
 * Runs the next phase after an asynchronous step (Redis, a lock): skipped when the client left,
 * corked so its writes go out as one, and a throw costs this request only.
 */
export function resume(ctx: RequestContext, next: (ctx: RequestContext) => void): void {
  if (ctx.aborted || ctx.done) return;
  ctx.res.cork(() => {
    try {
      next(ctx);
    } catch (e) {
      ctx.errorMessage = (e as Error).message;
      if (!ctx.headSent && !ctx.done) sendErrorSync(ctx, INTERNAL, true);
    }
  });
}

/** A complete response known up-front (mock integration), written in the synchronous part. */
export function sendStaticSync(ctx: RequestContext, status: number, headers: readonly string[], body: string | Buffer): void {
  writeComplete(ctx, status, headers, body);
  finish(ctx);
}

/** A complete response produced later (function integration): corked, skipped if the client left. */
export function sendComplete(ctx: RequestContext, status: number, headers: readonly string[], body: Uint8Array | null): void {
  if (ctx.aborted || ctx.done) return;
  ctx.res.cork(() => writeComplete(ctx, status, headers, body ?? EMPTY));
  finish(ctx);
}

const EMPTY = Buffer.alloc(0);

/** The CORS headers of this request (the gateway's, replacing any the integration sent). */
export function writeExtraHeaders(ctx: RequestContext): void {
  const h = ctx.extraHeaders;
  if (h === null) return;
  for (let i = 0; i < h.length; i += 2) ctx.res.writeHeader(h[i]!, h[i + 1]!);
}

/** A header an integration sent that the gateway's CORS settings replace. */
export function isCorsHeader(name: string): boolean {
  return name.length > 15 && name.charCodeAt(0) === 97 /* a */ && name.startsWith('access-control-');
}

/**
 * Ends a response that has no body. uWS 20.30 (measured): endWithoutBody() with no argument is the
 * only safe form. With any length argument it aborts the process when called inside the request
 * handler ("terminate called"), and outside it `undefined` becomes `Content-Length:
 * 9223372036854775808`. So Content-Length (HEAD) is written as a header, and while draining the
 * close is asked for with `Connection: close` instead of uWS's closeConnection flag.
 */
export function endNoBody(res: RequestContext['res'], close = false): void {
  if (close || hooks.draining) res.writeHeader('connection', 'close');
  res.endWithoutBody();
}

function writeComplete(ctx: RequestContext, status: number, headers: readonly string[], body: string | Uint8Array): void {
  const res = ctx.res;
  ctx.status = status;
  ctx.headSent = true;
  res.writeStatus(statusLine(status));
  if (ctx.extraHeaders === null) {
    for (let i = 0; i < headers.length; i += 2) res.writeHeader(headers[i]!, headers[i + 1]!);
  } else {
    for (let i = 0; i < headers.length; i += 2) if (!isCorsHeader(headers[i]!)) res.writeHeader(headers[i]!, headers[i + 1]!);
    writeExtraHeaders(ctx);
  }
  if (ctx.requestId !== '') res.writeHeader(hooks.requestIdHeader, ctx.requestId);
  if (status === 204 || status === 304 || status < 200) {
    // No body and no Content-Length allowed (RFC 9110 8.6); uWS's end('') would write one.
    endNoBody(res);
  } else if (ctx.method === 'HEAD') {
    res.writeHeader('content-length', String(typeof body === 'string' ? Buffer.byteLength(body) : body.length));
    endNoBody(res);
  } else {
    ctx.bytesOut = body.length;
    res.end(body, hooks.draining);
  }
}
