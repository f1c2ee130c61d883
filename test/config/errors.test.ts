import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { ConfigError, loadConfigFile, parseConfig } from '../../src/config/index.js';
import { MINIMAL_APIS, issuesOf, y } from './helpers.js';

/** One API whose routes/upstreams the test supplies; route list starts on line 5. */
const api = (upstreams: string, routes: string) => y`
  apis:
    - name: a
      upstreams: ${upstreams}
      routes:
  ` + routes;

t.test('YAML syntax errors carry the line', async (t) => {
  t.match(issuesOf('apis:\n  - name: a\n   routes: []\n'), [{ path: '', line: 3, message: /^YAML syntax error: / }]);
  t.match(issuesOf('listen: {}\nlisten: {}\n'), [{ line: 2, message: 'YAML syntax error: Map keys must be unique' }]);
  t.match(issuesOf('a: 1\n---\nb: 2\n'), [{ line: 2, message: /one YAML document/ }]);
  t.match(issuesOf('listen: *nope\n'), [{ line: 1, message: /Unresolved alias/ }]);
  // Unquoted {id} inside a flow mapping: say what to do.
  const flow = issuesOf(api('{}', '      - { route: GET /x, integration: { type: http_proxy, uri: http://h/{id} } }\n'));
  t.match(flow, [{ line: 5, message: /quote values that contain \{ \}/ }]);
  t.equal(flow.length, 1, 'one error, not the parser cascade');
});

t.test('document shape', async (t) => {
  t.match(issuesOf(''), [{ path: '', message: /file is empty/ }]);
  t.match(issuesOf('- a\n'), [{ path: '', line: 1, message: 'must be a mapping (got an array)' }]);
  t.match(issuesOf('listen: { port: 1 }\n'), [{ path: 'apis', line: 1, message: 'is required' }]);
  t.match(issuesOf('apis: []\n'), [{ path: 'apis', line: 1, message: 'must not be empty' }]);
});

t.test('unknown keys: named by path, with did-you-mean', async (t) => {
  t.same(issuesOf('listn: { port: 1 }\n' + MINIMAL_APIS), [{ path: 'listn', line: 1, message: 'unknown property (did you mean listen?)' }]);
  t.same(issuesOf('admin:\n  Port: 1\n' + MINIMAL_APIS), [{ path: 'admin.Port', line: 2, message: 'unknown property (did you mean port?)' }]);
  t.same(issuesOf('frobnicate: true\n' + MINIMAL_APIS), [{ path: 'frobnicate', line: 1, message: 'unknown property' }]);
  const text = y`
    apis:
      - name: a
        routes:
          - route: GET /a
            integration: { type: mock }
          - route: GET /b
            integration:
              type: http_proxy
              uri: http://127.0.0.1:9000
              timeout: 1000
  `;
  t.same(issuesOf(text), [{ path: 'apis[0].routes[1].integration.timeout', line: 10, message: 'unknown property (did you mean timeoutMs?)' }]);
  // In a target's object form: the typo only, not "must be a string" from the other union member.
  t.same(issuesOf(api('{ u: { targets: [{ url: "http://h:1", wieght: 2 }] } }', '      - { route: GET /x, integration: { type: http_proxy, upstream: u } }\n')), [
    { path: 'apis[0].upstreams.u.targets[0].wieght', line: 3, message: 'unknown property (did you mean weight?)' },
  ]);
});

