import { performance } from 'node:perf_hooks';
import { Errors, statusLine } from '../errors.js';
import type { GatewayError } from '../errors.js';
import type { Exchange, ResponseSink, UpstreamError } from '../upstream/pool.js';
import type { Target, UpstreamGroup } from '../upstream/group.js';
import type { RequestContext } from '../worker/context.js';
import { endNoBody, finish, hooks, isCorsHeader, sendError, writeExtraHeaders } from '../worker/respond.js';

/**
 * http_proxy integration: the request streams to a target picked from the upstream group and the
 * response streams back, with backpressure both ways. The proxy writes its own framing upstream
 * (the pool adds Content-Length or chunked); the client's framing headers are never forwarded.
 */

/**
 * Request headers that belong to one connection (RFC 9110 7.6.1) or that the gateway rewrites.
 * Switch on length rather than a Set: uWS hands over fresh strings, and Set.has hashes each one.
 */
function dropRequestHeader(name: string): boolean {
  switch (name.length) {
    case 2: return name === 'te';
    case 4: return name === 'host';
    case 6: return name === 'expect';
    case 7: return name === 'trailer' || name === 'upgrade';
    case 10: return name === 'connection' || name === 'keep-alive';
    case 14: return name === 'content-length';
    case 15: return name === 'x-forwarded-for';
    case 16: return name === 'proxy-connection' || name === 'x-forwarded-host';
    case 17: return name === 'transfer-encoding' || name === 'x-forwarded-proto';
    case 19: return name === 'proxy-authorization';
    default: return false;
  }
}

/**
 * Response headers the gateway must not copy: framing is uWS's, Date is written by uWS. A switch on
 * length instead of a Set: names arrive as fresh strings, and Set.has hashes each one.
 */
function dropResponseHeader(name: string): boolean {
  switch (name.length) {
    case 2: return name === 'te';
    case 4: return name === 'date';
    case 7: return name === 'trailer' || name === 'upgrade';
    case 10: return name === 'connection' || name === 'keep-alive';
    case 14: return name === 'content-length';
    case 16: return name === 'proxy-connection';
    case 17: return name === 'transfer-encoding';
    default: return false;
  }
}

/**
 * Bodies up to this size are read whole before the upstream request starts: the request goes out in
 * one write and can be retried on another target. Larger ones stream. 64 KB: a typical JSON API
 * body is far below it, and it bounds per-request memory at 64 KB x in-flight requests.
 */
const BUFFER_BODY_MAX = 64 * 1024;

export type Part = string | { param: string };

export interface ProxyOptions {
  group: UpstreamGroup;
  /** Path template for the upstream; null = the matched path (stage removed). */
  pathTemplate: Part[] | null;
  timeoutMs: number;
  connectTimeoutMs: number;
  preserveHost: boolean;
  /** Pre-serialized "name: value\r\n" lines added to every upstream request. */
  staticHeaders: string;
  maxBodyBytes: number;
  /** Counts an upstream error for metrics. */
  onUpstreamError: (kind: string) => void;
}

/** Splits "/pets/{id}/x" into literal and parameter parts once, at compile time. */
export function compileTemplate(template: string): Part[] {
  const parts: Part[] = [];
  const re = /\{([A-Za-z0-9_.-]+)\+?\}/g;
  let last = 0;
  for (let m = re.exec(template); m !== null; m = re.exec(template)) {
    if (m.index > last) parts.push(template.slice(last, m.index));
    parts.push({ param: m[1]! });
    last = m.index + m[0].length;
  }
  if (last < template.length) parts.push(template.slice(last));
  return parts;
}

export function renderPath(parts: Part[], params: Record<string, string> | null): string {
  let s = '';
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i]!;
    // Parameter values stay percent-encoded as matched, so the upstream reads the same path we routed.
    s += typeof p === 'string' ? p : (params?.[p.param] ?? '');
  }
  return s;
}

const KEEPALIVE_OR_CLOSE = /^\s*(?:keep-alive|close)\s*$/i;

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);

