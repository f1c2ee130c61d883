import { type Scenario } from '../scenario.js';

/** ~60-byte JSON, as proxy-small. */
const BODY = '{"id":"bench","ok":true,"items":[1,2,3],"source":"upstream"}';

export default {
  name: 'cache',
  title: 'Response cache: hits and misses',
  about: `GET /items/42 with \`Cache-Control: max-age=0\` on every request, through the stage cache. "cache-hit": the header is ignored (unauthorized callers, SUCCEED_WITHOUT_RESPONSE_HEADER), so every request but the first is an L1 hit. "cache-miss": anyone may invalidate (requireAuthorizationForCacheControl false), so every request refreshes: the upstream is called through the recorder and the entry stored again (memory store; "cache-miss-redis" also takes the Redis fill lock and writes L2). "mock" is the gateway answering the same bytes itself (the ceiling for a hit), "proxy" the same route uncached (the floor for a miss).`,
  path: '/items/42',
  request: { method: 'GET', headers: { 'cache-control': 'max-age=0' } },
  expect: { status: 200, body: BODY },
  async setup(ctx) {
    const up = await ctx.upstream(BODY);
    const redis = await ctx.redis();
    const headers = { 'content-type': 'application/json' };
    const api = (cache: object | null) => [{
      name: 'bench', ...(cache ? { cache: { enabled: true, ...cache } } : {}),
      routes: [{ route: 'GET /items/{id}', ...(cache ? { cache: { keyParameters: { path: ['id'] } } } : {}), integration: { type: 'http_proxy', uri: `http://127.0.0.1:${up.port}/items/{id}` } }],
    }];
    await Promise.all([
      ctx.gateway([{ name: 'bench', routes: [{ route: 'GET /items/{id}', integration: { type: 'mock', status: 200, headers, body: BODY } }] }], {
        name: 'mock', role: 'baseline', note: 'this build answering the same bytes from a mock route: the ceiling for a hit',
      }),
      ctx.gateway(api(null), { name: 'proxy', role: 'baseline', note: 'this build, the same route uncached' }),
      ctx.gateway(api({ unauthorizedCacheControlHeaderStrategy: 'SUCCEED_WITHOUT_RESPONSE_HEADER' }), { name: 'cache-hit', note: 'one hot key: L1 hits' }),
      ctx.gateway(api({ requireAuthorizationForCacheControl: false }), { name: 'cache-miss', note: 'every request refreshes the entry (memory store)' }),
      ...(redis === null ? [] : [
        ctx.gateway(api({ requireAuthorizationForCacheControl: false }), {
          name: 'cache-miss-redis', note: 'every request refreshes: Redis fill lock + L2 write', sidePids: redis.pids,
          config: { store: { type: 'redis', redis: { url: redis.url } }, throttling: { gateway: false } },
        }),
      ]),
    ]);
  },
} satisfies Scenario;
