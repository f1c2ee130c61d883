/**
 * The gateway config schema: one TypeBox source for the TypeScript types (Static) and the JSON Schema
 * ajv validates against.
 *
 * Keys with a `default` are required in the schema (so `Config` has no optional noise for consumers);
 * the loader fills defaults before validating. `ConfigJsonSchema` is the input-facing variant for
 * editors, where defaulted keys are optional.
 */
import { Type, type Static, type TUnsafe } from '@sinclair/typebox';

/** A string enum as JSON Schema `enum` (TypeBox unions of literals become noisy anyOf). */
function StringEnum<const T extends readonly string[]>(values: T, options: Record<string, unknown> = {}): TUnsafe<T[number]> {
  return Type.Unsafe<T[number]>({ type: 'string', enum: [...values], ...options });
}

/** RFC 9110 token: what a header field name may contain. */
export const HEADER_NAME_PATTERN = "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$";
export const API_NAME_PATTERN = '^[A-Za-z0-9_-]{1,64}$';
export const STAGE_PATTERN = '^(\\$default|[A-Za-z0-9_-]{1,128})$';
export const UPSTREAM_NAME_PATTERN = '^[A-Za-z0-9_-]+$';
/** Hostname labels, optionally behind a leading `*.` wildcard; no port. */
export const HOST_PATTERN = '^(\\*\\.)?[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$';

export const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS', 'ANY'] as const;
export type RouteMethod = (typeof METHODS)[number];
export const BALANCE = ['round_robin', 'weighted', 'least_outstanding'] as const;
export type Balance = (typeof BALANCE)[number];

const Port = (def: number) => Type.Integer({ minimum: 0, maximum: 65535, default: def, description: 'TCP port; 0 picks a free port' });
const Ms = (min: number, max: number | undefined, def: number | undefined, description?: string) =>
  Type.Integer({ minimum: min, ...(max !== undefined ? { maximum: max } : {}), ...(def !== undefined ? { default: def } : {}), ...(description ? { description } : {}) });
const HeaderMap = (description: string) =>
  Type.Record(Type.String({ pattern: HEADER_NAME_PATTERN }), Type.String(), {
    additionalProperties: false,
    default: {},
    description,
    errorMessage: 'invalid header name',
  });

/** A PEM file path, relative to the config file (the loader makes it absolute and checks it parses). */
const PemPath = (description: string) => Type.String({ minLength: 1, description });

/** TLS for the listener (uWS SSLApp; findings and limits of the uWS build: src/worker/tls.ts, README "TLS"). */
export const TlsSchema = Type.Object(
  {
    cert: PemPath('PEM certificate chain (leaf first, then intermediates) served to clients without SNI or with a name no `certificates` entry has'),
    key: PemPath('PEM private key of `cert` (PKCS#8, PKCS#1 or SEC1; may be encrypted, then give passphrase)'),
    passphrase: Type.Optional(Type.String({ minLength: 1, description: 'passphrase of an encrypted `key` (use ${ENV})' })),
    certificates: Type.Array(
      Type.Object(
        {
          hosts: Type.Array(Type.String({ pattern: HOST_PATTERN, errorMessage: "must be a host name or '*.domain' (one label)" }), { minItems: 1 }),
          cert: PemPath('PEM certificate chain for these SNI names'),
          key: PemPath('PEM private key of `cert`'),
          passphrase: Type.Optional(Type.String({ minLength: 1 })),
        },
        { additionalProperties: false },
      ),
      { default: [], description: "certificates chosen by the client's SNI name (exact, or '*.example.com' for one label); others get the default cert" },
    ),
    redirectHttp: Type.Optional(Type.Object(
      {
        port: Type.Integer({ minimum: 0, maximum: 65535, description: 'plain-HTTP port whose every request is redirected to https://' }),
        status: Type.Union([Type.Literal(301), Type.Literal(302), Type.Literal(307), Type.Literal(308)], {
          default: 308,
          description: '308 (default) keeps method and body, unlike 301/302 which clients may turn into GET',
        }),
        httpsPort: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535, description: 'port put in Location (default: listen.port; 443 is left out)' })),
      },
      { additionalProperties: false },
    )),
  },
  { additionalProperties: false },
);

export const ListenSchema = Type.Object(
  {
    host: Type.String({ minLength: 1, default: '0.0.0.0' }),
    port: Port(8080),
    tls: Type.Optional(TlsSchema),
  },
  { additionalProperties: false, default: {} },
);

export const WorkersSchema = Type.Union([Type.Literal('auto'), Type.Integer({ minimum: 1, maximum: 256 })], {
  default: 'auto',
  description: "'auto' (= os.availableParallelism()) or a worker count 1..256",
});

export const AdminSchema = Type.Object(
  {
    host: Type.String({ minLength: 1, default: '127.0.0.1' }),
    port: Port(9876),
    enabled: Type.Boolean({ default: true }),
  },
  { additionalProperties: false, default: {} },
);

export const LimitsSchema = Type.Object(
  {
    // AWS: 10 MB payload, 10 KB of request headers.
    maxBodyBytes: Type.Integer({ minimum: 1, default: 10485760 }),
    maxHeaderBytes: Type.Integer({ minimum: 1, default: 10240 }),
    maxUrlBytes: Type.Integer({ minimum: 1, default: 8192 }),
  },
  { additionalProperties: false, default: {} },
);