/** One proxied request: the ResponseSink the pool calls back into, and the client side's state. */
class ProxyCall implements ResponseSink {
  readonly ctx: RequestContext;
  readonly opts: ProxyOptions;
  readonly path: string;
  readonly headerBlock: string;
  readonly idempotent: boolean;
  target: Target | null = null;
  exchange: Exchange | null = null;
  attempts = 0;
  /** Whole small request body, or null (no body / streaming). */
  body: Buffer | null = null;
  streaming = false;
  bodyBytes = 0;
  // Response side.
  status = 0;
  responseHeaders: string[] | null = null;
  hasBody = true;
  /** Content-Length of the upstream response, -1 when chunked or close-delimited. */
  total = -1;
  written = 0;
  /** Chunk uWS could not take yet, and the write offset it started at. */
  pending: Buffer | null = null;
  pendingOffset = 0;

  constructor(ctx: RequestContext, opts: ProxyOptions, path: string, headerBlock: string) {
    this.ctx = ctx;
    this.opts = opts;
    this.path = path;
    this.headerBlock = headerBlock;
    this.idempotent = IDEMPOTENT.has(ctx.method);
  }

  start(): void {
    const ctx = this.ctx;
    const now = Date.now();
    const target = this.opts.group.pick(this.target, now);
    if (target === null) {
      this.opts.onUpstreamError('unavailable');
      sendError(ctx, Errors.SERVICE_UNAVAILABLE);
      return;
    }
    this.target = target;
    this.attempts++;
    if (ctx.integrationStartMs === 0) ctx.integrationStartMs = performance.now();
    const hostLine = this.opts.preserveHost ? `host: ${ctx.host}\r\n` : target.hostLine;
    this.exchange = target.pool.request({
      method: ctx.method,
      path: this.path,
      headers: hostLine + this.headerBlock,
      body: this.streaming ? 'stream' : this.body,
      contentLength: this.streaming && ctx.contentLength >= 0 ? ctx.contentLength : undefined,
      idempotent: this.idempotent,
      connectTimeoutMs: this.opts.connectTimeoutMs,
      timeoutMs: this.opts.timeoutMs,
      head: ctx.method === 'HEAD',
    }, this);
  }

  // --- ResponseSink: called from the upstream socket, outside the uWS handler: every write corks.

  onHead(status: number, headers: string[], hasBody: boolean): void {
    if (this.ctx.aborted) return;
    this.status = status;
    this.responseHeaders = headers;
    this.hasBody = hasBody && this.ctx.method !== 'HEAD' && status !== 204 && status !== 304;
    for (let i = 0; i < headers.length; i += 2) {
      if (headers[i] === 'content-length') { this.total = Number(headers[i + 1]); break; }
    }
    if (this.target !== null) this.opts.group.success(this.target);
    this.ctx.integrationEndMs = performance.now();
    this.ctx.status = status;
    // The head is written with the first body bytes (or at the end) so a small response is one write.
  }

  private writeHead(): void {
    const ctx = this.ctx;
    const res = ctx.res;
    ctx.headSent = true;
    // The whole head goes to uWS in one writeStatus call: uWS 20.30 writes "HTTP/1.1 " + the
    // argument + CRLF unchecked, so "200 OK\r\nname: value" lines are safe here because the
    // upstream parser refused any CR, LF or control character in names and values, and request ids
    // are generated or SAFE_ID-checked. One native call instead of one per header.
    let head = statusLine(this.status);
    const h = this.responseHeaders!;
    const cors = ctx.extraHeaders !== null;
    for (let i = 0; i < h.length; i += 2) {
      const name = h[i]!;
      if (!dropResponseHeader(name) && !(cors && isCorsHeader(name))) head += `\r\n${name}: ${h[i + 1]!}`;
    }
    head += `\r\n${hooks.requestIdHeader}: ${ctx.requestId}`;
    if (!this.hasBody && this.total >= 0 && ctx.method === 'HEAD') head += `\r\ncontent-length: ${this.total}`;
    res.writeStatus(head);
    if (cors) writeExtraHeaders(ctx);
  }

