import t from 'tap';
import { get, startGateway } from '../helpers/gateway.js';

// Route selection through a real gateway: host, stage, precedence, $default.

const mock = (body: string) => ({ type: 'mock', status: 200, body });
const gw = await startGateway({
  apis: [
    {
      name: 'main',
      routes: [
        { route: 'GET /pets/dog', integration: mock('static') },
        { route: 'GET /pets/{id}', integration: mock('param') },
        { route: 'ANY /pets/{id}', integration: mock('any-param') },
        { route: 'GET /pets/{proxy+}', integration: mock('greedy') },
        { route: 'GET /a/b/c', integration: mock('abc') },
        { route: 'GET /a/{x}/d', integration: mock('axd') },
        { route: 'GET /', integration: mock('root') },
        { route: '$default', integration: mock('default') },
      ],
    },
    {
      name: 'staged',
      stage: 'prod',
      routes: [
        { route: 'GET /', integration: mock('prod-root') },
        { route: 'GET /pets/{id}', integration: mock('prod-pet') },
      ],
    },
    { name: 'shop', hosts: ['shop.example.com'], routes: [{ route: 'GET /pets/{id}', integration: mock('shop') }] },
    { name: 'wild', hosts: ['*.example.org'], routes: [{ route: 'GET /pets/{id}', integration: mock('wild') }] },
  ],
});
t.teardown(() => gw.stop());

const body = async (path: string, opts: { method?: string; host?: string } = {}) => {
  const r = await get(gw.port, path, { method: opts.method, headers: opts.host ? { host: opts.host } : undefined, body: opts.method === 'POST' ? 'x' : undefined });
  return r.status === 200 ? r.body : r.status;
};

t.test('static over param over greedy; method over ANY', async (t) => {
  t.equal(await body('/pets/dog'), 'static');
  t.equal(await body('/pets/cat'), 'param');
  t.equal(await body('/pets/cat', { method: 'POST' }), 'any-param', 'ANY when the method has no route');
  t.equal(await body('/pets/cat/toys'), 'greedy');
  t.equal(await body('/pets/dog/toys'), 'greedy', 'backtracks from the static branch');
});

t.test('backtracking across branches', async (t) => {
  t.equal(await body('/a/b/c'), 'abc');
  t.equal(await body('/a/b/d'), 'axd', 'static b fails deeper, param x matches');
});

t.test('$default catches the rest of its API, including empty segments', async (t) => {
  t.equal(await body('/nothing/here'), 'default');
  t.equal(await body('/pets//x'), 'greedy', 'greedy value may hold an empty segment');
  t.equal(await body('/'), 'root');
});

t.test('named stage: prefix stripped, owns its prefix', async (t) => {
  t.equal(await body('/prod/pets/1'), 'prod-pet');
  t.equal(await body('/prod'), 'prod-root');
  t.equal(await body('/prod/'), 'prod-root');
  t.equal(await body('/prod/unknown'), 404, 'no fall-through from a named stage to $default');
  t.equal(await body('/production'), 'default', 'a longer first segment is not the stage');
});

t.test('host-based routing, exact and wildcard, port ignored, case folded', async (t) => {
  t.equal(await body('/pets/1', { host: 'shop.example.com' }), 'shop');
  t.equal(await body('/pets/1', { host: 'SHOP.example.com:8080' }), 'shop');
  t.equal(await body('/pets/1', { host: 'a.example.org' }), 'wild');
  t.equal(await body('/pets/1', { host: 'example.org' }), 'param', 'bare domain is not *.example.org');
  t.equal(await body('/pets/1', { host: 'other.test' }), 'param', 'unknown hosts go to host-less APIs');
});
