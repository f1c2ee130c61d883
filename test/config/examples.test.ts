import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { Ajv } from 'ajv';
import { parse } from 'yaml';
import { ConfigJsonSchema, loadConfigFile, normalizeTargets, parseConfig, resolveWorkers } from '../../src/config/index.js';

// dist/test/config/ -> project root
const root = fileURLToPath(new URL('../../../', import.meta.url));
const FULL = `${root}config/examples/full.yaml`;
const SHIPPED = `${root}config/gateway.yaml`;

t.test('full example loads and keeps every explicit value', async (t) => {
  const cfg = loadConfigFile(FULL, { TENANT: 'acme' });
  t.equal(cfg.listen.port, 8080, '${PORT:-8080} defaulted and made a number');
  t.equal(cfg.apis.length, 3);
  const chat = cfg.apis[2]!;
  t.equal(chat.protocol, 'websocket');
  t.same(chat.routes.map((r) => r.route), ['$connect', 'send', '$default']);
  t.equal(chat.websocket.retentionMessages, 10000);
  const shop = cfg.apis[0]!;
  t.same(shop.hosts, ['shop.example.com', '*.shop.example.com']);
  const catalog = shop.upstreams['catalog']!;
  t.equal(catalog.balance, 'weighted');
  t.same(normalizeTargets(catalog.targets), [
    { url: 'http://127.0.0.1:9001', weight: 1 },
    { url: 'http://127.0.0.1:9002', weight: 3 },
  ]);
  t.same(catalog.healthCheck, { path: '/health', intervalMs: 2000, timeoutMs: 1000, healthyThreshold: 2, unhealthyThreshold: 2, expectStatus: [200, 399] });
  const proxy = shop.routes[0]!.integration;
  t.equal(proxy.type, 'http_proxy');
  if (proxy.type === 'http_proxy') {
    t.equal(proxy.path, '/v2/pets/{id}');
    t.equal(proxy.connectTimeoutMs, 2000);
    t.same(proxy.requestHeaders, { 'x-gateway': 'uws-api-gateway', 'x-tenant': 'acme' });
  }
  // The all-defaults upstream
  t.same(shop.upstreams['orders'], {
    targets: ['http://127.0.0.1:9004'],
    balance: 'round_robin',
    keepAlive: { maxSockets: 256, idleTimeoutMs: 4000, pipelining: 1 },
    connectTimeoutMs: 5000,
    circuitBreaker: { failureThreshold: 5, openMs: 10000 },
    retries: 1,
  });
  t.equal(cfg.apis[1]!.stage, 'beta');
});

t.test('shipped config loads: mock routes only', async (t) => {
  const cfg = loadConfigFile(SHIPPED, {});
  t.same(cfg.listen, { host: '0.0.0.0', port: 8080 });
  t.equal(cfg.workers, 'auto');
  t.ok(resolveWorkers(cfg.workers) >= 1);
  t.same(cfg.admin, { host: '127.0.0.1', port: 9876, enabled: true });
  const routes = cfg.apis.flatMap((a) => a.routes);
  t.ok(routes.every((r) => r.integration.type === 'mock' || r.integration.type === 'function'), 'nothing needs a running upstream');
  const ping = routes.find((r) => r.route === 'GET /ping')!;
  t.same(ping.integration, { type: 'mock', status: 200, headers: { 'content-type': 'application/json' }, body: '{"ok":true}' });
  t.match(routes.find((r) => r.route === 'GET /hello/{name}')!.integration, { type: 'function', handler: `${root}config/functions/hello.mjs#handler`, payloadFormatVersion: '2.0' });
});

t.test('the commented-out http_proxy example in the shipped config is valid once uncommented', async (t) => {
  const text = readFileSync(SHIPPED, 'utf8')
    .split('\n')
    .map((l) => l.replace(/^(\s*)# (upstreams:|  backend:|    targets:|- route: ANY|  integration: \{ type: http_proxy)/, '$1$2'))
    .join('\n');
  const cfg = parseConfig(text, { file: SHIPPED, env: {} });
  const api = cfg.apis[0]!;
  t.same(Object.keys(api.upstreams), ['backend']);
  t.equal(api.routes.at(-1)!.route, 'ANY /api/{proxy+}');
});

t.test('ConfigJsonSchema (for editors) accepts the files as written, before defaults', async (t) => {
  const ajv = new Ajv({ strict: false });
  const validate = ajv.compile(ConfigJsonSchema);
  for (const f of [FULL, SHIPPED]) {
    const raw = parse(readFileSync(f, 'utf8'));
    t.ok(validate(raw), `${f}: ${JSON.stringify(validate.errors)}`);
  }
  t.notOk(validate({}), 'apis is still required');
});

t.test('full example: functions, validation and mapping templates', async (t) => {
  const cfg = loadConfigFile(FULL, {});
  const shop = cfg.apis[0]!;
  const byKey = (k: string) => shop.routes.find((r) => r.route === k)!;
  const list = byKey('GET /pets');
  t.match(list.integration, { type: 'function', handler: `${root}config/examples/functions/pets.mjs#list`, payloadFormatVersion: '2.0', functionName: 'listPets' });
  t.same(list.requestValidation?.required, { querystring: ['limit'] });
  t.match(byKey('POST /pets').integration, { type: 'function', handler: `${root}config/examples/functions/pets.mjs#create` }, 'named handler resolved');
  t.same(byKey('POST /pets').requestValidation?.bodyModels, { 'application/json': 'Pet' });
  t.same(Object.keys(shop.models), ['Pet']);
  const legacy = byKey('POST /legacy/orders').integration;
  t.match(legacy, { type: 'http', httpMethod: 'PUT', passthroughBehavior: 'WHEN_NO_TEMPLATES' });
  t.same(Object.keys((legacy as { responses: object }).responses), ['default', '4\\d{2}']);
  t.equal(cfg.functions.handlers['createPet'], './functions/pets.mjs#create', 'the map itself keeps what the file says');
});