  onData(chunk: Buffer): boolean {
    const ctx = this.ctx;
    if (ctx.aborted || ctx.done) return true;
    const res = ctx.res;
    if (this.written === 0 && chunk.length === this.total) {
      // The whole body in one read (the common small response): one corked end(), one send.
      res.cork(() => {
        if (!ctx.headSent) this.writeHead();
        res.end(chunk, hooks.draining);
      });
      this.written = chunk.length;
      ctx.bytesOut = chunk.length;
      finish(ctx);
      return true;
    }
    if (this.total >= 0) {
      // Known length: tryEnd lets uWS write Content-Length and tells us about backpressure.
      let ok = false, done = false;
      res.cork(() => {
        if (!ctx.headSent) this.writeHead();
        const offset = res.getWriteOffset();
        [ok, done] = res.tryEnd(chunk, this.total);
        if (!ok && !done) {
          // uWS keeps nothing of a refused chunk: hold a copy (socket buffers may be reused) until writable.
          this.pending = Buffer.from(chunk);
          this.pendingOffset = offset;
        }
      });
      this.written += chunk.length;
      if (done) {
        ctx.bytesOut = this.total;
        finish(ctx);
        return true;
      }
      if (!ok) {
        res.onWritable((offset) => this.retryPending(offset));
        return false;
      }
      return true;
    }
    let ok = true;
    res.cork(() => {
      if (!ctx.headSent) this.writeHead();
      ok = res.write(chunk);
    });
    this.written += chunk.length;
    if (!ok) {
      // uWS buffered the chunk; pause the upstream until the client drains it.
      res.onWritable(() => {
        this.exchange?.resume();
        return true;
      });
      return false;
    }
    return true;
  }

  private retryPending(offset: number): boolean {
    const ctx = this.ctx;
    if (ctx.aborted || ctx.done || this.pending === null) return true;
    const res = ctx.res;
    const rest = this.pending.subarray(offset - this.pendingOffset);
    const [ok, done] = res.tryEnd(rest, this.total);
    if (done) {
      this.pending = null;
      ctx.bytesOut = this.total;
      finish(ctx);
    } else if (ok) {
      this.pending = null;
      this.exchange?.resume();
    }
    return ok;
  }

  onEnd(): void {
    const ctx = this.ctx;
    if (ctx.aborted || ctx.done) return;
    const res = ctx.res;
    if (this.total >= 0 && this.hasBody) {
      // Known length fully passed to tryEnd: finished there (or still draining a pending chunk).
      if (this.written >= this.total && this.pending === null && !ctx.done) {
        // total was 0: nothing went through tryEnd yet.
        res.cork(() => {
          if (!ctx.headSent) this.writeHead();
          res.end(undefined, hooks.draining);
        });
        finish(ctx);
      }
      return;
    }
    res.cork(() => {
      if (!ctx.headSent) this.writeHead();
      if (this.hasBody) res.end(undefined, hooks.draining);
      else endNoBody(res);
    });
    ctx.bytesOut = this.written;
    finish(ctx);
  }

  onError(err: UpstreamError): void {
    const ctx = this.ctx;
    if (ctx.aborted || ctx.done) return;
    const now = Date.now();
    this.opts.onUpstreamError(err.kind);
    // Only the target's own failures count against its breaker: a full local queue or a request
    // we could not send (invalid_request) says nothing about the target's health.
    if (this.target !== null && err.kind !== 'pool_full' && err.kind !== 'invalid_request') this.opts.group.failure(this.target, now);
    if (this.status === 0 && this.canRetry(err)) {
      this.exchange = null;
      this.start();
      return;
    }
    if (ctx.integrationEndMs === 0) ctx.integrationEndMs = performance.now();
    ctx.errorMessage = `upstream ${err.kind}`;
    sendError(ctx, errorFor(err));
  }

  private canRetry(err: UpstreamError): boolean {
    if (this.attempts > this.opts.group.retries || this.streaming) return false;
    if (!this.idempotent) return false;
    return err.kind === 'connect_refused' || err.kind === 'connect_timeout' || err.kind === 'pool_full';
  }

  /** Client went away: drop the upstream exchange (its socket is not reused). */
  abort(): void {
    const ex = this.exchange;
    this.exchange = null;
    if (ex !== null) ex.abort();
  }
}

function errorFor(err: UpstreamError): GatewayError {
  switch (err.kind) {
    case 'timeout':
    case 'connect_timeout':
      return Errors.INTEGRATION_TIMEOUT;
    case 'pool_full':
      return Errors.SERVICE_UNAVAILABLE;
    default:
      return Errors.INTEGRATION_FAILURE;
  }
}

/** X-Forwarded-Proto sent upstream: what the client spoke to the gateway (the worker sets it from listen.tls). */
let forwardedProto = 'http';
export function setForwardedProto(proto: 'http' | 'https'): void {
  forwardedProto = proto;
}

