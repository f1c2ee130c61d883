/**
 * The AWS Lambda proxy payload, built and read on a function thread: `buildEventV2` / `buildEventV1`
 * turn an `InvokeRequest` into the event an HTTP API sends with payload format 2.0 / 1.0,
 * `mapResultV2` / `mapResultV1` turn what the handler returned into an HTTP response, and
 * `lambdaContext` builds the handler's `context` argument.
 *
 * Sources (cited next to each rule below):
 *  [HTTP]  https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-integrations-lambda.html
 *          (payload format versions, both example events, "Lambda function response for format 2.0")
 *  [REST]  https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-lambda-proxy-integrations.html
 *          ("Input format ..." / "Output format of a Lambda function for proxy integration")
 *  [CTX]   https://docs.aws.amazon.com/lambda/latest/dg/nodejs-context.html
 * Where the pages are silent (path decoding, which bodies are base64, cookie header removal, HTTP API
 * 1.0 `path`/`resource`/`resourceId`), the rule follows events captured from live HTTP APIs; each
 * such place says so.
 *
 * This is an HTTP API gateway (route keys, `$default` stage), so format 1.0 is the HTTP API's 1.0
 * payload (REST-shaped, with `"version": "1.0"`), not a REST API's event.
 *
 * Hot path: no per-call regex compilation, no JSON round trips on the request side, objects built
 * directly.
 */
import { randomBytes } from 'node:crypto';
import type { APIGatewayProxyEvent, APIGatewayProxyEventV2, Context } from 'aws-lambda';
import type { InvokeRequest, MappedResponse } from './types.js';

export type MapResult = { ok: true; response: MappedResponse } | { ok: false; message: string };

const hasOwn = Object.hasOwn;

/** Assigns without letting a `__proto__` key (a header or query name) replace the prototype. */
function put(obj: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
  else obj[key] = value;
}

// ---------------------------------------------------------------------------------------------
// Shared request helpers
// ---------------------------------------------------------------------------------------------

const PCT_RUN = /(?:%[0-9A-Fa-f]{2})+/g;

/**
 * Percent-decodes like decodeURIComponent, but never throws: runs of escapes that are not valid
 * UTF-8 (and lone `%`) are kept as they are.
 */
function pctDecode(s: string): string {
  if (s.indexOf('%') === -1) return s;
  try {
    return decodeURIComponent(s);
  } catch {
    return s.replace(PCT_RUN, (run) => {
      try {
        return decodeURIComponent(run);
      } catch {
        return run;
      }
    });
  }
}

/** Query-string component decoding: `+` is a space, then percent-decoding. */
function qsDecode(s: string): string {
  if (s.indexOf('+') !== -1) s = s.replaceAll('+', ' ');
  return pctDecode(s);
}

/**
 * Calls `fn(name, value)` for each `name[=value]` pair of a raw query string, both decoded.
 * API Gateway hands the function decoded names and values, `+` read as a space (live captures:
 * `literalPlus=a+b` → "a b", `encodedPlus=a%2Bb` → "a+b", `empty=` → ""). A name without `=` has
 * the value "". Empty pairs (`&&`) are skipped.
 */
export function forEachQueryPair(query: string, fn: (name: string, value: string) => void): void {
  let start = 0;
  const len = query.length;
  while (start <= len) {
    let end = query.indexOf('&', start);
    if (end === -1) end = len;
    if (end > start) {
      const eq = query.indexOf('=', start);
      if (eq === -1 || eq > end) fn(qsDecode(query.slice(start, end)), '');
      else fn(qsDecode(query.slice(start, eq)), qsDecode(query.slice(eq + 1, end)));
    }
    start = end + 1;
  }
}

