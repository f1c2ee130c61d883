import { Errors } from '../errors.js';
import type { FunctionPool } from '../functions/pool.js';
import { PoolError } from '../functions/pool.js';
import type { InvokeRequest, PayloadFormat } from '../functions/types.js';
import { epochFromMono } from '../observability/clock.js';
import { hostWithoutPort, type RequestContext } from '../worker/context.js';
import { readBody } from '../worker/body.js';
import { sendComplete, sendError } from '../worker/respond.js';

/** A handler and what its events say about the route. */
export interface FunctionTarget {
  pool: FunctionPool;
  module: string;
  exportName: string;
  format: PayloadFormat;
  timeoutMs: number;
  functionName: string;
  memoryMB: number;
  routeKey: string;
  stage: string;
  apiId: string;
  stageVariables: Record<string, string> | null;
}

export interface FunctionRouteOptions extends FunctionTarget {
  maxBodyBytes: number;
  /** Counts failures by kind (worker metrics). */
  onFailure?: (kind: string) => void;
}

/** What a function thread needs to build the event for this request: strings the uWS thread already has. */
export function invokeRequestOf(ctx: RequestContext, o: FunctionTarget, body: ArrayBuffer | null): InvokeRequest {
  return {
    module: o.module, exportName: o.exportName, format: o.format, timeoutMs: o.timeoutMs,
    functionName: o.functionName, memoryLimitInMB: o.memoryMB,
    method: ctx.method, rawPath: ctx.url, query: ctx.query, headers: ctx.headers, sourceIp: ctx.ip,
    requestId: ctx.requestId, requestTimeEpochMs: epochFromMono(ctx.startMs), routeKey: o.routeKey, stage: o.stage,
    pathParameters: ctx.params, stageVariables: o.stageVariables,
    domainName: hostWithoutPort(ctx.host), apiId: o.apiId, accountId: ACCOUNT_ID, body,
    ...(ctx.authorizer !== null ? { authorizer: ctx.authorizer } : {}),
  };
}

/** A fixed stand-in account id for events and ARNs (AWS's documentation examples use this one). */
export const ACCOUNT_ID = '123456789012';

/**
 * The function integration on the uWS thread: read the body into one buffer, hand the request to a
 * function thread (body moved, not copied), write what comes back. Event building, the handler and
 * result mapping all run on the thread.
 */
export function compileFunction(o: FunctionRouteOptions): (ctx: RequestContext) => void {
  const fail = o.onFailure ?? (() => {});

  function invoke(ctx: RequestContext, body: ArrayBuffer | null): void {
    const req = invokeRequestOf(ctx, o, body);
    ctx.integrationStartMs = performance.now();
    // The pool enforces the function's timeout (its thread is terminated, as Lambda ends a timed-out environment).
    o.pool.invoke(req).then(
      (reply) => {
        ctx.integrationEndMs = performance.now();
        try {
          if (reply.ok) {
            const r = reply.response;
            sendComplete(ctx, r.status, r.headers, r.body === null ? null : new Uint8Array(r.body));
          } else {
            fail(reply.failure.kind);
            ctx.errorMessage = `${reply.failure.kind}: ${reply.failure.message}`.slice(0, 500);
            sendError(ctx, Errors.FUNCTION_ERROR);
          }
        } catch (e) {
          // A bug must cost one request, never the worker.
          ctx.errorMessage = `internal: ${(e as Error).message}`;
          sendError(ctx, Errors.INTERNAL);
        }
      },
      (e: unknown) => {
        ctx.integrationEndMs = performance.now();
        const kind = e instanceof PoolError ? e.kind : 'internal';
        fail(kind);
        ctx.errorMessage = `${kind}: ${(e as Error).message}`.slice(0, 500);
        sendError(ctx, kind === 'queue_full' ? Errors.THROTTLED : kind === 'unavailable' ? Errors.SERVICE_UNAVAILABLE : Errors.FUNCTION_ERROR);
      },
    );
    // A client that leaves does not stop the invocation (a Lambda invocation runs to its end); the answer is dropped.
  }

  return function functionIntegration(ctx: RequestContext): void {
    readBody(ctx, o.maxBodyBytes, (body) => {
      // Moved to the thread: a buffer that is exactly the body, not a view into a larger one.
      invoke(ctx, body === null ? null : body.byteLength === body.buffer.byteLength ? (body.buffer as ArrayBuffer) : (body.slice().buffer as ArrayBuffer));
    });
  };
}
