/**
 * Lambda authorizers on a function thread: the event an authorizer receives, and its answer checked
 * and normalized. Sources:
 *  [HTTP]  https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-lambda-authorizer.html
 *          (REQUEST events for payload 2.0 and 1.0, response formats, simple responses)
 *  [IN]    https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-lambda-authorizer-input.html
 *          (the TOKEN event)
 *  [OUT]   https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-lambda-authorizer-output.html
 *          (principalId, policyDocument, context values are strings/numbers/booleans, usageIdentifierKey)
 * Any answer that is not in the documented shape is a failure: AWS answers 500 for "a response in an
 * invalid format" [HTTP] (troubleshooting).
 */
import { buildEventV1, buildEventV2 } from './payload.js';
import type { AuthorizeReply, AuthorizeRequest, AuthorizerDecision, PolicyStatement } from './types.js';

/** The event for the authorizer's type and payload format; keys in the order of the documented examples. */
export function buildAuthorizerEvent(req: AuthorizeRequest): Record<string, unknown> {
  const a = req.auth;
  if (a.type === 'TOKEN') return { type: 'TOKEN', authorizationToken: a.identity[0] ?? '', methodArn: a.arn }; // [IN]
  if (req.format === '2.0') {
    const e = buildEventV2(req) as unknown as Record<string, unknown>;
    const out: Record<string, unknown> = {
      version: '2.0', type: 'REQUEST', routeArn: a.arn, identitySource: a.identity,
      routeKey: e['routeKey'], rawPath: e['rawPath'], rawQueryString: e['rawQueryString'],
    };
    if (e['cookies'] !== undefined) out['cookies'] = e['cookies'];
    out['headers'] = e['headers'];
    if (e['queryStringParameters'] !== undefined) out['queryStringParameters'] = e['queryStringParameters'];
    out['requestContext'] = e['requestContext'];
    if (e['pathParameters'] !== undefined) out['pathParameters'] = e['pathParameters'];
    if (e['stageVariables'] !== undefined) out['stageVariables'] = e['stageVariables'];
    return out;
  }
  const e = buildEventV1(req) as unknown as Record<string, unknown>;
  // [HTTP] 1.0: identitySource and authorizationToken are the values joined with ",".
  const joined = a.identity.join(',');
  return {
    version: '1.0', type: 'REQUEST', methodArn: a.arn, identitySource: joined, authorizationToken: joined,
    resource: e['resource'], path: e['path'], httpMethod: e['httpMethod'],
    headers: e['headers'], multiValueHeaders: e['multiValueHeaders'],
    queryStringParameters: e['queryStringParameters'], multiValueQueryStringParameters: e['multiValueQueryStringParameters'],
    // The documented events show {} for a route without path parameters.
    pathParameters: e['pathParameters'] ?? {}, stageVariables: e['stageVariables'], requestContext: e['requestContext'],
  };
}

/** An authorizer that fails with "Unauthorized" (thrown Error, or callback("Unauthorized")) means 401 [IN]/[OUT]. */
export function isUnauthorizedError(e: unknown): boolean {
  return e === 'Unauthorized' || (e instanceof Error && e.message === 'Unauthorized');
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const bad = (message: string): AuthorizeReply => ({ ok: false, unauthorized: false, failure: { kind: 'bad_result', message } });

function strings(v: unknown): string[] | null {
  if (typeof v === 'string') return [v];
  if (Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'string')) return v as string[];
  return null;
}

/**
 * The answer checked against the documented formats: a simple response for payload 2.0 with
 * enableSimpleResponses, an IAM policy otherwise. With payload 1.0 and TOKEN (REST semantics [OUT])
 * context values must be strings, numbers or booleans and reach integrations as strings.
 */
export function parseAuthorizerResult(result: unknown, req: AuthorizeRequest): AuthorizeReply {
  if (!isPlainObject(result)) return bad(`the authorizer returned ${result === null ? 'null' : Array.isArray(result) ? 'an array' : typeof result}, not an object`);
  const restStyle = req.auth.type === 'TOKEN' || req.format === '1.0';
  let context: Record<string, unknown> | null = null;
  const c = result['context'];
  if (c !== undefined && c !== null) {
    if (!isPlainObject(c)) return bad('context must be an object');
    if (restStyle) {
      const flat: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(c)) {
        if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') return bad(`context.${k}: values must be strings, numbers or booleans (payload 1.0)`);
        flat[k] = String(v);
      }
      context = flat;
    } else {
      context = c;
    }
  }
  let decision: AuthorizerDecision;
  if (req.auth.simpleResponses) {
    if (typeof result['isAuthorized'] !== 'boolean') return bad('isAuthorized must be a boolean (simple responses are enabled)');
    decision = { kind: 'simple', isAuthorized: result['isAuthorized'], context };
  } else {
    const pid = result['principalId'];
    if (pid !== undefined && typeof pid !== 'string' && typeof pid !== 'number') return bad('principalId must be a string');
    if (restStyle && pid === undefined) return bad('principalId is missing');
    const doc = result['policyDocument'];
    if (!isPlainObject(doc)) return bad('policyDocument is missing or not an object');
    const raw = doc['Statement'];
    const list = Array.isArray(raw) ? raw : raw === undefined ? [] : [raw];
    if (list.length === 0) return bad('policyDocument.Statement is missing or empty');
    const statements: PolicyStatement[] = [];
    for (const [i, st] of list.entries()) {
      if (!isPlainObject(st)) return bad(`policyDocument.Statement[${i}] is not an object`);
      const effect = st['Effect'];
      if (effect !== 'Allow' && effect !== 'Deny') return bad(`policyDocument.Statement[${i}].Effect must be "Allow" or "Deny"`);
      const actions = strings(st['Action']);
      const resources = strings(st['Resource']);
      if (actions === null) return bad(`policyDocument.Statement[${i}].Action must be a string or a list of strings`);
      if (resources === null) return bad(`policyDocument.Statement[${i}].Resource must be a string or a list of strings`);
      statements.push({ effect, actions, resources });
    }
    const uik = result['usageIdentifierKey'];
    decision = {
      kind: 'policy', principalId: pid === undefined ? null : String(pid), statements, context,
      usageIdentifierKey: typeof uik === 'string' ? uik : null,
    };
  }
  return { ok: true, decision };
}