export const ShutdownSchema = Type.Object(
  { drainTimeoutMs: Ms(0, undefined, 30000, 'how long in-flight requests may finish after SIGTERM') },
  { additionalProperties: false, default: {} },
);

export const RequestIdSchema = Type.Object(
  {
    header: Type.String({ pattern: HEADER_NAME_PATTERN, default: 'x-request-id', errorMessage: 'must be a header name' }),
    trustIncoming: Type.Boolean({ default: false, description: "reuse the client's id when it is a safe token (<=128 chars [A-Za-z0-9._:-])" }),
  },
  { additionalProperties: false, default: {} },
);

export const AccessLogSchema = Type.Object(
  {
    enabled: Type.Boolean({ default: true }),
    destination: Type.String({ minLength: 1, default: 'stdout', description: 'stdout | stderr | a file path' }),
  },
  { additionalProperties: false, default: {} },
);

export const TargetObjectSchema = Type.Object(
  {
    url: Type.String({ minLength: 1, description: 'http://host[:port]' }),
    weight: Type.Integer({ minimum: 1, maximum: 1000, default: 1 }),
  },
  { additionalProperties: false },
);
export const TargetSchema = Type.Union([Type.String({ minLength: 1, description: 'http://host[:port]' }), TargetObjectSchema]);

export const HealthCheckSchema = Type.Object(
  {
    path: Type.String({ pattern: '^/', default: '/health', errorMessage: "must be a path starting with '/'" }),
    intervalMs: Ms(100, undefined, 2000),
    timeoutMs: Ms(50, undefined, 1000),
    healthyThreshold: Type.Integer({ minimum: 1, maximum: 100, default: 2 }),
    unhealthyThreshold: Type.Integer({ minimum: 1, maximum: 100, default: 2 }),
    expectStatus: Type.Tuple([Type.Integer({ minimum: 100, maximum: 599 }), Type.Integer({ minimum: 100, maximum: 599 })], {
      default: [200, 399],
      description: 'inclusive [low, high] status range counted as healthy',
    }),
  },
  { additionalProperties: false, description: 'active health checks; off when absent' },
);