/** Compiles the http_proxy phase of one route. */
export function compileHttpProxy(opts: ProxyOptions): (ctx: RequestContext) => void {
  const pathParts = opts.pathTemplate;
  const staticHeaders = opts.staticHeaders;
  return function httpProxy(ctx: RequestContext): void {
    let path = pathParts === null ? ctx.path : renderPath(pathParts, ctx.params);
    if (ctx.query !== '') path += `?${ctx.query}`;

    // Upstream header block: the client's end-to-end headers plus the gateway's own.
    const h = ctx.headers;
    let block = '';
    let xff = '';
    let connectionTokens: string | undefined;
    for (let i = 0; i < h.length; i += 2) {
      const name = h[i]!;
      if (dropRequestHeader(name)) {
        if (name === 'x-forwarded-for') xff = xff === '' ? h[i + 1]! : `${xff}, ${h[i + 1]!}`;
        else if (name === 'connection') connectionTokens = h[i + 1];
        continue;
      }
      if (name === hooks.requestIdHeader) continue;
      block += `${name}: ${h[i + 1]!}\r\n`;
    }
    // "keep-alive" / "close" name no header: only other tokens need the (slow) removal pass.
    if (connectionTokens !== undefined && !KEEPALIVE_OR_CLOSE.test(connectionTokens)) block = dropConnectionTokens(block, connectionTokens);
    block += `x-forwarded-for: ${xff === '' ? ctx.ip : `${xff}, ${ctx.ip}`}\r\nx-forwarded-proto: ${forwardedProto}\r\n`;
    if (ctx.host !== '') block += `x-forwarded-host: ${ctx.host}\r\n`;
    block += `${hooks.requestIdHeader}: ${ctx.requestId}\r\n${staticHeaders}`;

    const call = new ProxyCall(ctx, opts, path, block);
    ctx.abortable = call;

    const res = ctx.res;
    const hasBody = ctx.chunked || ctx.contentLength > 0;
    if (!hasBody) {
      call.start();
      return;
    }
    if (ctx.body !== null) {
      // Read already (validation): sent whole.
      call.body = Buffer.from(ctx.body.buffer, ctx.body.byteOffset, ctx.body.byteLength);
      call.start();
      return;
    }
    // Content-Length over the limit was refused by the app before routing.
    if (!ctx.chunked && ctx.contentLength <= BUFFER_BODY_MAX) {
      // Small body: one preallocated buffer sized from Content-Length; uWS detaches each chunk on return.
      const buf = Buffer.allocUnsafe(ctx.contentLength);
      res.onData((ab, isLast) => {
        if (ctx.aborted || ctx.done) return;
        const n = ab.byteLength;
        if (call.bodyBytes + n > buf.length) {
          sendError(ctx, Errors.BAD_REQUEST, true);
          return;
        }
        buf.set(new Uint8Array(ab), call.bodyBytes);
        call.bodyBytes += n;
        if (isLast) {
          if (call.bodyBytes !== buf.length) {
            sendError(ctx, Errors.BAD_REQUEST, true);
            return;
          }
          call.body = buf;
          call.start();
        }
      });
      return;
    }
    // Large or chunked body: stream it, pausing the client while the upstream socket is full.
    call.streaming = true;
    call.start();
    const ex = call.exchange;
    if (ex === null) return; // answered already (no target)
    ex.onDrain = () => {
      if (!ctx.aborted && !ctx.done) res.resume();
    };
    res.onData((ab, isLast) => {
      if (ctx.aborted || ctx.done) return;
      const n = ab.byteLength;
      call.bodyBytes += n;
      if (call.bodyBytes > opts.maxBodyBytes) {
        call.abort();
        sendError(ctx, Errors.REQUEST_TOO_LARGE, true);
        return;
      }
      const exchange = call.exchange;
      if (exchange === null) return;
      // ab.slice copies once (uWS detaches ab on return); Buffer.from(ArrayBuffer) is a view, not a copy.
      if (n > 0 && !exchange.write(Buffer.from(ab.slice(0)))) res.pause();
      if (isLast) exchange.end();
    });
  };
}

/** Removes headers named in the client's Connection header (RFC 9110 7.6.1); rare, so not on the fast path. */
function dropConnectionTokens(block: string, tokens: string): string {
  const names = new Set(tokens.split(',').map((t) => t.trim().toLowerCase()).filter((t) => t !== ''));
  if (names.size === 0) return block;
  return block.split('\r\n').filter((line) => {
    const c = line.indexOf(':');
    return c < 0 ? line !== '' : !names.has(line.slice(0, c));
  }).map((l) => `${l}\r\n`).join('');
}