/** Path parameters, percent-decoded (HTTP APIs route on the decoded path, so the values are decoded). */
function decodeParams(params: Record<string, string> | null): Record<string, string> | null {
  if (params === null) return null;
  const out: Record<string, string> = {};
  let any = false;
  for (const k in params) {
    if (!hasOwn(params, k)) continue;
    put(out, k, pctDecode(params[k]!));
    any = true;
  }
  return any ? out : null;
}

/** `$default` → `$default`; `GET /pets/{id}` → `/pets/{id}`. */
function routePath(routeKey: string): string {
  const sp = routeKey.indexOf(' ');
  return sp === -1 ? routeKey : routeKey.slice(sp + 1);
}

/** First label of the host: `abc.execute-api.us-east-1.amazonaws.com` → `abc` ([HTTP] example: domainPrefix "id"). */
function domainPrefix(domainName: string): string {
  const dot = domainName.indexOf('.');
  return dot === -1 ? domainName : domainName.slice(0, dot);
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const pad2 = (n: number): string => (n < 10 ? '0' + n : '' + n);
let clfSecond = -1;
let clfText = '';

/** `12/Mar/2020:19:03:58 +0000` ([HTTP] requestContext.time, [REST] requestTime), UTC; cached per second. */
export function clfTime(epochMs: number): string {
  const sec = Math.floor(epochMs / 1000);
  if (sec === clfSecond) return clfText;
  const d = new Date(sec * 1000);
  clfText = `${pad2(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}:${pad2(d.getUTCSeconds())} +0000`;
  clfSecond = sec;
  return clfText;
}

/**
 * Whether an HTTP API passes the request body as a UTF-8 string rather than base64.
 * [HTTP] only says a binary body is base64-encoded (isBase64Encoded true); HTTP APIs have no
 * binaryMediaTypes. Captures from live HTTP APIs: text only for `text/*`, `application/json`,
 * `application/xml` and `application/javascript`; everything else, including a missing
 * content-type and `application/x-www-form-urlencoded`, arrives base64-encoded.
 */
function isTextContentType(ct: string | undefined): boolean {
  if (ct === undefined) return false;
  let end = ct.indexOf(';');
  if (end === -1) end = ct.length;
  const type = ct.slice(0, end).trim().toLowerCase();
  return (
    type.startsWith('text/') ||
    type === 'application/json' ||
    type === 'application/xml' ||
    type === 'application/javascript'
  );
}

/** Body string and flag, or null for no body (an empty body counts as none: the field is omitted / null). */
function encodeBody(body: ArrayBuffer | null, contentType: string | undefined): { body: string; base64: boolean } | null {
  if (body === null || body.byteLength === 0) return null;
  const buf = Buffer.from(body);
  return isTextContentType(contentType) ? { body: buf.toString('utf8'), base64: false } : { body: buf.toString('base64'), base64: true };
}

// ---------------------------------------------------------------------------------------------
// Payload format 2.0
// ---------------------------------------------------------------------------------------------

/**
 * The HTTP API payload format 2.0 event [HTTP].
 * - `rawPath` / `requestContext.http.path`: the path with the stage prefix for a named stage
 *   (live captures: stage `dev` → `/dev/agents/1234`; `$default` has none), percent-decoded as HTTP
 *   APIs deliver it (live captures: `/space%20value` → `/space value`).
 * - `rawQueryString`: as received. `queryStringParameters`: decoded, repeats joined with "," [HTTP];
 *   omitted without a query.
 * - `headers`: lower-case names, repeats joined with "," [HTTP]; the `cookie` header is moved to
 *   `cookies` [HTTP], each `name=value` one entry, split on ";" (live captures: "a=1; b=2" →
 *   ["a=1","b=2"], no cookie header left). `cookies` omitted when there are none.
 * - `body` omitted without one; base64 (isBase64Encoded true) unless the content-type is text.
 * - `pathParameters` (decoded), `stageVariables`, `requestContext.authorizer` omitted when absent.
 */
export function buildEventV2(req: InvokeRequest): APIGatewayProxyEventV2 {
  const h = req.headers;
  const headers: Record<string, string> = {};
  let cookies: string[] | undefined;
  for (let i = 0; i < h.length; i += 2) {
    const name = h[i]!;
    const value = h[i + 1]!;
    if (name === 'cookie') {
      cookies = splitCookies(value, cookies);
      continue;
    }
    if (hasOwn(headers, name)) headers[name] += ',' + value;
    else put(headers, name, value);
  }

  let query: Record<string, string> | undefined;
  if (req.query !== '') {
    const q: Record<string, string> = {};
    let any = false;
    forEachQueryPair(req.query, (k, v) => {
      any = true;
      if (hasOwn(q, k)) q[k] += ',' + v;
      else put(q, k, v);
    });
    if (any) query = q;
  }

  const path = pctDecode(req.rawPath);
  const body = encodeBody(req.body, hasOwn(headers, 'content-type') ? headers['content-type'] : undefined);
  // Keys in the order of the [HTTP] example; optional ones only when present.
  const requestContext = {
    accountId: req.accountId,
    apiId: req.apiId,
  } as APIGatewayProxyEventV2['requestContext'] & { authorizer?: Record<string, unknown> };
  if (req.authorizer !== undefined) requestContext.authorizer = eventAuthorizer(req.authorizer, true);
  requestContext.domainName = req.domainName;
  requestContext.domainPrefix = domainPrefix(req.domainName);
  requestContext.http = {
    method: req.method,
    path,
    protocol: 'HTTP/1.1',
    sourceIp: req.sourceIp,
    userAgent: hasOwn(headers, 'user-agent') ? headers['user-agent']! : '',
  };
  requestContext.requestId = req.requestId;
  requestContext.routeKey = req.routeKey;
  requestContext.stage = req.stage;
  requestContext.time = clfTime(req.requestTimeEpochMs);
  requestContext.timeEpoch = req.requestTimeEpochMs;

  const event = {
    version: '2.0',
    routeKey: req.routeKey,
    rawPath: path,
    rawQueryString: req.query,
  } as APIGatewayProxyEventV2;
  if (cookies !== undefined && cookies.length > 0) event.cookies = cookies;
  event.headers = headers;
  if (query !== undefined) event.queryStringParameters = query;
  event.requestContext = requestContext;
  if (body !== null) event.body = body.body;
  const params = decodeParams(req.pathParameters);
  if (params !== null) event.pathParameters = params;
  event.isBase64Encoded = body !== null && body.base64;
  if (req.stageVariables !== null && hasAnyKey(req.stageVariables)) event.stageVariables = req.stageVariables;
  return event;
}

/**
 * `requestContext.authorizer` for the integration's payload format. A Lambda authorizer's output
 * (`{ lambda: context, principalId?, integrationLatency }` on the uWS side) is `{ lambda: context }`
 * in 2.0 events [HTTP] and REST's flat `{ principalId, integrationLatency, ...context }` in 1.0 [REST];
 * JWT and IAM outputs go as they are. WebSocket events use the flat 1.0 form.
 */
export function eventAuthorizer(auth: Record<string, unknown>, v2: boolean): Record<string, unknown> {
  const lambda = auth['lambda'];
  if (lambda === undefined) return auth;
  if (v2) {
    const { principalId: _p, integrationLatency: _l, ...rest } = auth;
    return rest;
  }
  const out: Record<string, unknown> = {};
  if (auth['principalId'] !== undefined) out['principalId'] = auth['principalId'];
  out['integrationLatency'] = auth['integrationLatency'];
  if (lambda !== null && typeof lambda === 'object') for (const [k, v] of Object.entries(lambda)) put(out, k, v);
  return out;
}

function hasAnyKey(o: object): boolean {
  for (const k in o) if (hasOwn(o, k)) return true;
  return false;
}

/** Appends the `name=value` pairs of one Cookie header (separated by ";", surrounding blanks trimmed, empties dropped). */
function splitCookies(value: string, into: string[] | undefined): string[] {
  const out = into ?? [];
  let start = 0;
  const len = value.length;
  while (start <= len) {
    let end = value.indexOf(';', start);
    if (end === -1) end = len;
    let a = start;
    let b = end;
    while (a < b && (value.charCodeAt(a) === 32 || value.charCodeAt(a) === 9)) a++;
    while (b > a && (value.charCodeAt(b - 1) === 32 || value.charCodeAt(b - 1) === 9)) b--;
    if (b > a) out.push(value.slice(a, b));
    start = end + 1;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Payload format 1.0
// ---------------------------------------------------------------------------------------------

type MutableV1Context = Record<string, unknown>;

/**
 * The HTTP API payload format 1.0 event (REST's proxy event plus `"version": "1.0"`) [HTTP], [REST].
 * - `headers` / `queryStringParameters` keep the LAST value of a repeated name, `multiValueHeaders`
 *   / `multiValueQueryStringParameters` all of them ([REST] example: `multivalueName` you,me →
 *   "me" / ["you","me"]; live events do the same). The [HTTP] 1.0 example is inconsistent (Header2
 *   → last value, parameter1 → first); last is used for both. Query values decoded; both query
 *   maps null without a query [HTTP].
 * - `path` and `requestContext.path`: the decoded path with the stage prefix (HTTP API captures:
 *   stage `default` → `/default/RetroPixelApi`; a REST API would leave the stage out of `path`).
 * - `resource` / `requestContext.resourcePath`: the route's path (`/pets/{id}`), `$default` for the
 *   `$default` route; `requestContext.resourceId`: the route key (HTTP API captures: "ANY
 *   /handler/{proxy+}", "$default"; the [HTTP] example shows null).
 * - `pathParameters`, `stageVariables`, `body`: null when absent [HTTP] example.
 * - `requestContext.identity`: sourceIp and userAgent, the other documented keys null;
 *   `requestContext.authorizer` only with an authorizer (absent otherwise, as in live captures).
 */
export function buildEventV1(req: InvokeRequest): APIGatewayProxyEvent {
  const h = req.headers;
  const headers: Record<string, string> = {};
  const multiValueHeaders: Record<string, string[]> = {};
  for (let i = 0; i < h.length; i += 2) {
    const name = h[i]!;
    const value = h[i + 1]!;
    put(headers, name, value);
    if (hasOwn(multiValueHeaders, name)) multiValueHeaders[name]!.push(value);
    else put(multiValueHeaders, name, [value]);
  }

  let query: Record<string, string> | null = null;
  let multiQuery: Record<string, string[]> | null = null;
  if (req.query !== '') {
    const q: Record<string, string> = {};
    const mq: Record<string, string[]> = {};
    let any = false;
    forEachQueryPair(req.query, (k, v) => {
      any = true;
      put(q, k, v);
      if (hasOwn(mq, k)) mq[k]!.push(v);
      else put(mq, k, [v]);
    });
    if (any) {
      query = q;
      multiQuery = mq;
    }
  }

  const path = pctDecode(req.rawPath);
  const resource = routePath(req.routeKey);
  const body = encodeBody(req.body, hasOwn(headers, 'content-type') ? headers['content-type'] : undefined);
  const requestContext: MutableV1Context = {
    accountId: req.accountId,
    apiId: req.apiId,
  };
  if (req.authorizer !== undefined) requestContext.authorizer = eventAuthorizer(req.authorizer, false);
  requestContext.domainName = req.domainName;
  requestContext.domainPrefix = domainPrefix(req.domainName);
  requestContext.extendedRequestId = req.requestId;
  requestContext.httpMethod = req.method;
  requestContext.identity = {
    accessKey: null,
    accountId: null,
    caller: null,
    // Not in the [HTTP] example; present (null) in every live HTTP API 1.0 capture.
    cognitoAmr: null,
    cognitoAuthenticationProvider: null,
    cognitoAuthenticationType: null,
    cognitoIdentityId: null,
    cognitoIdentityPoolId: null,
    principalOrgId: null,
    sourceIp: req.sourceIp,
    user: null,
    userAgent: hasOwn(headers, 'user-agent') ? headers['user-agent']! : '',
    userArn: null,
  };
  requestContext.path = path;
  requestContext.protocol = 'HTTP/1.1';
  requestContext.requestId = req.requestId;
  requestContext.requestTime = clfTime(req.requestTimeEpochMs);
  requestContext.requestTimeEpoch = req.requestTimeEpochMs;
  requestContext.resourceId = req.routeKey;
  requestContext.resourcePath = resource;
  requestContext.stage = req.stage;

  const stageVariables = req.stageVariables !== null && hasAnyKey(req.stageVariables) ? req.stageVariables : null;
  return {
    version: '1.0',
    resource,
    path,
    httpMethod: req.method,
    headers,
    multiValueHeaders,
    queryStringParameters: query,
    multiValueQueryStringParameters: multiQuery,
    requestContext: requestContext as unknown as APIGatewayProxyEvent['requestContext'],
    pathParameters: decodeParams(req.pathParameters),
    stageVariables,
    body: body === null ? null : body.body,
    isBase64Encoded: body !== null && body.base64,
  } as APIGatewayProxyEvent;
}

// ---------------------------------------------------------------------------------------------
// Results
// ---------------------------------------------------------------------------------------------

/** Header names the gateway never takes from a handler: hop-by-hop (RFC 9110 7.6.1) and framing. */
const DROPPED = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'trailers',
  'transfer-encoding',
  'upgrade',
  'content-length',
]);

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const BAD_VALUE = /[\r\n\0]/;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

class BadResult extends Error {}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function headerValue(v: unknown, where: string): string | undefined {
  if (typeof v === 'string') {
    if (BAD_VALUE.test(v)) throw new BadResult(`${where} contains CR, LF or NUL`);
    return v;
  }
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (v === undefined) return undefined; // dropped by Lambda's JSON serialisation of the result
  throw new BadResult(`${where} must be a string, number or boolean`);
}

function headerName(name: string, where: string): string {
  if (!TOKEN.test(name)) throw new BadResult(`${where}: invalid header name ${JSON.stringify(name)}`);
  return name.toLowerCase();
}

function statusOf(v: unknown): number {
  // 1xx would be sent as an interim response and leave the client waiting for the final one.
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 200 || v > 599) {
    throw new BadResult(`statusCode must be an integer from 200 to 599, got ${describe(v)}`);
  }
  return v;
}

