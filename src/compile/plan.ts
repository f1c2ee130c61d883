import { createHash } from 'node:crypto';
import { basename } from 'node:path';
import { Value } from '@sinclair/typebox/value';
import { normalizeTargets, urlPath, UpstreamSchema } from '../config/index.js';
import type { Config, HttpIntegration, HttpProxyIntegration, Route, Upstream, WebSocketSettings } from '../config/index.js';
import { Router, RouteConflictError } from '../router/index.js';
import { compileMock } from '../integrations/mock.js';
import { compileHttpProxy, compileTemplate } from '../integrations/http-proxy.js';
import { ACCOUNT_ID, compileFunction } from '../integrations/function.js';
import { compileMappedHttp, compileMappedMock, compileMapping, type CompiledMapping, type MappingContext } from '../integrations/mapping.js';
import { FunctionPool, type HandlerRef } from '../functions/pool.js';
import { compileModels, compileRouteValidator, type ModelSet } from '../validation/index.js';
import { withValidation } from './validation-phase.js';
import { UpstreamGroup } from '../upstream/group.js';
import type { GroupOptions } from '../upstream/group.js';
import { hostWithoutPort, type RequestContext } from '../worker/context.js';
import { createSharedState, type SharedState } from '../store/runtime.js';
import { BUCKET, type Limit } from '../store/types.js';
import { withLimits, type LimitsRuntime } from '../limits/phase.js';
import { withCache, type CacheRuntime } from '../cache/phase.js';
import { compileCacheKey } from '../cache/key.js';
import { answerPreflight, compileCors, withCors } from '../cors/index.js';
import { blockListOf, compileIpPolicy, withIpPolicy } from '../policy/ip.js';
import { JwtAuthorizer } from '../auth/jwt.js';
import { withJwt } from '../auth/jwt-phase.js';
import { compileIdentitySource, LambdaAuthorizer, withLambdaAuthorizer, type AuthorizedRoute } from '../auth/lambda-phase.js';
import { compileRoutePattern, withIam, type IamCredential } from '../auth/iam-phase.js';
import type { BlockList } from 'node:net';
import { compileRouteSelection, type RouteSelector } from '../websocket/selection.js';
import { WsRuntime, type WsApi, type WsResult, type WsRoute } from '../websocket/runtime.js';
import { connectionHandlers, functionCaller, httpCaller } from '../websocket/compile.js';

/**
 * Config -> Plan: everything decided once at load. A route is a compiled handler; a host maps to the
 * APIs it serves, each with its stage prefix and its router. Nothing here is looked up by name on the
 * hot path.
 */

export type Handler = (ctx: RequestContext) => void;

export interface CompiledRoute {
  /** Index in Plan.routes; 0 is reserved for "no route" in metrics. */
  id: number;
  /** AWS route key, e.g. "GET /pets/{id}" or "$default". */
  routeKey: string;
  api: string;
  stage: string;
  handle: Handler;
  /** Answers in the synchronous part of the uWS handler (no abort handler, no headers needed). */
  sync: boolean;
}

export interface StageEntry {
  /** "" for the $default stage, else "/{stage}". */
  prefix: string;
  router: Router<CompiledRoute>;
  defaultRoute: CompiledRoute | null;
  /** CORS configured: the gateway answers preflight requests with this route. */
  preflight: CompiledRoute | null;
  /** A WebSocket API: upgrades at the stage path run `connect` (access control, then $connect). */
  ws: { api: WsApi; connect: CompiledRoute } | null;
}

export interface Plan {
  /** Hash of the config, to tell plans apart in logs. */
  version: string;
  routes: CompiledRoute[];
  /** Exact host (lower-case, no port) -> APIs; entries sorted longest stage prefix first, $default last. */
  hosts: Map<string, StageEntry[]>;
  /** "*.example.com" hosts: suffix ".example.com" -> APIs. */
  wildcards: { suffix: string; entries: StageEntry[] }[];
  /** APIs without hosts: served for any Host. */
  anyHost: StageEntry[];
  upstreams: UpstreamGroup[];
  upstreamNames: string[];
  /** Proxies whose X-Forwarded-For names the client (trustedProxies); null: none. */
  trustedProxies: BlockList | null;
  /** WebSocket stage paths and their limits (the app registers one uWS behaviour per path). */
  websockets: { prefix: string; settings: WebSocketSettings }[];
  /** Function threads of this worker; null when no route has a function integration. */
  functions: FunctionPool | null;
  /** Starts active health checks (workers only). */
  start(): void;
  /** Starts the function threads and loads every handler (workers only); rejects naming what failed to load. */
  startFunctions(): Promise<void>;
  close(): Promise<void>;
}

