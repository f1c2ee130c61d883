/**
 * Lambda function references in `aws_proxy` integration uris.
 *
 * REST APIs use the API Gateway service action ARN, e.g.
 *   arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:123456789012:function:GetPets/invocations
 * (https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-swagger-extensions-integration.html,
 * https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-swagger-extensions-any-method.html);
 * HTTP APIs also accept the bare function ARN, e.g. arn:aws:lambda:us-east-2:123456789012:function:HelloWorld
 * (https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-open-api.html).
 * The function ARN may end in a qualifier (`:alias`, `:1`, `:$LATEST`).
 */

export type LambdaRef =
  | { ok: true; name: string; qualifier?: string }
  | { ok: false; reason: string };

/** Lambda function names: 1-64 of letters, digits, hyphens, underscores. */
export const FUNCTION_NAME = /^[A-Za-z0-9_-]{1,64}$/;

export function parseLambdaUri(uri: string): LambdaRef {
  let fnArn: string | undefined;
  const action = /^arn:[^:]+:apigateway:.*?:lambda:path\/[^/]+\/functions\/(.+)\/invocations$/.exec(uri);
  if (action) fnArn = action[1]!;
  else if (/^arn:[^:]+:lambda:/.test(uri)) fnArn = uri;
  if (fnArn === undefined) {
    return { ok: false, reason: `not a Lambda function invocation ARN (AWS service integrations are not supported)` };
  }
  const fn = /:function:(.+)$/.exec(fnArn);
  if (!fn) return { ok: false, reason: `cannot find the function name in ${fnArn}` };
  const rest = fn[1]!;
  if (rest.includes('${')) {
    return { ok: false, reason: `the function is chosen by a variable (${rest}); stage variables are not supported yet` };
  }
  const colon = rest.indexOf(':');
  const name = colon < 0 ? rest : rest.slice(0, colon);
  const qualifier = colon < 0 ? undefined : rest.slice(colon + 1);
  if (!FUNCTION_NAME.test(name)) return { ok: false, reason: `invalid Lambda function name "${name}"` };
  return qualifier === undefined ? { ok: true, name } : { ok: true, name, qualifier };
}
