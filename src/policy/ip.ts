import { BlockList, isIP } from 'node:net';
import { accessDenied, type GatewayError } from '../errors.js';
import type { RequestContext } from '../worker/context.js';
import { sendErrorSync } from '../worker/respond.js';

/**
 * IP resource policies (what AWS REST APIs express with `aws:SourceIp` conditions in a resource
 * policy), per API and per route: an explicit deny always wins; when an allow list exists, an
 * address outside it is refused. Both the API's and the route's policy must admit a request.
 * Refusals answer 403 with AWS's resource-policy wording
 * (https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-resource-policies-examples.html).
 */

export interface IpPolicy { allow?: string[]; deny?: string[] }

/** "10.0.0.0/8", "2001:db8::/32" or a single address; throws with the offending entry. */
export function blockListOf(entries: readonly string[]): BlockList {
  const b = new BlockList();
  for (const e of entries) {
    const [addr, bits] = e.split('/') as [string, string | undefined];
    const v = isIP(addr);
    if (v === 0) throw new Error(`"${e}" is not an IP address or CIDR block`);
    const type = v === 4 ? 'ipv4' : 'ipv6';
    if (bits === undefined) { b.addAddress(addr, type); continue; }
    const n = Number(bits);
    if (!/^\d{1,3}$/.test(bits) || n > (v === 4 ? 32 : 128)) throw new Error(`"${e}": prefix length must be 0-${v === 4 ? 32 : 128}`);
    b.addSubnet(addr, n, type);
  }
  return b;
}

export function contains(b: BlockList, ip: string): boolean {
  const v = isIP(ip);
  return v !== 0 && b.check(ip, v === 4 ? 'ipv4' : 'ipv6');
}

export interface CompiledIpPolicy { allow: BlockList | null; deny: BlockList | null }

export function compileIpPolicy(p: IpPolicy): CompiledIpPolicy {
  return { allow: p.allow ? blockListOf(p.allow) : null, deny: p.deny ? blockListOf(p.deny) : null };
}

/** 'deny' (explicit deny), 'none' (no allow matched), or null (admitted). */
function judge(p: CompiledIpPolicy, ip: string): 'deny' | 'none' | null {
  if (p.deny !== null && contains(p.deny, ip)) return 'deny';
  if (p.allow !== null && !contains(p.allow, ip)) return 'none';
  return null;
}

function refusal(resource: string, kind: 'deny' | 'none'): GatewayError {
  const message = kind === 'deny'
    ? `User: anonymous is not authorized to perform: execute-api:Invoke on resource: ${resource} with an explicit deny`
    : `User: anonymous is not authorized to perform: execute-api:Invoke on resource: ${resource} because no resource-based policy allows the execute-api:Invoke action`;
  return accessDenied(message);
}

/** Checks the request's client address against every policy (API, then route); 403 on refusal. */
export function withIpPolicy(next: (ctx: RequestContext) => void, policies: readonly CompiledIpPolicy[], resourceOf: (ctx: RequestContext) => string): (ctx: RequestContext) => void {
  return function ipPolicy(ctx: RequestContext): void {
    for (const p of policies) {
      const verdict = judge(p, ctx.clientIp);
      if (verdict !== null) return sendErrorSync(ctx, refusal(resourceOf(ctx), verdict), ctx.contentLength > 0 || ctx.chunked);
    }
    next(ctx);
  };
}

/**
 * The client's address behind trusted proxies: when the peer is trusted, X-Forwarded-For is read
 * right to left, skipping trusted hops; the first untrusted address is the client. With no trusted
 * proxies (the default) X-Forwarded-For is never believed.
 */
export function clientIpOf(peer: string, xff: string | undefined, trusted: BlockList | null): string {
  if (trusted === null || xff === undefined || !contains(trusted, peer)) return peer;
  const hops = xff.split(',');
  for (let i = hops.length - 1; i >= 0; i--) {
    const h = hops[i]!.trim();
    if (isIP(h) === 0) return peer; // garbage in the chain: do not guess
    if (!contains(trusted, h)) return h;
  }
  return peer;
}
