import type { Throttle, UsagePlan } from '../config/index.js';
import { Errors } from '../errors.js';
import { BUCKET, QUOTA, type Limit } from '../store/types.js';
import type { RequestContext } from '../worker/context.js';
import { resume, sendError, sendErrorSync } from '../worker/respond.js';
import type { ApiKeyRecord, KeyRegistry } from './keys.js';
import type { Denial, Limiter, Verdict } from './limiter.js';
import { periodEnd, periodLabel, periodStart, USAGE_RETENTION_MS, type Period } from './periods.js';

/**
 * The throttling phase, before cache and integration, as AWS orders it: the API key (403 when
 * required and missing, unknown, disabled or not in a plan for this stage), then one decision over
 * every limit the request is subject to — the key's per-route and per-key throttles and its quota,
 * the client IP's bucket, the route's bucket (stage default or route setting), the gateway-wide
 * bucket. All or nothing: a refused request takes no token from any bucket and is not counted
 * against the quota. https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-request-throttling.html
 */

export interface CompiledPlan {
  name: string;
  throttle: Throttle | null;
  quota: { limit: number; period: Period } | null;
  /** "api/stage" -> per-route throttles of this plan for that stage. */
  stages: Map<string, Map<string, Throttle>>;
}

export function compilePlans(plans: Record<string, UsagePlan>, stageOf: (api: string) => string): Map<string, CompiledPlan> {
  const out = new Map<string, CompiledPlan>();
  for (const [name, p] of Object.entries(plans)) {
    const stages = new Map<string, Map<string, Throttle>>();
    for (const as of p.apiStages) stages.set(`${as.api}/${as.stage ?? stageOf(as.api)}`, new Map(Object.entries(as.throttle ?? {})));
    out.set(name, { name, throttle: p.throttle ?? null, quota: p.quota ? { limit: p.quota.limit, period: p.quota.period } : null, stages });
  }
  return out;
}

/** Usage is counted per key, plan and period even without a quota (limit -1), for the usage API. */
export function quotaLimit(plan: CompiledPlan, keyId: string, now: number): Limit & { kind: 1 } {
  const period = plan.quota?.period ?? 'DAY';
  const start = periodStart(period, now);
  const end = periodEnd(period, start);
  return { kind: QUOTA, key: usageKey(plan.name, keyId, start), limit: plan.quota?.limit ?? -1, ttlMs: end - now + USAGE_RETENTION_MS, periodEnd: end };
}

export function usageKey(plan: string, keyId: string, start: number): string {
  return `q:${plan}:${keyId}:${periodLabel(start)}`;
}

export interface LimitsRuntime {
  limiter: Limiter;
  keys: KeyRegistry;
  plans: Map<string, CompiledPlan>;
  /** Counts refusals (metric family 'throttle'). */
  refused: (routeKey: string, kind: string) => void;
}

export interface RouteLimits {
  /** "api/stage" */
  stageId: string;
  routeKey: string;
  apiKeyRequired: boolean;
  /** Where the key comes from: the x-api-key header, or a Lambda authorizer's usageIdentifierKey (AWS apiKeySource). */
  apiKeySource: 'HEADER' | 'AUTHORIZER';
  /** Route bucket and gateway bucket, built once. */
  fixed: Limit[];
  clientIp: Throttle | null;
}

const PLAN_CACHE_MAX = 10_000;

