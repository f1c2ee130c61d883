import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import uws from '../../native/uws.js';
import type { HttpRequest, HttpResponse, TemplatedApp, us_listen_socket } from '../../native/uws.js';
import { Errors, type GatewayError } from '../errors.js';
import { entriesForHost } from '../compile/plan.js';
import type { CompiledRoute, Plan, StageEntry } from '../compile/plan.js';
import type { WsRuntime } from '../websocket/runtime.js';
import { checkPath } from '../router/index.js';
import { clientIpOf } from '../policy/ip.js';
import { RequestContext } from './context.js';
import { hooks, sendErrorSync, watchAbort } from './respond.js';
import { createTlsApp, redirectHandler } from './tls.js';
import type { Tls } from '../config/schema.js';

/**
 * The worker's uWS app: one `any('/*')` handler that copies what it needs from `req` synchronously,
 * applies the request limits, resolves host -> stage -> route, and hands over to the route's
 * compiled handler.
 *
 * Protocol-level limits uWS enforces itself (this build, measured): request headers must arrive
 * within 10 s (slowloris); a request body must keep up at least ~16 KB per 10 s (slow POST); a header
 * block beyond uWS's buffer (between 60 KB and 200 KB) resets the connection; requests without Host,
 * with both Content-Length and Transfer-Encoding, or in absolute-form are closed without a response.
 * Everything finer is checked here with AWS-style errors.
 */

export interface AppLimits {
  maxBodyBytes: number;
  maxHeaderBytes: number;
  maxUrlBytes: number;
}

export interface AppOptions {
  limits: AppLimits;
  requestIdHeader: string;
  trustIncomingRequestId: boolean;
  /** Called when a request is accepted (in-flight gauge). */
  started: () => void;
  /** Called for every finished request (metrics, access log). */
  completed: (ctx: RequestContext) => void;
  /** listen.tls: serve HTTPS (SSLApp, SNI certificates) instead of plain HTTP. */
  tls?: Tls;
  /** The worker's WebSocket connections (WebSocket APIs of the plan). */
  websocket?: WsRuntime;
}