export const UpstreamSchema = Type.Object(
  {
    targets: Type.Array(TargetSchema, { minItems: 1 }),
    balance: StringEnum(BALANCE, { default: 'round_robin' }),
    keepAlive: Type.Object(
      {
        maxSockets: Type.Integer({ minimum: 1, maximum: 65536, default: 256 }),
        idleTimeoutMs: Ms(0, undefined, 4000),
        pipelining: Type.Integer({
          minimum: 1, maximum: 256, default: 1,
          description: 'requests per socket (HTTP/1.1 pipelining) for bodiless idempotent requests started together; 1 = off',
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    connectTimeoutMs: Ms(1, undefined, 5000),
    healthCheck: Type.Optional(HealthCheckSchema),
    circuitBreaker: Type.Object(
      {
        failureThreshold: Type.Integer({ minimum: 1, default: 5 }),
        openMs: Ms(1, undefined, 10000),
      },
      {
        additionalProperties: false, default: {},
        description: 'per target; also the passive health check: consecutive transport failures or timeouts open it',
      },
    ),
    retries: Type.Integer({ minimum: 0, maximum: 10, default: 1, description: 'retries on connection failure, idempotent methods only' }),
  },
  { additionalProperties: false },
);

/** Where an http_proxy or http integration sends requests, and its timeouts. */
const upstreamFields = {
  upstream: Type.Optional(Type.String({ minLength: 1, description: 'an upstream of the same API; exclusive with uri' })),
  uri: Type.Optional(Type.String({ minLength: 1, description: 'absolute http:// URL; its path may use {name} route variables' })),
  path: Type.Optional(Type.String({ minLength: 1, description: 'upstream path template (only with upstream); default: the request path' })),
  // AWS REST default is 29 s (HTTP APIs allow 30 s); self-hosted users may need longer.
  timeoutMs: Ms(50, 300000, 29000),
  connectTimeoutMs: Type.Optional(Ms(1, undefined, undefined, "overrides the upstream's connectTimeoutMs")),
  requestHeaders: HeaderMap('static headers added to the upstream request'),
};

export const HttpProxyIntegrationSchema = Type.Object(
  {
    type: Type.Literal('http_proxy'),
    ...upstreamFields,
    preserveHost: Type.Boolean({ default: false }),
  },
  { additionalProperties: false },
);

/** Media type keys of template maps, e.g. application/json. */
const MEDIA_TYPE_PATTERN = '^[A-Za-z0-9!#$&^_.+-]+/[A-Za-z0-9!#$&^_.+*-]+$';
const TemplateMap = (description: string) =>
  Type.Record(Type.String({ pattern: MEDIA_TYPE_PATTERN }), Type.String(), { additionalProperties: false, errorMessage: 'keys must be media types like application/json', description });

export const PASSTHROUGH = ['WHEN_NO_MATCH', 'WHEN_NO_TEMPLATES', 'NEVER'] as const;

/**
 * An AWS integration response: chosen by `selectionPattern` (a regex over the integration's status
 * code, or for mock the statusCode the request template produced); `default` when none matches.
 */
export const IntegrationResponseSchema = Type.Object(
  {
    statusCode: Type.Integer({ minimum: 100, maximum: 599 }),
    responseTemplates: Type.Optional(TemplateMap('VTL templates by response media type')),
    responseHeaders: HeaderMap("static response header values (AWS responseParameters with 'quoted' values)"),
  },
  { additionalProperties: false },
);

/** AWS REST mapping: request templates chosen by content type, passthrough behaviour, integration responses. */
const mappingFields = {
  requestTemplates: Type.Optional(TemplateMap('VTL templates by request media type')),
  passthroughBehavior: Type.Optional(StringEnum(PASSTHROUGH, { description: 'default WHEN_NO_MATCH' })),
  responses: Type.Optional(
    Type.Record(Type.String({ minLength: 1 }), IntegrationResponseSchema, {
      additionalProperties: false,
      description: "integration responses by selection pattern (regex); 'default' when none matches",
    }),
  ),
};

export const MockIntegrationSchema = Type.Object(
  {
    type: Type.Literal('mock'),
    status: Type.Integer({ minimum: 100, maximum: 599, default: 200 }),
    headers: HeaderMap('response headers'),
    body: Type.String({ default: '' }),
    ...mappingFields,
  },
  { additionalProperties: false },
);

/** AWS `http` (non-proxy): the request body goes through requestTemplates, the response through responses. */
export const HttpIntegrationSchema = Type.Object(
  {
    type: Type.Literal('http'),
    ...upstreamFields,
    httpMethod: Type.Optional(StringEnum(['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'] as const, { description: 'method sent upstream; default: the request method' })),
    ...mappingFields,
  },
  { additionalProperties: false },
);

export const PAYLOAD_FORMATS = ['1.0', '2.0'] as const;

export const FunctionIntegrationSchema = Type.Object(
  {
    type: Type.Literal('function'),
    handler: Type.String({
      pattern: '^[^#]+(#[A-Za-z_$][A-Za-z0-9_$]*)?$',
      errorMessage: "must be 'path/to/module.mjs#exportName' (the export defaults to handler)",
      description: 'module path (relative to the config file) and export, e.g. ./functions/pets.mjs#handler',
    }),
    // HTTP APIs default to 2.0; 1.0 is the REST API proxy format.
    payloadFormatVersion: StringEnum(PAYLOAD_FORMATS, { default: '2.0' }),
    // AWS: an integration times out after 29 s; the function's own timeout is what the context counts down.
    timeoutMs: Ms(1, 900000, 29000, 'the function timeout: past it the thread is terminated and the client gets 502'),
    functionName: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_-]{1,64}$', description: "context.functionName; default: the module's file name" })),
    memoryMB: Type.Integer({ minimum: 128, maximum: 10240, default: 128, description: 'what context.memoryLimitInMB reports (not enforced)' }),
  },
  { additionalProperties: false },
);

/** Discriminated on `type`: the loader reports only the matching variant's errors. */
export const IntegrationSchema = Type.Union([HttpProxyIntegrationSchema, HttpIntegrationSchema, MockIntegrationSchema, FunctionIntegrationSchema]);

const ParamNames = Type.Array(Type.String({ minLength: 1 }), { uniqueItems: true });

/** AWS request validator + the models a route's body must match (REST APIs). */
export const RequestValidationSchema = Type.Object(
  {
    validateBody: Type.Boolean({ default: true }),
    validateParameters: Type.Boolean({ default: true }),
    bodyModels: Type.Optional(
      Type.Record(Type.String({ pattern: `${MEDIA_TYPE_PATTERN}|^\\$default$` }), Type.Union([Type.String({ minLength: 1 }), Type.Object({}, { additionalProperties: true })]), {
        additionalProperties: false,
        description: "model (a name from the API's models, or an inline JSON Schema) by request media type; $default for any other",
      }),
    ),
    required: Type.Object(
      { querystring: Type.Optional(ParamNames), header: Type.Optional(ParamNames), path: Type.Optional(ParamNames) },
      { additionalProperties: false, default: {}, description: 'request parameters that must be present and non-empty' },
    ),
    details: Type.Boolean({ default: false, description: "add the validator's reason to the 400 body (AWS does not)" }),
  },
  { additionalProperties: false },
);

export const FunctionsSchema = Type.Object(
  {
    threads: Type.Integer({ minimum: 1, maximum: 256, default: 2, description: 'function threads per worker process' }),
    // 64, not Lambda's 1 per environment: invocations batch per event-loop turn only when a thread
    // may run several (bench/function-pool.ts: 1 per thread ~28k req/s, 64 ~72-82k). 1 restores
    // Lambda's isolation: a timed-out handler then takes no other invocation down with its thread.
    concurrencyPerThread: Type.Integer({ minimum: 1, maximum: 1000, default: 64, description: 'invocations a thread runs at once' }),
    maxQueue: Type.Integer({ minimum: 0, maximum: 1000000, default: 1024, description: 'invocations waiting for a thread, per worker; beyond it 429' }),
    handlers: Type.Record(Type.String({ pattern: '^[A-Za-z0-9_-]{1,64}$' }), Type.String({ minLength: 1 }), {
      additionalProperties: false,
      default: {},
      description: "named handlers ('path#export'): a function integration may say handler: name; OpenAPI Lambda ARNs map to them by function name",
    }),
  },
  { additionalProperties: false, default: {} },
);

/** AWS ThrottleSettings: token bucket of rateLimit tokens/s holding at most burstLimit. */
export const ThrottleSchema = Type.Object(
  {
    rateLimit: Type.Number({ exclusiveMinimum: 0, description: 'steady-state requests per second' }),
    burstLimit: Type.Integer({ minimum: 1, description: 'bucket capacity: requests admitted at once after a quiet period' }),
  },
  { additionalProperties: false },
);

const ParamList = Type.Array(Type.String({ minLength: 1 }), { uniqueItems: true, default: [] });

/** AWS method cache settings (REST APIs): https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-caching.html */
export const RouteCacheSchema = Type.Object(
  {
    enabled: Type.Optional(Type.Boolean({ description: "default: the stage's cache.enabled for GET routes, false for other methods (AWS)" })),
    ttlSeconds: Type.Optional(Type.Integer({ minimum: 0, maximum: 3600, description: "default: the stage's ttlSeconds; 0 disables" })),
    keyParameters: Type.Object(
      { querystring: ParamList, header: ParamList, path: ParamList },
      { additionalProperties: false, default: {}, description: 'request parameters that are part of the cache key (AWS cacheKeyParameters)' },
    ),
  },
  { additionalProperties: false },
);

export const CACHE_CONTROL_STRATEGIES = ['FAIL_WITH_403', 'SUCCEED_WITH_RESPONSE_HEADER', 'SUCCEED_WITHOUT_RESPONSE_HEADER'] as const;

export const StageCacheSchema = Type.Object(
  {
    enabled: Type.Boolean({ default: false }),
    ttlSeconds: Type.Integer({ minimum: 0, maximum: 3600, default: 300 }),
    requireAuthorizationForCacheControl: Type.Boolean({ default: true, description: 'Cache-Control: max-age=0 refreshes only for API keys with invalidateCache' }),
    unauthorizedCacheControlHeaderStrategy: StringEnum(CACHE_CONTROL_STRATEGIES, { default: 'SUCCEED_WITH_RESPONSE_HEADER' }),
  },
  { additionalProperties: false, default: {} },
);

/** HTTP API JWT authorizer. */
export const JwtAuthorizerSchema = Type.Object(
  {
    type: Type.Literal('jwt'),
    issuer: Type.String({ pattern: '^https?://', description: "the token's iss; keys come from {issuer}/.well-known/openid-configuration unless jwksUri is set" }),
    audience: Type.Array(Type.String({ minLength: 1 }), { minItems: 1, description: 'aud (or client_id when aud is absent) must be one of these' }),
    jwksUri: Type.Optional(Type.String({ pattern: '^https?://' })),
    identitySource: Type.String({ pattern: '^\\$request\\.header\\.[A-Za-z0-9-]+$', default: '$request.header.Authorization', errorMessage: "must be '$request.header.<Name>'" }),
    algorithms: Type.Optional(Type.Array(Type.String(), { minItems: 1, description: 'default RS*, PS*, ES*; none and HS* are refused' })),
    forwardClaims: Type.Record(Type.String({ pattern: HEADER_NAME_PATTERN }), Type.String({ minLength: 1 }), {
      additionalProperties: false, default: {},
      description: 'upstream header -> claim, e.g. { x-user-id: sub } (a client-sent header of that name is removed)',
    }),
  },
  { additionalProperties: false },
);

/**
 * Identity sources of a Lambda authorizer: HTTP API selection expressions ($request.header.X,
 * $request.querystring.X, $context.X, $stageVariables.X) or the REST forms (method.request.header.X,
 * method.request.querystring.X, context.X, stageVariables.X).
 * https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-lambda-authorizer.html#http-api-lambda-authorizer.identity-sources
 */
const IDENTITY_SOURCE_PATTERN = '^(\\$request\\.(header|querystring)\\.[^\\s]+|method\\.request\\.(header|querystring)\\.[^\\s]+|\\$?context\\.[A-Za-z.]+|\\$?stageVariables\\.[A-Za-z0-9_]+)$';

/** The `$context.X` variables a Lambda authorizer identity source may name (the gateway reads them per request). */
export const IDENTITY_CONTEXT_VARIABLES = ['routeKey', 'stage', 'apiId', 'httpMethod', 'path', 'domainName', 'requestId', 'identity.sourceIp', 'identity.userAgent'] as const;

const lambdaAuthorizerProps = {
  handler: Type.String({
    pattern: '^[^#]+(#[A-Za-z_$][A-Za-z0-9_$]*)?$',
    errorMessage: "must be 'path/to/module.mjs#exportName' or a name from functions.handlers",
    description: 'the authorizer function, run in the function threads like a function integration',
  }),
  functionName: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_-]{1,64}$', description: "context.functionName; default: the module's file name" })),
  resultTtlSeconds: Type.Optional(Type.Integer({
    minimum: 0, maximum: 3600,
    description: 'AWS authorizerResultTtlInSeconds: results cached by identity source values; default 300 with identity sources, 0 (off) without',
  })),
  // Our default; AWS does not document an authorizer-specific wait.
  timeoutMs: Ms(1, 30000, 10000, 'the authorizer function timeout: past it the client gets 500'),
  forwardContext: Type.Record(Type.String({ pattern: HEADER_NAME_PATTERN }), Type.String({ minLength: 1 }), {
    additionalProperties: false, default: {},
    description: "upstream header -> key of the authorizer's context (or principalId), e.g. { x-user-id: userId }; a client-sent header of that name is removed",
  }),
};

/** HTTP API Lambda authorizer of type REQUEST (https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-lambda-authorizer.html). */
export const RequestAuthorizerSchema = Type.Object(
  {
    type: Type.Literal('request'),
    ...lambdaAuthorizerProps,
    payloadFormatVersion: StringEnum(PAYLOAD_FORMATS, { default: '2.0', description: 'the event the authorizer gets and the answer it gives (1.0: an IAM policy, REST compatible)' }),
    enableSimpleResponses: Type.Boolean({ default: false, description: 'payload 2.0 only: the authorizer answers { isAuthorized, context }' }),
    identitySource: Type.Array(Type.String({ pattern: IDENTITY_SOURCE_PATTERN, errorMessage: "must be $request.header.X, $request.querystring.X, $context.X or $stageVariables.X" }), {
      default: [], description: 'all must be present and non-empty, else 401 without calling the authorizer; they form the cache key',
    }),
  },
  { additionalProperties: false },
);

/** REST API Lambda authorizer of type TOKEN (https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-lambda-authorizer-input.html). */
export const TokenAuthorizerSchema = Type.Object(
  {
    type: Type.Literal('token'),
    ...lambdaAuthorizerProps,
    identitySource: Type.String({
      pattern: '^(\\$request|method\\.request)\\.header\\.[A-Za-z0-9-]+$', default: '$request.header.Authorization',
      errorMessage: "must be '$request.header.<Name>'", description: 'the header holding the token',
    }),
    identityValidationExpression: Type.Optional(Type.String({ minLength: 1, description: 'a token that does not match this regular expression gets 401 without calling the authorizer' })),
  },
  { additionalProperties: false },
);

const CidrList = Type.Array(Type.String({ minLength: 2, description: 'an IP address or CIDR block, IPv4 or IPv6' }), { minItems: 1 });
/** IP resource policy: an explicit deny wins; with an allow list, only those addresses pass. */
export const IpPolicySchema = Type.Object({ allow: Type.Optional(CidrList), deny: Type.Optional(CidrList) }, { additionalProperties: false });

export const RouteSchema = Type.Object(
  {
    route: Type.String({ minLength: 1, description: "AWS route key: 'METHOD /path' or '$default'" }),
    integration: IntegrationSchema,
    requestValidation: Type.Optional(RequestValidationSchema),
    throttle: Type.Optional(ThrottleSchema),
    apiKeyRequired: Type.Optional(Type.Boolean({ description: "default: the API's apiKeyRequired" })),
    cache: Type.Optional(RouteCacheSchema),
    ipPolicy: Type.Optional(Type.Object(IpPolicySchema.properties, { additionalProperties: false, description: "applies in addition to the API's" })),
    authorizer: Type.Optional(Type.String({ minLength: 1, description: "a name from the API's authorizers" })),
    authorizationType: Type.Optional(StringEnum(['NONE', 'AWS_IAM'] as const, { description: 'AWS_IAM: requests must be SigV4-signed by a key in iam.credentials (a JWT authorizer is set with authorizer)' })),
    authorizationScopes: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { minItems: 1, description: 'the token must carry one of these scopes, else 403' })),
    routeResponse: Type.Optional(Type.Boolean({ description: "websocket: send the integration's answer back to the client (AWS two-way route, routeResponseSelectionExpression $default)" })),
  },
  { additionalProperties: false },
);

