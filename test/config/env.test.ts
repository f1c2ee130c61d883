import t from 'tap';
import { parseConfig } from '../../src/config/index.js';
import { MINIMAL_APIS, issuesOf, y } from './helpers.js';

const load = (text: string, env: NodeJS.ProcessEnv) => parseConfig(text, { file: 'env.yaml', env });

t.test('present, default, and default-on-empty', async (t) => {
  const text = 'listen:\n  host: ${HOST:-127.0.0.1}\naccessLog:\n  destination: ${LOG}\n' + MINIMAL_APIS;
  t.same(load(text, { HOST: '10.0.0.1', LOG: '/var/log/gw.log' }).listen.host, '10.0.0.1');
  t.same(load(text, { LOG: 'stderr' }).listen.host, '127.0.0.1', 'unset: default');
  t.same(load(text, { HOST: '', LOG: 'stderr' }).listen.host, '127.0.0.1', "empty: default too (shell ':-')");
  t.same(load(text, { LOG: 'stderr' }).accessLog.destination, 'stderr');
});

t.test('several variables in one string; literal $${ escape', async (t) => {
  const text = y`
    apis:
      - name: a
        routes:
          - route: GET /x
            integration: { type: http_proxy, uri: "http://\${UP_HOST}:\${UP_PORT:-9001}/v1" }
          - route: GET /y
            integration: { type: mock, body: "cost: $\${PRICE} and \${PRICE}" }
  `;
  const cfg = load(text, { UP_HOST: 'svc', PRICE: '5' });
  const [x, yRoute] = cfg.apis[0]!.routes;
  t.same(x!.integration, { type: 'http_proxy', uri: 'http://svc:9001/v1', timeoutMs: 29000, preserveHost: false, requestHeaders: {} });
  t.equal(yRoute!.integration.type === 'mock' && yRoute!.integration.body, 'cost: ${PRICE} and 5');
});

t.test('missing variables: every one reported with path and line', async (t) => {
  const text = 'listen:\n  host: ${HOST}\n  port: ${PORT}\n' + MINIMAL_APIS;
  t.same(issuesOf(text), [
    { path: 'listen.host', line: 2, message: 'environment variable HOST is not set (use ${HOST:-default} for a default)' },
    { path: 'listen.port', line: 3, message: 'environment variable PORT is not set (use ${PORT:-default} for a default)' },
  ]);
  t.same(issuesOf('listen: { host: "${9X}" }\n' + MINIMAL_APIS), [
    { path: 'listen.host', line: 1, message: 'invalid variable reference ${9X} (expected ${NAME} or ${NAME:-default})' },
  ]);
  t.same(issuesOf('listen: { host: "${HOST" }\n' + MINIMAL_APIS), [{ path: 'listen.host', line: 1, message: 'unterminated ${ in "${HOST"' }]);
});

t.test('numbers and booleans from variables are converted where the schema wants them', async (t) => {
  const text = y`
    listen: { port: "\${PORT:-8080}" }
    workers: \${WORKERS:-auto}
    admin: { enabled: "\${ADMIN:-true}" }
    limits: { maxBodyBytes: "\${MAX_BODY}" }
  ` + MINIMAL_APIS;
  const a = load(text, { MAX_BODY: '1e6' });
  t.equal(a.listen.port, 8080);
  t.equal(a.workers, 'auto');
  t.equal(a.admin.enabled, true);
  t.equal(a.limits.maxBodyBytes, 1000000);
  const b = load(text, { PORT: '3000', WORKERS: '4', ADMIN: 'false', MAX_BODY: '2048' });
  t.same([b.listen.port, b.workers, b.admin.enabled], [3000, 4, false]);
  // A bad value still gets a precise error.
  t.same(issuesOf(text, { env: { PORT: 'eighty', MAX_BODY: '1' } }), [{ path: 'listen.port', line: 1, message: 'must be an integer (got "eighty")' }]);
  t.same(issuesOf(text, { env: { WORKERS: '0', MAX_BODY: '1' } }), [{ path: 'workers', line: 2, message: 'must be between 1 and 256 (got 0)' }]);
});

t.test('string fields stay strings; written numbers are not coerced', async (t) => {
  const text = y`
    apis:
      - name: a
        routes:
          - route: GET /x
            integration: { type: mock, body: "\${BODY}", headers: { x-n: "\${N}" } }
  `;
  const cfg = load(text, { BODY: '123', N: 'true' });
  t.strictSame(cfg.apis[0]!.routes[0]!.integration, { type: 'mock', body: '123', headers: { 'x-n': 'true' }, status: 200 });
  // Only substituted strings are converted: a quoted literal is the user's choice and an error.
  t.same(issuesOf('listen: { port: "8080" }\n' + MINIMAL_APIS), [{ path: 'listen.port', line: 1, message: 'must be an integer (got "8080")' }]);
});

t.test('a value cannot inject YAML structure', async (t) => {
  const text = 'accessLog:\n  destination: ${DEST}\n' + MINIMAL_APIS;
  const evil = 'stdout\nadmin: { host: 0.0.0.0 }';
  const cfg = load(text, { DEST: evil });
  t.equal(cfg.accessLog.destination, evil, 'stays one string');
  t.equal(cfg.admin.host, '127.0.0.1');
});

t.test('defaults to process.env', async (t) => {
  process.env['GW_CONFIG_TEST_HOST'] = '192.0.2.1';
  t.teardown(() => delete process.env['GW_CONFIG_TEST_HOST']);
  t.equal(parseConfig('listen: { host: "${GW_CONFIG_TEST_HOST}" }\n' + MINIMAL_APIS, { file: 'x.yaml' }).listen.host, '192.0.2.1');
});
