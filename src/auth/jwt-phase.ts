import { Errors } from '../errors.js';
import type { RequestContext } from '../worker/context.js';
import { resume, sendError, sendErrorSync } from '../worker/respond.js';
import { JwtAuthorizer, tokenFromAuthorization, wwwAuthenticate, type JwtIdentity, type JwtResult } from './jwt.js';

/**
 * The JWT authorizer on a route (HTTP API semantics,
 * https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-jwt-authorizer.html):
 * no token or an invalid one -> 401 {"message":"Unauthorized"} with WWW-Authenticate; a valid token
 * without one of the route's authorizationScopes -> 403 {"message":"Forbidden"}. A token verified
 * before is answered from the authorizer's cache inside the uWS handler. Claims and scopes reach
 * function events as requestContext.authorizer.jwt, and chosen claims reach the upstream as headers
 * (the client's own copies of those headers are removed first, so they cannot be forged).
 */
export interface JwtRouteSpec {
  authorizer: JwtAuthorizer;
  /** Lower-case header the token is read from (identitySource $request.header.X). */
  header: string;
  scopes: readonly string[];
  /** Upstream header (lower-case) -> claim name. */
  forwardClaims: readonly (readonly [string, string])[];
}

export function withJwt(next: (ctx: RequestContext) => void, spec: JwtRouteSpec): (ctx: RequestContext) => void {
  const deny = (ctx: RequestContext, reason: string, sync: boolean): void => {
    ctx.errorMessage = `jwt: ${reason}`;
    const extra = ['www-authenticate', wwwAuthenticate(reason)];
    const close = ctx.contentLength > 0 || ctx.chunked;
    if (sync) sendErrorSync(ctx, Errors.UNAUTHORIZED, close, extra);
    else sendError(ctx, Errors.UNAUTHORIZED, close, extra);
  };

  const admit = (ctx: RequestContext, r: JwtResult, sync: boolean): void => {
    if (!r.ok) return deny(ctx, r.reason, sync);
    if (!JwtAuthorizer.checkScopes(r.identity, spec.scopes)) {
      ctx.errorMessage = 'jwt: insufficient scope';
      const close = ctx.contentLength > 0 || ctx.chunked;
      return sync ? sendErrorSync(ctx, Errors.FORBIDDEN, close) : sendError(ctx, Errors.FORBIDDEN, close);
    }
    ctx.authorizer = { jwt: { claims: r.identity.claims, scopes: r.identity.scopes } };
    if (spec.forwardClaims.length > 0) forward(ctx, r.identity);
    if (sync) next(ctx);
    else resume(ctx, next);
  };

  const forward = (ctx: RequestContext, id: JwtIdentity): void => {
    const names = spec.forwardClaims;
    const h = ctx.headers;
    const kept: string[] = [];
    for (let i = 0; i < h.length; i += 2) if (!names.some(([n]) => n === h[i])) kept.push(h[i]!, h[i + 1]!);
    for (const [header, claim] of names) {
      const v = id.claims[claim];
      if (v === undefined || v === null) continue;
      // Header-safe text: no CR/LF or other control characters can reach the upstream request.
      kept.push(header, (typeof v === 'string' ? v : JSON.stringify(v)).replace(/[\x00-\x1f\x7f]/g, ''));
    }
    ctx.headers = kept;
  };

  return function jwt(ctx: RequestContext): void {
    const token = tokenFromAuthorization(ctx.header(spec.header));
    if (token === null) return deny(ctx, 'missing token', true);
    const hit = spec.authorizer.cached(token);
    if (hit !== undefined) return admit(ctx, hit, true);
    void spec.authorizer.verify(token).then((r) => {
      if (!ctx.aborted && !ctx.done) admit(ctx, r, false);
    });
  };
}
