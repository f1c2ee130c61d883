import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import type { Server as NetServer, Socket } from 'node:net';

/** Real upstream servers on 127.0.0.1 for end-to-end tests. */

export interface Upstream {
  port: number;
  url: string;
  server: Server;
  /** Requests seen, in order. */
  seen: { method: string; url: string; headers: IncomingMessage['headers'] }[];
  connections: number;
  close(): Promise<void>;
}

export type Handler = (req: IncomingMessage, res: ServerResponse, body: Buffer) => void;

/** Echo: answers JSON describing the request (method, url, headers, body length and sha256). */
export const echo: Handler = (req, res, body) => {
  const out = JSON.stringify({
    method: req.method, url: req.url, headers: req.headers,
    bodyLength: body.length, bodySha256: createHash('sha256').update(body).digest('hex'), body: body.length <= 1024 ? body.toString() : undefined,
  });
  res.writeHead(200, { 'content-type': 'application/json', 'x-upstream': 'echo' });
  res.end(out);
};

export function startUpstream(handler: Handler = echo, opts: { port?: number; readBody?: boolean } = {}): Promise<Upstream> {
  const seen: Upstream['seen'] = [];
  const sockets = new Set<Socket>();
  const up: Upstream = {
    port: 0, url: '', server: null as unknown as Server, seen, connections: 0,
    close: () => new Promise((r) => {
      for (const s of sockets) s.destroy();
      up.server.close(() => r());
    }),
  };
  up.server = createServer((req, res) => {
    seen.push({ method: req.method!, url: req.url!, headers: req.headers });
    if (opts.readBody === false) return handler(req, res, Buffer.alloc(0));
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => handler(req, res, Buffer.concat(chunks)));
  });
  up.server.keepAliveTimeout = 5000;
  up.server.on('connection', (s: Socket) => {
    up.connections++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  return new Promise((resolve) => {
    up.server.listen(opts.port ?? 0, '127.0.0.1', () => {
      up.port = (up.server.address() as { port: number }).port;
      up.url = `http://127.0.0.1:${up.port}`;
      resolve(up);
    });
  });
}

/** A raw TCP upstream that answers every connection with `onConnection` (hand-written bytes). */
export function startRawUpstream(onConnection: (s: Socket) => void): Promise<{ port: number; url: string; server: NetServer; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createNetServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    onConnection(s);
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port;
      resolve({
        port, url: `http://127.0.0.1:${port}`, server,
        close: () => new Promise((r) => { for (const s of sockets) s.destroy(); server.close(() => r()); }),
      });
    });
  });
}