/** HTTP API CORS configuration (https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-cors.html). */
export const CorsSchema = Type.Object(
  {
    allowOrigins: Type.Array(Type.String({ minLength: 1, pattern: '^(\\*|https?://\\*|https?://[^/*\\s]+)$', errorMessage: "must be an origin (scheme://host[:port]), '*', 'https://*' or 'http://*'" }), { minItems: 1 }),
    allowMethods: Type.Array(Type.String({ pattern: '^([A-Za-z]+|\\*)$' }), { default: ['*'] }),
    allowHeaders: Type.Array(Type.String({ pattern: `${HEADER_NAME_PATTERN}|^\\*$` }), { default: [] }),
    exposeHeaders: Type.Array(Type.String({ pattern: `${HEADER_NAME_PATTERN}|^\\*$` }), { default: [] }),
    maxAge: Type.Optional(Type.Integer({ minimum: 0, maximum: 86400, description: 'seconds a browser may cache the preflight answer' })),
    allowCredentials: Type.Boolean({ default: false, description: 'not allowed with a wildcard origin' }),
  },
  { additionalProperties: false },
);

/**
 * WebSocket API limits; defaults are AWS's
 * (https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html#apigateway-execution-service-websocket-limits-table).
 */
export const WebSocketSettingsSchema = Type.Object(
  {
    maxMessageBytes: Type.Integer({ minimum: 1024, maximum: 16777216, default: 131072, description: 'AWS: 128 KB; a larger message closes the connection with 1009' }),
    idleTimeoutSeconds: Type.Integer({ minimum: 8, maximum: 960, default: 600, description: 'AWS: 10 minutes without a message closes the connection' }),
    // uWS counts a connection's lifetime in minutes (maxLifetime).
    maxConnectionMinutes: Type.Integer({ minimum: 1, maximum: 1440, default: 120, description: 'AWS: a connection lasts at most 2 hours' }),
    // 1 MiB: 8x the largest message, so one slow read does not drop a client, while 10,000 stuck
    // clients stay under 10 GB worst case; beyond it the client is dropped (uWS closeOnBackpressureLimit).
    maxBackpressureBytes: Type.Integer({ minimum: 16384, default: 1048576, description: "bytes queued for a client that does not read; past it the connection is closed (slow consumer)" }),
    retentionSeconds: Type.Integer({ minimum: 0, maximum: 86400, default: 300, description: 'broadcasts kept for clients that reconnect with lastMessageId' }),
    retentionMessages: Type.Integer({ minimum: 0, maximum: 1000000, default: 10000, description: 'at most this many broadcasts kept (Redis stream MAXLEN ~, and per worker)' }),
    // Beyond AWS. Off by default: one frame per broadcast is what any WebSocket client expects.
    broadcastBatchBytes: Type.Integer({
      minimum: 0, maximum: 1048576, default: 0,
      description: 'broadcasts a worker receives in one event-loop turn for a topic go out as one text frame of newline-separated messages, up to this many bytes (0: one frame per broadcast)',
    }),
  },
  { additionalProperties: false, default: {} },
);