/** Cached Lambda authorizer answers per authorizer and worker (a few hundred bytes each). */
const LAMBDA_AUTHORIZER_CACHE_ENTRIES = 10_000;

export class PlanError extends Error {
  override name = 'PlanError';
  constructor(public issues: { path: string; message: string }[]) {
    super(issues.map((i) => `${i.path}: ${i.message}`).join('\n'));
  }
}

export interface CompileOptions {
  /** Counts upstream errors (worker metrics); absent in the master's dry run. */
  onUpstreamError?: (upstreamId: number, kind: string) => void;
  /** Counts function failures by kind (worker metrics). */
  onFunctionFailure?: (routeId: number, kind: string) => void;
  /** The worker's store, limiter, keys and L1 cache; absent (the master's dry run): a memory one that connects nowhere. */
  shared?: SharedState;
  onRefused?: (routeKey: string, kind: string) => void;
  onCache?: (routeKey: string, kind: 'hit' | 'miss' | 'refresh' | 'bypass') => void;
  /** A refreshed cache entry: tell every other worker and node to drop its L1 copy. */
  onCacheEvict?: (key: string) => void;
  /** The worker's WebSocket connections; absent (the master's dry run): one that holds none. */
  websocket?: WsRuntime;
}

export function compilePlan(config: Config, opts: CompileOptions = {}): Plan {
  const issues: { path: string; message: string }[] = [];
  const routes: CompiledRoute[] = [{ id: 0, routeKey: '-', api: '-', stage: '-', handle: () => {}, sync: true }];
  const groups: UpstreamGroup[] = [];
  const hosts = new Map<string, StageEntry[]>();
  const wildcards: { suffix: string; entries: StageEntry[] }[] = [];
  const anyHost: StageEntry[] = [];
  const onUpstreamError = opts.onUpstreamError ?? (() => {});
  const onFunctionFailure = opts.onFunctionFailure ?? (() => {});
  const handlerRefs: HandlerRef[] = [];
  // Threads start only in workers (startFunctions); the master's dry run never spawns them.
  let minTimeoutMs = 29000;
  for (const api of config.apis) {
    for (const r of api.routes) if (r.integration.type === 'function') minTimeoutMs = Math.min(minTimeoutMs, r.integration.timeoutMs);
    for (const a of Object.values(api.authorizers)) if (a.type !== 'jwt') minTimeoutMs = Math.min(minTimeoutMs, a.timeoutMs);
  }
  const pool = new FunctionPool(config.functions, handlerRefs, minTimeoutMs);
  let usesFunctions = false;
  const wsRuntime = opts.websocket ?? new WsRuntime({ node: 0, worker: 0 });
  const websockets: { prefix: string; settings: WebSocketSettings; where: string }[] = [];
  /** Every thread imports every handler (function integrations and Lambda authorizers) before the worker takes traffic. */
  const useHandler = (module: string, exportName: string): void => {
    if (!handlerRefs.some((h) => h.module === module && h.exportName === exportName)) handlerRefs.push({ module, exportName });
    usesFunctions = true;
  };
  /** Functions, or bodies large enough to validate on a thread. */
  let usesPool = false;
  const configHash = createHash('sha256').update(JSON.stringify(config)).digest('hex').slice(0, 12);
  const ownShared = opts.shared === undefined;
  const shared = opts.shared ?? createSharedState(config, { connect: false });
  // With Redis, throttling and cache lookups may wait for I/O: such routes leave uWS's synchronous path.
  const sharedIsSync = shared.store.kind === 'memory';
  const limitsRt: LimitsRuntime = { limiter: shared.limiter, keys: shared.keys, plans: shared.plans, refused: opts.onRefused ?? (() => {}) };
  const cacheRt: CacheRuntime = {
    l1: shared.l1, store: shared.store.kind === 'redis' ? shared.store : null,
    maxEntryBytes: config.cache.maxEntryBytes, counted: opts.onCache ?? (() => {}), evict: opts.onCacheEvict ?? (() => {}),
  };
  const jwtAuthorizers: JwtAuthorizer[] = [];
  const iamCredentials = new Map<string, IamCredential>(config.iam.credentials.map((c) => [c.accessKeyId, {
    accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey, ...(c.sessionToken !== undefined ? { sessionToken: c.sessionToken } : {}),
    allow: c.routes.map(compileRoutePattern),
  }]));
  const gw = config.throttling.gateway;
  const gatewayBucket: Limit | null = gw === false ? null : { kind: BUCKET, key: 'gw', rate: gw.rateLimit, burst: gw.burstLimit };

  config.apis.forEach((api, ai) => {
    const groupByName = new Map<string, UpstreamGroup>();
    const groupFor = (name: string, u: Upstream): UpstreamGroup => {
      const g = new UpstreamGroup(groupOptions(name, u));
      groups.push(g);
      return g;
    };
    for (const [name, u] of Object.entries(api.upstreams ?? {})) groupByName.set(name, groupFor(`${api.name}/${name}`, u));
    let models: ModelSet | null = null;
    try {
      models = compileModels(api.models, { draft: api.modelSchemaDraft });
    } catch (e) {
      issues.push({ path: `apis[${ai}].models`, message: (e as Error).message });
    }

    const defs: { method: string; path: string; data: CompiledRoute }[] = [];
    let defaultRoute: CompiledRoute | null = null;
    const cors = api.cors === undefined ? null : compileCors(api.cors);
    const authorizers = new Map<string, JwtAuthorizer>();
    const lambdaAuthorizers = new Map<string, { authorizer: LambdaAuthorizer; sources: readonly string[] }>();
    for (const [name, a] of Object.entries(api.authorizers)) {
      if (a.type !== 'jwt') {
        const at = `apis[${ai}].authorizers.${name}`;
        const sources = a.type === 'token' ? [a.identitySource] : a.identitySource;
        const ttl = a.resultTtlSeconds ?? (sources.length > 0 ? 300 : 0);
        if (ttl > 0 && sources.length === 0) issues.push({ path: `${at}.resultTtlSeconds`, message: 'caching needs at least one identity source (AWS): set identitySource or resultTtlSeconds: 0' });
        if (a.type === 'request' && a.enableSimpleResponses && a.payloadFormatVersion !== '2.0') issues.push({ path: `${at}.enableSimpleResponses`, message: 'simple responses need payloadFormatVersion 2.0' });
        let validation: RegExp | null = null;
        if (a.type === 'token' && a.identityValidationExpression !== undefined) {
          try {
            validation = new RegExp(`^(?:${a.identityValidationExpression})$`);
          } catch (e) {
            issues.push({ path: `${at}.identityValidationExpression`, message: (e as Error).message });
          }
        }
        const hash = a.handler.lastIndexOf('#');
        const module = a.handler.slice(0, hash);
        const exportName = a.handler.slice(hash + 1);
        useHandler(module, exportName);
        const authorizer = new LambdaAuthorizer({
          name, type: a.type === 'token' ? 'TOKEN' : 'REQUEST', format: a.type === 'token' ? '1.0' : a.payloadFormatVersion,
          simpleResponses: a.type === 'request' && a.enableSimpleResponses, validation, ttlMs: ttl * 1000, maxEntries: LAMBDA_AUTHORIZER_CACHE_ENTRIES,
          target: { pool, module, exportName, format: a.type === 'token' ? '1.0' : a.payloadFormatVersion, timeoutMs: a.timeoutMs, functionName: a.functionName ?? basename(module).replace(/\.[cm]?js$/, ''), memoryMB: 128 },
          forwardContext: Object.entries(a.forwardContext).map(([h, k]) => [h.toLowerCase(), k] as const),
          region: config.iam.region ?? 'us-east-1', accountId: ACCOUNT_ID,
          onFailure: (kind) => onFunctionFailure(0, `authorizer_${kind}`),
        });
        lambdaAuthorizers.set(name, { authorizer, sources });
        // Identity sources are checked once here; routes compile their own (they read the route key and stage).
        try {
          for (const src of sources) compileIdentitySource(src, { routeKey: '', stage: api.stage, apiId: api.name, stageVariables: api.stageVariables });
        } catch (e) {
          issues.push({ path: `${at}.identitySource`, message: (e as Error).message });
        }
        continue;
      }
      try {
        const j = new JwtAuthorizer({ issuer: a.issuer, audience: a.audience, ...(a.jwksUri ? { jwksUri: a.jwksUri } : {}), ...(a.algorithms ? { algorithms: a.algorithms } : {}) });
        authorizers.set(name, j);
        jwtAuthorizers.push(j);
      } catch (e) {
        issues.push({ path: `apis[${ai}].authorizers.${name}`, message: (e as Error).message });
      }
    }
    let preflight: CompiledRoute | null = null;
    if (cors !== null) {
      preflight = { id: routes.length, routeKey: 'OPTIONS (CORS preflight)', api: api.name, stage: api.stage, handle: (ctx) => answerPreflight(ctx, cors), sync: true };
      routes.push(preflight);
    }
    /** An http/http_proxy integration's upstream: by name, or a uri (a one-target upstream with the schema's defaults). */
    const upstreamOf = (integ: HttpProxyIntegration | HttpIntegration, routeKey: string, where: string): { group: UpstreamGroup; pathTemplate: ReturnType<typeof compileTemplate> | null } | null => {
      if (integ.uri !== undefined) {
        const u = new URL(integ.uri);
        const spec = Value.Default(UpstreamSchema, { targets: [`${u.protocol}//${u.host}`] }) as Upstream;
        if (integ.connectTimeoutMs !== undefined) spec.connectTimeoutMs = integ.connectTimeoutMs;
        return { group: groupFor(`${api.name}/${routeKey}`, spec), pathTemplate: compileTemplate(urlPath(integ.uri) || '/') };
      }
      const g = groupByName.get(integ.upstream!);
      if (g === undefined) {
        issues.push({ path: `${where}.integration.upstream`, message: `unknown upstream "${integ.upstream}"` });
        return null;
      }
      return { group: g, pathTemplate: integ.path !== undefined ? compileTemplate(integ.path) : null };
    };

    /**
     * Access control and limits around a route's handler, outermost first: CORS, IP policy,
     * authorization (Lambda or JWT authorizer, or IAM), then API key and throttling, as AWS orders
     * them. False when the route's settings are wrong (the issue is recorded).
     */
    const guard = (route: CompiledRoute, r: Route, where: string, method: string): boolean => {
      const stageId = `${api.name}/${api.stage}`;
      const fixed: Limit[] = [];
      const throttle = r.throttle ?? api.throttle;
      if (throttle !== undefined) fixed.push({ kind: BUCKET, key: `r:${stageId}:${r.route}`, rate: throttle.rateLimit, burst: throttle.burstLimit });
      if (gatewayBucket !== null) fixed.push(gatewayBucket);
      const apiKeyRequired = r.apiKeyRequired ?? api.apiKeyRequired;
      if (fixed.length > 0 || apiKeyRequired || api.clientIpThrottle !== undefined) {
        if (apiKeyRequired && api.apiKeySource === 'AUTHORIZER' && !(r.authorizer !== undefined && lambdaAuthorizers.has(r.authorizer))) {
          issues.push({ path: `${where}.apiKeyRequired`, message: 'apiKeySource AUTHORIZER: the key comes from a Lambda authorizer (usageIdentifierKey), and this route has none' });
          return false;
        }
        route.handle = withLimits(route.handle, { stageId, routeKey: r.route, apiKeyRequired, apiKeySource: api.apiKeySource, fixed, clientIp: api.clientIpThrottle ?? null }, limitsRt);
        route.sync = route.sync && sharedIsSync;
      }
      // Authorization before usage plans and throttling, as AWS orders them.
      const lambda = r.authorizer !== undefined ? lambdaAuthorizers.get(r.authorizer) : undefined;
      if (lambda !== undefined) {
        if (r.authorizationScopes !== undefined) {
          issues.push({ path: `${where}.authorizationScopes`, message: 'authorization scopes need a JWT authorizer' });
          return false;
        }
        const ar: AuthorizedRoute = { routeKey: r.route, stage: api.stage, apiId: api.name, stageVariables: api.stageVariables };
        try {
          route.handle = withLambdaAuthorizer(route.handle, { authorizer: lambda.authorizer, route: ar, identity: lambda.sources.map((x) => compileIdentitySource(x, ar)) });
        } catch {
          return false; // reported once at the authorizer
        }
        route.sync = false; // an answer not cached waits for the function
      } else if (r.authorizer !== undefined) {
        const a = api.authorizers[r.authorizer];
        const j = authorizers.get(r.authorizer);
        if (a === undefined || j === undefined || a.type !== 'jwt') {
          if (a === undefined) issues.push({ path: `${where}.authorizer`, message: `unknown authorizer "${r.authorizer}"` });
          return false;
        }
        route.handle = withJwt(route.handle, {
          authorizer: j, header: a.identitySource.slice('$request.header.'.length).toLowerCase(), scopes: r.authorizationScopes ?? [],
          forwardClaims: Object.entries(a.forwardClaims).map(([h, c]) => [h.toLowerCase(), c] as const),
        });
        route.sync = false; // a token not verified before waits for the keys
      } else if (r.authorizationScopes !== undefined) {
        issues.push({ path: `${where}.authorizationScopes`, message: 'needs an authorizer' });
        return false;
      }
      if (r.authorizationType === 'AWS_IAM') {
        if (r.authorizer !== undefined) {
          issues.push({ path: `${where}.authorizationType`, message: 'a route has one authorization: AWS_IAM or an authorizer, not both' });
          return false;
        }
        route.handle = withIam(route.handle, {
          credentials: iamCredentials, region: config.iam.region ?? null, maxBodyBytes: config.limits.maxBodyBytes,
          // Patterns see the method as sent, so "GET" patterns match an ANY route's GET requests.
          resourceOf: (ctx) => `${api.name}/${api.stage}/${ctx.method} ${ctx.path}`,
        });
        route.sync = false; // the body may have to be read to check the signature
      }
      // IP policies before authorization, keys and throttling (AWS evaluates the resource policy first).
      const policies = [api.ipPolicy, r.ipPolicy].filter((p) => p !== undefined).map(compileIpPolicy);
      if (policies.length > 0) {
        const resource = `${api.name}/${api.stage}/${method === 'ANY' ? '*' : method}`;
        route.handle = withIpPolicy(route.handle, policies, (ctx) => `${resource}${ctx.path}`);
      }
      // Outermost: every answer of a CORS request carries the headers, refusals included.
      if (cors !== null) route.handle = withCors(route.handle, cors);
      return true;
    };

    /**
     * A WebSocket API: its routes become WsRoute callers chosen per message; $connect (with the
     * API's access control, as AWS authorizes only there) ends in the upgrade; the @connections
     * management API goes into this stage's router, behind IAM.
     */
    const webSocket = (): StageEntry['ws'] => {
      const at = `apis[${ai}]`;
      let select: RouteSelector = () => null;
      try {
        select = compileRouteSelection(api.routeSelectionExpression);
      } catch (e) {
        issues.push({ path: `${at}.routeSelectionExpression`, message: (e as Error).message });
      }
      for (const key of ['cors', 'cache', 'models'] as const) {
        if (key === 'cache' ? api.cache.enabled : key === 'models' ? Object.keys(api.models).length > 0 : api.cors !== undefined) {
          issues.push({ path: `${at}.${key}`, message: 'not for WebSocket APIs' });
        }
      }
      const wsRoutes = new Map<string, WsRoute>();
      let connectCfg: Route | undefined;
      api.routes.forEach((r, ri) => {
        const where = `${at}.routes[${ri}]`;
        if (r.route === '$connect') {
          connectCfg = r;
        } else {
          for (const k of ['authorizer', 'authorizationType', 'apiKeyRequired', 'throttle', 'ipPolicy'] as const) {
            if (r[k] !== undefined) issues.push({ path: `${where}.${k}`, message: 'WebSocket APIs apply this at $connect only (AWS)' });
          }
        }
        if (r.route === '$disconnect' && r.routeResponse === true) issues.push({ path: `${where}.routeResponse`, message: '$disconnect cannot answer: the client is gone' });
        for (const k of ['cache', 'requestValidation'] as const) if (r[k] !== undefined) issues.push({ path: `${where}.${k}`, message: 'not for WebSocket routes' });
        const integ = r.integration;
        let call: WsRoute['call'] | null = null;
        if (integ.type === 'function') {
          const hash = integ.handler.lastIndexOf('#');
          const module = integ.handler.slice(0, hash);
          const exportName = integ.handler.slice(hash + 1);
          useHandler(module, exportName);
          call = functionCaller({ pool, module, exportName, timeoutMs: integ.timeoutMs, functionName: integ.functionName ?? basename(module).replace(/\.[cm]?js$/, ''), memoryMB: integ.memoryMB });
        } else if (integ.type === 'mock') {
          if (integ.requestTemplates !== undefined || integ.responses !== undefined) issues.push({ path: `${where}.integration`, message: 'mapping templates are not supported on WebSocket routes' });
          const result: WsResult = { ok: true, status: integ.status, body: integ.body === '' ? null : integ.body };
          call = () => Promise.resolve(result);
        } else if (integ.type === 'http_proxy') {
          const target = upstreamOf(integ, r.route, where);
          if (target !== null) {
            const upstreamId = groups.indexOf(target.group);
            call = httpCaller({
              group: target.group, path: integ.uri !== undefined ? urlPath(integ.uri) || '/' : integ.path ?? '/',
              timeoutMs: integ.timeoutMs, connectTimeoutMs: integ.connectTimeoutMs ?? target.group.connectTimeoutMs,
              staticHeaders: Object.entries(integ.requestHeaders ?? {}).map(([k, v]) => `${k.toLowerCase()}: ${v}\r\n`).join(''),
              maxResponseBytes: api.websocket.maxMessageBytes, onUpstreamError: (kind) => onUpstreamError(upstreamId, kind),
            });
          }
        } else {
          issues.push({ path: `${where}.integration.type`, message: 'WebSocket routes take function, http_proxy or mock integrations' });
        }
        if (call !== null) wsRoutes.set(r.route, { key: r.route, routeResponse: r.routeResponse === true, call });
      });
      const wsApi: WsApi = {
        name: api.name, stage: api.stage, id: `${api.name}/${api.stage}`, prefix: api.stage === '$default' ? '' : `/${api.stage}`, select,
        routes: new Map([...wsRoutes].filter(([k]) => k !== '$connect' && k !== '$disconnect' && k !== '$default')),
        connect: wsRoutes.get('$connect') ?? null, disconnect: wsRoutes.get('$disconnect') ?? null, defaultRoute: wsRoutes.get('$default') ?? null,
        settings: api.websocket,
      };
      wsRuntime.batchBytes.set(wsApi.id, api.websocket.broadcastBatchBytes);
      const connect: CompiledRoute = { id: routes.length, routeKey: '$connect', api: api.name, stage: api.stage, handle: (ctx) => wsRuntime.accept(ctx, ctx.upgrade!), sync: false };
      // No $connect route: connections are accepted with the API's settings only (as AWS does).
      if (!guard(connect, connectCfg ?? ({ route: '$connect', integration: { type: 'mock', status: 200, headers: {}, body: '' } } as Route), `${at}.routes`, 'GET')) return null;
      routes.push(connect);
      const h = connectionHandlers(wsRuntime, wsApi, api.websocket.maxMessageBytes);
      const management = [
        ['POST', '/@connections/{connectionId}', h.post], ['GET', '/@connections/{connectionId}', h.get], ['DELETE', '/@connections/{connectionId}', h.del],
        ['PUT', '/@connections/{connectionId}/topics/{topic}', h.subscribe], ['DELETE', '/@connections/{connectionId}/topics/{topic}', h.unsubscribe],
        ['POST', '/@broadcast/{topic}', h.broadcast],
      ] as const;
      for (const [method, path, handle] of management) {
        const route: CompiledRoute = {
          id: routes.length, routeKey: `${method} ${path}`, api: api.name, stage: api.stage, sync: false,
          // AWS: the management API always needs IAM (SigV4, service execute-api); resource "{api}/{stage}/{METHOD} /@connections/{id}".
          handle: withIam(handle, {
            credentials: iamCredentials, region: config.iam.region ?? null, maxBodyBytes: config.limits.maxBodyBytes,
            resourceOf: (ctx) => `${api.name}/${api.stage}/${ctx.method} ${ctx.path}`,
          }),
        };
        routes.push(route);
        defs.push({ method, path, data: route });
      }
      websockets.push({ prefix: wsApi.prefix, settings: api.websocket, where: at });
      return { api: wsApi, connect };
    };

    let wsEntry: StageEntry['ws'] = null;
    if (api.protocol === 'websocket') wsEntry = webSocket();
    else api.routes.forEach((r, ri) => {
      const where = `apis[${ai}].routes[${ri}]`;
      const route: CompiledRoute = {
        id: routes.length, routeKey: r.route, api: api.name, stage: api.stage, handle: () => {}, sync: false,
      };
      const integ = r.integration;
      const mc: MappingContext = {
        routeKey: r.route, resourcePath: r.route === '$default' ? '$default' : r.route.slice(r.route.indexOf(' ') + 1).trim(),
        stage: api.stage, apiId: api.name, stageVariables: api.stageVariables,
      };
      const mapping = (m: Parameters<typeof compileMapping>[0]): CompiledMapping | null => {
        try {
          return compileMapping(m, `${where}.integration`);
        } catch (e) {
          issues.push({ path: `${where}.integration`, message: (e as Error).message });
          return null;
        }
      };
      if (integ.type === 'mock') {
        if (integ.requestTemplates === undefined && integ.responses === undefined) {
          route.handle = compileMock(integ);
          route.sync = true;
        } else {
          const m = mapping(integ);
          if (m === null) return;
          route.handle = compileMappedMock(integ, m, mc, config.limits.maxBodyBytes);
        }
      } else if (integ.type === 'function') {
        // The loader made the handler absolute: '/abs/module.mjs#export'.
        const hash = integ.handler.lastIndexOf('#');
        const module = integ.handler.slice(0, hash);
        const exportName = integ.handler.slice(hash + 1);
        useHandler(module, exportName);
        const routeId = route.id;
        route.handle = compileFunction({
          pool, module, exportName, format: integ.payloadFormatVersion, timeoutMs: integ.timeoutMs,
          functionName: integ.functionName ?? basename(module).replace(/\.[cm]?js$/, ''), memoryMB: integ.memoryMB,
          routeKey: r.route, stage: api.stage, apiId: api.name,
          stageVariables: Object.keys(api.stageVariables).length > 0 ? api.stageVariables : null,
          maxBodyBytes: config.limits.maxBodyBytes, onFailure: (kind) => onFunctionFailure(routeId, kind),
        });
      } else {
        const target = upstreamOf(integ, r.route, where);
        if (target === null) return;
        const { group, pathTemplate } = target;
        const upstreamId = groups.indexOf(group);
        const common = {
          group,
          pathTemplate,
          timeoutMs: integ.timeoutMs,
          connectTimeoutMs: integ.connectTimeoutMs ?? group.connectTimeoutMs,
          staticHeaders: Object.entries(integ.requestHeaders ?? {}).map(([k, v]) => `${k.toLowerCase()}: ${v}\r\n`).join(''),
          maxBodyBytes: config.limits.maxBodyBytes,
          onUpstreamError: (kind: string) => onUpstreamError(upstreamId, kind),
        };
        if (integ.type === 'http') {
          const m = mapping(integ);
          if (m === null) return;
          route.handle = compileMappedHttp(integ, m, mc, { ...common, method: integ.httpMethod });
        } else {
          route.handle = compileHttpProxy({ ...common, preserveHost: integ.preserveHost ?? false });
        }
      }
      const rv = r.requestValidation;
      if (rv !== undefined && models !== null) {
        const spec = {
          bodyModels: rv.bodyModels, required: rv.required, details: rv.details,
          validator: { validateRequestBody: rv.validateBody, validateRequestParameters: rv.validateParameters },
        };
        try {
          const validator = compileRouteValidator(spec, models);
          if (validator.needsBody) usesPool = true;
          route.handle = withValidation(route.handle, {
            validator, validateParameters: rv.validateParameters, maxBodyBytes: config.limits.maxBodyBytes, pool,
            task: { key: `${configHash}:${route.id}`, spec, models: api.models, draft: api.modelSchemaDraft },
          });
          route.sync = false;
        } catch (e) {
          issues.push({ path: `${where}.requestValidation`, message: (e as Error).message });
          return;
        }
      }
      const stageId = `${api.name}/${api.stage}`;
      const method = r.route === '$default' ? 'ANY' : r.route.slice(0, r.route.indexOf(' ')).toUpperCase();
      // Cache (inside throttling: AWS counts cache hits against throttles). GET only unless the route says so.
      const ttlSeconds = r.cache?.ttlSeconds ?? api.cache.ttlSeconds;
      const cacheOn = (r.cache?.enabled ?? (api.cache.enabled && (method === 'GET' || method === 'ANY'))) && ttlSeconds > 0;
      if (cacheOn) {
        route.handle = withCache(route.handle, {
          routeKey: r.route, prefix: `c:${stageId}:`, ttlMs: ttlSeconds * 1000,
          methods: new Set(method === 'ANY' ? ['GET'] : [method]),
          key: compileCacheKey(r.cache?.keyParameters ?? { querystring: [], header: [], path: [] }),
          requireAuthorization: api.cache.requireAuthorizationForCacheControl,
          unauthorizedStrategy: api.cache.unauthorizedCacheControlHeaderStrategy,
          lockMs: 'timeoutMs' in integ ? integ.timeoutMs : 1000,
          innerAsync: !route.sync,
        }, cacheRt);
        // Memory store: hits answer inside the uWS handler; the cache phase arms the abort handler on a miss.
        route.sync = sharedIsSync;
      }
      if (!guard(route, r, where, method)) return;
      routes.push(route);
      if (r.route === '$default') {
        defaultRoute = route;
      } else {
        const sp = r.route.indexOf(' ');
        defs.push({ method: r.route.slice(0, sp).toUpperCase(), path: r.route.slice(sp + 1).trim(), data: route });
      }
    });

    let router: Router<CompiledRoute>;
    try {
      router = new Router(defs);
    } catch (e) {
      if (e instanceof RouteConflictError) {
        for (const c of e.conflicts) issues.push({ path: `apis[${ai}].routes`, message: `"${c.a}" conflicts with "${c.b}": ${c.reason}` });
      } else {
        issues.push({ path: `apis[${ai}].routes`, message: (e as Error).message });
      }
      return;
    }
    const entry: StageEntry = { prefix: api.stage === '$default' ? '' : `/${api.stage}`, router, defaultRoute, preflight, ws: wsEntry };
    const add = (list: StageEntry[]) => {
      list.push(entry);
      list.sort((a, b) => b.prefix.length - a.prefix.length);
    };
    if (api.hosts === undefined || api.hosts.length === 0) {
      add(anyHost);
    } else {
      for (const h of api.hosts) {
        const host = h.toLowerCase();
        if (host.startsWith('*.')) {
          let w = wildcards.find((x) => x.suffix === host.slice(1));
          if (w === undefined) wildcards.push(w = { suffix: host.slice(1), entries: [] });
          add(w.entries);
        } else {
          let list = hosts.get(host);
          if (list === undefined) hosts.set(host, list = []);
          add(list);
        }
      }
    }
  });
  // Longest wildcard suffix first, so *.a.example.com beats *.example.com.
  wildcards.sort((a, b) => b.suffix.length - a.suffix.length);

  // One uWS behaviour per path: WebSocket APIs on the same stage path (other hosts) must agree on limits.
  for (const w of websockets) {
    const first = websockets.find((x) => x.prefix === w.prefix)!;
    if (first !== w && JSON.stringify(first.settings) !== JSON.stringify(w.settings)) {
      issues.push({ path: `${w.where}.websocket`, message: `WebSocket APIs served at the same path (${first.where}) need the same websocket settings` });
    }
  }
  if (issues.length > 0) {
    for (const g of groups) g.close();
    if (ownShared) void shared.close();
    for (const j of jwtAuthorizers) j.close();
    throw new PlanError(issues);
  }
  const functions = usesFunctions || usesPool ? pool : null;
  return {
    version: configHash,
    routes, hosts, wildcards, anyHost, upstreams: groups,
    upstreamNames: groups.map((g) => g.name),
    trustedProxies: config.trustedProxies.length > 0 ? blockListOf(config.trustedProxies) : null,
    websockets: websockets.filter((w, i) => websockets.findIndex((x) => x.prefix === w.prefix) === i).map(({ prefix, settings }) => ({ prefix, settings })),
    functions,
    start: () => { for (const g of groups) g.startHealthChecks(); },
    startFunctions: async () => {
      if (functions === null) return;
      const failed = await functions.start();
      if (failed.length > 0) throw new Error(`function handlers failed to load: ${failed.map((f) => `${f.module}#${f.exportName}: ${f.error}`).join('; ')}`);
    },
    close: async () => {
      for (const g of groups) g.close();
      await functions?.close();
      if (ownShared) await shared.close();
      for (const j of jwtAuthorizers) j.close();
    },
  };
}

function groupOptions(name: string, u: Upstream): GroupOptions {
  const hc = u.healthCheck;
  return {
    name,
    targets: normalizeTargets(u.targets),
    balance: u.balance,
    maxSockets: u.keepAlive.maxSockets,
    idleTimeoutMs: u.keepAlive.idleTimeoutMs,
    pipelining: u.keepAlive.pipelining,
    connectTimeoutMs: u.connectTimeoutMs,
    retries: u.retries,
    healthCheck: hc === undefined ? undefined : { ...hc, expectStatus: [hc.expectStatus[0]!, hc.expectStatus[1]!] },
    circuitBreaker: u.circuitBreaker,
  };
}

/** The APIs serving a Host header value (port stripped, case folded), or null. */
export function entriesForHost(plan: Plan, hostHeader: string): StageEntry[] | null {
  if (plan.hosts.size === 0 && plan.wildcards.length === 0) return plan.anyHost.length > 0 ? plan.anyHost : null;
  const host = hostWithoutPort(hostHeader).toLowerCase();
  const exact = plan.hosts.get(host);
  if (exact !== undefined) return exact;
  for (const w of plan.wildcards) if (host.endsWith(w.suffix) && host.length > w.suffix.length) return w.entries;
  return plan.anyHost.length > 0 ? plan.anyHost : null;
}
