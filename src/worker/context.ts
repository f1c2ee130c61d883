import type { HttpResponse } from '../../native/uws.js';
import type { CompiledRoute } from '../compile/plan.js';
import type { ApiKeyRecord } from '../limits/keys.js';
import type { PendingUpgrade } from '../websocket/runtime.js';

/** A Host header value without its port ("[::1]:8080" -> "[::1]", "a.b:80" -> "a.b"), case kept. */
export function hostWithoutPort(host: string): string {
  if (host.charCodeAt(0) === 91 /* [ */) return host.slice(0, host.indexOf(']') + 1);
  const colon = host.lastIndexOf(':');
  return colon >= 0 ? host.slice(0, colon) : host;
}

/**
 * Everything a request needs after the synchronous part of the uWS handler: uWS's `req` dies when the
 * handler returns, so whatever a phase may need later is copied here first. One object per request,
 * fixed shape (all fields set in the constructor) so V8 keeps one hidden class.
 */
export class RequestContext {
  res: HttpResponse;
  /** As the client sent it (case kept), e.g. "GET". */
  method: string;
  /** Raw path as received, stage prefix included, percent-encoding kept. */
  url: string;
  /** Path the route matched (stage prefix removed). */
  path: string;
  /** Raw query string without '?', '' when none. */
  query: string;
  host: string;
  /** Flat [name, value, name, value, ...]; names lower-case as uWS gives them. */
  headers: string[];
  /** The TCP peer's address. */
  ip: string;
  /** The client's address: the peer, or from X-Forwarded-For when the peer is a trusted proxy. */
  clientIp: string;
  requestId: string;
  /** performance.now() when the request arrived (monotonic, sub-ms). */
  startMs: number;
  route: CompiledRoute | null;
  params: Record<string, string> | null;
  /** -1 when the request has no Content-Length. */
  contentLength: number;
  chunked: boolean;
  aborted: boolean;
  /** The response has been completed (or the connection closed by us). */
  done: boolean;
  /** Status line sent, or being sent: no error response can follow. */
  headSent: boolean;
  status: number;
  bytesOut: number;
  integrationStartMs: number;
  integrationEndMs: number;
  errorMessage: string;
  /** Told once when the client aborts; set by whichever phase owns async work (an object, not a closure). */
  abortable: { abort(): void } | null;
  /** The whole request body once a phase has read it (validation, templates): integrations reuse it. null: not read; empty array: read, empty. */
  body: Uint8Array | null;
  /** Authorizer output for function events (requestContext.authorizer), e.g. { jwt: { claims, scopes } }. */
  authorizer: Record<string, unknown> | null;
  /** The API key the request presented, once the limits phase has accepted it. */
  apiKey: ApiKeyRecord | null;
  /** A Lambda authorizer's usageIdentifierKey (the API key when apiKeySource is AUTHORIZER). */
  usageIdentifierKey: string | null;
  /** Told once when the request is over, however it ended (the cache's recorder). */
  onFinish: ((ctx: RequestContext) => void) | null;
  /** An abort handler is registered (watchAbort). */
  watching: boolean;
  /** CORS: headers every response of this request carries; non-null also means integration CORS headers are dropped. */
  extraHeaders: readonly string[] | null;
  /** A WebSocket handshake waiting for $connect: what res.upgrade needs. */
  upgrade: PendingUpgrade | null;

  constructor(res: HttpResponse, method: string, url: string, query: string, host: string, ip: string, startMs: number) {
    this.res = res;
    this.method = method;
    this.url = url;
    this.path = url;
    this.query = query;
    this.host = host;
    this.headers = [];
    this.ip = ip;
    this.clientIp = ip;
    this.requestId = '';
    this.startMs = startMs;
    this.route = null;
    this.params = null;
    this.contentLength = -1;
    this.chunked = false;
    this.aborted = false;
    this.done = false;
    this.headSent = false;
    this.status = 0;
    this.bytesOut = 0;
    this.integrationStartMs = 0;
    this.integrationEndMs = 0;
    this.errorMessage = '';
    this.abortable = null;
    this.body = null;
    this.apiKey = null;
    this.usageIdentifierKey = null;
    this.authorizer = null;
    this.onFinish = null;
    this.watching = false;
    this.extraHeaders = null;
    this.upgrade = null;
  }

  /** Value of the first header with this lower-case name, or undefined. */
  header(name: string): string | undefined {
    const h = this.headers;
    for (let i = 0; i < h.length; i += 2) if (h[i] === name) return h[i + 1];
    return undefined;
  }
}