function describe(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? v.slice(0, 40) + '…' : v);
  if (v === null || typeof v !== 'object') return String(v);
  return Array.isArray(v) ? 'an array' : 'an object';
}

/** Copies a Buffer's bytes to a standalone ArrayBuffer (transferable); null for an empty body. */
function toArrayBuffer(buf: Buffer): ArrayBuffer | null {
  if (buf.byteLength === 0) return null;
  const ab = buf.buffer as ArrayBuffer;
  if (buf.byteOffset === 0 && buf.byteLength === ab.byteLength) return ab;
  return ab.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
}

const utf8 = new TextEncoder();

/** UTF-8 bytes of a string body; TextEncoder gives an exact-size ArrayBuffer of its own (no copy, transferable). */
function textBody(s: string): ArrayBuffer | null {
  return s.length === 0 ? null : (utf8.encode(s).buffer as ArrayBuffer);
}

/** `body` + `isBase64Encoded` of a structured result ([HTTP], [REST]: body is a string; base64 is decoded). */
function bodyOf(result: Record<string, unknown>): ArrayBuffer | null {
  const body = result.body;
  const b64 = result.isBase64Encoded;
  if (b64 !== undefined && b64 !== null && typeof b64 !== 'boolean') {
    throw new BadResult(`isBase64Encoded must be a boolean, got ${describe(b64)}`);
  }
  if (body === undefined || body === null) return null;
  if (typeof body !== 'string') throw new BadResult(`body must be a string, got ${describe(body)}`);
  if (b64 !== true) return textBody(body);
  if (body.length % 4 === 1 || !BASE64.test(body)) throw new BadResult('body is not valid base64 but isBase64Encoded is true');
  return toArrayBuffer(Buffer.from(body, 'base64'));
}