const SAFE_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * Request ids shaped like AWS's (UUID text): 80 random bits per worker start, then a 48-bit
 * counter. Unique across workers and restarts with overwhelming probability, and ~10x cheaper than
 * randomUUID() (which took ~6% of a worker's busy time on the mock route, bench/mock.ts profile).
 * Ids are not secrets: nothing may rely on them being unguessable.
 */
const ID_PREFIX = (() => {
  const h = randomUUID().replace(/-/g, '');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${(8 + (parseInt(h[16]!, 16) & 3)).toString(16)}${h.slice(17, 20)}-`;
})();
let idCounter = 0;
function nextRequestId(): string {
  const n = (++idCounter).toString(16);
  return ID_PREFIX + '000000000000'.slice(n.length) + n;
}

export class GatewayApp {
  readonly app: TemplatedApp;
  plan: Plan;
  private readonly opts: AppOptions;
  private listenSocket: us_listen_socket | null = null;
  private redirectSocket: us_listen_socket | null = null;
  /** The port listen() got: what the redirect listener puts in Location unless httpsPort says otherwise. */
  private port = 0;
  /** Requests accepted and not finished: drain waits for this to reach 0. */
  inflight = 0;
  private lastActivity = Date.now();

  constructor(plan: Plan, opts: AppOptions) {
    this.plan = plan;
    this.opts = opts;
    hooks.requestIdHeader = opts.requestIdHeader;
    hooks.completed = (ctx) => {
      this.inflight--;
      this.lastActivity = Date.now(); // drain bookkeeping only
      opts.completed(ctx);
    };
    const handler = (res: HttpResponse, req: HttpRequest) => this.handle(res, req);
    const upgrade = (res: HttpResponse, req: HttpRequest, context: unknown) => this.upgrade(res, req, context);
    const register = (a: TemplatedApp): void => {
      a.any('/*', handler);
      // WebSocket APIs: one behaviour per stage path (its limits); a handshake elsewhere stays HTTP.
      const ws = opts.websocket;
      if (ws === undefined) return;
      for (const w of plan.websockets) {
        const behavior = ws.behavior(w.settings, upgrade);
        a.ws(w.prefix === '' ? '/' : w.prefix, behavior);
        if (w.prefix !== '') a.ws(`${w.prefix}/`, behavior);
      }
    };
    if (opts.tls === undefined) {
      this.app = uws.App();
      register(this.app);
    } else {
      this.app = createTlsApp(opts.tls, register);
    }
    // Broadcasts fan out inside this worker through uWS's own topic tree.
    if (opts.websocket !== undefined) opts.websocket.publishFrame = (key, frame) => { this.app.publish(key, frame, false); };
  }

  listen(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      this.app.listen(host, port, (sock) => {
        if (sock === false) {
          reject(new Error(`cannot listen on ${host}:${port}`));
          return;
        }
        this.listenSocket = sock;
        this.port = uws.us_socket_local_port(sock as never);
        resolve(this.port);
      });
    });
  }

  /**
   * listen.tls.redirectHttp: a plain-HTTP listener on `port` answering every request with a redirect
   * to https:// on this host (call after listen()). Resolves the port it got.
   */
  listenRedirect(host: string, port: number, status: number, httpsPort: number | undefined): Promise<number> {
    const app = uws.App().any('/*', redirectHandler(status, () => httpsPort ?? this.port));
    return new Promise((resolve, reject) => {
      app.listen(host, port, (sock) => {
        if (sock === false) return reject(new Error(`cannot listen on ${host}:${port} (listen.tls.redirectHttp)`));
        this.redirectSocket = sock;
        resolve(uws.us_socket_local_port(sock as never));
      });
    });
  }

  /** Stops accepting connections; kept-alive ones get `Connection: close` on their next response. */
  stopListening(): void {
    hooks.draining = true;
    if (this.listenSocket !== null) {
      uws.us_listen_socket_close(this.listenSocket);
      this.listenSocket = null;
    }
    if (this.redirectSocket !== null) {
      uws.us_listen_socket_close(this.redirectSocket);
      this.redirectSocket = null;
    }
  }

  /**
   * Resolves when no request has been in flight for `quietMs` (kept-alive clients have had the
   * chance to send their last request and be told to close), or after `timeoutMs` regardless.
   */
  drain(timeoutMs: number, quietMs = 300): Promise<boolean> {
    this.stopListening();
    const deadline = Date.now() + timeoutMs;
    return new Promise((resolve) => {
      const tick = setInterval(() => {
        const now = Date.now();
        if (this.inflight === 0 && now - this.lastActivity >= quietMs) {
          clearInterval(tick);
          resolve(true);
        } else if (now >= deadline) {
          clearInterval(tick);
          resolve(false);
        }
      }, 25);
    });
  }

  private handle(res: HttpResponse, req: HttpRequest): void {
    const ctx = this.accept(res, req);
    if (ctx !== null) this.dispatch(ctx);
  }

  /**
   * A WebSocket handshake at a WebSocket API's stage path: the $connect pipeline (access control,
   * then the $connect integration) decides, and upgrades. A handshake anywhere else is an HTTP
   * request like any other.
   */
  private upgrade(res: HttpResponse, req: HttpRequest, context: unknown): void {
    const ctx = this.accept(res, req);
    if (ctx === null) return;
    const entries = entriesForHost(this.plan, ctx.host);
    let ws: StageEntry['ws'] = null;
    if (entries !== null) {
      const url = ctx.url;
      for (const e of entries) {
        if (e.ws !== null && (url === e.prefix || url === `${e.prefix}/` || (e.prefix === '' && url === '/'))) {
          ws = e.ws;
          break;
        }
      }
    }
    if (ws === null) return this.dispatch(ctx);
    ctx.upgrade = {
      api: ws.api, key: ctx.header('sec-websocket-key') ?? '', protocol: ctx.header('sec-websocket-protocol') ?? '',
      extensions: ctx.header('sec-websocket-extensions') ?? '', context,
    };
    ctx.route = ws.connect;
    ctx.path = '/';
    watchAbort(ctx);
    try {
      ws.connect.handle(ctx);
    } catch (e) {
      ctx.errorMessage = (e as Error).message;
      if (!ctx.headSent && !ctx.done) sendErrorSync(ctx, Errors.INTERNAL, true);
    }
  }

  /** Copies what the request needs out of `req` and checks the framing; null when it was answered (refused). */
  private accept(res: HttpResponse, req: HttpRequest): RequestContext | null {
    const opts = this.opts;
    this.inflight++;
    opts.started();
    const url = req.getUrl();
    const q = req.getQuery();
    const ctx = new RequestContext(
      res, req.getCaseSensitiveMethod(), url, q === undefined ? '' : q, req.getHeader('host'),
      remoteIp(res), performance.now(),
    );

    // Copy headers now: `req` is gone once this function returns.
    headerBuf = ctx.headers;
    headerBytes = 0;
    hostCount = 0;
    contentLength = '';
    transferEncoding = '';
    requestIdIn = '';
    req.forEach(collectHeader);
    headerBuf = EMPTY;

    if (ctx.host === '' || hostCount > 1) return refuse(ctx, Errors.BAD_REQUEST);
    if (headerBytes > opts.limits.maxHeaderBytes) return refuse(ctx, Errors.REQUEST_HEADERS_TOO_LARGE);
    if (url.length + ctx.query.length > opts.limits.maxUrlBytes) return refuse(ctx, Errors.URI_TOO_LONG);
    if (!checkPath(url)) return refuse(ctx, Errors.BAD_REQUEST);
    if (contentLength !== '') {
      // uWS already refuses Content-Length together with Transfer-Encoding; this catches junk values.
      if (!/^\d{1,15}$/.test(contentLength)) return refuse(ctx, Errors.BAD_REQUEST);
      ctx.contentLength = Number(contentLength);
      if (ctx.contentLength > opts.limits.maxBodyBytes) return refuse(ctx, Errors.REQUEST_TOO_LARGE);
    } else if (transferEncoding !== '') {
      if (transferEncoding.toLowerCase() !== 'chunked') return refuse(ctx, Errors.NOT_IMPLEMENTED);
      ctx.chunked = true;
    }

    ctx.requestId = opts.trustIncomingRequestId && requestIdIn !== '' && SAFE_ID.test(requestIdIn) ? requestIdIn : nextRequestId();

    if (this.plan.trustedProxies !== null) ctx.clientIp = clientIpOf(ctx.ip, allValues(ctx.headers, 'x-forwarded-for'), this.plan.trustedProxies);
    return ctx;
  }

  private dispatch(ctx: RequestContext): void {
    const route = this.route(ctx);
    if (route === null) return sendErrorSync(ctx, Errors.RESOURCE_NOT_FOUND, ctx.contentLength > 0 || ctx.chunked);
    ctx.route = route;
    // Sync routes (mock, cache hits) answer before returning: no abort handler needed. A phase of
    // such a route that goes on to an asynchronous integration arms it itself (watchAbort).
    if (!route.sync) watchAbort(ctx);
    try {
      route.handle(ctx);
    } catch (e) {
      // A bug must cost one request, never the worker.
      ctx.errorMessage = (e as Error).message;
      if (!ctx.headSent && !ctx.done) sendErrorSync(ctx, Errors.INTERNAL, true);
    }
  }

  private route(ctx: RequestContext): CompiledRoute | null {
    const entries = entriesForHost(this.plan, ctx.host);
    if (entries === null) return null;
    const url = ctx.url;
    const method = ctx.method;
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i]!;
      let path = url;
      if (e.prefix !== '') {
        if (!url.startsWith(e.prefix)) continue;
        const n = e.prefix.length;
        if (url.length === n) path = '/';
        else if (url.charCodeAt(n) === 47 /* / */) path = url.slice(n);
        else continue;
      }
      // CORS preflight: answered by the gateway whatever routes exist (HTTP API behaviour).
      if (e.preflight !== null && method === 'OPTIONS' && ctx.header('origin') !== undefined && ctx.header('access-control-request-method') !== undefined) {
        ctx.path = path;
        return e.preflight;
      }
      const m = e.router.match(method, path);
      if (m !== null) {
        ctx.path = path;
        ctx.params = m.params;
        return m.data;
      }
      if (e.defaultRoute !== null) {
        ctx.path = path;
        return e.defaultRoute;
      }
      // A named stage owns its prefix: no fall-through to the $default stage.
      if (e.prefix !== '') return null;
    }
    return null;
  }
}

/** A request refused before routing: the connection closes (its framing cannot be trusted). */
function refuse(ctx: RequestContext, err: GatewayError): null {
  sendErrorSync(ctx, err, true);
  return null;
}

/** Every value of a repeated header, comma-joined as RFC 9110 allows (X-Forwarded-For may be split). */
function allValues(h: readonly string[], name: string): string | undefined {
  let out: string | undefined;
  for (let i = 0; i < h.length; i += 2) if (h[i] === name) out = out === undefined ? h[i + 1]! : `${out},${h[i + 1]!}`;
  return out;
}

/**
 * Client IP text. uWS's getRemoteAddressAsText formats with sprintf and needs a Buffer to decode:
 * ~1 us per request (bench/proxy.ts, worker user CPU 9.0 -> 8.0 us/req without it). The binary
 * form plus a bounded cache of IPv4 strings costs a fraction of that.
 */
const ipv4Cache = new Map<number, string>();
const IPV4_CACHE_MAX = 4096;
function remoteIp(res: HttpResponse): string {
  const b = new Uint8Array(res.getRemoteAddress());
  let o = -1;
  if (b.length === 4) o = 0;
  else if (b.length === 16 && b[10] === 0xff && b[11] === 0xff && b[0] === 0 && b[1] === 0 && b[2] === 0 && b[3] === 0 &&
    b[4] === 0 && b[5] === 0 && b[6] === 0 && b[7] === 0 && b[8] === 0 && b[9] === 0) o = 12; // IPv4-mapped
  if (o < 0) return b.length === 16 ? formatIpv6(b) : Buffer.from(res.getRemoteAddressAsText()).toString('latin1');
  const key = ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
  let ip = ipv4Cache.get(key);
  if (ip === undefined) {
    ip = `${b[o]}.${b[o + 1]}.${b[o + 2]}.${b[o + 3]}`;
    if (ipv4Cache.size >= IPV4_CACHE_MAX) ipv4Cache.clear();
    ipv4Cache.set(key, ip);
  }
  return ip;
}

/** RFC 5952 text (uWS prints all eight groups zero-padded): lower-case, longest zero run as "::". */
export function formatIpv6(b: Uint8Array): string {
  const g: number[] = [];
  for (let i = 0; i < 16; i += 2) g.push((b[i]! << 8) | b[i + 1]!);
  let bestStart = -1, bestLen = 0;
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) { bestStart = i; bestLen = j - i; }
    i = j;
  }
  const hex = (a: number[]) => a.map((x) => x.toString(16)).join(':');
  if (bestStart < 0) return hex(g);
  return `${hex(g.slice(0, bestStart))}::${hex(g.slice(bestStart + bestLen))}`;
}

// forEach callback state: module-level so no closure is allocated per request.
const EMPTY: string[] = [];
let headerBuf: string[] = EMPTY;
let headerBytes = 0;
let hostCount = 0;
let contentLength = '';
let transferEncoding = '';
let requestIdIn = '';

function collectHeader(name: string, value: string): void {
  headerBuf.push(name, value);
  headerBytes += name.length + value.length + 4;
  switch (name) {
    case 'host': hostCount++; break;
    case 'content-length':
      // Repeated identical values are allowed (RFC 9110 8.6); differing ones are smuggling attempts.
      contentLength = contentLength === '' || contentLength === value ? value : 'x';
      break;
    case 'transfer-encoding': transferEncoding = transferEncoding === '' ? value : `${transferEncoding},${value}`; break;
    default:
      if (name === hooks.requestIdHeader) requestIdIn = value;
  }
}
