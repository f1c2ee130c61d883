/**
 * The Node gateways users would otherwise pick, as benchmark baselines, one process each (like the
 * gateway's one worker):
 *
 *   node dist/bench/peers.js --kind fast-gateway --port P --upstream http://127.0.0.1:U
 *   node dist/bench/peers.js --kind fastify      --port P --upstream http://127.0.0.1:U
 *   node dist/bench/peers.js --kind fastify-mock --port P --routes FILE.json --body JSON
 *
 * fast-gateway: 3.4.7, the newest that installs from the registry reachable here (5.0.1 needs
 * fast-proxy-lite 1.1.3, which is missing); its proxy is fast-proxy-lite on a keep-alive
 * http.Agent. fastify: @fastify/reply-from with its default undici pool (128 connections).
 * fastify-mock: the same route table the gateway gets (turned into find-my-way routes by
 * bench/router.ts's findMyWayRoutes), every route answering `body`. Proxies pass the path through unchanged.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import Fastify from 'fastify';
import replyFrom from '@fastify/reply-from';
import gateway from 'fast-gateway';

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
  default:
    process.stderr.write(`peers: --kind must be fast-gateway, fastify or fastify-mock, got "${values.kind}"\n`);
    process.exit(2);
}

process.on('SIGTERM', () => process.exit(0));