/** `headers` of a structured result into the flat list, skipping dropped names and any in `skip`. */
function pushHeaders(out: string[], headers: unknown, skip: Set<string> | null): void {
  if (headers === undefined || headers === null) return;
  if (!isPlainObject(headers)) throw new BadResult(`headers must be an object, got ${describe(headers)}`);
  for (const k in headers) {
    if (!hasOwn(headers, k)) continue;
    const name = headerName(k, 'headers');
    const value = headerValue(headers[k], `headers.${k}`);
    if (value === undefined || DROPPED.has(name) || (skip !== null && skip.has(name))) continue;
    out.push(name, value);
  }
}

/**
 * Maps a format 2.0 handler result [HTTP] "Lambda function response for format 2.0".
 * - An object with `statusCode`: statusCode, headers, cookies (each one `set-cookie` header, emitted
 *   before any `set-cookie` from headers), body, isBase64Encoded. 2.0 has no multiValueHeaders: ignored.
 * - Anything else that is valid JSON (string, number, boolean, array, object without statusCode,
 *   null/undefined which Lambda serialises as `null`): API Gateway infers 200,
 *   content-type application/json, body = "the function's response" — a string as it is
 *   ("Hello from Lambda!" → body Hello from Lambda!, not re-quoted), anything else as its JSON.
 * - A malformed structured result (see the checks below) → ok:false with the reason.
 */