t.test('types, ranges, enums, patterns', async (t) => {
  t.same(issuesOf('listen: { port: http }\n' + MINIMAL_APIS), [{ path: 'listen.port', line: 1, message: 'must be an integer (got "http")' }]);
  t.same(issuesOf('listen:\n  port: 70000\n' + MINIMAL_APIS), [{ path: 'listen.port', line: 2, message: 'must be between 0 and 65535 (got 70000)' }]);
  t.same(issuesOf('admin: { enabled: yes }\n' + MINIMAL_APIS), [{ path: 'admin.enabled', line: 1, message: 'must be a boolean (true or false) (got "yes")' }]);
  t.same(issuesOf('limits: { maxBodyBytes: 0 }\n' + MINIMAL_APIS), [{ path: 'limits.maxBodyBytes', line: 1, message: 'must be >= 1 (got 0)' }]);
  t.same(issuesOf('requestId: { header: "x id" }\n' + MINIMAL_APIS), [{ path: 'requestId.header', line: 1, message: 'must be a header name (got "x id")' }]);
  t.same(issuesOf(api('{ u: { targets: ["http://h:1"], balance: random } }', '      - { route: GET /x, integration: { type: http_proxy, upstream: u } }\n')), [
    { path: 'apis[0].upstreams.u.balance', line: 3, message: 'must be one of round_robin, weighted, least_outstanding (got "random")' },
  ]);
  t.same(issuesOf(api('{ u: { targets: ["http://h:1"], keepAlive: { pipelining: 0 } } }', '      - { route: GET /x, integration: { type: http_proxy, upstream: u } }\n')), [
    { path: 'apis[0].upstreams.u.keepAlive.pipelining', line: 3, message: 'must be between 1 and 256 (got 0)' },
  ]);
  t.same(issuesOf(api('{ u: { targets: [] } }', '      - { route: GET /x, integration: { type: http_proxy, upstream: u } }\n')), [
    { path: 'apis[0].upstreams.u.targets', line: 3, message: 'must not be empty' },
  ]);
  t.same(issuesOf(api('{ "bad name": { targets: ["http://h:1"] } }', '      - { route: GET /x, integration: { type: mock } }\n')), [
    { path: 'apis[0].upstreams["bad name"]', line: 3, message: 'invalid upstream name (use A-Z a-z 0-9 _ -)' },
  ]);
  t.same(issuesOf(api('{}', '      - { route: GET /x, integration: { type: mock, headers: { "bad header": x, x-n: 5 } } }\n')), [
    { path: 'apis[0].routes[0].integration.headers["bad header"]', line: 5, message: 'invalid header name' },
    { path: 'apis[0].routes[0].integration.headers.x-n', line: 5, message: 'must be a string (got 5)' },
  ]);
  t.same(issuesOf(api('{}', '      - { route: GET /x, integration: { type: mock, status: 99 } }\n')), [
    { path: 'apis[0].routes[0].integration.status', line: 5, message: 'must be between 100 and 599 (got 99)' },
  ]);
  const names = y`
    apis:
      - name: "a b"
        stage: "prod/1"
        hosts: ["shop.example.com:8080", "*.ok.example.com"]
        routes: [{ route: GET /x, integration: { type: mock } }]
  `;
  t.same(issuesOf(names), [
    { path: 'apis[0].name', line: 2, message: 'must be 1-64 characters of A-Z a-z 0-9 _ - (got "a b")' },
    { path: 'apis[0].stage', line: 3, message: `must be '$default' or 1-128 characters of A-Z a-z 0-9 _ - (got "prod/1")` },
    { path: 'apis[0].hosts[0]', line: 4, message: `must be a hostname, optionally '*.'-prefixed, without port (got "shop.example.com:8080")` },
  ]);
});

t.test('integration union: discriminated on type', async (t) => {
  const route = (integration: string) => issuesOf(api('{}', `      - route: GET /x\n        integration: ${integration}\n`));
  t.same(route('{ type: lambda, function: f }'), [{ path: 'apis[0].routes[0].integration.type', line: 6, message: 'must be one of http_proxy, http, mock, function (got "lambda")' }]);
  t.same(route('{ status: 200 }'), [{ path: 'apis[0].routes[0].integration.type', line: 6, message: 'is required (one of http_proxy, http, mock, function)' }]);
  t.same(route('"mock"'), [{ path: 'apis[0].routes[0].integration', line: 6, message: 'must be a mapping with a type (http_proxy, http, mock, function) (got "mock")' }]);
  // A mock reports only mock's errors, not http_proxy's.
  t.same(route('{ type: mock, upstream: u, status: 200 }'), [{ path: 'apis[0].routes[0].integration.upstream', line: 6, message: 'unknown property' }]);
  t.same(route('{ type: http_proxy, uri: "http://h:1", body: x }'), [{ path: 'apis[0].routes[0].integration.body', line: 6, message: 'unknown property' }]);
  t.same(issuesOf(api('{}', '      - route: GET /x\n')), [{ path: 'apis[0].routes[0].integration', line: 5, message: 'is required' }]);
});