export const ApiSchema = Type.Object(
  {
    name: Type.String({ pattern: API_NAME_PATTERN, errorMessage: 'must be 1-64 characters of A-Z a-z 0-9 _ -' }),
    stage: Type.String({
      pattern: STAGE_PATTERN,
      default: '$default',
      errorMessage: "must be '$default' or 1-128 characters of A-Z a-z 0-9 _ -",
      description: '$default is served at /, a named stage under /{stage}',
    }),
    hosts: Type.Optional(
      Type.Array(Type.String({ pattern: HOST_PATTERN, maxLength: 253, errorMessage: "must be a hostname, optionally '*.'-prefixed, without port" }), {
        minItems: 1,
      }),
    ),
    upstreams: Type.Record(Type.String({ pattern: UPSTREAM_NAME_PATTERN }), UpstreamSchema, {
      additionalProperties: false,
      default: {},
      errorMessage: 'invalid upstream name (use A-Z a-z 0-9 _ -)',
    }),
    routes: Type.Array(RouteSchema, { minItems: 1 }),
    protocol: StringEnum(['http', 'websocket'] as const, { default: 'http', description: 'websocket: routes are $connect, $disconnect, $default and route keys chosen by routeSelectionExpression' }),
    routeSelectionExpression: Type.String({ minLength: 1, default: '$request.body.action', description: 'websocket: $request.body.<property> or a template of ${request.body.<property>} parts' }),
    websocket: WebSocketSettingsSchema,
    models: Type.Record(Type.String({ pattern: '^[A-Za-z0-9]+$' }), Type.Object({}, { additionalProperties: true }), {
      additionalProperties: false,
      default: {},
      errorMessage: 'model names are alphanumeric (as AWS requires)',
      description: 'JSON Schemas routes validate bodies against (requestValidation.bodyModels)',
    }),
    modelSchemaDraft: StringEnum(['04', '2020-12'] as const, { default: '04', description: 'JSON Schema draft of the models (AWS: draft 4)' }),
    stageVariables: Type.Record(Type.String({ pattern: '^[A-Za-z0-9_]+$' }), Type.String(), { additionalProperties: false, default: {} }),
    throttle: Type.Optional(Type.Object(ThrottleSchema.properties, { additionalProperties: false, description: "the stage's default route throttling: each route gets its own bucket with these limits (AWS defaultRouteSettings)" })),
    clientIpThrottle: Type.Optional(Type.Object(ThrottleSchema.properties, { additionalProperties: false, description: 'a bucket per client IP for every route of this stage (beyond AWS; the IP is the peer address)' })),
    apiKeyRequired: Type.Boolean({ default: false, description: 'every route requires x-api-key unless the route says otherwise' }),
    apiKeySource: StringEnum(['HEADER', 'AUTHORIZER'] as const, {
      default: 'HEADER',
      description: "AWS apiKeySource: the x-api-key header, or the usageIdentifierKey a Lambda authorizer's policy answer returns",
    }),
    cache: StageCacheSchema,
    cors: Type.Optional(CorsSchema),
    ipPolicy: Type.Optional(IpPolicySchema),
    authorizers: Type.Record(Type.String({ pattern: '^[A-Za-z0-9_-]{1,128}$' }), Type.Union([JwtAuthorizerSchema, RequestAuthorizerSchema, TokenAuthorizerSchema]), { additionalProperties: false, default: {} }),
  },
  { additionalProperties: false },
);

