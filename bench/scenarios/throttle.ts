import { type Scenario } from '../scenario.js';

/** ~60-byte JSON, as proxy-small. */
const BODY = '{"id":"bench","ok":true,"items":[1,2,3],"source":"upstream"}';
/** Far above what one worker serves: every request goes through the limiter, none is refused. */
const OPEN_LIMIT = { rateLimit: 1e9, burstLimit: 1e9 };

export default {
  name: 'throttle',
  title: 'Throttled proxy: memory, Redis exact, Redis lease',
  about: `The proxy-small request through a route with a throttle (never reached) against the same route without one: the cost of one limiter decision per request in this process (memory), one Redis script call per request (exact), and local leases refilled from Redis (lease, leaseMs 100). Redis is a private redis-server on the same machine (its CPU counted with the gateway).`,
  path: '/items/42',
  expect: { status: 200, body: BODY },
  async setup(ctx) {
    const up = await ctx.upstream(BODY);
    const redis = await ctx.redis();
    const apis = (throttle: boolean) => [{
      name: 'bench',
      routes: [{ route: 'GET /items/{id}', ...(throttle ? { throttle: OPEN_LIMIT } : {}), integration: { type: 'http_proxy', uri: `http://127.0.0.1:${up.port}/items/{id}` } }],
    }];
    const redisConfig = (mode: 'exact' | 'lease') => ({ store: { type: 'redis', redis: { url: redis!.url } }, throttling: { gateway: false, mode } });
    await Promise.all([
      ctx.gateway(apis(false), { name: 'proxy', role: 'baseline', note: 'this build, the same route without a throttle' }),
      ctx.gateway(apis(true), { name: 'memory', note: 'route throttle, memory store (per worker)' }),
      ...(redis === null ? [] : [
        ctx.gateway(apis(true), { name: 'redis-exact', note: 'route throttle in Redis, one script call per request', config: redisConfig('exact'), sidePids: redis.pids }),
        ctx.gateway(apis(true), { name: 'redis-lease', note: 'route throttle in Redis, leases of rate x 100 ms per worker', config: redisConfig('lease'), sidePids: redis.pids }),
      ]),
    ]);
  },
} satisfies Scenario;