t.test('function: handler module resolved from the config file, checked, export defaulted', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cfg-fn-'));
  mkdirSync(join(dir, 'fns'));
  writeFileSync(join(dir, 'fns', 'pets.mjs'), 'export const handler = async () => ({});\n');
  const file = join(dir, 'gateway.yaml');
  const load = (integration: string) => {
    writeFileSync(file, `apis:\n  - name: a\n    routes:\n      - route: GET /x\n        integration: ${integration}\n`);
    return loadConfigFile(file, {});
  };
  const handlerOf = (c: ReturnType<typeof load>) => (c.apis[0]!.routes[0]!.integration as { handler: string }).handler;
  t.equal(handlerOf(load('{ type: function, handler: ./fns/pets.mjs#list }')), `${join(dir, 'fns', 'pets.mjs')}#list`, 'relative to the config file, absolute after');
  t.equal(handlerOf(load('{ type: function, handler: fns/pets.mjs }')), `${join(dir, 'fns', 'pets.mjs')}#handler`, 'export defaults to handler');
  const c = load('{ type: function, handler: ./fns/pets.mjs }');
  t.match(c.apis[0]!.routes[0]!.integration, { payloadFormatVersion: '2.0', timeoutMs: 29000, memoryMB: 128 });
  const issues = (integration: string) => {
    try {
      load(integration);
      return [];
    } catch (e) {
      return (e as ConfigError).issues.map((i) => ({ path: i.path, line: i.line, message: i.message }));
    }
  };
  t.match(issues('{ type: function, handler: ./fns/nope.mjs }'), [{ path: 'apis[0].routes[0].integration.handler', line: 5, message: /handler module not found: \.\/fns\/nope\.mjs \(resolved to .*fns\/nope\.mjs\)/ }]);
  t.match(issues('{ type: function, handler: ./fns/pets.ts }'), [{ message: 'handler module must be a .mjs, .cjs or .js file, got "./fns/pets.ts"' }]);
  t.match(issues('{ type: function, handler: "./fns/pets.mjs#1bad" }'), [{ path: 'apis[0].routes[0].integration.handler', message: /exportName/ }]);
  t.match(issues('{ type: function, handler: ./fns/pets.mjs, payloadFormatVersion: "3.0" }'), [{ path: 'apis[0].routes[0].integration.payloadFormatVersion', message: /1\.0, 2\.0/ }]);
  t.match(issues('{ type: function }'), [{ path: 'apis[0].routes[0].integration.handler', message: 'is required' }]);
});

t.test('http_proxy: upstream xor uri, references, URLs', async (t) => {
  const ups = '{ catalog: { targets: ["http://h:1"] } }';
  const route = (integration: string, upstreams = ups) => issuesOf(api(upstreams, `      - route: GET /pets/{id}\n        integration: ${integration}\n`));
  t.same(route('{ type: http_proxy, upstream: catalog }'), []);
  t.same(route('{ type: http_proxy, upstream: catalogue }'), [
    { path: 'apis[0].routes[0].integration.upstream', line: 6, message: 'unknown upstream "catalogue" (did you mean catalog?)' },
  ]);
  t.same(route('{ type: http_proxy, upstream: zzz }'), [{ path: 'apis[0].routes[0].integration.upstream', line: 6, message: 'unknown upstream "zzz" (defined: catalog)' }]);
  t.same(route('{ type: http_proxy, upstream: zzz }', '{}'), [
    { path: 'apis[0].routes[0].integration.upstream', line: 6, message: 'unknown upstream "zzz" (this API defines no upstreams)' },
  ]);
  t.same(route('{ type: http_proxy, upstream: catalog, uri: "http://h:1" }'), [
    { path: 'apis[0].routes[0].integration.uri', line: 6, message: 'set either upstream or uri, not both' },
  ]);
  t.same(route('{ type: http_proxy }'), [
    { path: 'apis[0].routes[0].integration.upstream', line: 6, message: 'http_proxy needs upstream (a name from upstreams) or uri' },
  ]);
  t.same(route('{ type: http_proxy, uri: "https://h/x" }'), [
    { path: 'apis[0].routes[0].integration.uri', line: 6, message: 'https upstreams are not supported yet (use http://): https://h/x' },
  ]);
  t.match(route('{ type: http_proxy, uri: "ftp://h/x" }'), [{ path: 'apis[0].routes[0].integration.uri', message: /only http:\/\/ is supported/ }]);
  t.match(route('{ type: http_proxy, uri: "/relative" }'), [{ path: 'apis[0].routes[0].integration.uri', message: /must be an absolute http:\/\/ URL/ }]);
  t.match(route('{ type: http_proxy, uri: "http://h/x?a=1" }'), [{ path: 'apis[0].routes[0].integration.uri', message: /query string/ }]);
  t.match(route('{ type: http_proxy, uri: "http://u:p@h/x" }'), [{ message: /credentials/ }]);
  t.same(route('{ type: http_proxy, uri: "http://h:1/v1", path: /x }'), [
    { path: 'apis[0].routes[0].integration.path', line: 6, message: 'only allowed with upstream (with uri, put the path in the uri)' },
  ]);
  t.same(route('{ type: http_proxy, upstream: catalog, path: x }'), [{ path: 'apis[0].routes[0].integration.path', line: 6, message: "must start with '/': x" }]);
  // Targets are origins: http only, no path.
  const target = (url: string) => route('{ type: http_proxy, upstream: c }', `{ c: { targets: ["http://ok:1", { url: "${url}" }] } }`);
  t.same(target('https://h:443'), [{ path: 'apis[0].upstreams.c.targets[1].url', line: 3, message: 'https upstreams are not supported yet (use http://): https://h:443' }]);
  t.match(target('http://h:1/base'), [{ path: 'apis[0].upstreams.c.targets[1].url', message: /must be an origin/ }]);
  t.match(target('h:1'), [{ path: 'apis[0].upstreams.c.targets[1].url', message: /absolute http:\/\/ URL/ }]);
  t.same(target('http://h:1/'), []);
});

