import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { parse, stringify } from 'yaml';
import { compilePlan } from '../../src/compile/plan.js';
import { parseConfig, type Config } from '../../src/config/index.js';
import { importOpenApi, type ImportOptions, type ImportResult } from '../../src/openapi/import.js';

// OpenAPI security (securitySchemes, security requirements, x-amazon-apigateway-authorizer /
// -authtype / -auth / -api-key-source) → authorizers and route authorization.

// dist/test/openapi/ -> test/fixtures/openapi/
const FIX = fileURLToPath(new URL('../../../test/fixtures/openapi/', import.meta.url));
const FUNCTIONS = join(FIX, 'functions');
const I = 'x-amazon-apigateway-integration';
const A = 'x-amazon-apigateway-authorizer';
const S = 'components.securitySchemes';
const MOCK = { [I]: { type: 'mock' } };
const fnArn = (name: string) => `arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:123456789012:function:${name}/invocations`;
const fnFile = (file: string) => `${join(FUNCTIONS, file)}#handler`;

/** What every produced config must survive: the loader, then the compiler's checks (authorizer references, scopes, one authorization per route). */
function load(config: Record<string, unknown>): Config {
  const cfg = parseConfig(stringify(config), { file: join(FIX, 'imported.yaml'), env: {} });
  void compilePlan(cfg).close();
  return cfg;
}

function run(doc: unknown, opts: Partial<ImportOptions> = {}): ImportResult {
  return importOpenApi(doc, { baseDir: FIX, functionsDir: FUNCTIONS, ...opts });
}

function oas(paths: Record<string, unknown>, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { openapi: '3.0.1', info: { title: 'T', version: '1' }, paths, ...extra };
}

type Api = { authorizers?: Record<string, unknown>; routes: Record<string, unknown>[]; apiKeySource?: string };
const apiOf = (r: ImportResult) => (r.config['apis'] as Api[])[0]!;
/** route key → its fields other than route and integration. */
function auth(r: ImportResult): Record<string, Record<string, unknown>> {
  const out: Record<string, Record<string, unknown>> = {};
  for (const { route, integration: _i, ...rest } of apiOf(r).routes) out[route as string] = rest;
  return out;
}

t.test('REST export: TOKEN and REQUEST authorizers, API key, IAM; the Cognito route is skipped', async (t) => {
  const r = run(parse(readFileSync(join(FIX, 'rest-authorizers.yaml'), 'utf8')));
  const api = apiOf(r);
  t.strictSame(api.authorizers, {
    TokenAuth: {
      type: 'token', handler: fnFile('TokenAuthorizer.mjs'), functionName: 'TokenAuthorizer',
      identitySource: 'method.request.header.Authorization', identityValidationExpression: 'Bearer [A-Za-z0-9._-]+', resultTtlSeconds: 300,
    },
    RequestAuth: {
      type: 'request', handler: fnFile('RequestAuthorizer.mjs'), functionName: 'RequestAuthorizer',
      payloadFormatVersion: '1.0', identitySource: ['method.request.header.x-tenant', 'context.httpMethod'], resultTtlSeconds: 60,
    },
  });
  t.strictSame(auth(r), {
    'GET /orders': { authorizer: 'TokenAuth' },
    'POST /orders': { authorizer: 'RequestAuth', apiKeyRequired: true },
    'GET /orders/{id}': { authorizationType: 'AWS_IAM' },
    'GET /reports': { authorizer: 'TokenAuth' },
    'GET /health': {},
  }, 'DELETE /orders/{id} (Cognito) is not imported');
  t.strictSame(r.warnings, [
    { path: `${S}.TokenAuth.${A}.authorizerCredentials`, message: 'IAM credentials are not used by the gateway: ignored' },
    { path: `${S}.api_key`, message: 'routes that require it need API keys: add apiKeys and usagePlans (for this API) to the gateway config; clients send them in x-api-key' },
    {
      path: `${S}.sigv4`,
      message: "AWS_IAM: requests must be signed (SigV4) with a key from the gateway config's iam.credentials (AWS IAM users, roles and policies are not consulted): add them to the config",
    },
    {
      path: `${S}.CognitoPool.${A}`,
      message: 'authorizer CognitoPool not imported: Cognito user pool authorizers are not supported: use a jwt authorizer (issuer https://cognito-idp.us-east-1.amazonaws.com/us-east-1_AbCdEf123, audience: the app client id) in the gateway config',
    },
    {
      path: 'paths["/orders/{id}"].delete.security',
      message: `DELETE /orders/{id} skipped: authorizer CognitoPool is not supported (see ${S}.CognitoPool); a route is not imported without its authorization`,
    },
    { path: 'paths["/reports"].get.security[0].TokenAuth', message: 'GET /reports: scopes apply to JWT authorizers only: ignored' },
  ], 'authtype custom and api-key-source HEADER go without a word');
  const cfg = load(r.config);
  const a = cfg.apis[0]!.authorizers['TokenAuth']!;
  t.equal(a.type === 'token' && a.timeoutMs, 10000, 'defaults filled by the loader');
});

