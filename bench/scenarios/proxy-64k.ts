import { sizedJson } from '../bodies.js';
import { proxyLineUp, type Scenario } from '../scenario.js';

const BYTES = 64 * 1024;

export default {
  name: 'proxy-64k',
  title: 'Proxy, 64 KB response',
  about: 'GET of a 64 KB JSON response through each proxy to the same raw uWS upstream: the response streaming path.',
  path: '/reports/latest',
  expect: { status: 200, body: sizedJson(BYTES) },
  async setup(ctx) {
    await proxyLineUp(ctx, await ctx.upstream({ bytes: BYTES }), { pipelined: true });
  },
} satisfies Scenario;
