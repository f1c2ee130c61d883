import { IDENTITY_CONTEXT_VARIABLES } from '../config/schema.js';
import { accessDenied, Errors } from '../errors.js';
import { forEachQueryPair } from '../functions/payload.js';
import { PoolError } from '../functions/pool.js';
import type { AuthorizeReply, AuthorizeRequest, AuthorizerDecision } from '../functions/types.js';
import { invokeRequestOf, type FunctionTarget } from '../integrations/function.js';
import { hostWithoutPort, type RequestContext } from '../worker/context.js';
import { proceed, refuse } from '../worker/respond.js';
import { BoundedMap } from '../util/bounded-map.js';
import { forwardHeaders } from './forward.js';
import { compilePolicy, evaluatePolicy, type CompiledPolicy } from './policy.js';

/**
 * Lambda (custom) authorizers on a route, run in the worker's function threads:
 * - REQUEST (HTTP API, payload 2.0 or 1.0) and TOKEN (REST) types
 *   (https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-lambda-authorizer.html,
 *   https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-use-lambda-authorizer.html).
 * - Every identity source must be present and non-empty, else 401 without calling the function; a
 *   TOKEN that fails identityValidationExpression gets 401 too. An authorizer that fails with
 *   "Unauthorized" is 401.
 * - Answers are cached by the identity source values for resultTtlSeconds (per worker, bounded);
 *   concurrent misses for the same values share one call. A cached IAM policy is evaluated against
 *   each request's ARN, so it allows exactly the routes it names (as AWS does).
 * - Denials: a simple response `isAuthorized: false`, or a payload 2.0 policy that does not allow,
 *   is 403 {"message":"Forbidden"} (HTTP API); a TOKEN or payload 1.0 policy answers as REST does,
 *   403 {"Message":"User is not authorized to access this resource[ with an explicit deny]"}.
 * - A failure (throw, timeout, invalid answer, no thread) is 500 {"message":"Internal Server Error"}.
 * - Allowed: the context reaches function events (requestContext.authorizer.lambda in 2.0, flat in
 *   1.0), mapping templates ($context.authorizer.key) and, by forwardContext, upstream headers.
 */

/** One identity source read from a request. */
export type IdentityGetter = (ctx: RequestContext) => string | undefined;

/** What identity sources and events know about the route. */
export interface AuthorizedRoute {
  routeKey: string;
  stage: string;
  apiId: string;
  stageVariables: Record<string, string>;
}

/** `$context.X` identity sources, by the context variable's name. */
const CONTEXT_SOURCES: Record<(typeof IDENTITY_CONTEXT_VARIABLES)[number], (ctx: RequestContext, r: AuthorizedRoute) => string> = {
  routeKey: (_c, r) => r.routeKey,
  stage: (_c, r) => r.stage,
  apiId: (_c, r) => r.apiId,
  httpMethod: (c) => c.method,
  path: (c) => c.url,
  domainName: (c) => hostWithoutPort(c.host),
  requestId: (c) => c.requestId,
  'identity.sourceIp': (c) => c.clientIp,
  'identity.userAgent': (c) => c.header('user-agent') ?? '',
};

/**
 * Compiles one identity source expression (HTTP API `$request.header.X`, `$request.querystring.X`,
 * `$context.X`, `$stageVariables.X`, or the REST `method.request.…`, `context.…`, `stageVariables.…`
 * forms). Throws with a message for an expression it cannot read.
 */
export function compileIdentitySource(expr: string, route: AuthorizedRoute): IdentityGetter {
  const e = expr.replace(/^method\.request\./, '$request.').replace(/^(context|stageVariables)\./, '$$$1.');
  if (e.startsWith('$request.header.')) {
    const name = e.slice('$request.header.'.length).toLowerCase();
    return (ctx) => {
      // Repeated headers count as one value joined with "," (as the 2.0 event shows them).
      let out: string | undefined;
      const h = ctx.headers;
      for (let i = 0; i < h.length; i += 2) if (h[i] === name) out = out === undefined ? h[i + 1]! : `${out},${h[i + 1]!}`;
      return out;
    };
  }
  if (e.startsWith('$request.querystring.')) {
    const name = e.slice('$request.querystring.'.length); // query names are case-sensitive
    return (ctx) => {
      let out: string | undefined;
      if (ctx.query !== '') forEachQueryPair(ctx.query, (k, v) => { if (k === name) out = out === undefined ? v : `${out},${v}`; });
      return out;
    };
  }
  if (e.startsWith('$stageVariables.')) {
    const v = route.stageVariables[e.slice('$stageVariables.'.length)];
    return () => v;
  }
  if (e.startsWith('$context.')) {
    const name = e.slice('$context.'.length);
    const get = Object.hasOwn(CONTEXT_SOURCES, name) ? CONTEXT_SOURCES[name as keyof typeof CONTEXT_SOURCES] : undefined;
    if (get === undefined) throw new Error(`identity source "${expr}": supported context variables are ${Object.keys(CONTEXT_SOURCES).map((k) => `$context.${k}`).join(', ')}`);
    return (ctx) => get(ctx, route);
  }
  throw new Error(`identity source "${expr}" is not a header, query string, context or stage variable expression`);
}