export const QUOTA_PERIODS = ['DAY', 'WEEK', 'MONTH'] as const;

/** AWS usage plan: a throttle and a quota per API key, over the API stages it names. */
export const UsagePlanSchema = Type.Object(
  {
    throttle: Type.Optional(ThrottleSchema),
    quota: Type.Optional(Type.Object(
      {
        limit: Type.Integer({ minimum: 0 }),
        period: StringEnum(QUOTA_PERIODS, { description: 'UTC days; weeks start on Monday; calendar months' }),
      },
      { additionalProperties: false },
    )),
    apiStages: Type.Array(
      Type.Object(
        {
          api: Type.String({ pattern: API_NAME_PATTERN }),
          stage: Type.Optional(Type.String({ pattern: STAGE_PATTERN, description: "default: the API's stage" })),
          throttle: Type.Record(Type.String({ minLength: 1 }), ThrottleSchema, {
            additionalProperties: false, default: {},
            description: "per-route throttles for a key of this plan, by route key ('GET /pets/{id}')",
          }),
        },
        { additionalProperties: false },
      ),
      { minItems: 1 },
    ),
  },
  { additionalProperties: false },
);

export const ApiKeySchema = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 128 }),
    id: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_-]{1,64}$', description: 'default: derived from the value' })),
    // AWS: an API key value has at least 20 characters.
    value: Type.String({ minLength: 20, maxLength: 128, pattern: '^[\\x21-\\x7e]+$', errorMessage: 'must be 20-128 printable ASCII characters' }),
    usagePlans: Type.Array(Type.String({ minLength: 1 }), { minItems: 1, uniqueItems: true }),
    enabled: Type.Boolean({ default: true }),
    invalidateCache: Type.Boolean({ default: false, description: 'may refresh cached entries with Cache-Control: max-age=0' }),
  },
  { additionalProperties: false },
);

