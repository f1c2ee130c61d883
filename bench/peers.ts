/**
 * The Node gateways users would otherwise pick, as benchmark baselines, one process each (like the
 * gateway's one worker):
 *
 *   node dist/bench/peers.js --kind fast-gateway --port P --upstream http://127.0.0.1:U
 *   node dist/bench/peers.js --kind fastify      --port P --upstream http://127.0.0.1:U
 *   node dist/bench/peers.js --kind fastify-mock --port P --routes FILE.json --body JSON
 *   node dist/bench/peers.js --kind uws-pool     --port P --upstream http://127.0.0.1:U
 *
 * fast-gateway: 3.4.7, the newest that installs from the registry reachable here (5.0.1 needs
 * fast-proxy-lite 1.1.3, which is missing); its proxy is fast-proxy-lite on a keep-alive
 * http.Agent. fastify: @fastify/reply-from with its default undici pool (128 connections).
 * fastify-mock: the same route table the gateway gets (turned into find-my-way routes by
 * bench/router.ts's findMyWayRoutes), every route answering `body`. Proxies pass the path through unchanged.
 * uws-pool: the floor of the gateway's own stack, not a product: uWS.js and the gateway's upstream
 * client (src/upstream/pool.ts) with none of the gateway (no routing, request context, request id,
 * metrics or header filtering beyond framing). GET only, response buffered whole: for small
 * responses. What the gateway costs above it is what its features cost.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import Fastify from 'fastify';
import replyFrom from '@fastify/reply-from';
import gateway from 'fast-gateway';
import uws from '../native/uws.js';
import { UpstreamPool, type ResponseSink } from '../src/upstream/pool.js';

const { values } = parseArgs({
  options: {
    kind: { type: 'string' },
    port: { type: 'string' },
    upstream: { type: 'string' },
    routes: { type: 'string' },
    body: { type: 'string', default: '{"ok":true}' },
  },
});
const port = Number(values.port);
const host = '127.0.0.1';

function ready(): void {
  process.stdout.write(`${values.kind} listening on ${host}:${port}\n`);
}

switch (values.kind) {
  case 'fast-gateway': {
    const server = gateway({ routes: [{ prefix: '', target: values.upstream! }] });
    await server.start(port, host);
    ready();
    break;
  }
  case 'fastify': {
    const app = Fastify({ logger: false, bodyLimit: 1 << 30 });
    // Request bodies pass through unparsed, as a stream (reply-from's README: "pass raw body through").
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('*', (_req, payload, done) => done(null, payload));
    await app.register(replyFrom, { base: values.upstream! });
    app.all('/*', (req, reply) => reply.from(req.url));
    await app.listen({ port, host });
    ready();
    break;
  }
  case 'fastify-mock': {
    // HEAD comes from the table's ANY routes; fastify's automatic HEAD-for-GET would clash with them.
    const app = Fastify({ logger: false, exposeHeadRoutes: false });
    const body = values.body!;
    const routes = JSON.parse(readFileSync(values.routes!, 'utf8')) as { methods: string[]; path: string }[];
    for (const r of routes) {
      app.route({
        method: r.methods,
        url: r.path,
        handler: (_req, reply) => { void reply.header('content-type', 'application/json').send(body); },
      });
    }
    await app.listen({ port, host });
    ready();
    break;
  }
  case 'uws-pool': {
    const up = new URL(values.upstream!);
    const pool = new UpstreamPool({ host: up.hostname, port: Number(up.port) });
    const hostLine = `host: ${up.host}\r\n`;
    uws.App().any('/*', (res, req) => {
      const method = req.getCaseSensitiveMethod();
      if (method !== 'GET') {
        res.writeStatus('405 Method Not Allowed').end();
        return;
      }
      const q = req.getQuery();
      const path = q === undefined || q === '' ? req.getUrl() : `${req.getUrl()}?${q}`;
      const ip = new Uint8Array(res.getRemoteAddress());
      const o = ip.length === 4 ? 0 : 12;
      let gone = false;
      res.onAborted(() => { gone = true; });
      let head = '';
      const chunks: Buffer[] = [];
      const sink: ResponseSink = {
        onHead(status, h) {
          head = `${status} ${status === 200 ? 'OK' : 'X'}`;
          for (let i = 0; i < h.length; i += 2) if (h[i] !== 'content-length' && h[i] !== 'date' && h[i] !== 'connection') head += `\r\n${h[i]}: ${h[i + 1]}`;
        },
        onData(c) { chunks.push(Buffer.from(c)); return true; },
        onEnd() { if (!gone) res.cork(() => { res.writeStatus(head).end(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)); }); },
        onError() { if (!gone) res.cork(() => { res.writeStatus('502 Bad Gateway').end(); }); },
      };
      pool.request({
        method, path, body: null, idempotent: true, connectTimeoutMs: 5000, timeoutMs: 29_000,
        headers: `${hostLine}x-forwarded-for: ${ip[o]}.${ip[o + 1]}.${ip[o + 2]}.${ip[o + 3]}\r\n`,
      }, sink);
    }).listen(host, port, (s) => {
      if (s === false) { process.stderr.write(`uws-pool: cannot listen on ${host}:${port}\n`); process.exit(1); }
      ready();
    });
    break;
  }
  default:
    process.stderr.write(`peers: --kind must be fast-gateway, fastify, fastify-mock or uws-pool, got "${values.kind}"\n`);
    process.exit(2);
}

process.on('SIGTERM', () => process.exit(0));
