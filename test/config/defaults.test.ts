import t from 'tap';
import { parseConfig } from '../../src/config/index.js';
import { MINIMAL_APIS, issuesOf, y } from './helpers.js';

t.test('every default, exactly', async (t) => {
  const cfg = parseConfig(MINIMAL_APIS, { file: 'min.yaml', env: {} });
  t.strictSame(cfg, {
    listen: { host: '0.0.0.0', port: 8080 },
    workers: 'auto',
    admin: { host: '127.0.0.1', port: 9876, enabled: true },
    limits: { maxBodyBytes: 10485760, maxHeaderBytes: 10240, maxUrlBytes: 8192 },
    shutdown: { drainTimeoutMs: 30000 },
    requestId: { header: 'x-request-id', trustIncoming: false },
    accessLog: { enabled: true, destination: 'stdout' },
    functions: { threads: 2, concurrencyPerThread: 64, maxQueue: 1024, handlers: {} },
    store: { type: 'memory' },
    // AWS's account-level default: 10,000 req/s, burst 5,000.
    throttling: { gateway: { rateLimit: 10000, burstLimit: 5000 }, mode: 'exact', leaseMs: 100, failMode: 'open' },
    cache: { l1MaxBytes: 67108864, l1MaxEntries: 100000, maxEntryBytes: 1048576 },
    iam: { credentials: [] },
    trustedProxies: [],
    usagePlans: {},
    apiKeys: [],
    apis: [
      {
        name: 'a',
        stage: '$default',
        upstreams: {},
        routes: [{ route: 'GET /ping', integration: { type: 'mock', status: 200, headers: {}, body: '' } }],
        models: {},
        modelSchemaDraft: '04',
        stageVariables: {},
        protocol: 'http',
        routeSelectionExpression: '$request.body.action',
        websocket: { maxMessageBytes: 131072, idleTimeoutSeconds: 600, maxConnectionMinutes: 120, maxBackpressureBytes: 1048576, retentionSeconds: 300, retentionMessages: 10000, broadcastBatchBytes: 0 },
        apiKeyRequired: false,
        apiKeySource: 'HEADER',
        authorizers: {},
        cache: { enabled: false, ttlSeconds: 300, requireAuthorizationForCacheControl: true, unauthorizedCacheControlHeaderStrategy: 'SUCCEED_WITH_RESPONSE_HEADER' },
      },
    ],
  });
});

t.test('partial objects get the rest of their defaults', async (t) => {
  const top = y`
    listen: { port: 3000 }
    admin: { enabled: false }
    limits: { maxBodyBytes: 1024 }
  `;
  const cfg = parseConfig(top + MINIMAL_APIS, { file: 'x.yaml', env: {} });
  t.same(cfg.listen, { host: '0.0.0.0', port: 3000 });
  t.same(cfg.admin, { host: '127.0.0.1', port: 9876, enabled: false });
  t.same(cfg.limits, { maxBodyBytes: 1024, maxHeaderBytes: 10240, maxUrlBytes: 8192 });
});

t.test('upstream, target, health check and http_proxy defaults', async (t) => {
  const cfg = parseConfig(y`
    apis:
      - name: a
        upstreams:
          u:
            targets: [{ url: "http://127.0.0.1:1" }]
            healthCheck: {}
            keepAlive: { maxSockets: 8 }
        routes:
          - route: GET /x
            integration: { type: http_proxy, upstream: u }
  `, { file: 'x.yaml', env: {} });
  const u = cfg.apis[0]!.upstreams['u']!;
  t.same(u.targets, [{ url: 'http://127.0.0.1:1', weight: 1 }]);
  t.same(u.keepAlive, { maxSockets: 8, idleTimeoutMs: 4000, pipelining: 1 });
  t.same(u.healthCheck, { path: '/health', intervalMs: 2000, timeoutMs: 1000, healthyThreshold: 2, unhealthyThreshold: 2, expectStatus: [200, 399] });
  t.strictSame(cfg.apis[0]!.routes[0]!.integration, { type: 'http_proxy', upstream: 'u', timeoutMs: 29000, preserveHost: false, requestHeaders: {} });
});

