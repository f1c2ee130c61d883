/**
 * The fan-out bench's peer: one socket.io 4 server with @socket.io/redis-streams-adapter (ioredis),
 * as an application would run it behind a load balancer; bench/fanout.ts starts two on one Redis.
 *
 *   node dist/bench/fanout-socketio.js --port P --redis redis://127.0.0.1:R
 *
 * Clients connect with `?topic=T` in the handshake query and are put in room T (the gateway's
 * $connect `subscribe`). `POST /broadcast/T` with the message as the body emits
 * `{"topic","id","data"}` (the gateway's frame) as event `m` to room T on every server (through the
 * Redis stream) and answers 200 `{"messageId"}`, like the gateway's `POST /{stage}/@broadcast/T`.
 * Websocket transport only, no per-message deflate (socket.io's default), adapter defaults.
 * `GET /health` answers the connected client count.
 */
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { Server } from 'socket.io';
import { createAdapter } from '@socket.io/redis-streams-adapter';

const { values } = parseArgs({ options: { port: { type: 'string' }, redis: { type: 'string' } } });
const port = Number(values.port);
if (!Number.isInteger(port) || values.redis === undefined) {
  process.stderr.write('usage: fanout-socketio.js --port P --redis redis://host:port\n');
  process.exit(2);
}

const redis = new Redis(values.redis);
let n = 0;
const http = createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/health') {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ clients: io.engine.clientsCount }));
    return;
  }
  const m = /^\/broadcast\/([^/?]+)$/.exec(req.url ?? '');
  if (req.method !== 'POST' || m === null) {
    res.statusCode = 404;
    res.end();
    return;
  }
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const topic = decodeURIComponent(m[1]!);
    const id = `${process.pid.toString(36)}-${(++n).toString(36)}`;
    io.to(topic).emit('m', { topic, id, data: Buffer.concat(chunks).toString() });
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ messageId: id }));
  });
});
// The default maxHttpBufferSize (1 MB) and ping settings; only the transport is pinned.
const io = new Server(http, { adapter: createAdapter(redis), transports: ['websocket'], serveClient: false });
io.on('connection', (socket) => {
  const topic = socket.handshake.query['topic'];
  if (typeof topic === 'string') void socket.join(topic);
});
// Idle keep-alive connections stay open (Node closes them after 5 s by default; the publisher's
// pool would then race the close).
http.keepAliveTimeout = 120_000;
http.listen(port, '127.0.0.1', () => process.stdout.write(`socket.io listening on 127.0.0.1:${port}\n`));
process.on('SIGTERM', () => {
  void io.close();
  redis.disconnect();
  process.exit(0);
});
