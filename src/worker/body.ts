import { Errors } from '../errors.js';
import type { RequestContext } from './context.js';
import { sendError } from './respond.js';

/**
 * Reads the whole request body into one buffer (sized from Content-Length, grown for chunked
 * bodies up to maxBytes; beyond it 413). `done` gets null for a request without a body. uWS only
 * lends each chunk for the duration of its callback, so it is copied at once.
 */
/** ctx.body once a body was read and found empty (null means "not read yet"). */
export const EMPTY_BODY = new Uint8Array(0);

/** `tooLarge` answers a body over `maxBytes` (default: 413 from the catalog, connection closed). */
export function readBody(ctx: RequestContext, maxBytes: number, done: (body: Uint8Array | null) => void, tooLarge: (ctx: RequestContext) => void = bodyTooLarge): void {
  if (ctx.body !== null) return done(ctx.body.byteLength === 0 ? null : ctx.body);
  if (ctx.contentLength === 0 || (ctx.contentLength < 0 && !ctx.chunked)) return done(null);
  // A declared length over a limit smaller than the listener's: refused before reading.
  if (ctx.contentLength > maxBytes) return tooLarge(ctx);
  let buf = new Uint8Array(ctx.contentLength > 0 ? ctx.contentLength : 16384);
  let len = 0;
  ctx.res.onData((ab, isLast) => {
    if (ctx.done || ctx.aborted) return;
    const chunk = new Uint8Array(ab);
    if (len + chunk.length > buf.length) {
      if (len + chunk.length > maxBytes) {
        tooLarge(ctx);
        return;
      }
      const next = new Uint8Array(Math.min(maxBytes, Math.max(buf.length * 2, len + chunk.length)));
      next.set(buf.subarray(0, len));
      buf = next;
    }
    buf.set(chunk, len);
    len += chunk.length;
    if (isLast) {
      const body = len === 0 ? null : len === buf.length ? buf : buf.slice(0, len);
      ctx.body = body ?? EMPTY_BODY;
      done(body);
    }
  });
}

function bodyTooLarge(ctx: RequestContext): void {
  sendError(ctx, Errors.REQUEST_TOO_LARGE, true);
}