export const RedisSchema = Type.Object(
  {
    url: Type.Optional(Type.String({ pattern: '^rediss?://', description: 'redis://[[user]:password@]host:port[/db]; rediss:// for TLS' })),
    sentinels: Type.Optional(Type.Array(Type.Object({ host: Type.String({ minLength: 1 }), port: Type.Integer({ minimum: 1, maximum: 65535 }) }, { additionalProperties: false }), { minItems: 1 })),
    name: Type.Optional(Type.String({ minLength: 1, description: 'Sentinel master group name' })),
    sentinelPassword: Type.Optional(Type.String()),
    cluster: Type.Optional(Type.Array(Type.Object({ host: Type.String({ minLength: 1 }), port: Type.Integer({ minimum: 1, maximum: 65535 }) }, { additionalProperties: false }), { minItems: 1, description: 'Cluster seed nodes' })),
    username: Type.Optional(Type.String()),
    password: Type.Optional(Type.String()),
    db: Type.Optional(Type.Integer({ minimum: 0 })),
    tls: Type.Optional(Type.Union([Type.Boolean(), Type.Object({
      ca: Type.Optional(Type.String()), cert: Type.Optional(Type.String()), key: Type.Optional(Type.String()),
      rejectUnauthorized: Type.Optional(Type.Boolean()), servername: Type.Optional(Type.String()),
    }, { additionalProperties: false })])),
    keyPrefix: Type.String({ default: 'gw:' }),
    // 100 ms: a healthy Redis on the same network answers in well under 1 ms; past this it is sick.
    commandTimeoutMs: Ms(1, 60000, 100),
    connectTimeoutMs: Ms(1, 60000, 1000),
  },
  { additionalProperties: false },
);

export const StoreSchema = Type.Object(
  {
    type: StringEnum(['memory', 'redis'] as const, { default: 'memory', description: 'memory: per worker process; redis: shared by every worker and node' }),
    redis: Type.Optional(RedisSchema),
  },
  { additionalProperties: false, default: {} },
);

export const ThrottlingSchema = Type.Object(
  {
    // AWS account-level default per Region: 10,000 req/s, burst 5,000
    // (https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html). false: no gateway-wide limit.
    gateway: Type.Union([ThrottleSchema, Type.Literal(false)], { default: { rateLimit: 10000, burstLimit: 5000 } }),
    mode: StringEnum(['exact', 'lease'] as const, {
      default: 'exact',
      description: 'redis store: exact = one script call per request; lease = each worker takes tokens in batches (see README for the accuracy bound)',
    }),
    leaseMs: Ms(10, 10000, 100, "lease mode: a lease holds rate x leaseMs tokens and returns what it did not use after leaseMs"),
    failMode: StringEnum(['open', 'closed'] as const, { default: 'open', description: 'Redis unreachable: open admits, closed answers 503' }),
  },
  { additionalProperties: false, default: {} },
);

export const CacheSettingsSchema = Type.Object(
  {
    // 64 MB per worker: L1 only has to hold the hot set; Redis (L2) holds the rest.
    l1MaxBytes: Type.Integer({ minimum: 0, default: 67108864, description: 'per-worker in-memory cache (L1) size; 0 disables L1' }),
    l1MaxEntries: Type.Integer({ minimum: 1, default: 100000 }),
    maxEntryBytes: Type.Integer({ minimum: 1, maximum: 1048576, default: 1048576, description: 'AWS: responses above 1048576 bytes are not cached' }),
  },
  { additionalProperties: false, default: {} },
);