t.test('no healthCheck block means no active checks (stays absent)', async (t) => {
  const cfg = parseConfig(y`
    apis:
      - name: a
        upstreams: { u: { targets: ["http://h:1"] } }
        routes: [{ route: GET /x, integration: { type: http_proxy, upstream: u } }]
  `, { file: 'x.yaml', env: {} });
  t.equal(cfg.apis[0]!.upstreams['u']!.healthCheck, undefined);
  t.notOk('healthCheck' in cfg.apis[0]!.upstreams['u']!);
});

t.test('workers: auto or 1..256', async (t) => {
  t.equal(parseConfig(`workers: 4\n${MINIMAL_APIS}`, { file: 'x.yaml', env: {} }).workers, 4);
  t.equal(parseConfig(`workers: 256\n${MINIMAL_APIS}`, { file: 'x.yaml', env: {} }).workers, 256);
  t.match(issuesOf(`workers: 0\n${MINIMAL_APIS}`), [{ path: 'workers', line: 1, message: 'must be between 1 and 256 (got 0)' }]);
  t.match(issuesOf(`workers: many\n${MINIMAL_APIS}`), [{ path: 'workers', line: 1, message: 'must be "auto" or an integer 1..256 (got "many")' }]);
  t.match(issuesOf(`workers: 2.5\n${MINIMAL_APIS}`), [{ path: 'workers', line: 1, message: 'must be an integer (got 2.5)' }]);
});

t.test('http_proxy timeoutMs range 50..300000', async (t) => {
  const at = (ms: number) => issuesOf(y`
    apis:
      - name: a
        routes:
          - route: GET /x
            integration: { type: http_proxy, uri: "http://h:1", timeoutMs: ${ms} }
  `);
  t.same(at(300000), []);
  t.same(at(50), []);
  t.match(at(300001), [{ path: 'apis[0].routes[0].integration.timeoutMs', line: 5, message: 'must be between 50 and 300000 (got 300001)' }]);
});

t.test('YAML anchors and merge keys work (and merged-in keys are validated)', async (t) => {
  const text = y`
    apis:
      - name: a
        upstreams:
          a: &base { targets: ["http://h:1"], retries: 3 }
          b:
            <<: *base
            targets: ["http://h:2"]
        routes: [{ route: GET /x, integration: { type: http_proxy, upstream: b } }]
  `;
  const b = parseConfig(text, { file: 'x.yaml', env: {} }).apis[0]!.upstreams['b']!;
  t.same(b.targets, ['http://h:2']);
  t.equal(b.retries, 3);
  t.same(issuesOf(text.replace('retries: 3', 'retries: 30')), [
    { path: 'apis[0].upstreams.a.retries', line: 4, message: 'must be between 0 and 10 (got 30)' },
    { path: 'apis[0].upstreams.b.retries', line: 5, message: 'must be between 0 and 10 (got 30)' },
  ]);
});

t.test('websocket.broadcastBatchBytes: at most half of maxBackpressureBytes (a batch alone must not drop its subscribers)', async (t) => {
  const ws = (settings: string) => `apis:\n  - name: w\n    protocol: websocket\n    websocket: ${settings}\n    routes:\n      - route: $default\n        integration: { type: mock }\n`;
  t.same(issuesOf(ws('{ broadcastBatchBytes: 65536 }')), []);
  t.match(issuesOf(ws('{ broadcastBatchBytes: 600000 }')), [{ path: 'apis[0].websocket.broadcastBatchBytes', message: 'must be at most half of maxBackpressureBytes (1048576)' }]);
  t.match(issuesOf(ws('{ broadcastBatchBytes: 16384, maxBackpressureBytes: 16384 }')), [{ path: 'apis[0].websocket.broadcastBatchBytes', message: 'must be at most half of maxBackpressureBytes (16384)' }]);
  t.match(issuesOf(ws('{ broadcastBatchBytes: -1 }')), [{ path: 'apis[0].websocket.broadcastBatchBytes' }]);
});