export function mapResultV2(result: unknown): MapResult {
  try {
    if (isPlainObject(result) && result.statusCode !== undefined) {
      const status = statusOf(result.statusCode);
      const headers: string[] = [];
      const cookies = result.cookies;
      if (cookies !== undefined && cookies !== null) {
        if (!Array.isArray(cookies)) throw new BadResult(`cookies must be an array of strings, got ${describe(cookies)}`);
        for (let i = 0; i < cookies.length; i++) {
          const c: unknown = cookies[i];
          if (typeof c !== 'string') throw new BadResult(`cookies[${i}] must be a string, got ${describe(c)}`);
          headers.push('set-cookie', headerValue(c, `cookies[${i}]`)!);
        }
      }
      pushHeaders(headers, result.headers, null);
      return { ok: true, response: { status, headers, body: bodyOf(result) } };
    }
    let body: string;
    if (typeof result === 'string') body = result;
    else {
      let json: string | undefined;
      try {
        json = JSON.stringify(result);
      } catch (e) {
        return { ok: false, message: `result is not JSON-serialisable: ${(e as Error).message}` };
      }
      // Lambda sends JSON.stringify(result); a value that serialises to a JSON string (a toJSON()
      // returning one, e.g. a Date) is a string to API Gateway, so its content is the body.
      body = json === undefined ? 'null' : json.charCodeAt(0) === 34 ? (JSON.parse(json) as string) : json;
    }
    return { ok: true, response: { status: 200, headers: ['content-type', 'application/json'], body: textBody(body) } };
  } catch (e) {
    if (e instanceof BadResult) return { ok: false, message: e.message };
    throw e;
  }
}