interface Answer {
  decision: AuthorizerDecision;
  /** Compiled once per answer (null for simple responses). */
  policy: CompiledPolicy | null;
  /** Date.now() past which a cached answer is stale. */
  expires: number;
}

type Outcome =
  | { kind: 'answer'; answer: Answer; latencyMs: number }
  | { kind: 'unauthorized'; message: string }
  | { kind: 'failure'; failure: string; message: string };

export interface LambdaAuthorizerOptions {
  name: string;
  type: 'REQUEST' | 'TOKEN';
  /** TOKEN authorizers speak REST, i.e. 1.0. */
  format: '1.0' | '2.0';
  simpleResponses: boolean;
  /** TOKEN: identityValidationExpression. */
  validation: RegExp | null;
  ttlMs: number;
  /** Cached answers per worker; the oldest go first. */
  maxEntries: number;
  target: Omit<FunctionTarget, 'routeKey' | 'stage' | 'apiId' | 'stageVariables'>;
  /** Upstream header -> context key (or principalId). */
  forwardContext: readonly (readonly [string, string])[];
  region: string;
  accountId: string;
  onFailure?: (kind: string) => void;
}

/** One configured Lambda authorizer of one worker: its answer cache and in-flight calls, shared by its routes. */
export class LambdaAuthorizer {
  private readonly cache: BoundedMap<Answer>;
  private readonly pending = new Map<string, Promise<Outcome>>();

  constructor(readonly o: LambdaAuthorizerOptions) {
    this.cache = new BoundedMap(o.maxEntries);
  }

  /** A cached answer for these identity values, if fresh. */
  cached(key: string): Answer | undefined {
    const a = this.cache.get(key);
    if (a === undefined) return undefined;
    if (Date.now() < a.expires) return a;
    this.cache.delete(key);
    return undefined;
  }

  /** Calls the function; with a cache key, concurrent calls for the same values share one. */
  call(key: string | null, req: AuthorizeRequest): Promise<Outcome> {
    if (key === null) return this.invoke(null, req);
    let p = this.pending.get(key);
    if (p === undefined) {
      p = this.invoke(key, req).finally(() => this.pending.delete(key));
      this.pending.set(key, p);
    }
    return p;
  }

  private async invoke(key: string | null, req: AuthorizeRequest): Promise<Outcome> {
    const started = performance.now();
    let reply: AuthorizeReply;
    try {
      reply = await this.o.target.pool.authorize(req);
    } catch (e) {
      const kind = e instanceof PoolError ? e.kind : 'internal';
      this.o.onFailure?.(kind);
      return { kind: 'failure', failure: kind, message: (e as Error).message };
    }
    if (!reply.ok) {
      // "Unauthorized" is an answer, not a fault: it is not cached either (the client may come back with a token).
      if (reply.unauthorized) return { kind: 'unauthorized', message: reply.failure.message };
      this.o.onFailure?.(reply.failure.kind);
      return { kind: 'failure', failure: reply.failure.kind, message: reply.failure.message };
    }
    const d = reply.decision;
    const answer: Answer = { decision: d, policy: d.kind === 'policy' ? compilePolicy(d.statements) : null, expires: Date.now() + this.o.ttlMs };
    if (key !== null && this.o.ttlMs > 0) {
      this.cache.set(key, answer);
    }
    return { kind: 'answer', answer, latencyMs: Math.round(performance.now() - started) };
  }
}

export interface LambdaRouteSpec {
  authorizer: LambdaAuthorizer;
  route: AuthorizedRoute;
  identity: readonly IdentityGetter[];
}

