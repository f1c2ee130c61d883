import type { Scenario } from '../scenario.js';

const BODY = '{"ok":true}';

export default {
  name: 'mock-small',
  title: 'Mock integration, small JSON',
  about: 'The gateway answering from a mock integration (no upstream) against raw uWS (the limit), nginx `return 200` and fastify, all sending the same 11-byte body.',
  path: '/mock',
  expect: { status: 200, body: BODY },
  async setup(ctx) {
    await Promise.all([
      ctx.uwsHello(BODY),
      ctx.nginxStatic(BODY),
      ctx.fastifyMock([{ method: 'GET', path: '/mock' }], BODY),
      ctx.gateway([{
        name: 'bench',
        routes: [{ route: 'GET /mock', integration: { type: 'mock', status: 200, headers: { 'content-type': 'application/json' }, body: BODY } }],
      }]),
    ]);
  },
} satisfies Scenario;