/**
 * Maps a format 1.0 handler result [REST] "Output format of a Lambda function for proxy integration":
 * `{ statusCode, headers?, multiValueHeaders?, body?, isBase64Encoded? }`; any other shape (no
 * statusCode, not an object) is malformed ("If the function output is of a different format, API
 * Gateway returns a 502 Bad Gateway error response"). headers and multiValueHeaders are merged;
 * where a name is in both, only the multiValueHeaders values are used ([REST]: "only the values from
 * multiValueHeaders will appear in the merged list"); names compared case-insensitively.
 */
export function mapResultV1(result: unknown): MapResult {
  try {
    if (!isPlainObject(result)) throw new BadResult(`result must be an object with a statusCode, got ${describe(result)}`);
    if (result.statusCode === undefined) throw new BadResult('result has no statusCode');
    const status = statusOf(result.statusCode);
    const headers: string[] = [];
    const mv = result.multiValueHeaders;
    let mvOut: string[] | null = null;
    let mvNames: Set<string> | null = null;
    if (mv !== undefined && mv !== null) {
      if (!isPlainObject(mv)) throw new BadResult(`multiValueHeaders must be an object, got ${describe(mv)}`);
      mvOut = [];
      mvNames = new Set();
      for (const k in mv) {
        if (!hasOwn(mv, k)) continue;
        const name = headerName(k, 'multiValueHeaders');
        const values = mv[k];
        if (values === undefined) continue;
        if (!Array.isArray(values)) throw new BadResult(`multiValueHeaders.${k} must be an array, got ${describe(values)}`);
        mvNames.add(name);
        if (DROPPED.has(name)) continue;
        for (let i = 0; i < values.length; i++) {
          const v = headerValue(values[i], `multiValueHeaders.${k}[${i}]`);
          if (v !== undefined) mvOut.push(name, v);
        }
      }
    }
    pushHeaders(headers, result.headers, mvNames);
    if (mvOut !== null) for (let i = 0; i < mvOut.length; i++) headers.push(mvOut[i]!);
    return { ok: true, response: { status, headers, body: bodyOf(result) } };
  } catch (e) {
    if (e instanceof BadResult) return { ok: false, message: e.message };
    throw e;
  }
}