export function withLimits(next: (ctx: RequestContext) => void, spec: RouteLimits, rt: LimitsRuntime): (ctx: RequestContext) => void {
  /** `${keyId}\0${plan}` -> the key's limits on this route (rebuilt when the quota period rolls over). */
  const planLimits = new Map<string, { limits: Limit[]; until: number }>();

  const keyLimits = (rec: ApiKeyRecord, plan: CompiledPlan, now: number): Limit[] => {
    const k = `${rec.id}\0${plan.name}`;
    const c = planLimits.get(k);
    if (c !== undefined && c.until > now) return c.limits;
    const limits: Limit[] = [];
    const perRoute = plan.stages.get(spec.stageId)?.get(spec.routeKey);
    if (perRoute !== undefined) limits.push({ kind: BUCKET, key: `p:${plan.name}:${rec.id}:${spec.stageId}:${spec.routeKey}`, rate: perRoute.rateLimit, burst: perRoute.burstLimit });
    if (plan.throttle !== null) limits.push({ kind: BUCKET, key: `p:${plan.name}:${rec.id}`, rate: plan.throttle.rateLimit, burst: plan.throttle.burstLimit });
    const q = quotaLimit(plan, rec.id, now);
    limits.push(q);
    for (const l of spec.fixed) limits.push(l);
    if (planLimits.size >= PLAN_CACHE_MAX) planLimits.clear();
    planLimits.set(k, { limits, until: q.periodEnd! });
    return limits;
  };

  const refuse = (ctx: RequestContext, limits: readonly Limit[], d: Denial, sync: boolean): void => {
    let err = Errors.THROTTLED;
    let retryMs = d.retryAfterMs;
    if (d.reason === 'unavailable') err = Errors.STORE_UNAVAILABLE;
    else if (d.reason === 'quota') {
      err = Errors.QUOTA_EXCEEDED;
      const l = limits[d.index]!;
      retryMs = l.kind === QUOTA && l.periodEnd !== undefined ? l.periodEnd - Date.now() : 1000;
    }
    rt.refused(spec.routeKey, d.reason);
    const extra = d.reason === 'unavailable' ? null : ['retry-after', String(Math.max(1, Math.ceil(retryMs / 1000)))];
    const close = ctx.contentLength > 0 || ctx.chunked;
    if (sync) sendErrorSync(ctx, err, close, extra);
    else sendError(ctx, err, close, extra);
  };

  const forbid = (ctx: RequestContext, sync: boolean): void => {
    rt.refused(spec.routeKey, 'forbidden');
    const close = ctx.contentLength > 0 || ctx.chunked;
    if (sync) sendErrorSync(ctx, Errors.FORBIDDEN, close);
    else sendError(ctx, Errors.FORBIDDEN, close);
  };

  /** Decides over `limits`; `sync` says whether we are still inside the uWS handler. */
  const decide = (ctx: RequestContext, limits: readonly Limit[], sync: boolean): void => {
    if (limits.length === 0) return sync ? next(ctx) : resume(ctx, next);
    const v = rt.limiter.check(limits);
    if (v === null) return sync ? next(ctx) : resume(ctx, next);
    if (!(v instanceof Promise)) return refuse(ctx, limits, v, sync);
    v.then((r: Verdict) => {
      if (ctx.aborted || ctx.done) return;
      if (r === null) resume(ctx, next);
      else refuse(ctx, limits, r, false);
    });
  };

  const withIp = (ctx: RequestContext, limits: Limit[]): Limit[] => {
    if (spec.clientIp === null) return limits;
    return [{ kind: BUCKET, key: `ip:${spec.stageId}:${ctx.clientIp}`, rate: spec.clientIp.rateLimit, burst: spec.clientIp.burstLimit }, ...limits];
  };

  const withKey = (ctx: RequestContext, rec: ApiKeyRecord | null, sync: boolean): void => {
    if (rec === null || !rec.enabled) return forbid(ctx, sync);
    let plan: CompiledPlan | undefined;
    for (const name of rec.usagePlans) {
      const p = rt.plans.get(name);
      if (p !== undefined && p.stages.has(spec.stageId)) { plan = p; break; }
    }
    // AWS: a key that is not in a usage plan for this stage is refused like an unknown key.
    if (plan === undefined) return forbid(ctx, sync);
    ctx.apiKey = rec;
    decide(ctx, withIp(ctx, keyLimits(rec, plan, Date.now())), sync);
  };

  return function limits(ctx: RequestContext): void {
    if (!spec.apiKeyRequired) return decide(ctx, withIp(ctx, spec.fixed), true);
    const value = spec.apiKeySource === 'HEADER' ? ctx.header('x-api-key') : ctx.usageIdentifierKey;
    if (value === undefined || value === null || value === '') return forbid(ctx, true);
    const r = rt.keys.lookup(value);
    if (!(r instanceof Promise)) return withKey(ctx, r, true);
    r.then((rec) => {
      if (!ctx.aborted && !ctx.done) withKey(ctx, rec, false);
    });
  };
}
