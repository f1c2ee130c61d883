import net from 'node:net';
import http from 'node:http';
import { UpstreamPool, type Exchange, type ResponseSink, type UpstreamError, type UpstreamPoolOptions, type UpstreamRequest } from '../../src/upstream/pool.js';

/** Real local servers for the upstream client tests: node:net ones that speak hand-written bytes. */

export interface Captured {
  status: number;
  headers: string[];
  hasBody: boolean | null;
  body: Buffer;
  error: UpstreamError | null;
  /** Every callback in order: head, data, end, error; anything after the terminal one is a bug. */
  events: string[];
  exchange: Exchange;
}

export function req(over: Partial<UpstreamRequest> = {}): UpstreamRequest {
  return {
    method: 'GET', path: '/', headers: 'host: 127.0.0.1\r\n', body: null, idempotent: true,
    connectTimeoutMs: 2000, timeoutMs: 5000, ...over,
  };
}

export interface SendHooks {
  onHead?: (ex: Exchange) => void;
  onData?: (chunk: Buffer, ex: Exchange) => boolean;
  /** Called inside onEnd, synchronously. */
  onEnd?: () => void;
  /** Called right after request() returned (write a streamed body here). */
  started?: (ex: Exchange) => void;
  /** Do not keep body bytes (large bodies). */
  discardBody?: boolean;
  /** Wait this long after the terminal callback, to catch any callback that should not come. */
  settleMs?: number;
}

/** Sends one request and resolves after its terminal callback (and a settle delay). */
export function send(pool: UpstreamPool, r: UpstreamRequest, hooks: SendHooks = {}): Promise<Captured> {
  return new Promise((resolve) => {
    const parts: Buffer[] = [];
    let terminal = false;
    const c = { status: 0, headers: [], hasBody: null, body: Buffer.alloc(0), error: null, events: [] } as unknown as Captured;
    const finish = (): void => {
      c.body = Buffer.concat(parts);
      setTimeout(() => resolve(c), hooks.settleMs ?? 20);
    };
    // Callbacks must never run inside request() itself.
    let calling = true;
    const sync = (): void => { if (calling) c.events.push('SYNC'); };
    const sink: ResponseSink = {
      onHead(status, headers, hasBody) {
        sync();
        c.events.push(terminal ? 'late-head' : 'head');
        c.status = status;
        c.headers = headers;
        c.hasBody = hasBody;
        hooks.onHead?.(c.exchange);
      },
      onData(chunk) {
        sync();
        c.events.push(terminal ? 'late-data' : 'data');
        if (hooks.discardBody !== true) parts.push(Buffer.from(chunk));
        return hooks.onData ? hooks.onData(chunk, c.exchange) : true;
      },
      onEnd() {
        sync();
        c.events.push(terminal ? 'late-end' : 'end');
        if (terminal) return;
        terminal = true;
        hooks.onEnd?.();
        finish();
      },
      onError(err) {
        sync();
        c.events.push(terminal ? 'late-error' : 'error');
        if (terminal) return;
        terminal = true;
        c.error = err;
        finish();
      },
    };
    c.exchange = pool.request(r, sink);
    calling = false;
    hooks.started?.(c.exchange);
  });
}

/** Event log without the repeated data entries: ['head', 'data', 'end']. */
export function shape(events: string[]): string[] {
  return events.filter((e, i) => e !== 'data' || events[i - 1] !== 'data');
}

export function header(headers: string[], name: string): string | undefined {
  for (let i = 0; i < headers.length; i += 2) if (headers[i] === name) return headers[i + 1];
  return undefined;
}

export interface RawRequest {
  head: string;
  body: Buffer;
  socket: net.Socket;
  /** 0-based index of this request on its connection. */
  seq: number;
  /** 0-based index of the connection on the server. */
  conn: number;
}

export interface TestServer {
  port: number;
  /** Connections accepted so far. */
  connections: number;
  /** Requests received, in order. */
  requests: RawRequest[];
  /** 'data' events (reads) per connection. */
  reads: number[];
  sockets: Set<net.Socket>;
  close(): Promise<void>;
}

/**
 * A raw TCP server. Parses request heads (and Content-Length or chunked bodies) from what our
 * client sends and calls `onRequest` with the socket, so the test writes whatever bytes it likes.
 */
export async function rawServer(onRequest: (r: RawRequest) => void): Promise<TestServer> {
  const sockets = new Set<net.Socket>();
  const state: TestServer = {
    port: 0, connections: 0, requests: [], reads: [], sockets,
    close: () => new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    }),
  };
  const server = net.createServer((socket) => {
    const conn = state.connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let buf = Buffer.alloc(0);
    let seq = 0;
    state.reads[conn] = 0;
    socket.on('data', (d) => {
      state.reads[conn]!++;
      buf = Buffer.concat([buf, d]);
      for (;;) {
        const end = buf.indexOf('\r\n\r\n');
        if (end === -1) return;
        const head = buf.subarray(0, end + 4).toString('latin1');
        let rest = buf.subarray(end + 4);
        let body = Buffer.alloc(0);
        const cl = /\r\ncontent-length: *(\d+)/i.exec(head);
        if (cl) {
          const n = Number(cl[1]);
          if (rest.length < n) return;
          body = rest.subarray(0, n);
          rest = rest.subarray(n);
        } else if (/\r\ntransfer-encoding: *chunked/i.test(head)) {
          const parts: Buffer[] = [];
          let p = 0;
          for (;;) {
            const le = rest.indexOf('\r\n', p);
            if (le === -1) return;
            const size = parseInt(rest.subarray(p, le).toString('latin1'), 16);
            if (rest.length < le + 2 + size + 2) return;
            if (size === 0) { p = le + 4; break; }
            parts.push(rest.subarray(le + 2, le + 2 + size));
            p = le + 2 + size + 2;
          }
          body = Buffer.concat(parts);
          rest = rest.subarray(p);
        }
        buf = Buffer.from(rest);
        const r: RawRequest = { head, body, socket, seq: seq++, conn };
        state.requests.push(r);
        onRequest(r);
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  state.port = (server.address() as net.AddressInfo).port;
  return state;
}

export interface HttpTestServer {
  port: number;
  connections: number;
  server: http.Server;
  close(): Promise<void>;
}

export async function httpServer(handler: http.RequestListener): Promise<HttpTestServer> {
  const server = http.createServer(handler);
  server.keepAliveTimeout = 30_000;
  const sockets = new Set<net.Socket>();
  const state: HttpTestServer = {
    port: 0, connections: 0, server,
    close: () => new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    }),
  };
  server.on('connection', (s) => {
    state.connections++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  state.port = (server.address() as net.AddressInfo).port;
  return state;
}

export function poolFor(port: number, opts: Partial<UpstreamPoolOptions> = {}): UpstreamPool {
  return new UpstreamPool({ host: '127.0.0.1', port, ...opts });
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Resolves once `cond` holds (polled), or rejects after `ms`. */
export async function until(cond: () => boolean, ms = 3000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}
