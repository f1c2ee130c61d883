import { fileURLToPath } from 'node:url';
import type { Scenario } from '../scenario.js';

const HANDLER = fileURLToPath(new URL('../../../test/fixtures/functions/hello.mjs', import.meta.url));
const BODY = '{"hello":"world"}';

export default {
  name: 'function',
  title: 'Function integration, hello handler',
  about: 'A payload-2.0 hello handler on the gateway\'s function threads (2 threads) against the same answer from a mock route (the ceiling: no thread round trip) and the same handler under serverless-offline.',
  path: '/hello',
  expect: { status: 200, body: BODY },
  async setup(ctx) {
    const headers = { 'content-type': 'application/json' };
    await Promise.all([
      ctx.gateway([{ name: 'bench', routes: [{ route: 'GET /hello', integration: { type: 'mock', status: 200, headers, body: BODY } }] }], {
        name: 'gateway-mock', role: 'baseline', note: 'this build answering the same bytes from a mock route: the ceiling',
      }),
      ctx.serverlessOffline(`${HANDLER}#handler`, '/hello'),
      ctx.gateway([{ name: 'bench', routes: [{ route: 'GET /hello', integration: { type: 'function', handler: `${HANDLER}#handler` } }] }], {
        config: { functions: { threads: 2 } },
      }),
    ]);
  },
} satisfies Scenario;
