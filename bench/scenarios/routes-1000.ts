import { generateRoutes } from '../router.js';
import type { Scenario } from '../scenario.js';

const BODY = '{"ok":true}';
const ROUTES = generateRoutes(1000);
const mock = { type: 'mock', status: 200, headers: { 'content-type': 'application/json' }, body: BODY };
// A two-parameter route from the end of the table: the deepest walk the table offers.
const route = [...ROUTES].reverse().find((r) => r.method === 'GET' && /\{[^}+]+\}.*\{[^}+]+\}$/.test(r.path))!;
let param = 0;
const PATH = route.path.replace(/\{[^}]+\}/g, () => (param++ === 0 ? '7d1c4c2e-58a1-4b7a-9d5e-0c7e3c1f2a90' : '123456'));

export default {
  name: 'routes-1000',
  title: 'Route table of 1,000 routes',
  about: `The gateway with a 1,000-route REST table (mock integrations; request ${route.method} ${route.path}) against itself with one route (the match cost is the difference), raw uWS, and fastify (find-my-way) with the same table.`,
  path: PATH,
  expect: { status: 200, body: BODY },
  async setup(ctx) {
    await Promise.all([
      ctx.uwsHello(BODY),
      ctx.fastifyMock(ROUTES, BODY),
      ctx.gateway([{ name: 'bench', routes: [{ route: `GET ${route.path}`, integration: mock }] }], {
        name: 'gateway-1-route', role: 'baseline', note: 'this build with only the requested route: the ratio is the cost of the table',
      }),
      ctx.gateway([{ name: 'bench', routes: ROUTES.map((r) => ({ route: `${r.method} ${r.path}`, integration: mock })) }]),
    ]);
  },
} satisfies Scenario;