// ---------------------------------------------------------------------------------------------
// Context
// ---------------------------------------------------------------------------------------------

/** Region in ARNs: the gateway runs nowhere in particular; us-east-1 as in AWS's examples. */
export const REGION = 'us-east-1';

let logStream: string | undefined;

/** One log stream per function thread, AWS-shaped: `2024/05/01/[$LATEST]<32 hex>` [CTX]. */
function logStreamName(): string {
  if (logStream === undefined) {
    const d = new Date();
    logStream = `${d.getUTCFullYear()}/${pad2(d.getUTCMonth() + 1)}/${pad2(d.getUTCDate())}/[$LATEST]${randomBytes(16).toString('hex')}`;
  }
  return logStream;
}

function legacy(name: string): never {
  throw new Error(`context.${name}() is the legacy Lambda completion API and is not supported: return a value (async handler) or use the callback`);
}

/**
 * The handler's `context` [CTX]. `deadlineMs` is the epoch ms at which the invocation times out;
 * `getRemainingTimeInMillis()` counts down to it and never goes below 0. The legacy
 * `done`/`succeed`/`fail` throw.
 */
export function lambdaContext(req: Pick<InvokeRequest, 'functionName' | 'accountId' | 'memoryLimitInMB' | 'requestId'>, deadlineMs: number): Context {
  const name = req.functionName;
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: name,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:${REGION}:${req.accountId}:function:${name}`,
    memoryLimitInMB: String(req.memoryLimitInMB),
    awsRequestId: req.requestId,
    logGroupName: `/aws/lambda/${name}`,
    logStreamName: logStreamName(),
    getRemainingTimeInMillis(): number {
      const left = deadlineMs - Date.now();
      return left > 0 ? left : 0;
    },
    done(): void {
      legacy('done');
    },
    fail(): void {
      legacy('fail');
    },
    succeed(): void {
      legacy('succeed');
    },
  };
}
