import type { Cors } from '../config/index.js';
import type { RequestContext } from '../worker/context.js';
import { endNoBody, finish, hooks } from '../worker/respond.js';

/**
 * CORS as HTTP APIs do it (https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-cors.html):
 * the gateway answers preflight OPTIONS requests itself (with or without an OPTIONS route), adds the
 * configured headers to every response of a CORS request (one with Origin), and drops CORS headers
 * the integration sent. allowOrigins entries are exact origins, `*`, `https://*` or `http://*`.
 * With allowCredentials an origin is echoed only when listed exactly: wildcards with credentials are
 * a config error, so an arbitrary origin is never reflected with credentials.
 */
export interface CompiledCors {
  /** Response headers for a request from `origin` (flat name/value pairs), or NONE when the origin is not allowed. */
  headersFor(origin: string): readonly string[];
  /** The preflight answer's headers for `origin`, or null when the origin or method is not allowed. */
  preflight(origin: string, method: string, requestHeaders: string): readonly string[] | null;
}

/** A CORS-enabled API's response to a request without Origin: nothing added, integration CORS headers still dropped. */
export const NONE: readonly string[] = Object.freeze([]);

export function compileCors(c: Cors): CompiledCors {
  const exact = new Set<string>();
  let any = false, anyHttps = false, anyHttp = false;
  for (const o of c.allowOrigins) {
    if (o === '*') any = true;
    else if (o === 'https://*') anyHttps = true;
    else if (o === 'http://*') anyHttp = true;
    else exact.add(o.toLowerCase());
  }
  const methods = c.allowMethods.map((m) => m.toUpperCase());
  const anyMethod = methods.includes('*');
  const allowHeaders = c.allowHeaders.map((h) => h.toLowerCase());
  const anyHeader = allowHeaders.includes('*');
  const expose = c.exposeHeaders.join(',');
  const credentials = c.allowCredentials;

  const allowed = (origin: string): string | null => {
    const o = origin.toLowerCase();
    if (exact.has(o)) return origin;
    // Wildcards never combine with credentials (config check), so '*' can be answered literally.
    if (any) return '*';
    if ((anyHttps && o.startsWith('https://')) || (anyHttp && o.startsWith('http://'))) return origin;
    return null;
  };
  const cache = new Map<string, readonly string[]>();

  return {
    headersFor(origin) {
      let h = cache.get(origin);
      if (h !== undefined) return h;
      const allow = allowed(origin);
      if (allow === null) h = NONE;
      else {
        const out = ['access-control-allow-origin', allow];
        if (credentials) out.push('access-control-allow-credentials', 'true');
        if (expose !== '') out.push('access-control-expose-headers', expose);
        if (allow !== '*') out.push('vary', 'origin');
        h = Object.freeze(out);
      }
      // Bounded: origins come from clients.
      if (cache.size >= 1000) cache.clear();
      cache.set(origin, h);
      return h;
    },
    preflight(origin, method, requestHeaders) {
      const allow = allowed(origin);
      if (allow === null) return null;
      const m = method.toUpperCase();
      if (!anyMethod && !methods.includes(m)) return null;
      const asked = requestHeaders === '' ? [] : requestHeaders.split(',').map((s) => s.trim().toLowerCase()).filter(Boolean);
      if (!anyHeader && !asked.every((h) => allowHeaders.includes(h))) return null;
      const out = ['access-control-allow-origin', allow, 'access-control-allow-methods', anyMethod ? m : methods.join(',')];
      if (asked.length > 0) out.push('access-control-allow-headers', anyHeader ? asked.join(',') : allowHeaders.join(','));
      if (credentials) out.push('access-control-allow-credentials', 'true');
      if (c.maxAge !== undefined) out.push('access-control-max-age', String(c.maxAge));
      if (allow !== '*') out.push('vary', 'origin');
      return out;
    },
  };
}

/** Adds the CORS response headers for this request's Origin, then runs the route. */
export function withCors(next: (ctx: RequestContext) => void, cors: CompiledCors): (ctx: RequestContext) => void {
  return function corsHeaders(ctx: RequestContext): void {
    const origin = ctx.header('origin');
    ctx.extraHeaders = origin === undefined ? NONE : cors.headersFor(origin);
    next(ctx);
  };
}

/**
 * The gateway's own preflight answer: 204 with the CORS headers when origin, method and headers are
 * allowed, 204 without them otherwise (the browser then refuses the actual request).
 */
export function answerPreflight(ctx: RequestContext, cors: CompiledCors): void {
  const h = cors.preflight(ctx.header('origin') ?? '', ctx.header('access-control-request-method') ?? '', ctx.header('access-control-request-headers') ?? '');
  const res = ctx.res;
  ctx.status = 204;
  ctx.headSent = true;
  res.writeStatus('204 No Content');
  res.writeHeader(hooks.requestIdHeader, ctx.requestId);
  if (h !== null) for (let i = 0; i < h.length; i += 2) res.writeHeader(h[i]!, h[i + 1]!);
  endNoBody(res);
  finish(ctx);
}