const REST_EXPLICIT_DENY = accessDenied('User is not authorized to access this resource with an explicit deny');
const REST_NO_ALLOW = accessDenied('User is not authorized to access this resource');

export function withLambdaAuthorizer(next: (ctx: RequestContext) => void, spec: LambdaRouteSpec): (ctx: RequestContext) => void {
  const a = spec.authorizer;
  const o = a.o;
  const restStyle = o.type === 'TOKEN' || o.format === '1.0';
  // arn:aws:execute-api:{region}:{account}:{api}/{stage}/{METHOD}/{path without its leading slash}
  const arnPrefix = `arn:aws:execute-api:${o.region}:${o.accountId}:${spec.route.apiId}/${spec.route.stage}/`;
  // A WebSocket handshake is authorized as the $connect route (AWS: .../{stage}/$connect).
  const arnOf = (ctx: RequestContext): string => (ctx.upgrade !== null ? `${arnPrefix}$connect` : `${arnPrefix}${ctx.method}/${ctx.path.slice(1)}`);
  const target: FunctionTarget = { ...o.target, ...spec.route, stageVariables: Object.keys(spec.route.stageVariables).length > 0 ? spec.route.stageVariables : null };

  const unauthorized = (ctx: RequestContext, why: string, sync: boolean): void => {
    ctx.errorMessage = `authorizer ${o.name}: ${why}`;
    refuse(ctx, Errors.UNAUTHORIZED, sync);
  };

  const settle = (ctx: RequestContext, out: Outcome, sync: boolean): void => {
    if (out.kind === 'unauthorized') return unauthorized(ctx, 'Unauthorized', sync);
    if (out.kind === 'failure') {
      ctx.errorMessage = `authorizer ${o.name}: ${out.failure}: ${out.message}`.slice(0, 500);
      return refuse(ctx, Errors.AUTHORIZER_FAILURE, sync);
    }
    const { decision: d, policy } = out.answer;
    if (d.kind === 'simple') {
      if (!d.isAuthorized) {
        ctx.errorMessage = `authorizer ${o.name}: isAuthorized false`;
        return refuse(ctx, Errors.FORBIDDEN, sync);
      }
    } else {
      const verdict = evaluatePolicy(policy!, arnOf(ctx));
      if (verdict !== 'allow') {
        ctx.errorMessage = `authorizer ${o.name}: policy ${verdict}`;
        return refuse(ctx, !restStyle ? Errors.FORBIDDEN : verdict === 'explicit-deny' ? REST_EXPLICIT_DENY : REST_NO_ALLOW, sync);
      }
    }
    const context = d.context ?? {};
    const principalId = d.kind === 'policy' ? d.principalId : null;
    ctx.authorizer = principalId === null
      ? { lambda: context, integrationLatency: out.latencyMs }
      : { lambda: context, principalId, integrationLatency: out.latencyMs };
    if (d.kind === 'policy') ctx.usageIdentifierKey = d.usageIdentifierKey;
    if (o.forwardContext.length > 0) forwardHeaders(ctx, o.forwardContext, (k) => (k === 'principalId' && principalId !== null ? principalId : Object.hasOwn(context, k) ? context[k] : undefined));
    proceed(ctx, next, sync);
  };

  return function lambdaAuthorizer(ctx: RequestContext): void {
    const values: string[] = [];
    for (const get of spec.identity) {
      const v = get(ctx);
      if (v === undefined || v === '') return unauthorized(ctx, 'identity source missing', true);
      values.push(v);
    }
    if (o.validation !== null && !o.validation.test(values[0]!)) return unauthorized(ctx, 'token does not match identityValidationExpression', true);
    // No identity sources: nothing to key a cache on (AWS requires one to cache).
    const key = o.ttlMs > 0 && values.length > 0 ? values.join('\u0000') : null;
    if (key !== null) {
      const hit = a.cached(key);
      if (hit !== undefined) return settle(ctx, { kind: 'answer', answer: hit, latencyMs: 0 }, true);
    }
    const req: AuthorizeRequest = {
      ...invokeRequestOf(ctx, target, null),
      auth: { type: o.type, arn: arnOf(ctx), identity: values, simpleResponses: o.simpleResponses },
    };
    void a.call(key, req).then((out) => {
      if (!ctx.aborted && !ctx.done) settle(ctx, out, false);
    });
  };
}
