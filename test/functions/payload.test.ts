import { readFileSync } from 'node:fs';
import t, { type Test } from 'tap';
import {
  buildEventV1,
  buildEventV2,
  clfTime,
  lambdaContext,
  mapResultV1,
  mapResultV2,
  type MapResult,
} from '../../src/functions/payload.js';
import type { InvokeRequest, MappedResponse } from '../../src/functions/types.js';

// Fixtures are read from the source tree (tsc does not copy .json files to dist).
const FIXTURES = new URL('../../../test/functions/fixtures/', import.meta.url);
function fixture<T>(name: string): T {
  return JSON.parse(readFileSync(new URL(name, FIXTURES), 'utf8')) as T;
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Obj = Record<string, unknown>;

function req(over: Partial<InvokeRequest> = {}): InvokeRequest {
  return {
    module: '/fn/index.js',
    exportName: 'handler',
    format: '2.0',
    timeoutMs: 3000,
    functionName: 'pets',
    memoryLimitInMB: 128,
    method: 'GET',
    rawPath: '/pets',
    query: '',
    headers: ['host', 'abc.example.com', 'user-agent', 'curl/8'],
    sourceIp: '203.0.113.9',
    requestId: 'req-1',
    requestTimeEpochMs: Date.UTC(2024, 0, 2, 3, 4, 5, 678),
    routeKey: 'GET /pets',
    stage: '$default',
    pathParameters: null,
    stageVariables: null,
    domainName: 'abc.example.com',
    apiId: 'myapi',
    accountId: '123456789012',
    body: null,
    ...over,
  };
}

function bytes(s: string | number[]): ArrayBuffer {
  const b = typeof s === 'string' ? Buffer.from(s, 'utf8') : Buffer.from(s);
  const ab = new ArrayBuffer(b.byteLength);
  new Uint8Array(ab).set(b);
  return ab;
}

/** Recursive key/type skeleton: same keys, same null-vs-omitted, same value kinds. */
function shape(v: unknown): Json {
  if (v === null) return 'null';
  if (Array.isArray(v)) return ['array', ...v.map(shape)];
  if (typeof v === 'object') {
    const out: { [k: string]: Json } = {};
    for (const k of Object.keys(v as Obj).sort()) out[k] = shape((v as Obj)[k]);
    return out;
  }
  return typeof v;
}

function lowerKeys<T>(o: Record<string, T>): Record<string, T> {
  const out: Record<string, T> = {};
  for (const [k, v] of Object.entries(o)) out[k.toLowerCase()] = v;
  return out;
}

function ok(t: Test, r: MapResult): MappedResponse {
  if (!r.ok) {
    t.fail(`expected ok, got: ${r.message}`);
    throw new Error(r.message);
  }
  return r.response;
}

function bad(t: Test, r: MapResult, re: RegExp, what: string): void {
  t.equal(r.ok, false, `${what}: rejected`);
  if (!r.ok) t.match(r.message, re, `${what}: reason`);
}

const text = (ab: ArrayBuffer | null): string | null => (ab === null ? null : Buffer.from(ab).toString('utf8'));


// -------------------------------------------------------------------------------------------
// AWS documentation examples
// -------------------------------------------------------------------------------------------

t.test('2.0 event matches the AWS example event', async (t) => {
  const doc = fixture<{ event: Obj }>('http-api-v2-event.json').event;
  const rc = doc.requestContext as Obj;
  const event = buildEventV2(
    req({
      method: 'POST',
      rawPath: '/my/path',
      query: 'parameter1=value1&parameter1=value2&parameter2=value',
      headers: [
        'header1', 'value1',
        'header2', 'value1',
        'cookie', 'cookie1; cookie2',
        'header2', 'value2',
        'user-agent', 'agent',
        'content-type', 'text/plain',
      ],
      sourceIp: 'IP',
      requestId: 'id',
      requestTimeEpochMs: rc.timeEpoch as number,
      routeKey: '$default',
      stage: '$default',
      pathParameters: { parameter1: 'value1' },
      stageVariables: doc.stageVariables as Record<string, string>,
      domainName: 'id.execute-api.us-east-1.amazonaws.com',
      apiId: 'api-id',
      accountId: '123456789012',
      body: bytes('Hello from Lambda'),
      authorizer: rc.authorizer as Obj,
    }),
  );

  const expected = structuredClone(doc);
  const erc = expected.requestContext as Obj;
  // No mutual TLS here, so no requestContext.authentication.
  delete erc.authentication;
  // Header names arrive lower-case (HTTP APIs lower-case them in 2.0); the request also carried
  // user-agent and content-type, which the example's header map leaves out.
  expected.headers = { ...lowerKeys(expected.headers as Record<string, string>), 'user-agent': 'agent', 'content-type': 'text/plain' };
  // The example's time and timeEpoch disagree (1583348638390 is 04/Mar/2020:19:03:58); time follows timeEpoch.
  t.equal(erc.time, '12/Mar/2020:19:03:58 +0000');
  erc.time = '04/Mar/2020:19:03:58 +0000';

  t.strictSame(JSON.parse(JSON.stringify(event)), expected, 'same values');
  t.strictSame(shape(event), shape(expected), 'same keys, nulls and kinds');
  t.strictSame(Object.keys(event), Object.keys(expected), 'top-level keys in the example order');
  t.strictSame(Object.keys(event.requestContext), Object.keys(erc), 'requestContext keys in the example order');
  t.strictSame(event.cookies, ['cookie1', 'cookie2'], 'cookies from the Cookie header');
  t.equal(event.headers.header2, 'value1,value2', 'repeated header joined with ","');
  t.equal(event.queryStringParameters!.parameter1, 'value1,value2', 'repeated query key joined with ","');
});

t.test('1.0 event matches the AWS example event', async (t) => {
  const doc = fixture<{ event: Obj }>('http-api-v1-event.json').event;
  const rc = doc.requestContext as Obj;
  const event = buildEventV1(
    req({
      format: '1.0',
      method: 'GET',
      rawPath: '/my/path',
      query: 'parameter1=value1&parameter1=value2&parameter2=value',
      headers: ['header1', 'value1', 'header2', 'value1', 'header2', 'value2', 'user-agent', 'user-agent', 'content-type', 'text/plain'],
      sourceIp: 'IP',
      requestId: 'id=',
      requestTimeEpochMs: rc.requestTimeEpoch as number,
      routeKey: 'GET /my/path',
      stage: '$default',
      domainName: 'id.execute-api.us-east-1.amazonaws.com',
      apiId: 'id',
      body: bytes('Hello from Lambda!'),
      authorizer: rc.authorizer as Obj,
    }),
  );

  const expected = structuredClone(doc);
  const erc = expected.requestContext as Obj;
  const identity = erc.identity as Obj;
  // Known, deliberate differences from the example (each from live HTTP API 1.0 captures):
  delete identity.clientCert; // only with mutual TLS
  identity.cognitoAmr = null; // present (null) in live events, missing from the example
  erc.resourceId = 'GET /my/path'; // live events carry the route key; the example shows null
  erc.extendedRequestId = 'id='; // live events: extendedRequestId === requestId
  // The example gives parameter1=value1&parameter1=value2 as "value1" but Header2 value1,value2 as
  // "value2". The REST example (multivalueName you,me → "me") and live events take the last value
  // for both, so the single-value query map does too.
  t.equal((expected.queryStringParameters as Obj).parameter1, 'value1');
  (expected.queryStringParameters as Obj).parameter1 = 'value2';
  expected.headers = { ...lowerKeys(expected.headers as Record<string, string>), 'user-agent': 'user-agent', 'content-type': 'text/plain' };
  expected.multiValueHeaders = {
    ...lowerKeys(expected.multiValueHeaders as Record<string, string[]>),
    'user-agent': ['user-agent'],
    'content-type': ['text/plain'],
  };

  t.strictSame(JSON.parse(JSON.stringify(event)), expected, 'same values');
  t.strictSame(shape(event), shape(expected), 'same keys, nulls and kinds');
  t.strictSame(Object.keys(event), Object.keys(expected), 'top-level keys in the example order');
  t.strictSame(Object.keys(event.requestContext), Object.keys(erc), 'requestContext keys in the example order');
  t.equal(event.requestContext.requestTime, '04/Mar/2020:19:15:17 +0000', 'requestTime from requestTimeEpoch, as in the example');
  t.equal(event.headers.header2, 'value2', 'single-value header map keeps the last value');
  t.strictSame(event.multiValueHeaders.header2, ['value1', 'value2']);
  t.equal(event.queryStringParameters!.parameter1, 'value2', 'single-value query map keeps the last value');
});

t.test('1.0 event against the REST proxy example (repeats, query, body)', async (t) => {
  const doc = fixture<{ event: Obj }>('rest-proxy-event.json').event;
  const docHeaders = doc.headers as Record<string, string>;
  const flat: string[] = [];
  for (const [k, v] of Object.entries(docHeaders)) flat.push(k.toLowerCase(), v);
  const event = buildEventV1(
    req({
      format: '1.0',
      method: 'POST',
      rawPath: '/testStage/hello/world',
      query: 'name=me&multivalueName=you&multivalueName=me',
      headers: flat,
      routeKey: 'ANY /{proxy+}',
      stage: 'testStage',
      pathParameters: { proxy: 'hello/world' },
      stageVariables: { stageVariableName: 'stageVariableValue' },
      body: bytes('{\r\n\t"a": 1\r\n}'),
    }),
  );
  t.strictSame(event.queryStringParameters, doc.queryStringParameters, 'last value wins: multivalueName you,me → "me"');
  t.strictSame(event.multiValueQueryStringParameters, doc.multiValueQueryStringParameters);
  t.strictSame(event.pathParameters, doc.pathParameters);
  t.strictSame(event.stageVariables, doc.stageVariables);
  t.equal(event.resource, doc.resource);
  t.equal(event.requestContext.resourcePath, '/{proxy+}');
  t.equal(event.httpMethod, 'POST');
  t.equal(event.body, doc.body, 'application/json body passed as text');
  t.equal(event.isBase64Encoded, false);
  t.strictSame(event.headers, lowerKeys(docHeaders));
  // An HTTP API keeps the stage in `path` (a REST API, as in this example, leaves it out: "/hello/world").
  t.equal(event.path, '/testStage/hello/world');
  t.equal(event.requestContext.path, '/testStage/hello/world');
  t.equal(event.requestContext.stage, 'testStage');
});

// -------------------------------------------------------------------------------------------
// Request → event
// -------------------------------------------------------------------------------------------

t.test('GET without query or body', async (t) => {
  const v2 = buildEventV2(req());
  for (const k of ['cookies', 'queryStringParameters', 'body', 'pathParameters', 'stageVariables']) {
    t.notOk(k in v2, `2.0: ${k} omitted`);
  }
  t.notOk('authorizer' in v2.requestContext, '2.0: no authorizer key');
  t.equal(v2.rawQueryString, '');
  t.equal(v2.isBase64Encoded, false);
  t.equal(v2.version, '2.0');
  t.equal(v2.routeKey, 'GET /pets');
  t.strictSame(v2.headers, { host: 'abc.example.com', 'user-agent': 'curl/8' });
  t.strictSame(v2.requestContext, {
    accountId: '123456789012',
    apiId: 'myapi',
    domainName: 'abc.example.com',
    domainPrefix: 'abc',
    http: { method: 'GET', path: '/pets', protocol: 'HTTP/1.1', sourceIp: '203.0.113.9', userAgent: 'curl/8' },
    requestId: 'req-1',
    routeKey: 'GET /pets',
    stage: '$default',
    time: '02/Jan/2024:03:04:05 +0000',
    timeEpoch: Date.UTC(2024, 0, 2, 3, 4, 5, 678),
  });

  const v1 = buildEventV1(req({ format: '1.0' }));
  t.equal((v1 as unknown as Obj).version, '1.0');
  t.equal(v1.queryStringParameters, null);
  t.equal(v1.multiValueQueryStringParameters, null);
  t.equal(v1.pathParameters, null);
  t.equal(v1.stageVariables, null);
  t.equal(v1.body, null);
  t.equal(v1.isBase64Encoded, false);
  t.notOk('authorizer' in v1.requestContext, '1.0: no authorizer key without an authorizer');
  t.equal(v1.resource, '/pets');
  t.equal(v1.requestContext.resourceId, 'GET /pets');
  t.equal(v1.requestContext.resourcePath, '/pets');
  t.equal(v1.requestContext.requestTime, '02/Jan/2024:03:04:05 +0000');
  t.equal(v1.requestContext.extendedRequestId, 'req-1');
  t.equal(v1.requestContext.identity.sourceIp, '203.0.113.9');
  t.equal(v1.requestContext.identity.userAgent, 'curl/8');
  t.equal(v1.requestContext.identity.user, null);
  t.equal(v1.requestContext.protocol, 'HTTP/1.1');
});

t.test('$default route and empty objects', async (t) => {
  const v1 = buildEventV1(req({ routeKey: '$default', stageVariables: {}, pathParameters: {} }));
  t.equal(v1.resource, '$default', 'live captures: resource "$default"');
  t.equal(v1.requestContext.resourcePath, '$default');
  t.equal(v1.requestContext.resourceId, '$default');
  t.equal(v1.stageVariables, null, 'empty stage variables → null');
  t.equal(v1.pathParameters, null, 'empty path parameters → null');
  const v2 = buildEventV2(req({ routeKey: '$default', stageVariables: {}, pathParameters: {} }));
  t.notOk('stageVariables' in v2);
  t.notOk('pathParameters' in v2);
  t.equal(v2.routeKey, '$default');
  t.equal(v2.requestContext.routeKey, '$default');
});

t.test('repeated headers', async (t) => {
  const headers = ['accept', 'a', 'x-multi', 'one', 'x-multi', 'two', 'x-multi', 'three'];
  const v2 = buildEventV2(req({ headers }));
  t.equal(v2.headers['x-multi'], 'one,two,three', '2.0 joins with ","');
  const v1 = buildEventV1(req({ headers }));
  t.equal(v1.headers['x-multi'], 'three', '1.0 single map: last value');
  t.strictSame(v1.multiValueHeaders['x-multi'], ['one', 'two', 'three']);
  t.strictSame(v1.multiValueHeaders.accept, ['a']);
  t.equal(v2.requestContext.http.userAgent, '', 'no user-agent → ""');
  t.equal(v1.requestContext.identity.userAgent, '');
});

t.test('query strings', async (t) => {
  const query = 'a=1+2&b=%41%2Fc&flag&empty=&&a=3&redirect=https%3A%2F%2Fx.io%2Fp&plus=a%2Bb&caf%C3%A9=%E2%82%AC';
  const v2 = buildEventV2(req({ query }));
  t.equal(v2.rawQueryString, query, 'rawQueryString as received');
  t.strictSame(v2.queryStringParameters, {
    a: '1 2,3',
    b: 'A/c',
    flag: '',
    empty: '',
    redirect: 'https://x.io/p',
    plus: 'a+b',
    café: '€',
  });
  const v1 = buildEventV1(req({ query }));
  t.strictSame(v1.queryStringParameters, { a: '3', b: 'A/c', flag: '', empty: '', redirect: 'https://x.io/p', plus: 'a+b', café: '€' });
  t.strictSame(v1.multiValueQueryStringParameters!.a, ['1 2', '3']);
  t.strictSame(v1.multiValueQueryStringParameters!.flag, ['']);

  const broken = buildEventV2(req({ query: 'q=%E0%A4%A&r=100%&s=%ZZ&ok=%C3%A9' }));
  t.strictSame(broken.queryStringParameters, { q: '%E0%A4%A', r: '100%', s: '%ZZ', ok: 'é' }, 'invalid escapes kept as they are');

  const onlyAmp = buildEventV2(req({ query: '&&' }));
  t.notOk('queryStringParameters' in onlyAmp, 'a query of no pairs → omitted');
  t.equal(onlyAmp.rawQueryString, '&&');
  t.equal(buildEventV1(req({ query: '&' })).queryStringParameters, null);
});

t.test('__proto__ and inherited names are plain keys', async (t) => {
  const v2 = buildEventV2(req({ query: '__proto__=x&constructor=y&toString=z&toString=w', headers: ['__proto__', 'h', 'constructor', 'c'] }));
  const q = v2.queryStringParameters!;
  t.equal(Object.getPrototypeOf(q), Object.prototype, 'prototype untouched');
  t.ok(Object.hasOwn(q, '__proto__'));
  t.equal(Object.getOwnPropertyDescriptor(q, '__proto__')!.value, 'x');
  t.equal(q.constructor, 'y');
  t.equal(q.toString, 'z,w', 'not joined onto Object.prototype.toString');
  t.equal(Object.getOwnPropertyDescriptor(v2.headers, '__proto__')!.value, 'h');
  t.equal(v2.headers.constructor, 'c');
  const v1 = buildEventV1(req({ query: '__proto__=x&__proto__=y', headers: ['__proto__', 'h'] }));
  t.equal(Object.getPrototypeOf(v1.multiValueQueryStringParameters), Object.prototype);
  t.strictSame(Object.getOwnPropertyDescriptor(v1.multiValueQueryStringParameters, '__proto__')!.value, ['x', 'y']);
  t.strictSame(Object.getOwnPropertyDescriptor(v1.multiValueHeaders, '__proto__')!.value, ['h']);
});

t.test('cookies', async (t) => {
  const headers = ['cookie', 'a=1; b=2', 'accept', '*/*', 'cookie', 'c=3;d=4 ;  ; e=5'];
  const v2 = buildEventV2(req({ headers }));
  t.strictSame(v2.cookies, ['a=1', 'b=2', 'c=3', 'd=4', 'e=5'], 'every Cookie header, one entry per pair');
  t.notOk('cookie' in v2.headers, '2.0: the cookie header moves to cookies');
  t.strictSame(v2.headers, { accept: '*/*' });
  const v1 = buildEventV1(req({ headers }));
  t.equal(v1.headers.cookie, 'c=3;d=4 ;  ; e=5', '1.0 keeps the cookie header');
  t.strictSame(v1.multiValueHeaders.cookie, ['a=1; b=2', 'c=3;d=4 ;  ; e=5']);
  t.notOk('cookies' in v1);
  const empty = buildEventV2(req({ headers: ['cookie', ''] }));
  t.notOk('cookies' in empty, 'an empty Cookie header gives no cookies field');
});

t.test('request bodies: text vs base64', async (t) => {
  const bin = [0, 255, 1, 128, 10];
  const cases: [string | null, boolean][] = [
    [null, true],
    ['application/octet-stream', true],
    ['image/png', true],
    ['application/x-www-form-urlencoded', true],
    ['multipart/form-data; boundary=x', true],
    ['application/vnd.api+json', true],
    ['text/plain', false],
    ['text/plain; charset=utf-8', false],
    ['TEXT/HTML', false],
    ['text/csv', false],
    ['application/json', false],
    ['application/json; charset=utf-8', false],
    [' Application/JSON ', false],
    ['application/xml', false],
    ['application/javascript', false],
  ];
  for (const [ct, base64] of cases) {
    const headers = ct === null ? [] : ['content-type', ct];
    const body = bytes(base64 ? bin : 'héllo');
    const v2 = buildEventV2(req({ method: 'POST', headers, body }));
    const v1 = buildEventV1(req({ method: 'POST', headers, body }));
    if (base64) {
      t.equal(v2.body, Buffer.from(bin).toString('base64'), `${ct}: 2.0 base64`);
      t.equal(v1.body, Buffer.from(bin).toString('base64'), `${ct}: 1.0 base64`);
    } else {
      t.equal(v2.body, 'héllo', `${ct}: 2.0 text`);
      t.equal(v1.body, 'héllo', `${ct}: 1.0 text`);
    }
    t.equal(v2.isBase64Encoded, base64);
    t.equal(v1.isBase64Encoded, base64);
  }
  const none = buildEventV2(req({ method: 'POST', headers: ['content-type', 'text/plain'], body: new ArrayBuffer(0) }));
  t.notOk('body' in none, 'an empty body is omitted');
  t.equal(none.isBase64Encoded, false);
  t.equal(buildEventV1(req({ body: new ArrayBuffer(0) })).body, null);
  const body = bytes('x');
  buildEventV2(req({ headers: ['content-type', 'text/plain'], body }));
  t.equal(body.byteLength, 1, 'the request body is read, not detached');
});

t.test('named stage paths, decoding and path parameters', async (t) => {
  const r = req({
    rawPath: '/dev/pets/caf%C3%A9%20au%2Flait/x%ZZ',
    routeKey: 'GET /pets/{id}/{rest+}',
    stage: 'dev',
    pathParameters: { id: 'caf%C3%A9%20au%2Flait', rest: 'x%ZZ' },
    stageVariables: { env: 'dev' },
  });
  const v2 = buildEventV2(r);
  t.equal(v2.rawPath, '/dev/pets/café au/lait/x%ZZ', 'stage prefix kept, percent-decoded, bad escapes kept');
  t.equal(v2.requestContext.http.path, v2.rawPath);
  t.equal(v2.requestContext.stage, 'dev');
  t.strictSame(v2.pathParameters, { id: 'café au/lait', rest: 'x%ZZ' }, 'path parameters decoded');
  t.strictSame(v2.stageVariables, { env: 'dev' });
  const v1 = buildEventV1(r);
  t.equal(v1.path, '/dev/pets/café au/lait/x%ZZ');
  t.equal(v1.requestContext.path, v1.path);
  t.equal(v1.resource, '/pets/{id}/{rest+}');
  t.equal(v1.requestContext.resourcePath, '/pets/{id}/{rest+}');
  t.equal(v1.requestContext.stage, 'dev');
  t.strictSame(v1.pathParameters, { id: 'café au/lait', rest: 'x%ZZ' });
  t.strictSame(v1.stageVariables, { env: 'dev' });
  t.equal(buildEventV2(req({ rawPath: '/a+b' })).rawPath, '/a+b', '+ in a path is not a space');
});

t.test('domainPrefix, authorizer, time', async (t) => {
  t.equal(buildEventV2(req({ domainName: 'localhost' })).requestContext.domainPrefix, 'localhost');
  t.equal(buildEventV2(req({ domainName: '' })).requestContext.domainPrefix, '');
  t.equal(buildEventV1(req({ domainName: 'api.example.com' })).requestContext.domainPrefix, 'api');
  const authorizer = { jwt: { claims: { sub: 'u1' }, scopes: null } };
  const v2 = buildEventV2(req({ authorizer }));
  t.strictSame((v2.requestContext as unknown as Obj).authorizer, authorizer);
  t.strictSame(buildEventV1(req({ authorizer: { principalId: 'p' } })).requestContext.authorizer, { principalId: 'p' });
  t.equal(clfTime(Date.UTC(2020, 2, 12, 19, 3, 58, 1)), '12/Mar/2020:19:03:58 +0000');
  t.equal(clfTime(Date.UTC(2020, 2, 12, 19, 3, 58, 999)), '12/Mar/2020:19:03:58 +0000', 'same second, cached');
  t.equal(clfTime(Date.UTC(1999, 11, 31, 23, 59, 59)), '31/Dec/1999:23:59:59 +0000');
  t.equal(clfTime(Date.UTC(2001, 0, 1, 0, 0, 0)), '01/Jan/2001:00:00:00 +0000');
});

// -------------------------------------------------------------------------------------------
// Result → response, format 2.0
// -------------------------------------------------------------------------------------------

t.test('2.0 inference: the AWS examples', async (t) => {
  const doc = fixture<{ cases: { output: unknown; interpretation: { statusCode: number; body: string; headers: Record<string, string> } }[] }>(
    'http-api-v2-response-inference.json',
  );
  for (const c of doc.cases) {
    const r = ok(t, mapResultV2(c.output));
    t.equal(r.status, c.interpretation.statusCode);
    t.strictSame(r.headers, ['content-type', c.interpretation.headers['Content-Type']]);
    const body = text(r.body)!;
    if (typeof c.output === 'string') t.equal(body, c.interpretation.body, 'a string is the body as it is');
    else t.strictSame(JSON.parse(body), JSON.parse(c.interpretation.body), 'an object is the body as JSON');
  }
});

t.test('2.0 inference: every non-structured result', async (t) => {
  const cases: [unknown, string | null][] = [
    ['plain text', 'plain text'],
    ['"quoted"', '"quoted"'],
    ['', null],
    [42, '42'],
    [0, '0'],
    [true, 'true'],
    [false, 'false'],
    [[1, 'a'], '[1,"a"]'],
    [{ message: 'hi', n: 1 }, '{"message":"hi","n":1}'],
    [{ statusCode: undefined, body: 'x' }, '{"body":"x"}'],
    [{ body: 'no status', headers: { a: 'b' } }, '{"body":"no status","headers":{"a":"b"}}'],
    [null, 'null'],
    [undefined, 'null'],
    [() => 1, 'null'],
    [new Date(Date.UTC(2020, 0, 1)), '2020-01-01T00:00:00.000Z'],
  ];
  for (const [result, body] of cases) {
    const r = ok(t, mapResultV2(result));
    t.equal(r.status, 200, `${String(JSON.stringify(result))}: 200`);
    t.strictSame(r.headers, ['content-type', 'application/json']);
    t.equal(text(r.body), body, `${String(JSON.stringify(result))}: body`);
  }
  bad(t, mapResultV2({ n: 1n }), /JSON-serialisable/, 'BigInt');
  const circular: Obj = {};
  circular.self = circular;
  bad(t, mapResultV2(circular), /JSON-serialisable/, 'circular');
});

t.test('2.0 structured results', async (t) => {
  const r = ok(
    t,
    mapResultV2({
      statusCode: 201,
      headers: { 'Content-Type': 'text/html', 'X-Num': 5, 'X-Bool': false, 'X-Undef': undefined, 'Set-Cookie': 'h=1' },
      multiValueHeaders: { 'X-Ignored': ['a', 'b'] },
      cookies: ['a=1; Path=/', 'b=2; HttpOnly'],
      body: '<p>héllo</p>',
      isBase64Encoded: false,
    }),
  );
  t.equal(r.status, 201);
  t.strictSame(r.headers, [
    'set-cookie', 'a=1; Path=/',
    'set-cookie', 'b=2; HttpOnly',
    'content-type', 'text/html',
    'x-num', '5',
    'x-bool', 'false',
    'set-cookie', 'h=1',
  ], 'cookies first as set-cookie, names lower-case, multiValueHeaders ignored in 2.0');
  t.equal(text(r.body), '<p>héllo</p>');

  const bare = ok(t, mapResultV2({ statusCode: 204 }));
  t.strictSame(bare, { status: 204, headers: [], body: null }, 'no headers, no body');
  t.strictSame(ok(t, mapResultV2({ statusCode: 200, body: '' })).body, null, 'empty body → null');
  t.strictSame(ok(t, mapResultV2({ statusCode: 200, body: null, headers: null, cookies: null, isBase64Encoded: null })).body, null);
  t.notOk(mapResultV2({ statusCode: 100 }).ok, '1xx would be an interim response: rejected');
  t.equal(ok(t, mapResultV2({ statusCode: 200 })).status, 200);
  t.equal(ok(t, mapResultV2({ statusCode: 599 })).status, 599);
  t.strictSame(ok(t, mapResultV2({ statusCode: 200, cookies: [] })).headers, []);
});

t.test('base64 response bodies', async (t) => {
  const bin = Buffer.from([0, 1, 2, 250, 251, 252, 253, 254, 255]);
  for (const map of [mapResultV2, mapResultV1]) {
    const r = ok(t, map({ statusCode: 200, body: bin.toString('base64'), isBase64Encoded: true }));
    t.strictSame(Buffer.from(r.body!), bin, `${map.name}: decoded`);
    t.equal(text(ok(t, map({ statusCode: 200, body: 'aGk', isBase64Encoded: true })).body), 'hi', `${map.name}: unpadded`);
    t.equal(ok(t, map({ statusCode: 200, body: '', isBase64Encoded: true })).body, null, `${map.name}: empty`);
    t.equal(text(ok(t, map({ statusCode: 200, body: 'aGk=', isBase64Encoded: false })).body), 'aGk=', `${map.name}: false → as text`);
    bad(t, map({ statusCode: 200, body: 'not base64!', isBase64Encoded: true }), /base64/, `${map.name}: bad chars`);
    bad(t, map({ statusCode: 200, body: 'aGk=aGk=', isBase64Encoded: true }), /base64/, `${map.name}: padding inside`);
    bad(t, map({ statusCode: 200, body: 'aGkhY', isBase64Encoded: true }), /base64/, `${map.name}: impossible length`);
    bad(t, map({ statusCode: 200, body: 'aGk=\n', isBase64Encoded: true }), /base64/, `${map.name}: newline`);
  }
});

t.test('response bodies are standalone, transferable ArrayBuffers', async (t) => {
  const small = ok(t, mapResultV2({ statusCode: 200, body: 'tiny' })).body!;
  t.ok(small instanceof ArrayBuffer);
  t.equal(small.byteLength, 4, 'not a slab of the Buffer pool');
  const large = 'x'.repeat(200_000) + 'é';
  const r = ok(t, mapResultV1({ statusCode: 200, body: large }));
  t.equal(r.body!.byteLength, 200_002);
  const moved = structuredClone(r.body!, { transfer: [r.body!] });
  t.equal(Buffer.from(moved).toString('utf8'), large, 'transfer keeps the bytes');
  const small2 = ok(t, mapResultV2({ statusCode: 200, body: 'abc' })).body!;
  structuredClone(small2, { transfer: [small2] });
  t.equal(text(ok(t, mapResultV2({ statusCode: 200, body: 'def' })).body), 'def', 'transferring one body leaves later ones intact');
});

t.test('hop-by-hop and framing headers are dropped', async (t) => {
  const headers = {
    Connection: 'close',
    'Keep-Alive': 'timeout=5',
    'Transfer-Encoding': 'chunked',
    Upgrade: 'websocket',
    TE: 'trailers',
    Trailer: 'x',
    'Proxy-Connection': 'keep-alive',
    'Proxy-Authenticate': 'Basic',
    'Content-Length': 99,
    'X-Kept': 'yes',
    Vary: 'accept',
  };
  t.strictSame(ok(t, mapResultV2({ statusCode: 200, headers })).headers, ['x-kept', 'yes', 'vary', 'accept']);
  t.strictSame(ok(t, mapResultV1({ statusCode: 200, headers })).headers, ['x-kept', 'yes', 'vary', 'accept']);
  t.strictSame(
    ok(t, mapResultV1({ statusCode: 200, multiValueHeaders: { Connection: ['close'], 'content-length': [1], 'X-A': ['1'] } })).headers,
    ['x-a', '1'],
  );
});

t.test('2.0 malformed results', async (t) => {
  const cases: [unknown, RegExp, string][] = [
    [{ statusCode: '200' }, /statusCode/, 'string statusCode'],
    [{ statusCode: 99 }, /statusCode/, 'below 100'],
    [{ statusCode: 600 }, /statusCode/, 'above 599'],
    [{ statusCode: 200.5 }, /statusCode/, 'fractional'],
    [{ statusCode: Number.NaN }, /statusCode/, 'NaN'],
    [{ statusCode: null }, /statusCode/, 'null'],
    [{ statusCode: 200, headers: ['a', 'b'] }, /headers must be an object/, 'headers array'],
    [{ statusCode: 200, headers: 'a: b' }, /headers must be an object/, 'headers string'],
    [{ statusCode: 200, headers: { a: { b: 1 } } }, /headers\.a must be/, 'object header value'],
    [{ statusCode: 200, headers: { a: null } }, /headers\.a must be/, 'null header value'],
    [{ statusCode: 200, headers: { a: ['x'] } }, /headers\.a must be/, 'array header value'],
    [{ statusCode: 200, headers: { 'bad name': 'x' } }, /invalid header name/, 'space in name'],
    [{ statusCode: 200, headers: { '': 'x' } }, /invalid header name/, 'empty name'],
    [{ statusCode: 200, headers: { a: 'x\r\nInjected: 1' } }, /CR, LF or NUL/, 'CRLF in value'],
    [{ statusCode: 200, cookies: 'a=1' }, /cookies must be an array/, 'cookies string'],
    [{ statusCode: 200, cookies: ['a=1', 2] }, /cookies\[1\] must be a string/, 'cookie number'],
    [{ statusCode: 200, cookies: ['a=1\nb'] }, /CR, LF or NUL/, 'cookie with LF'],
    [{ statusCode: 200, body: 42 }, /body must be a string/, 'number body'],
    [{ statusCode: 200, body: { a: 1 } }, /body must be a string/, 'object body'],
    [{ statusCode: 200, body: 'x', isBase64Encoded: 'true' }, /isBase64Encoded must be a boolean/, 'string flag'],
  ];
  for (const [result, re, what] of cases) bad(t, mapResultV2(result), re, what);
});

// -------------------------------------------------------------------------------------------
// Result → response, format 1.0
// -------------------------------------------------------------------------------------------

t.test('1.0 requires a structured result', async (t) => {
  const cases: [unknown, RegExp][] = [
    ['Hello', /object with a statusCode/],
    [null, /object with a statusCode/],
    [undefined, /object with a statusCode/],
    [42, /object with a statusCode/],
    [[{ statusCode: 200 }], /object with a statusCode/],
    [{ body: 'x' }, /no statusCode/],
    [{ message: 'hi' }, /no statusCode/],
  ];
  for (const [result, re] of cases) bad(t, mapResultV1(result), re, String(JSON.stringify(result)));
});

t.test('1.0 headers and multiValueHeaders merge', async (t) => {
  const r = ok(
    t,
    mapResultV1({
      statusCode: 302,
      headers: { Location: '/next', 'Content-Type': 'text/plain', 'X-One': 1, 'X-Skip': undefined },
      multiValueHeaders: { 'content-type': ['application/json'], 'Set-Cookie': ['a=1', 'b=2'], 'X-Many': ['x', true, 3], 'X-U': undefined },
      body: '{}',
    }),
  );
  t.equal(r.status, 302);
  t.strictSame(r.headers, [
    'location', '/next',
    'x-one', '1',
    'content-type', 'application/json',
    'set-cookie', 'a=1',
    'set-cookie', 'b=2',
    'x-many', 'x',
    'x-many', 'true',
    'x-many', '3',
  ], 'a name in both: only the multiValueHeaders values (compared case-insensitively)');
  t.equal(text(r.body), '{}');
  t.strictSame(ok(t, mapResultV1({ statusCode: 200 })), { status: 200, headers: [], body: null }, 'body optional');
  t.strictSame(ok(t, mapResultV1({ statusCode: 200, multiValueHeaders: { a: [] } })).headers, [], 'empty list: no header');
  t.strictSame(ok(t, mapResultV1({ statusCode: 200, multiValueHeaders: { a: [] }, headers: { a: 'x' } })).headers, [], 'an empty list still overrides');
  t.strictSame(ok(t, mapResultV1({ statusCode: 200, cookies: ['ignored'] })).headers, [], '1.0 has no cookies field');
});

t.test('1.0 malformed results', async (t) => {
  const cases: [unknown, RegExp, string][] = [
    [{ statusCode: '200' }, /statusCode/, 'string statusCode'],
    [{ statusCode: 1000 }, /statusCode/, 'out of range'],
    [{ statusCode: 200, headers: [] }, /headers must be an object/, 'headers array'],
    [{ statusCode: 200, headers: { a: {} } }, /headers\.a must be/, 'object header value'],
    [{ statusCode: 200, multiValueHeaders: ['a'] }, /multiValueHeaders must be an object/, 'mvh array'],
    [{ statusCode: 200, multiValueHeaders: { a: 'x' } }, /multiValueHeaders\.a must be an array/, 'mvh value not an array'],
    [{ statusCode: 200, multiValueHeaders: { a: [null] } }, /multiValueHeaders\.a\[0\] must be/, 'mvh null element'],
    [{ statusCode: 200, multiValueHeaders: { a: [{}] } }, /multiValueHeaders\.a\[0\] must be/, 'mvh object element'],
    [{ statusCode: 200, multiValueHeaders: { 'a b': ['x'] } }, /invalid header name/, 'mvh bad name'],
    [{ statusCode: 200, multiValueHeaders: { a: ['x\ry'] } }, /CR, LF or NUL/, 'mvh CR'],
    [{ statusCode: 200, body: ['x'] }, /body must be a string/, 'array body'],
    [{ statusCode: 200, body: 'x', isBase64Encoded: 1 }, /isBase64Encoded must be a boolean/, 'numeric flag'],
  ];
  for (const [result, re, what] of cases) bad(t, mapResultV1(result), re, what);
});

// -------------------------------------------------------------------------------------------
// Context
// -------------------------------------------------------------------------------------------

t.test('lambdaContext', async (t) => {
  const r = req({ functionName: 'orders', memoryLimitInMB: 512, requestId: 'rid-9', accountId: '111122223333' });
  const ctx = lambdaContext(r, Date.now() + 5000);
  t.equal(ctx.awsRequestId, 'rid-9');
  t.equal(ctx.functionName, 'orders');
  t.equal(ctx.functionVersion, '$LATEST');
  t.equal(ctx.invokedFunctionArn, 'arn:aws:lambda:us-east-1:111122223333:function:orders');
  t.equal(ctx.memoryLimitInMB, '512');
  t.equal(ctx.logGroupName, '/aws/lambda/orders');
  t.match(ctx.logStreamName, /^\d{4}\/\d{2}\/\d{2}\/\[\$LATEST\][0-9a-f]{32}$/);
  t.equal(lambdaContext(r, 0).logStreamName, ctx.logStreamName, 'one log stream per thread');
  t.equal(ctx.callbackWaitsForEmptyEventLoop, true);
  ctx.callbackWaitsForEmptyEventLoop = false;
  t.equal(ctx.callbackWaitsForEmptyEventLoop, false, 'writable');
  const left = ctx.getRemainingTimeInMillis();
  t.ok(left > 4000 && left <= 5000, `counts down from the deadline (${left})`);
  t.equal(lambdaContext(r, Date.now() - 10).getRemainingTimeInMillis(), 0, 'never negative');
  t.throws(() => ctx.done(), /legacy/);
  t.throws(() => ctx.succeed('x'), /legacy/);
  t.throws(() => ctx.fail('x'), /legacy/);
});