t.test('HTTP API export: JWT authorizer with scopes, Lambda REQUEST authorizer 2.0, IAM', async (t) => {
  const r = run(JSON.parse(readFileSync(join(FIX, 'http-api-jwt.json'), 'utf8')));
  const api = apiOf(r);
  t.strictSame(api.authorizers, {
    'cognito-jwt': {
      type: 'jwt', issuer: 'https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf123', audience: ['6p2eh3fkq4a2uqk1u3ts9kqv1h'],
      identitySource: '$request.header.Authorization',
    },
    'partner-lambda': {
      type: 'request', handler: fnFile('PartnerAuthorizer.mjs'), functionName: 'PartnerAuthorizer', payloadFormatVersion: '2.0',
      enableSimpleResponses: true, identitySource: ['$request.header.x-partner-key', '$context.routeKey'], resultTtlSeconds: 300,
    },
  });
  t.strictSame(auth(r), {
    'GET /pets': { authorizer: 'cognito-jwt', authorizationScopes: ['pets/read'] },
    'POST /pets': { authorizer: 'cognito-jwt', authorizationScopes: ['pets/write', 'admin'] },
    'GET /pets/{petId}': { authorizer: 'partner-lambda' },
    'ANY /admin/{proxy+}': { authorizationType: 'AWS_IAM' },
    'GET /public': {},
  });
  t.strictSame(r.warnings, [
    {
      path: `${S}.sigv4`,
      message: "AWS_IAM: requests must be signed (SigV4) with a key from the gateway config's iam.credentials (AWS IAM users, roles and policies are not consulted): add them to the config",
    },
    { path: 'x-amazon-apigateway-importexport-version', message: 'x-amazon-apigateway-importexport-version is not supported yet: ignored' },
  ]);
  load(r.config);
});

