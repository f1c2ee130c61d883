import type { RequestContext } from '../worker/context.js';

/**
 * Authorizer output forwarded upstream as headers (JWT claims, a Lambda authorizer's context): the
 * client's own headers of those names are removed first, so they cannot be forged; values are made
 * header-safe (no CR/LF or other control characters reach the upstream request); absent values send
 * no header.
 */
export function forwardHeaders(ctx: RequestContext, names: readonly (readonly [string, string])[], valueOf: (key: string) => unknown): void {
  const h = ctx.headers;
  const kept: string[] = [];
  for (let i = 0; i < h.length; i += 2) if (!names.some(([n]) => n === h[i])) kept.push(h[i]!, h[i + 1]!);
  for (const [header, key] of names) {
    const v = valueOf(key);
    if (v === undefined || v === null) continue;
    kept.push(header, (typeof v === 'string' ? v : JSON.stringify(v)).replace(/[\x00-\x1f\x7f]/g, ''));
  }
  ctx.headers = kept;
}
