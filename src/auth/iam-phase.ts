import { createHash } from 'node:crypto';
import type { GatewayError } from '../errors.js';
import { accessDenied, messageBody } from '../errors.js';
import { readBody } from '../worker/body.js';
import type { RequestContext } from '../worker/context.js';
import { proceed, refuse } from '../worker/respond.js';
import { verifySigV4, type SigV4Credential, type SigV4Result } from './sigv4.js';

/**
 * IAM authorization (AWS_IAM) on a route: the request must be signed with Signature Version 4 for
 * service execute-api by a configured access key that may call this route. Refusals are 403 with
 * the AWS message the verifier chose (e.g. "Missing Authentication Token", the signature-mismatch
 * text, "Signature expired: ..."). When the signature covers the body and the client sent no
 * x-amz-content-sha256, the body is read (it stays in ctx.body for the integration) and checked.
 */

export interface IamCredential extends SigV4Credential {
  accessKeyId: string;
  /** Compiled `routes` patterns over "{api}/{stage}/{METHOD} {path}". */
  allow: RegExp[];
}

export interface IamRouteSpec {
  credentials: ReadonlyMap<string, IamCredential>;
  region: string | null;
  /** "{api}/{stage}/{METHOD} {path}": what `routes` patterns are matched against. */
  resourceOf: (ctx: RequestContext) => string;
  maxBodyBytes: number;
}

/** 'shop/$default/GET /pets/*' style patterns: `*` matches anything, the rest literally. */
export function compileRoutePattern(p: string): RegExp {
  return new RegExp(`^${p.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\/]/g, '\\$&')).join('.*')}$`);
}

const forbidden = (message: string): GatewayError => ({ code: 'ACCESS_DENIED', status: 403, statusLine: '403 Forbidden', message, body: messageBody({ message }) });

export function withIam(next: (ctx: RequestContext) => void, spec: IamRouteSpec): (ctx: RequestContext) => void {
  const verify = (ctx: RequestContext, bodySha256Hex: string | null): SigV4Result =>
    verifySigV4({ method: ctx.method, path: ctx.url, query: ctx.query, headers: ctx.headers, bodySha256Hex }, {
      lookup: (id) => spec.credentials.get(id), region: spec.region,
    });

  const settle = (ctx: RequestContext, r: SigV4Result, sync: boolean): void => {
    if (!r.ok) {
      ctx.errorMessage = `sigv4: ${r.reason}`;
      return refuse(ctx, forbidden(r.message), sync);
    }
    const cred = spec.credentials.get(r.accessKeyId)!;
    const resource = spec.resourceOf(ctx);
    if (!cred.allow.some((re) => re.test(resource))) {
      // An IAM policy evaluation failure: AWS writes the body's key as "Message" (signature errors use "message").
      const e = accessDenied(`User: ${r.accessKeyId} is not authorized to perform: execute-api:Invoke on resource: ${resource}`);
      ctx.errorMessage = 'sigv4: route not allowed for this key';
      return refuse(ctx, e, sync);
    }
    ctx.authorizer = { iam: { accessKey: r.accessKeyId, callerId: r.accessKeyId, userId: r.accessKeyId } };
    proceed(ctx, next, sync);
  };

  return function iam(ctx: RequestContext): void {
    const r = verify(ctx, null);
    if (r.ok || r.reason !== 'needs-body') return settle(ctx, r, true);
    readBody(ctx, spec.maxBodyBytes, (body) => {
      const hash = createHash('sha256').update(body ?? new Uint8Array(0)).digest('hex');
      settle(ctx, verify(ctx, hash), false);
    });
  };
}