t.test('security requirements: the document default, operation overrides, none, AND, alternatives', async (t) => {
  const sec = (...reqs: unknown[]) => ({ ...MOCK, security: reqs });
  const r = run(
    oas(
      {
        '/default': { get: MOCK },
        '/none': { get: sec(), post: sec({}) },
        '/and': { get: sec({ lam: [], key: [] }), post: sec({ iam: [], key: [] }) },
        '/or': { get: sec({ oauth: [] }, { key: [] }, { jwt: [] }), post: sec({}, { jwt: ['x'] }), put: sec({ oauth: [] }, {}) },
        '/two-authorizers': { get: sec({ jwt: [], lam: [] }) },
        '/iam-and-authorizer': { get: sec({ iam: [], lam: [] }) },
        '/undefined': { get: sec({ nope: [] }) },
        '/oauth': { get: sec({ oauth: [] }) },
        '/query-key': { get: sec({ qkey: [] }) },
        '/lambda-scopes': { get: sec({ lam: ['s1'] }) },
        '/nothing-supported': { get: sec({ oauth: [] }, { qkey: [] }) },
        '/not-a-list': { get: { ...MOCK, security: { jwt: [] } } },
        '/auth-iam': { get: { ...MOCK, security: [], 'x-amazon-apigateway-auth': { type: 'aws_iam' } } },
        '/auth-iam-jwt': { get: { ...MOCK, 'x-amazon-apigateway-auth': { type: 'AWS_IAM' } } },
        '/auth-none': { get: { ...MOCK, 'x-amazon-apigateway-auth': { type: 'NONE' } }, post: { ...sec(), 'x-amazon-apigateway-auth': { type: 'NONE' } } },
        '/auth-other': { get: { ...MOCK, 'x-amazon-apigateway-auth': { type: 'COGNITO_USER_POOLS' } } },
        '/no-integration': { get: { security: [{ spare: [] }] } },
      },
      {
        security: [{ jwt: ['read', 'write'] }],
        components: {
          securitySchemes: {
            jwt: { type: 'oauth2', flows: {}, [A]: { type: 'jwt', jwtConfiguration: { issuer: 'https://login.example.com/', audience: ['api'] } } },
            lam: { type: 'apiKey', name: 'Authorization', in: 'header', 'x-amazon-apigateway-authtype': 'custom', [A]: { type: 'token', authorizerUri: fnArn('TokenAuthorizer') } },
            spare: { type: 'oauth2', flows: {}, [A]: { type: 'jwt', jwtConfiguration: { issuer: 'https://other.example.com', audience: ['x'] } } },
            key: { type: 'apiKey', name: 'X-API-Key', in: 'header' },
            qkey: { type: 'apiKey', name: 'api_key', in: 'query' },
            iam: { type: 'apiKey', name: 'Authorization', in: 'header', 'x-amazon-apigateway-authtype': 'awsSigv4' },
            oauth: { type: 'oauth2', flows: { implicit: { authorizationUrl: 'https://login.example.com/authorize', scopes: {} } } },
          },
        },
      },
    ),
  );
  const jwt = { authorizer: 'jwt', authorizationScopes: ['read', 'write'] };
  t.strictSame(auth(r), {
    'GET /default': jwt,
    'GET /none': {},
    'POST /none': {},
    'GET /and': { authorizer: 'lam', apiKeyRequired: true },
    'POST /and': { authorizationType: 'AWS_IAM', apiKeyRequired: true },
    'GET /or': { apiKeyRequired: true },
    'POST /or': { authorizer: 'jwt', authorizationScopes: ['x'] },
    'GET /lambda-scopes': { authorizer: 'lam' },
    'GET /auth-iam': { authorizationType: 'AWS_IAM' },
    'GET /auth-none': jwt,
    'POST /auth-none': {},
  });
  t.strictSame(Object.keys(apiOf(r).authorizers!), ['jwt', 'lam'], 'spare is used by no imported route');
  const skipped = (path: string, why: string) => ({ path, message: `${why}; a route is not imported without its authorization` });
  t.strictSame(r.warnings, [
    { path: `${S}.key`, message: 'routes that require it need API keys: add apiKeys and usagePlans (for this API) to the gateway config; clients send them in x-api-key' },
    {
      path: `${S}.iam`,
      message: "AWS_IAM: requests must be signed (SigV4) with a key from the gateway config's iam.credentials (AWS IAM users, roles and policies are not consulted): add them to the config",
    },
    {
      path: `${S}.oauth`,
      message: 'security scheme oauth not imported: type "oauth2" without x-amazon-apigateway-authorizer: the gateway enforces authorizers, IAM (x-amazon-apigateway-authtype awsSigv4) and x-api-key API keys only',
    },
    { path: 'paths["/or"].get.security', message: 'GET /or: alternative security requirements (oauth | key | jwt): a route has one, key is used' },
    { path: 'paths["/or"].post.security', message: 'POST /or: alternative security requirements (none | jwt): a route has one, jwt is used' },
    skipped(
      'paths["/or"].put.security',
      `PUT /or skipped: no alternative security requirement that asks for authorization is supported (oauth: security scheme oauth is not supported (see ${S}.oauth))`,
    ),
    skipped('paths["/two-authorizers"].get.security', 'GET /two-authorizers skipped: a route has one authorizer (authorizer jwt and authorizer lam)'),
    skipped('paths["/iam-and-authorizer"].get.security', 'GET /iam-and-authorizer skipped: a route has one authorization: AWS_IAM or an authorizer, not both'),
    skipped('paths["/undefined"].get.security', 'GET /undefined skipped: security scheme nope is not defined in components.securitySchemes'),
    skipped('paths["/oauth"].get.security', `GET /oauth skipped: security scheme oauth is not supported (see ${S}.oauth)`),
    {
      path: `${S}.qkey`,
      message: "security scheme qkey not imported: an API key in query api_key: the gateway reads API keys from the x-api-key header only (AWS's HEADER source)",
    },
    skipped('paths["/query-key"].get.security', `GET /query-key skipped: security scheme qkey is not supported (see ${S}.qkey)`),
    { path: 'paths["/lambda-scopes"].get.security[0].lam', message: 'GET /lambda-scopes: scopes apply to JWT authorizers only: ignored' },
    skipped(
      'paths["/nothing-supported"].get.security',
      `GET /nothing-supported skipped: no alternative security requirement that asks for authorization is supported (oauth: security scheme oauth is not supported (see ${S}.oauth); qkey: security scheme qkey is not supported (see ${S}.qkey))`,
    ),
    skipped('paths["/not-a-list"].get.security', 'GET /not-a-list skipped: security must be a list of security requirements'),
    skipped('paths["/auth-iam-jwt"].get.x-amazon-apigateway-auth', 'GET /auth-iam-jwt skipped: x-amazon-apigateway-auth AWS_IAM and the authorizer of jwt: a route has one authorization'),
    { path: 'paths["/auth-none"].get.x-amazon-apigateway-auth', message: 'GET /auth-none: type NONE ignored: the security requirement (jwt) applies' },
    skipped('paths["/auth-other"].get.x-amazon-apigateway-auth', 'GET /auth-other skipped: x-amazon-apigateway-auth type "COGNITO_USER_POOLS" is not NONE or AWS_IAM'),
    { path: 'paths["/no-integration"].get', message: `GET /no-integration skipped: no ${I} (API Gateway cannot deploy a method without an integration)` },
    { path: `${S}.spare`, message: 'authorizer not used by any imported route: left out' },
  ]);
  load(r.config);
});