t.test('template variables must come from the route key', async (t) => {
  const ups = '{ c: { targets: ["http://h:1"] } }';
  const check = (routeKey: string, integration: string) => issuesOf(api(ups, `      - route: ${routeKey}\n        integration: ${integration}\n`));
  t.same(check('GET /pets/{id}', '{ type: http_proxy, upstream: c, path: "/v2/pets/{id}" }'), []);
  t.same(check('ANY /files/{proxy+}', '{ type: http_proxy, uri: "http://h:1/static/{proxy}" }'), []);
  t.same(check('GET /pets/{id}', '{ type: http_proxy, upstream: c, path: "/v2/{petId}" }'), [
    { path: 'apis[0].routes[0].integration.path', line: 6, message: 'variable {petId} is not in route "GET /pets/{id}" (available: {id})' },
  ]);
  t.same(check('ANY /files/{proxy+}', '{ type: http_proxy, uri: "http://h:1/{file}" }'), [
    { path: 'apis[0].routes[0].integration.uri', line: 6, message: 'variable {file} is not in route "ANY /files/{proxy+}" (available: {proxy} (from {proxy+}))' },
  ]);
  t.same(check('ANY /files/{proxy+}', '{ type: http_proxy, uri: "http://h:1/{proxy+}" }'), [
    { path: 'apis[0].routes[0].integration.uri', line: 6, message: 'write {proxy} to use the greedy variable {proxy+}' },
  ]);
  t.same(check('$default', '{ type: http_proxy, upstream: c, path: "/{x}" }'), [
    { path: 'apis[0].routes[0].integration.path', line: 6, message: 'variable {x} is not in route "$default" (it has no path variables)' },
  ]);
  t.match(check('GET /a', '{ type: http_proxy, upstream: c, path: "/a/{x" }'), [{ path: 'apis[0].routes[0].integration.path', message: /unbalanced '\{'/ }]);
});

t.test('route key syntax', async (t) => {
  const key = (k: string) => issuesOf(api('{}', `      - route: "${k}"\n        integration: { type: mock }\n`));
  for (const ok of ['$default', 'GET /', 'ANY /{proxy+}', 'DELETE /a/{b}/c/{d}', 'OPTIONS /a-b_c.d~e', 'GET /items/', 'HEAD /x:y@z']) t.same(key(ok), [], ok);
  const bad: [string, string | RegExp][] = [
    ['get /a', 'method must be upper-case: GET'],
    ['FETCH /a', 'unknown method FETCH (expected one of GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS, ANY)'],
    ['GET a', "path must start with '/': a"],
    ['GET  /a', /one space between/],
    ['/a', /one space between/],
    ['$DEFAULT', /'\$default' or 'METHOD \/path'/],
    ['GET /{a+}/b', 'greedy variable {a+} must be the last segment'],
    ['GET /f/{id}.json', 'path variable must be a whole segment, like {name} or {name+}: {id}.json'],
    ['GET /{a}/{a}', 'duplicate path variable {a}'],
    ['GET /{}', /invalid path variable name/],
    ['GET /a//b', "empty path segment ('//') in /a//b"],
    ['GET /a/../b', "dot segment '..' in /a/../b"],
    ['GET /a?b=1', "invalid character in path segment 'a?b=1'"],
  ];
  for (const [k, message] of bad) t.match(key(k), [{ path: 'apis[0].routes[0].route', line: 5, message }], k);
});

