import { proxyLineUp, type Scenario } from '../scenario.js';

/** ~60-byte JSON. */
const BODY = '{"id":"bench","ok":true,"items":[1,2,3],"source":"upstream"}';

export default {
  name: 'proxy-small',
  title: 'Proxy, small GET',
  about: `GET of a ${BODY.length}-byte JSON through each proxy to the same raw uWS upstream; direct is the upstream alone.`,
  path: '/items/42',
  expect: { status: 200, body: BODY },
  async setup(ctx) {
    const up = await ctx.upstream(BODY);
    await Promise.all([proxyLineUp(ctx, up, { pipelined: true }), ctx.uwsPool(up)]);
  },
} satisfies Scenario;
