import type { GatewayError } from '../errors.js';
import { PoolError, type FunctionPool } from '../functions/pool.js';
import type { ValidateTask } from '../functions/types.js';
import { INLINE_BODY_LIMIT, type RequestValidator, type RequestView, type ValidationError } from '../validation/index.js';
import { readBody } from '../worker/body.js';
import type { RequestContext } from '../worker/context.js';
import { sendError } from '../worker/respond.js';
import { Errors } from '../errors.js';

const asGatewayError = (e: ValidationError): GatewayError => ({ code: e.type, status: e.status, statusLine: '400 Bad Request', message: e.message, body: e.body });

export interface ValidationPhaseOptions {
  validator: RequestValidator;
  validateParameters: boolean;
  maxBodyBytes: number;
  /** Bodies above INLINE_BODY_LIMIT are checked on a function thread, which compiles the same spec once. */
  pool: FunctionPool;
  task: Omit<ValidateTask, 'contentType' | 'body'>;
}

/**
 * AWS request validation before the integration: required parameters (cheap, inline), then the body
 * against its content type's model. Small bodies are checked on the uWS thread; above
 * INLINE_BODY_LIMIT (where inline validation costs more than a thread round trip) on a function
 * thread, the body moved there and back, not copied.
 */
export function withValidation(next: (ctx: RequestContext) => void, o: ValidationPhaseOptions): (ctx: RequestContext) => void {
  const v = o.validator;
  return function validate(ctx: RequestContext): void {
    const view: RequestView = { query: ctx.query, headers: ctx.headers, pathParameters: ctx.params, contentType: ctx.header('content-type') ?? '', body: null };
    if (o.validateParameters) {
      const e = v.checkParameters(view);
      if (e !== null) return sendError(ctx, asGatewayError(e), ctx.contentLength > 0 || ctx.chunked);
    }
    if (!v.needsBodyFor(view.contentType)) return next(ctx);
    readBody(ctx, o.maxBodyBytes, (body) => {
      if (body === null || body.byteLength <= INLINE_BODY_LIMIT) {
        view.body = body === null ? null : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
        const e = v.checkBody(view);
        if (e !== null) return sendError(ctx, asGatewayError(e));
        return next(ctx);
      }
      const own = body.byteOffset === 0 && body.byteLength === body.buffer.byteLength ? (body.buffer as ArrayBuffer) : (body.slice().buffer as ArrayBuffer);
      o.pool.validate({ ...o.task, contentType: view.contentType, body: own }).then(
        (r) => {
          if (ctx.aborted || ctx.done) return;
          ctx.body = new Uint8Array(r.body); // moved back
          if (r.error !== null) return sendError(ctx, asGatewayError(r.error));
          next(ctx);
        },
        (err: Error) => {
          ctx.errorMessage = `validation on a function thread failed: ${err.message}`;
          sendError(ctx, err instanceof PoolError && err.kind === 'queue_full' ? Errors.THROTTLED : Errors.INTERNAL);
        },
      );
    });
  };
}