t.test('API names and (host, stage) pairs', async (t) => {
  const apis = (...blocks: string[]) =>
    issuesOf('apis:\n' + blocks.map((b) => `  - ${b}\n    routes: [{ route: GET /x, integration: { type: mock } }]\n`).join(''));
  t.same(apis('name: a', 'name: a\n    stage: v2'), [{ path: 'apis[1].name', line: 4, message: 'duplicate API name "a" (also apis[0].name)' }]);
  t.same(apis('name: a', 'name: b'), [
    { path: 'apis[1].stage', line: 4, message: 'API "b" has no hosts and stage "$default", like API "a" (apis[0]); give one of them hosts or another stage' },
  ]);
  t.same(apis('name: a\n    stage: v1', 'name: b\n    stage: v1'), [
    { path: 'apis[1].stage', line: 6, message: 'API "b" has no hosts and stage "v1", like API "a" (apis[0]); give one of them hosts or another stage' },
  ]);
  t.same(apis('name: a\n    hosts: [x.com, Y.com]', 'name: b\n    hosts: [y.com]'), [
    { path: 'apis[1].hosts[0]', line: 6, message: 'host "y.com" with stage "$default" is already served by API "a" (apis[0])' },
  ]);
  t.same(apis('name: a\n    hosts: [x.com, X.COM]'), [{ path: 'apis[0].hosts[1]', line: 3, message: 'duplicate host "x.com"' }]);
  // No conflict: different stages, or a host-specific API next to the catch-all one, or a wildcard next to an exact host.
  t.same(apis('name: a\n    hosts: [x.com]', 'name: b\n    hosts: [x.com]\n    stage: beta'), []);
  t.same(apis('name: a', 'name: b\n    hosts: [x.com]'), []);
  t.same(apis('name: a\n    hosts: ["*.x.com"]', 'name: b\n    hosts: [a.x.com]'), []);
});

t.test('health check cross-field checks', async (t) => {
  const hc = (body: string) => issuesOf(api(`{ u: { targets: ["http://h:1"], healthCheck: ${body} } }`, '      - { route: GET /x, integration: { type: http_proxy, upstream: u } }\n'));
  t.same(hc('{}'), []);
  t.same(hc('{ intervalMs: 500, timeoutMs: 1000 }'), [{ path: 'apis[0].upstreams.u.healthCheck.timeoutMs', line: 3, message: 'must not exceed intervalMs (500)' }]);
  t.same(hc('{ expectStatus: [400, 200] }'), [
    { path: 'apis[0].upstreams.u.healthCheck.expectStatus', line: 3, message: 'must be [low, high] with low <= high (got [400, 200])' },
  ]);
  t.same(hc('{ expectStatus: [200] }'), [{ path: 'apis[0].upstreams.u.healthCheck.expectStatus', line: 3, message: 'must have exactly 2 items' }]);
  t.same(hc('{ path: health }'), [{ path: 'apis[0].upstreams.u.healthCheck.path', line: 3, message: `must be a path starting with '/' (got "health")` }]);
});

t.test('all issues in one pass, in file order; ConfigError message format', async (t) => {
  const text = y`
    listen:
      port: -1
    workers: lots
    apis:
      - name: a
        routes:
          - route: GET /a/{id}
            integration: { type: http_proxy, upstream: nope, timeoutMs: 10 }
  `;
  let err: unknown;
  try {
    parseConfig(text, { file: 'conf/gw.yaml', env: {} });
  } catch (e) {
    err = e;
  }
  t.ok(err instanceof ConfigError);
  const ce = err as ConfigError;
  t.equal(ce.file, 'conf/gw.yaml');
  t.same(ce.issues, [
    { path: 'listen.port', line: 2, message: 'must be between 0 and 65535 (got -1)' },
    { path: 'workers', line: 3, message: 'must be "auto" or an integer 1..256 (got "lots")' },
    { path: 'apis[0].routes[0].integration.timeoutMs', line: 8, message: 'must be between 50 and 300000 (got 10)' },
    { path: 'apis[0].routes[0].integration.upstream', line: 8, message: 'unknown upstream "nope" (this API defines no upstreams)' },
  ]);
  t.equal(
    ce.message,
    [
      'Invalid config conf/gw.yaml:',
      '  conf/gw.yaml:2: listen.port: must be between 0 and 65535 (got -1)',
      '  conf/gw.yaml:3: workers: must be "auto" or an integer 1..256 (got "lots")',
      '  conf/gw.yaml:8: apis[0].routes[0].integration.timeoutMs: must be between 50 and 300000 (got 10)',
      '  conf/gw.yaml:8: apis[0].routes[0].integration.upstream: unknown upstream "nope" (this API defines no upstreams)',
    ].join('\n'),
  );
});

t.test('loadConfigFile: unreadable file is a ConfigError too', async (t) => {
  t.throws(() => loadConfigFile('/nonexistent/gateway.yaml', {}), {
    name: 'ConfigError',
    file: '/nonexistent/gateway.yaml',
    issues: [{ path: '', message: /cannot read file: ENOENT/ }],
  });
});