t.test('authorizers: what is read from x-amazon-apigateway-authorizer, and what keeps one out', async (t) => {
  const lambda = (fn: string, extra: Record<string, unknown> = {}) => ({ type: 'apiKey', name: 'Unused', in: 'header', [A]: { type: 'request', authorizerUri: fnArn(fn), ...extra } });
  const jwt = (conf: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({ type: 'oauth2', flows: {}, [A]: { type: 'jwt', jwtConfiguration: conf, ...extra } });
  const schemes: Record<string, unknown> = {
    oidc: {
      type: 'openIdConnect',
      openIdConnectUrl: 'https://login.example.com/tenant/.well-known/openid-configuration',
      [A]: { type: 'jwt', jwtConfiguration: { audience: 'single', extra: 1 }, identitySource: 'method.request.header.X-Token', authorizerUri: 'x', foo: 1 },
    },
    'my authorizer!': jwt({ issuer: 'https://a.example.com', audience: ['a'] }),
    'my-authorizer': jwt({ issuer: 'https://b.example.com', audience: ['b'] }),
    noAudience: jwt({ issuer: 'https://login.example.com' }),
    noIssuer: jwt({ audience: ['a'] }),
    badIssuer: jwt({ issuer: 'login.example.com', audience: ['a'] }),
    twoSources: jwt({ issuer: 'https://login.example.com', audience: ['a'] }, { identitySource: '$request.header.A, $request.header.B' }),
    badOidc: { type: 'openIdConnect', openIdConnectUrl: 'https://login.example.com/keys', [A]: { type: 'jwt', jwtConfiguration: { audience: ['a'] } } },
    token: {
      type: 'apiKey', name: 'X-Auth', in: 'header',
      [A]: { type: 'TOKEN', authorizerUri: fnArn('TokenAuthorizer:live'), identityValidationExpression: '(', authorizerResultTtlInSeconds: '7200', enableSimpleResponses: true },
    },
    badToken: { type: 'apiKey', name: 'Authorization', in: 'header', [A]: { type: 'token', authorizerUri: fnArn('TokenAuthorizer'), identitySource: 'method.request.querystring.t' } },
    named: lambda('Named', { authorizerResultTtlInSeconds: 300 }),
    simple1: lambda('RequestAuthorizer', { enableSimpleResponses: true, identitySource: ['$request.header.a', '$stageVariables.tenant'], authorizerResultTtlInSeconds: -5 }),
    missing: lambda('Missing'),
    badContext: lambda('RequestAuthorizer', { identitySource: 'context.authorizer.claims' }),
    badPath: lambda('RequestAuthorizer', { identitySource: '$request.path.id' }),
    badList: lambda('RequestAuthorizer', { identitySource: 42 }),
    badVersion: lambda('RequestAuthorizer', { authorizerPayloadFormatVersion: '3.0' }),
    notLambda: lambda('RequestAuthorizer', { authorizerUri: 'arn:aws:apigateway:us-east-1:s3:path/bucket' }),
    noUri: { type: 'apiKey', name: 'Unused', in: 'header', [A]: { type: 'request' } },
    noType: { type: 'apiKey', name: 'Unused', in: 'header', [A]: { authorizerUri: fnArn('RequestAuthorizer') } },
    saml: { type: 'apiKey', name: 'Unused', in: 'header', [A]: { type: 'saml' } },
    proto: { type: 'apiKey', name: 'Unused', in: 'header', [A]: { type: 'constructor' } },
    notMap: { type: 'apiKey', name: 'Unused', in: 'header', [A]: 'token' },
    cognito: { type: 'apiKey', name: 'Authorization', in: 'header', [A]: { type: 'cognito_user_pools' } },
    awsOther: { type: 'apiKey', name: 'Authorization', in: 'header', 'x-amazon-apigateway-authtype': 'awsCustom' },
  };
  const paths: Record<string, unknown> = {};
  for (const name of Object.keys(schemes)) paths[`/${name.replace(/[^A-Za-z0-9-]/g, '-')}`] = { get: { ...MOCK, security: [{ [name]: [] }] } };
  const r = run(oas(paths, { components: { securitySchemes: schemes } }), { handlers: { Named: './handlers/pets.mjs#deletePet' } });
  t.strictSame(apiOf(r).authorizers, {
    oidc: { type: 'jwt', issuer: 'https://login.example.com/tenant', audience: ['single'], identitySource: '$request.header.X-Token' },
    'my-authorizer-2': { type: 'jwt', issuer: 'https://a.example.com', audience: ['a'], identitySource: '$request.header.Authorization' },
    'my-authorizer': { type: 'jwt', issuer: 'https://b.example.com', audience: ['b'], identitySource: '$request.header.Authorization' },
    token: {
      type: 'token', handler: fnFile('TokenAuthorizer.mjs'), functionName: 'TokenAuthorizer', identitySource: 'method.request.header.X-Auth', resultTtlSeconds: 3600,
    },
    named: { type: 'request', handler: 'Named', functionName: 'Named', payloadFormatVersion: '1.0', identitySource: [], resultTtlSeconds: 0 },
    simple1: {
      type: 'request', handler: fnFile('RequestAuthorizer.mjs'), functionName: 'RequestAuthorizer', payloadFormatVersion: '1.0',
      identitySource: ['$request.header.a', '$stageVariables.tenant'], resultTtlSeconds: 0,
    },
  });
  t.strictSame(Object.values(auth(r)).map((x) => x['authorizer']), ['oidc', 'my-authorizer-2', 'my-authorizer', 'token', 'named', 'simple1'], 'the other routes are skipped');
  const P = (name: string) => `${S}.${name}.${A}`;
  const notImported = (path: string, name: string, why: string) => ({ path, message: `authorizer ${name} not imported: ${why}` });
  const skipped = (name: string, route: string) => ({
    path: `paths["/${route}"].get.security`,
    message: `GET /${route} skipped: authorizer ${name} is not supported (see ${S}.${name}); a route is not imported without its authorization`,
  });
  t.strictSame(r.warnings, [
    { path: `${P('oidc')}.authorizerUri`, message: 'does not apply to jwt authorizers: ignored' },
    { path: `${P('oidc')}.foo`, message: 'not an authorizer property: ignored' },
    { path: `${P('oidc')}.jwtConfiguration.extra`, message: 'not a jwtConfiguration property: ignored' },
    { path: `${S}["my authorizer!"]`, message: 'authorizer named my-authorizer-2 (authorizer names are 1-128 of A-Z a-z 0-9 _ -)' },
    notImported(`${P('noAudience')}.jwtConfiguration.audience`, 'noAudience', 'no audience: the gateway checks aud (or client_id) against at least one'),
    skipped('noAudience', 'noAudience'),
    notImported(`${P('noIssuer')}.jwtConfiguration`, 'noIssuer', 'no issuer (jwtConfiguration.issuer, or openIdConnectUrl on an openIdConnect scheme)'),
    skipped('noIssuer', 'noIssuer'),
    notImported(`${P('badIssuer')}.jwtConfiguration.issuer`, 'badIssuer', 'the issuer must be an https:// URL (got "login.example.com")'),
    skipped('badIssuer', 'badIssuer'),
    notImported(`${P('twoSources')}.identitySource`, 'twoSources', 'identitySource must be one header ($request.header.Name), got "$request.header.A, $request.header.B"'),
    skipped('twoSources', 'twoSources'),
    notImported(`${S}.badOidc.openIdConnectUrl`, 'badOidc', 'openIdConnectUrl https://login.example.com/keys does not end in /.well-known/openid-configuration'),
    skipped('badOidc', 'badOidc'),
    { path: `${P('token')}.enableSimpleResponses`, message: 'does not apply to token authorizers: ignored' },
    { path: `${P('token')}.authorizerUri`, message: 'authorizer token: function qualifier :live (alias or version) ignored: the local TokenAuthorizer handler is used' },
    { path: `${P('token')}.identityValidationExpression`, message: 'not a regular expression ("("): ignored (the authorizer sees every token)' },
    { path: `${P('token')}.authorizerResultTtlInSeconds`, message: '7200 is outside 0..3600: 3600 used' },
    notImported(`${P('badToken')}.identitySource`, 'badToken', 'a token authorizer\'s identitySource is one header (method.request.header.Name), got "method.request.querystring.t"'),
    skipped('badToken', 'badToken'),
    { path: `${P('named')}.authorizerResultTtlInSeconds`, message: 'authorizer named: caching needs identity sources and there are none: 0 (no caching) used' },
    { path: `${P('simple1')}.enableSimpleResponses`, message: 'simple responses need authorizerPayloadFormatVersion 2.0: ignored (IAM policy answers)' },
    { path: `${P('simple1')}.identitySource`, message: "authorizer simple1: stage variable tenant is not in the document: set it in the API's stageVariables, else every request gets 401" },
    { path: `${P('simple1')}.authorizerResultTtlInSeconds`, message: '-5 is outside 0..3600: 0 used' },
    notImported(`${P('missing')}.authorizerUri`, 'missing', `no handler for Lambda function Missing (looked for ${join(FUNCTIONS, 'Missing')}.mjs, .cjs or .js)`),
    skipped('missing', 'missing'),
    notImported(
      `${P('badContext')}.identitySource`, 'badContext',
      'identity source context.authorizer.claims is not supported (context variables: routeKey, stage, apiId, httpMethod, path, domainName, requestId, identity.sourceIp, identity.userAgent)',
    ),
    skipped('badContext', 'badContext'),
    notImported(
      `${P('badPath')}.identitySource`, 'badPath',
      'identity source $request.path.id is not supported ($request.header.X, $request.querystring.X, $context.X, $stageVariables.X or their method.request / context / stageVariables forms)',
    ),
    skipped('badPath', 'badPath'),
    notImported(`${P('badList')}.identitySource`, 'badList', 'identitySource must be a comma-separated string or a list of strings, got 42'),
    skipped('badList', 'badList'),
    notImported(`${P('badVersion')}.authorizerPayloadFormatVersion`, 'badVersion', 'unknown authorizerPayloadFormatVersion "3.0" (1.0 or 2.0)'),
    skipped('badVersion', 'badVersion'),
    notImported(`${P('notLambda')}.authorizerUri`, 'notLambda', 'not a Lambda function invocation ARN (AWS service integrations are not supported)'),
    skipped('notLambda', 'notLambda'),
    notImported(P('noUri'), 'noUri', "no authorizerUri (the authorizer's Lambda function)"),
    skipped('noUri', 'noUri'),
    notImported(P('noType'), 'noType', 'no type (token, request, jwt or cognito_user_pools)'),
    skipped('noType', 'noType'),
    notImported(`${P('saml')}.type`, 'saml', 'unknown type "saml" (token, request, jwt or cognito_user_pools)'),
    skipped('saml', 'saml'),
    notImported(`${P('proto')}.type`, 'proto', 'unknown type "constructor" (token, request, jwt or cognito_user_pools)'),
    skipped('proto', 'proto'),
    notImported(P('notMap'), 'notMap', 'must be a mapping'),
    skipped('notMap', 'notMap'),
    notImported(
      P('cognito'), 'cognito',
      'Cognito user pool authorizers are not supported: use a jwt authorizer (issuer https://cognito-idp.{region}.amazonaws.com/{userPoolId}, audience: the app client id) in the gateway config',
    ),
    skipped('cognito', 'cognito'),
    { path: `${S}.awsOther.x-amazon-apigateway-authtype`, message: 'security scheme awsOther not imported: x-amazon-apigateway-authtype awsCustom is not supported (awsSigv4 is)' },
    {
      path: 'paths["/awsOther"].get.security',
      message: `GET /awsOther skipped: security scheme awsOther is not supported (see ${S}.awsOther); a route is not imported without its authorization`,
    },
  ]);
  load(r.config);
});

t.test('x-amazon-apigateway-api-key-source: AUTHORIZER keys need a Lambda authorizer on the route', async (t) => {
  const doc = (source: unknown) =>
    oas(
      {
        '/lambda': { get: { ...MOCK, security: [{ lam: [], key: [] }] } },
        '/jwt': { get: { ...MOCK, security: [{ jwt: [], key: [] }] } },
        '/key': { get: { ...MOCK, security: [{ key: [] }] } },
      },
      {
        'x-amazon-apigateway-api-key-source': source,
        components: {
          securitySchemes: {
            lam: { type: 'apiKey', name: 'Authorization', in: 'header', [A]: { type: 'token', authorizerUri: fnArn('TokenAuthorizer') } },
            jwt: { type: 'oauth2', flows: {}, [A]: { type: 'jwt', jwtConfiguration: { issuer: 'https://login.example.com', audience: ['a'] } } },
            key: { type: 'apiKey', name: 'x-api-key', in: 'header' },
          },
        },
      },
    );
  const r = run(doc('AUTHORIZER'));
  t.equal(apiOf(r).apiKeySource, 'AUTHORIZER');
  t.strictSame(auth(r), { 'GET /lambda': { authorizer: 'lam', apiKeyRequired: true } });
  const why = 'API keys come from a Lambda authorizer (x-amazon-apigateway-api-key-source AUTHORIZER)';
  t.strictSame(r.warnings, [
    { path: `${S}.key`, message: 'routes that require it need API keys: add apiKeys and usagePlans (for this API) to the gateway config' },
    { path: 'paths["/jwt"].get.security', message: `GET /jwt skipped: ${why} and jwt + key has none; a route is not imported without its authorization` },
    { path: 'paths["/key"].get.security', message: `GET /key skipped: ${why} and key has none; a route is not imported without its authorization` },
    { path: `${S}.jwt`, message: 'authorizer not used by any imported route: left out' },
  ]);
  load(r.config);

  const h = run(doc('header'));
  t.equal(apiOf(h).apiKeySource, undefined, 'HEADER is the default');
  t.equal(Object.keys(auth(h)).length, 3);
  const q = run(doc('QUERY'));
  t.strictSame(q.warnings[0], { path: 'x-amazon-apigateway-api-key-source', message: 'unknown value "QUERY" (HEADER or AUTHORIZER): HEADER (x-api-key) used' });
});
