import type { PolicyStatement } from '../functions/types.js';

/**
 * An authorizer's IAM policy, compiled once per answer (a cached answer is checked against every
 * request's ARN, so one policy may allow some routes and not others, as AWS does). IAM evaluation:
 * an explicit Deny that matches wins; otherwise a matching Allow allows; otherwise the request is
 * implicitly denied. Only statements whose Action covers execute-api:Invoke count. In Action and
 * Resource `*` matches any run of characters (slashes included) and `?` one character; actions are
 * compared without case, resources with case.
 * https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-control-access-using-iam-policies-to-invoke-api.html
 * https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html
 */
export interface CompiledPolicy {
  allow: string[];
  deny: string[];
}

export type PolicyVerdict = 'allow' | 'explicit-deny' | 'implicit-deny';

/**
 * IAM wildcard match: `*` any run (slashes included), `?` one character. The two-pointer algorithm
 * with one backtrack point is O(pattern × text) at worst, so no policy and no request path can make
 * it blow up (a RegExp built from `a*a*a*...b` can backtrack far longer).
 */
export function globMatch(pattern: string, text: string): boolean {
  let p = 0;
  let t = 0;
  let star = -1;
  let mark = 0;
  while (t < text.length) {
    const c = pattern.charCodeAt(p);
    if (p < pattern.length && (c === 63 /* ? */ || c === text.charCodeAt(t))) {
      p++;
      t++;
    } else if (p < pattern.length && c === 42 /* * */) {
      star = p++;
      mark = t;
    } else if (star >= 0) {
      p = star + 1;
      t = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.length && pattern.charCodeAt(p) === 42) p++;
  return p === pattern.length;
}

const INVOKE = 'execute-api:invoke';

export function compilePolicy(statements: readonly PolicyStatement[]): CompiledPolicy {
  const allow: string[] = [];
  const deny: string[] = [];
  for (const st of statements) {
    if (!st.actions.some((a) => globMatch(a.toLowerCase(), INVOKE))) continue;
    (st.effect === 'Deny' ? deny : allow).push(...st.resources);
  }
  return { allow, deny };
}

export function evaluatePolicy(p: CompiledPolicy, arn: string): PolicyVerdict {
  if (p.deny.some((r) => globMatch(r, arn))) return 'explicit-deny';
  if (p.allow.some((r) => globMatch(r, arn))) return 'allow';
  return 'implicit-deny';
}