export const ConfigSchema = Type.Object(
  {
    listen: ListenSchema,
    workers: WorkersSchema,
    admin: AdminSchema,
    limits: LimitsSchema,
    shutdown: ShutdownSchema,
    requestId: RequestIdSchema,
    accessLog: AccessLogSchema,
    functions: FunctionsSchema,
    store: StoreSchema,
    throttling: ThrottlingSchema,
    cache: CacheSettingsSchema,
    iam: Type.Object(
      {
        region: Type.Optional(Type.String({ pattern: '^[a-z0-9-]+$', description: "when set, the signature's credential scope must name this region" })),
        credentials: Type.Array(
          Type.Object(
            {
              accessKeyId: Type.String({ pattern: '^[A-Z0-9]{16,128}$', errorMessage: 'must be 16-128 characters of A-Z 0-9' }),
              secretAccessKey: Type.String({ minLength: 16 }),
              sessionToken: Type.Optional(Type.String({ minLength: 1 })),
              routes: Type.Array(Type.String({ minLength: 1 }), {
                default: ['*'],
                description: "what this key may call: '{api}/{stage}/{METHOD} {path}' patterns, * matches anything (e.g. 'shop/$default/GET /pets/*')",
              }),
            },
            { additionalProperties: false },
          ),
          { default: [] },
        ),
      },
      { additionalProperties: false, default: {}, description: 'credentials for AWS_IAM routes (SigV4, service execute-api)' },
    ),
    trustedProxies: Type.Array(Type.String({ minLength: 2 }), {
      default: [],
      description: 'addresses/CIDR blocks of proxies whose X-Forwarded-For is believed (for IP policies and per-IP throttling); default none',
    }),
    usagePlans: Type.Record(Type.String({ pattern: '^[A-Za-z0-9_-]{1,64}$' }), UsagePlanSchema, { additionalProperties: false, default: {} }),
    apiKeys: Type.Array(ApiKeySchema, { default: [] }),
    apis: Type.Array(ApiSchema, { minItems: 1 }),
  },
  { additionalProperties: false, title: 'uws-api-gateway config' },
);

export type Config = Static<typeof ConfigSchema>;
export type Listen = Static<typeof ListenSchema>;
export type Tls = Static<typeof TlsSchema>;
export type Workers = Static<typeof WorkersSchema>;
export type Admin = Static<typeof AdminSchema>;
export type Limits = Static<typeof LimitsSchema>;
export type Shutdown = Static<typeof ShutdownSchema>;
export type RequestId = Static<typeof RequestIdSchema>;
export type AccessLog = Static<typeof AccessLogSchema>;
export type Api = Static<typeof ApiSchema>;
export type Route = Static<typeof RouteSchema>;
export type Upstream = Static<typeof UpstreamSchema>;
export type Target = Static<typeof TargetSchema>;
export type TargetObject = Static<typeof TargetObjectSchema>;
export type HealthCheck = Static<typeof HealthCheckSchema>;
export type Integration = Static<typeof IntegrationSchema>;
export type HttpProxyIntegration = Static<typeof HttpProxyIntegrationSchema>;
export type MockIntegration = Static<typeof MockIntegrationSchema>;
export type FunctionIntegration = Static<typeof FunctionIntegrationSchema>;
export type HttpIntegration = Static<typeof HttpIntegrationSchema>;
export type IntegrationResponse = Static<typeof IntegrationResponseSchema>;
export type RequestValidation = Static<typeof RequestValidationSchema>;
export type Functions = Static<typeof FunctionsSchema>;
export type Throttle = Static<typeof ThrottleSchema>;
export type Cors = Static<typeof CorsSchema>;
export type RouteCache = Static<typeof RouteCacheSchema>;
export type StageCache = Static<typeof StageCacheSchema>;
export type UsagePlan = Static<typeof UsagePlanSchema>;
export type ApiKeyConfig = Static<typeof ApiKeySchema>;
export type RedisConfig = Static<typeof RedisSchema>;
export type StoreConfig = Static<typeof StoreSchema>;
export type Throttling = Static<typeof ThrottlingSchema>;
export type CacheSettings = Static<typeof CacheSettingsSchema>;
export type WebSocketSettings = Static<typeof WebSocketSettingsSchema>;
export type JwtAuthorizerConfig = Static<typeof JwtAuthorizerSchema>;
export type RequestAuthorizerConfig = Static<typeof RequestAuthorizerSchema>;
export type TokenAuthorizerConfig = Static<typeof TokenAuthorizerSchema>;
export type LambdaAuthorizerConfig = RequestAuthorizerConfig | TokenAuthorizerConfig;

/** Plain JSON copy of a schema with `default`-bearing keys dropped from `required`: what a file may omit. */
function inputSchema(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(inputSchema);
  if (schema === null || typeof schema !== 'object') return schema;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(schema)) {
    // `default` and `const` values are data, not schemas.
    out[k] = k === 'default' || k === 'const' || k === 'enum' ? structuredClone(v) : inputSchema(v);
  }
  const props = out['properties'] as Record<string, { default?: unknown }> | undefined;
  if (props && Array.isArray(out['required'])) {
    const required = (out['required'] as string[]).filter((k) => props[k]?.default === undefined);
    if (required.length) out['required'] = required;
    else delete out['required'];
  }
  // Numbers and booleans may be written as ${VAR}; the loader converts them after substitution.
  if (out['type'] === 'integer' || out['type'] === 'number' || out['type'] === 'boolean') {
    const { default: def, description, ...rest } = out;
    return {
      anyOf: [rest, { type: 'string', pattern: '\\$\\{[A-Za-z_]' }],
      ...(def !== undefined ? { default: def } : {}),
      ...(description !== undefined ? { description } : {}),
    };
  }
  return out;
}

/**
 * JSON Schema (draft-07) for config files, e.g. for `# yaml-language-server: $schema=...`.
 * Unlike ConfigSchema, keys that have defaults are optional here and numbers/booleans may be
 * `${VAR}` strings. The loader validates against ConfigSchema, after defaults and substitution.
 */
export const ConfigJsonSchema = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  ...(inputSchema(ConfigSchema) as Record<string, unknown>),
} as const;
