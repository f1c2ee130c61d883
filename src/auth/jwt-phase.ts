import { Errors } from '../errors.js';
import type { RequestContext } from '../worker/context.js';
import { proceed, refuse } from '../worker/respond.js';
import { forwardHeaders } from './forward.js';
import { JwtAuthorizer, tokenFromAuthorization, wwwAuthenticate, type JwtResult } from './jwt.js';

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
    refuse(ctx, Errors.UNAUTHORIZED, sync, ['www-authenticate', wwwAuthenticate(reason)]);
  };

  const admit = (ctx: RequestContext, r: JwtResult, sync: boolean): void => {
    if (!r.ok) return deny(ctx, r.reason, sync);
    if (!JwtAuthorizer.checkScopes(r.identity, spec.scopes)) {
      ctx.errorMessage = 'jwt: insufficient scope';
      return refuse(ctx, Errors.FORBIDDEN, sync);
    }
    ctx.authorizer = { jwt: { claims: r.identity.claims, scopes: r.identity.scopes } };
    if (spec.forwardClaims.length > 0) forwardHeaders(ctx, spec.forwardClaims, (claim) => r.identity.claims[claim]);
    proceed(ctx, next, sync);
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
