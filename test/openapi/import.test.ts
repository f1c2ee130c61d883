import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { parse, stringify } from 'yaml';
import { parseConfig, type Config } from '../../src/config/index.js';
import { importOpenApi, importOpenApiFile, isOpenApi, OpenApiImportError, type ImportOptions, type ImportResult } from '../../src/openapi/import.js';
import { compileModels, compileRouteValidator } from '../../src/validation/index.js';

// dist/test/openapi/ -> test/fixtures/openapi/
const FIX = fileURLToPath(new URL('../../../test/fixtures/openapi/', import.meta.url));
const FUNCTIONS = join(FIX, 'functions');

/** What every produced config must survive: the project's own loader, with the file next to the document. */
function load(config: Record<string, unknown>, baseDir = FIX): Config {
  return parseConfig(stringify(config), { file: join(baseDir, 'imported.yaml'), env: {} });
}

function run(doc: unknown, opts: Partial<ImportOptions> = {}): ImportResult {
  return importOpenApi(doc, { baseDir: FIX, ...opts });
}

/** The issues of an import that must fail. */
function issuesOf(doc: unknown, opts: Partial<ImportOptions> = {}): { path: string; message: string }[] {
  try {
    run(doc, opts);
  } catch (e) {
    if (e instanceof OpenApiImportError) return e.issues;
    throw e;
  }
  throw new Error('expected the import to fail');
}

/** A minimal OpenAPI 3.0 document around some paths. */
function oas(paths: Record<string, unknown>, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { openapi: '3.0.1', info: { title: 'T', version: '1' }, paths, ...extra };
}
const MOCK = { 'x-amazon-apigateway-integration': { type: 'mock' } };

t.test('isOpenApi', async (t) => {
  t.equal(isOpenApi({ openapi: '3.0.1', paths: {} }), true);
  t.equal(isOpenApi({ openapi: '3.1.0', paths: {} }), true);
  t.equal(isOpenApi({ swagger: '2.0', paths: {} }), false);
  t.equal(isOpenApi({ openapi: '3.0.1' }), false, 'no paths');
  t.equal(isOpenApi({ apis: [] }), false, 'a gateway config');
  t.equal(isOpenApi(null), false);
  t.equal(isOpenApi('openapi: 3.0.1'), false);
});

t.test('AWS PetStore (REST export): http + mock integrations, templates, responses, validators, models', async (t) => {
  const doc = parse(readFileSync(join(FIX, 'petstore.yaml'), 'utf8')) as Record<string, any>;
  const html: string = doc['paths']['/']['get']['x-amazon-apigateway-integration']['responses']['default']['responseTemplates']['text/html'];
  t.match(html, /^<html>[\s\S]*Welcome to your Pet Store API[\s\S]*\$context\.stage[\s\S]*<\/html>$/);
  const { config, warnings } = run(doc);
  t.same(warnings, [], 'the AWS example maps completely');
  const cors = (methods: string) => ({
    'Access-Control-Allow-Methods': methods,
    'Access-Control-Allow-Headers': 'Content-Type,X-Amz-Date,Authorization,X-Api-Key',
    'Access-Control-Allow-Origin': '*',
  });
  const statusTemplate = { 'application/json': '{"statusCode": 200}' };
  const allowOrigin = { default: { statusCode: 200, responseHeaders: { 'Access-Control-Allow-Origin': '*' } } };
  t.strictSame(config, {
    apis: [
      {
        name: 'PetStore',
        stage: 'prod',
        routes: [
          {
            route: 'GET /',
            integration: {
              type: 'mock',
              requestTemplates: statusTemplate,
              passthroughBehavior: 'WHEN_NO_MATCH',
              responses: { default: { statusCode: 200, responseTemplates: { 'text/html': html }, responseHeaders: { 'Content-Type': 'text/html' } } },
            },
          },
          {
            route: 'GET /pets',
            integration: {
              type: 'http', uri: 'http://petstore-demo-endpoint.execute-api.com/petstore/pets', httpMethod: 'GET',
              passthroughBehavior: 'WHEN_NO_MATCH', responses: allowOrigin,
            },
          },
          {
            route: 'POST /pets',
            integration: {
              type: 'http', uri: 'http://petstore-demo-endpoint.execute-api.com/petstore/pets', httpMethod: 'POST',
              passthroughBehavior: 'WHEN_NO_MATCH', responses: allowOrigin,
            },
            requestValidation: { validateBody: true, validateParameters: true, bodyModels: { 'application/json': 'NewPet' } },
          },
          {
            route: 'OPTIONS /pets',
            integration: {
              type: 'mock', requestTemplates: statusTemplate, passthroughBehavior: 'WHEN_NO_MATCH',
              responses: { default: { statusCode: 200, responseHeaders: cors('POST,GET,OPTIONS') } },
            },
          },
          {
            route: 'GET /pets/{petId}',
            integration: {
              type: 'http', uri: 'http://petstore-demo-endpoint.execute-api.com/petstore/pets/{petId}', httpMethod: 'GET',
              passthroughBehavior: 'WHEN_NO_MATCH', responses: allowOrigin,
            },
            requestValidation: { validateBody: false, validateParameters: true, required: { path: ['petId'] } },
          },
          {
            route: 'OPTIONS /pets/{petId}',
            integration: {
              type: 'mock', requestTemplates: statusTemplate, passthroughBehavior: 'WHEN_NO_MATCH',
              responses: { default: { statusCode: 200, responseHeaders: cors('GET,OPTIONS') } },
            },
          },
        ],
        models: {
          Pets: { type: 'array', items: { $ref: '#/components/schemas/Pet' } },
          Empty: { type: 'object' },
          NewPetResponse: { type: 'object', properties: { pet: { $ref: '#/components/schemas/Pet' }, message: { type: 'string' } } },
          Pet: { type: 'object', properties: { id: { type: 'integer' }, type: { type: 'string' }, price: { type: 'number' } } },
          NewPet: { type: 'object', properties: { type: { $ref: '#/components/schemas/PetType' }, price: { type: 'number' } } },
          PetType: { type: 'string', enum: ['dog', 'cat', 'fish', 'bird', 'gecko'] },
        },
        modelSchemaDraft: '04',
      },
    ],
  });

  const cfg = load(config);
  const api = cfg.apis[0]!;
  t.equal(api.stage, 'prod');
  t.equal(api.routes.length, 6);
  // The models compile and the POST /pets validator enforces NewPet (PetType enum via $ref).
  const models = compileModels(api.models, { draft: api.modelSchemaDraft });
  const rv = api.routes[2]!.requestValidation!;
  const v = compileRouteValidator(
    { bodyModels: rv.bodyModels, required: rv.required, validator: { validateRequestBody: rv.validateBody, validateRequestParameters: rv.validateParameters } },
    models,
  );
  const req = (body: unknown) => ({ query: '', headers: [], pathParameters: null, contentType: 'application/json', body: Buffer.from(JSON.stringify(body)) });
  t.equal(v.check(req({ type: 'dog', price: 249.99 })), null, 'a NewPet passes');
  t.match(v.check(req({ type: 'lizard', price: 1 })), { status: 400, body: '{"message":"Invalid request body"}' }, 'an unknown PetType is rejected');
});

t.test('HTTP API export: aws_proxy Lambda integrations become function routes', async (t) => {
  const handlers = { DeletePet: './handlers/pets.mjs#deletePet' };
  const file = join(FIX, 'http-api-lambda.json');
  const { config, warnings } = run(JSON.parse(readFileSync(file, 'utf8')), { functionsDir: FUNCTIONS, handlers });
  const fn = (name: string, file: string, version: string, extra: Record<string, unknown> = {}) => ({
    type: 'function', handler: `${join(FUNCTIONS, file)}#handler`, payloadFormatVersion: version, functionName: name, ...extra,
  });
  t.strictSame(config, {
    functions: { handlers },
    apis: [
      {
        name: 'pets-http-api',
        stage: '$default',
        routes: [
          { route: 'GET /pets', integration: fn('GetPets', 'GetPets.mjs', '2.0') },
          { route: 'POST /pets', integration: fn('CreatePet', 'CreatePet.cjs', '2.0', { timeoutMs: 10000 }) },
          { route: 'GET /pets/{petId}', integration: fn('GetPet', 'GetPet.js', '2.0') },
          { route: 'DELETE /pets/{petId}', integration: { type: 'function', handler: 'DeletePet', payloadFormatVersion: '2.0', functionName: 'DeletePet' } },
          { route: 'GET /legacy', integration: fn('LegacyPets', 'LegacyPets.mjs', '1.0') },
          { route: 'ANY /files/{proxy+}', integration: { type: 'http_proxy', uri: 'http://files.internal:8080/{proxy}', timeoutMs: 30000 } },
          { route: '$default', integration: fn('GetPets', 'GetPets.mjs', '2.0', { timeoutMs: 30000 }) },
        ],
        modelSchemaDraft: '04',
      },
    ],
  });
  t.strictSame(warnings, [
    {
      path: 'paths["/pets/{petId}"].get.x-amazon-apigateway-integration.uri',
      message: 'GET /pets/{petId}: function qualifier :live (alias or version) ignored: the local GetPet handler is used',
    },
    {
      path: 'paths["/orders"].get.x-amazon-apigateway-integration.uri',
      message: `GET /orders skipped: no handler for Lambda function ListOrders (looked for ${join(FUNCTIONS, 'ListOrders')}.mjs, .cjs or .js)`,
    },
    {
      path: 'paths["/stage-fn"].get.x-amazon-apigateway-integration.uri',
      message: 'GET /stage-fn skipped: the function is chosen by a variable (${stageVariables.fn}); stage variables are not supported yet',
    },
    { path: 'x-amazon-apigateway-cors', message: 'x-amazon-apigateway-cors is not supported yet: ignored' },
    { path: 'x-amazon-apigateway-importexport-version', message: 'x-amazon-apigateway-importexport-version is not supported yet: ignored' },
  ]);

  const cfg = load(config);
  const integ = cfg.apis[0]!.routes[3]!.integration;
  t.equal(integ.type === 'function' && integ.handler, `${join(FIX, 'handlers/pets.mjs')}#deletePet`, 'the named handler resolves next to the document');
  const first = cfg.apis[0]!.routes[0]!.integration;
  t.equal(first.type === 'function' && first.memoryMB, 128, 'defaults filled by the loader');
});

t.test('a document full of unsupported extensions: every one is named in a warning', async (t) => {
  const file = join(FIX, 'unsupported.yaml');
  const { config, warnings } = run(parse(readFileSync(file, 'utf8')));
  t.strictSame(config, {
    apis: [
      {
        name: 'Legacy-Orders-API-v2',
        stage: 'v2',
        routes: [
          {
            route: 'GET /internal/orders',
            integration: { type: 'http_proxy', uri: 'http://orders.internal:8080/v2/orders', requestHeaders: { 'x-source': 'gateway' } },
            requestValidation: { validateBody: false, validateParameters: true, required: { querystring: ['limit'] } },
            apiKeyRequired: true,
          },
          {
            route: 'PUT /internal/orders/{orderId}',
            integration: {
              type: 'http',
              uri: 'http://orders.internal:8080/v2/orders/{orderId}',
              httpMethod: 'PUT',
              timeoutMs: 60000,
              // ${o.id} is VTL, not an environment variable: written as $${ for the loader.
              requestTemplates: { 'application/json': `#set($o = $input.path('$')) {"id": "$\${o.id}", "by": "$context.identity.sourceIp"}` },
              responses: { '2\\d{2}': { statusCode: 200, responseHeaders: { 'Cache-Control': 'no-store' } }, default: { statusCode: 500 } },
            },
            apiKeyRequired: true,
          },
          {
            route: 'GET /internal/health',
            integration: {
              type: 'mock',
              requestTemplates: { 'application/json': '{"statusCode": 200}' },
              responses: { default: { statusCode: 200, responseTemplates: { 'application/json': '{"status": "ok"}' } } },
            },
          },
        ],
        modelSchemaDraft: '04',
      },
    ],
  });
  const I = 'x-amazon-apigateway-integration';
  t.strictSame(warnings, [
    { path: 'servers[0].url', message: 'base path /v2/internal: stage "v2", and /internal is prepended to every route (as AWS\'s basepath=split import)' },
    { path: `paths["/orders"].get.${I}.requestParameters["integration.request.header.x-user"]`, message: 'mapping from context.authorizer.principalId is not supported yet: ignored' },
    { path: `paths["/orders"].get.${I}.connectionType`, message: 'VPC_LINK abc123vpclink: private integrations are not supported; the uri is used as if directly reachable' },
    { path: `paths["/orders"].get.${I}.cacheKeyParameters`, message: 'caching is not supported yet: ignored' },
    { path: `paths["/orders"].get.${I}.tlsConfig`, message: 'TLS settings are not supported (http:// upstreams only): ignored' },
    // The document's security (api_key) applies to every route but /health (security: []).
    { path: 'components.securitySchemes.api_key', message: 'routes that require it need API keys: add apiKeys and usagePlans (for this API) to the gateway config; clients send them in x-api-key' },
    { path: 'paths["/orders"].get.parameters[0]', message: 'GET /internal/orders: required cookie parameter session is not validated: ignored' },
    { path: `paths["/orders"].post.${I}.type`, message: 'POST /internal/orders skipped: type aws (non-proxy Lambda or AWS service integration) is not supported' },
    {
      path: `paths["/orders/{orderId}"].get.${I}.uri`,
      message: 'GET /internal/orders/{orderId} skipped: https upstreams are not supported by the gateway yet (uri https://orders.example.com/v2/orders/{orderId})',
    },
    { path: `paths["/orders/{orderId}"].put.${I}.requestTemplates["text/plain; charset=utf-8"]`, message: 'not a media type like application/json: template ignored' },
    {
      path: `paths["/orders/{orderId}"].put.${I}.responses["2\\\\d{2}"].responseParameters["method.response.header.Location"]`,
      message: 'non-static mapping from integration.response.header.Location is not supported yet: ignored',
    },
    { path: `paths["/orders/{orderId}"].put.${I}.responses["2\\\\d{2}"].contentHandling`, message: 'CONVERT_TO_TEXT is not supported yet: ignored' },
    { path: `paths["/orders/{orderId}"].put.${I}.contentHandling`, message: 'CONVERT_TO_TEXT is not supported yet: ignored (payloads pass unconverted)' },
    {
      path: 'paths["/orders/{orderId}"].delete',
      message: `DELETE /internal/orders/{orderId} skipped: no ${I} (API Gateway cannot deploy a method without an integration)`,
    },
    { path: 'paths["/orders/{orderId}"].trace', message: 'TRACE /internal/orders/{orderId} skipped: the gateway does not route TRACE requests' },
    { path: 'components.securitySchemes.jwt', message: 'authorizer not used by any imported route: left out' },
    { path: 'servers[0].x-amazon-apigateway-endpoint-configuration', message: 'x-amazon-apigateway-endpoint-configuration is not supported yet: ignored' },
    { path: 'tags[0].x-amazon-apigateway-tag-value', message: 'x-amazon-apigateway-tag-value is not supported yet: ignored' },
    { path: 'x-amazon-apigateway-binary-media-types', message: 'x-amazon-apigateway-binary-media-types is not supported yet: ignored' },
    { path: 'x-amazon-apigateway-minimum-compression-size', message: 'x-amazon-apigateway-minimum-compression-size is not supported yet: ignored' },
    { path: 'x-amazon-apigateway-policy', message: 'x-amazon-apigateway-policy is not supported yet: ignored' },
    { path: 'x-amazon-apigateway-gateway-responses', message: 'x-amazon-apigateway-gateway-responses is not supported yet: ignored' },
    { path: 'x-amazon-apigateway-documentation', message: 'x-amazon-apigateway-documentation is not supported yet: ignored' },
    { path: 'x-amazon-apigateway-cors', message: 'x-amazon-apigateway-cors is not supported yet: ignored' },
    { path: 'x-amazon-apigateway-security-policy', message: 'x-amazon-apigateway-security-policy is not supported yet: ignored' },
    { path: 'x-amazon-apigateway-endpoint-access-mode', message: 'x-amazon-apigateway-endpoint-access-mode is not supported yet: ignored' },
    { path: 'x-amazon-apigateway-importexport-version', message: 'x-amazon-apigateway-importexport-version is not supported yet: ignored' },
    { path: 'info.x-logo', message: 'x-logo is not an API Gateway extension: ignored' },
    { path: 'paths["/orders"].get.x-foo', message: 'x-foo is not an API Gateway extension: ignored (2 occurrences, first here)' },
    { path: 'x-internal-id', message: 'x-internal-id is not an API Gateway extension: ignored' },
  ]);
  // Every x- key of the document is named by some warning, with its path.
  const text = readFileSync(file, 'utf8');
  const keys = new Set([...text.matchAll(/^\s*(x-[a-z-]+):/gm)].map((m) => m[1]!));
  const handled = [
    'x-amazon-apigateway-integration', 'x-amazon-apigateway-request-validator', 'x-amazon-apigateway-request-validators',
    // Authorization (test/openapi/security.test.ts): the POST using sigv4 and x-amazon-apigateway-auth is skipped for its integration.
    'x-amazon-apigateway-auth', 'x-amazon-apigateway-authtype', 'x-amazon-apigateway-authorizer', 'x-amazon-apigateway-api-key-source',
  ];
  for (const k of keys) {
    if (handled.includes(k)) continue;
    t.ok(warnings.some((w) => w.path.endsWith(k) && w.message.startsWith(`${k} is`)), `${k} is reported`);
  }
  t.equal(keys.size, 21, 'the fixture uses 21 distinct x- keys (18 of API Gateway)');

  const cfg = load(config);
  const put = cfg.apis[0]!.routes[1]!.integration;
  t.equal(put.type === 'http' && put.requestTemplates?.['application/json'], `#set($o = $input.path('$')) {"id": "\${o.id}", "by": "$context.identity.sourceIp"}`, 'the loader reads $${ back as ${');
});

t.test('importOpenApiFile: YAML text with the warnings on top, loadable as it is', async (t) => {
  const file = join(FIX, 'unsupported.yaml');
  const out = importOpenApiFile(file, {});
  const lines = out.yaml.split('\n');
  t.equal(lines[0], '# Gateway config imported from unsupported.yaml (OpenAPI 3.0.1).');
  t.equal(lines[2], `# ${out.warnings.length} warnings:`);
  for (const [i, w] of out.warnings.entries()) t.equal(lines[3 + i], `#   ${w.path}: ${w.message}`);
  t.equal(lines[3 + out.warnings.length], 'apis:');
  const opts = { functionsDir: FUNCTIONS, handlers: { DeletePet: './handlers/pets.mjs#deletePet' } };
  for (const name of ['petstore.yaml', 'http-api-lambda.json', 'unsupported.yaml', 'rest-authorizers.yaml', 'http-api-jwt.json']) {
    const o = importOpenApiFile(join(FIX, name), opts);
    const fromText = parseConfig(o.yaml, { file: join(FIX, 'imported.yaml'), env: {} });
    t.strictSame(fromText, load(o.config), `${name}: the YAML text and the config object load the same`);
  }

  const pet = importOpenApiFile(join(FIX, 'http-api-lambda.json'), { functionsDir: FUNCTIONS, handlers: { DeletePet: './handlers/pets.mjs#deletePet' } });
  const cfg = parseConfig(pet.yaml, { file: join(FIX, 'imported.yaml'), env: {} });
  t.same(cfg.apis[0]!.routes.map((r) => r.route), ['GET /pets', 'POST /pets', 'GET /pets/{petId}', 'DELETE /pets/{petId}', 'GET /legacy', 'ANY /files/{proxy+}', '$default']);
  t.match(importOpenApiFile(join(FIX, 'petstore.yaml'), {}).yaml, /^# Gateway config imported from petstore\.yaml \(OpenAPI 3\.0\.1\)\.\n.*\n# No warnings\.\napis:\n/);
});

t.test('documents that cannot be converted', async (t) => {
  t.strictSame(issuesOf({ swagger: '2.0', info: { title: 'x' }, paths: {} }), [
    { path: 'swagger', message: 'Swagger/OpenAPI 2.0 is not supported: convert it to OpenAPI 3 first (or export the API from AWS as oas30)' },
  ]);
  t.strictSame(issuesOf({ openapi: '2.5', paths: {} }), [{ path: 'openapi', message: 'expected openapi: 3.x (got "2.5")' }]);
  t.strictSame(issuesOf({ openapi: '3.0.0' }), [{ path: 'paths', message: 'the document has no paths mapping' }]);
  t.strictSame(issuesOf([1, 2]), [{ path: '', message: 'the document must be a mapping (an OpenAPI 3.x document)' }]);

  // Two paths that are the same route key.
  t.strictSame(issuesOf(oas({ '/pets/{id}': { get: MOCK }, '/pets/{petId}': { get: MOCK, post: MOCK } })), [
    { path: 'paths["/pets/{petId}"].get', message: 'route "GET /pets/{petId}" is the same route as "GET /pets/{id}" (paths["/pets/{id}"].get)' },
  ]);
  t.strictSame(issuesOf(oas({ '/a/{x+}': { get: MOCK }, '/a/{y+}': { get: MOCK } })), [
    { path: 'paths["/a/{y+}"].get', message: 'route "GET /a/{y+}" is the same route as "GET /a/{x+}" (paths["/a/{x+}"].get)' },
  ]);

  // Nothing importable: the reasons are the issues.
  const err = (() => {
    try {
      run(oas({ '/a': { get: {} }, '/b': { post: { 'x-amazon-apigateway-integration': { type: 'aws', uri: 'arn:aws:apigateway:us-east-1:sqs:path/1/q' } } } }));
    } catch (e) {
      return e as OpenApiImportError;
    }
    throw new Error('expected a failure');
  })();
  t.type(err, OpenApiImportError);
  t.strictSame(err.issues, [
    { path: 'paths', message: 'no operation could be imported' },
    { path: 'paths["/a"].get', message: 'GET /a skipped: no x-amazon-apigateway-integration (API Gateway cannot deploy a method without an integration)' },
    { path: 'paths["/b"].post.x-amazon-apigateway-integration.type', message: 'POST /b skipped: type aws (non-proxy Lambda or AWS service integration) is not supported' },
  ]);
  t.match(err.message, /^Cannot import the OpenAPI document:\n {2}paths: no operation could be imported\n {2}paths\["\/a"\]\.get: GET \/a skipped/);
});

t.test('stage from servers[0] (basePath variable), API name from info.title', async (t) => {
  const stageOf = (servers: unknown, title = 'My API') => {
    const r = run(oas({ '/': { get: MOCK } }, { servers, info: { title, version: '1' } }));
    const api = (r.config['apis'] as Record<string, unknown>[])[0]!;
    return { stage: api['stage'], name: api['name'], route: (api['routes'] as { route: string }[])[0]!.route, warnings: r.warnings };
  };
  t.match(stageOf(undefined), { stage: '$default', name: 'My-API', route: 'GET /', warnings: [] });
  t.match(stageOf([{ url: '/{basePath}', variables: { basePath: { default: '/v1' } } }]), { stage: 'v1', warnings: [] }, 'the ReqValidators sample form');
  t.match(stageOf([{ url: 'https://x.execute-api.us-east-1.amazonaws.com/{basePath}', variables: { basePath: { default: 'prod' } } }]), { stage: 'prod' });
  t.match(stageOf([{ url: 'https://x.execute-api.us-east-1.amazonaws.com/' }, { url: 'http://localhost/dev' }]), {
    stage: '$default',
    warnings: [{ path: 'servers', message: '2 servers: only servers[0] is used for the stage' }],
  });
  t.match(stageOf([{ url: 'http://h/v1.0' }]), { stage: 'v1-0', warnings: [{ path: 'servers[0].url', message: 'base path part "v1.0" is not a valid stage name: stage "v1-0"' }] });
  t.match(stageOf([{ url: 'http://h/api/v1' }]), { stage: 'api', route: 'GET /v1' }, 'split: the rest of the base path prefixes routes');
  t.match(stageOf(undefined, '  Ünïcode API / (beta)  '), { name: 'n-code-API-beta' });
  t.match(stageOf(undefined, ''), { name: 'imported', warnings: [{ path: 'info.title', message: 'no usable title: the API is named "imported"' }] });
  t.equal(String(stageOf(undefined, 'x'.repeat(100)).name).length, 64);
});

t.test('http / http_proxy: uri templates from requestParameters, methods, timeouts, headers', async (t) => {
  const I = 'x-amazon-apigateway-integration';
  const r = run(
    oas({
      '/users/{userId}/items/{itemId}': {
        get: {
          [I]: {
            type: 'HTTP_PROXY', httpMethod: 'POST', uri: 'http://up:81/u/{uid}/i/{itemId}/{ver}', timeoutInMillis: 10,
            requestParameters: {
              'integration.request.path.uid': 'method.request.path.userId',
              'integration.request.path.ver': "'v2'",
              'integration.request.path.unused': 'method.request.path.userId',
              'integration.request.header.x-static': "'yes'",
              'integration.request.header.x-same': 'method.request.header.x-same',
              'integration.request.querystring.q': 'method.request.querystring.other',
            },
          },
        },
        put: { [I]: { type: 'http', httpMethod: 'ANY', uri: 'http://up:81/{nope}' } },
        patch: { [I]: { type: 'http', httpMethod: 'PATCH', uri: 'http://up:81/x?a=1' } },
        delete: { [I]: { type: 'http_proxy', uri: 'http://up:81/{id}', requestParameters: { 'integration.request.path.id': 'method.request.querystring.id' } } },
        head: { [I]: { type: 'http_proxy', uri: 'http://up:81/${stageVariables.host}/x' } },
      },
      '/plain': { 'x-amazon-apigateway-any-method': { [I]: { type: 'http_proxy', httpMethod: 'GET', uri: 'http://up:81/plain', timeoutInMillis: '400000' } } },
    }),
  );
  const routes = (r.config['apis'] as { routes: unknown[] }[])[0]!.routes;
  t.strictSame(routes, [
    {
      route: 'GET /users/{userId}/items/{itemId}',
      integration: { type: 'http_proxy', uri: 'http://up:81/u/{userId}/i/{itemId}/v2', timeoutMs: 50, requestHeaders: { 'x-static': 'yes' } },
    },
    { route: 'ANY /plain', integration: { type: 'http_proxy', uri: 'http://up:81/plain', timeoutMs: 300000 } },
  ]);
  const P = 'paths["/users/{userId}/items/{itemId}"]';
  t.strictSame(r.warnings, [
    { path: `${P}.get.${I}.requestParameters["integration.request.querystring.q"]`, message: 'mapping from method.request.querystring.other is not supported yet: ignored' },
    { path: `${P}.get.${I}.requestParameters["integration.request.path.unused"]`, message: 'the uri has no {unused}: ignored' },
    { path: `${P}.get.${I}.httpMethod`, message: 'GET /users/{userId}/items/{itemId}: httpMethod POST differs from the route method; http_proxy forwards the request\'s own method' },
    { path: `${P}.get.${I}.timeoutInMillis`, message: '10 is outside 50..300000: 50 used' },
    { path: `${P}.put.${I}.requestParameters`, message: 'PUT /users/{userId}/items/{itemId} skipped: uri variable {nope} is neither mapped in requestParameters nor a route variable' },
    { path: `${P}.patch.${I}.uri`, message: 'PATCH /users/{userId}/items/{itemId} skipped: must not contain a query string or fragment: http://up:81/x?a=1' },
    {
      path: `${P}.delete.${I}.requestParameters`,
      message: 'DELETE /users/{userId}/items/{itemId} skipped: uri variable {id} is mapped from method.request.querystring.id, which the gateway cannot put in the upstream path yet',
    },
    { path: `${P}.head.${I}.uri`, message: 'HEAD /users/{userId}/items/{itemId} skipped: the uri uses variables (http://up:81/${stageVariables.host}/x); stage variables are not supported yet' },
    { path: `paths["/plain"].x-amazon-apigateway-any-method.${I}.httpMethod`, message: 'ANY /plain: httpMethod GET differs from the route method; http_proxy forwards the request\'s own method' },
    { path: `paths["/plain"].x-amazon-apigateway-any-method.${I}.timeoutInMillis`, message: '400000 is outside 50..300000: 300000 used' },
  ]);
  load(r.config);
});

t.test('request validation: API default validator, overrides, body models, parameters', async (t) => {
  const doc = oas(
    {
      '/items/{id}': {
        parameters: [
          { name: 'id', in: 'path', required: true, schema: { type: 'string' } },
          { $ref: '#/components/parameters/Tenant' },
        ],
        get: { ...MOCK, parameters: [{ name: 'x-tenant', in: 'header', required: false }, { name: 'q', in: 'query', required: true }] },
        put: {
          ...MOCK,
          'x-amazon-apigateway-request-validator': 'body',
          requestBody: { $ref: '#/components/requestBodies/ItemBody' },
        },
        post: {
          ...MOCK,
          'x-amazon-apigateway-request-validator': 'nope',
        },
        patch: {
          ...MOCK,
          requestBody: {
            content: {
              'application/merge-patch+json; charset=utf-8': { schema: { type: 'object', properties: { note: { type: 'string', nullable: true } } } },
              '*/*': { schema: { $ref: '#/components/schemas/Item_V2' } },
            },
          },
        },
      },
      '/open': { get: { ...MOCK, 'x-amazon-apigateway-request-validator': 'none' } },
    },
    {
      'x-amazon-apigateway-request-validators': {
        all: { validateRequestBody: true, validateRequestParameters: true },
        body: { validateRequestBody: true },
        none: { validateRequestBody: false, validateRequestParameters: false, extra: 1 },
      },
      'x-amazon-apigateway-request-validator': 'all',
      components: {
        parameters: { Tenant: { name: 'x-tenant', in: 'header', required: true } },
        requestBodies: { ItemBody: { content: { 'application/json': { schema: { $ref: '#/components/schemas/Item_V2' } } } } },
        schemas: {
          Item_V2: {
            type: 'object',
            required: ['name'],
            properties: {
              name: { type: 'string', nullable: true },
              tags: { type: 'array', items: { type: 'string', enum: ['a', 'b'], nullable: true } },
              owner: { $ref: '#/components/schemas/Owner', nullable: true },
              parent: { $ref: '#/components/schemas/Item_V2' },
              code: { type: 'string', nullable: false, default: 'x', example: { nullable: true } },
            },
          },
          Owner: { type: 'object', properties: { id: { type: 'integer' } }, 'x-internal': true },
          ItemV2: { type: 'string' },
        },
      },
    },
  );
  const r = run(doc);
  const api = (r.config['apis'] as Record<string, any>[])[0]!;
  t.strictSame(api['routes'].map((x: Record<string, unknown>) => [x['route'], x['requestValidation']]), [
    // The operation's optional x-tenant overrides the path-level required one.
    ['GET /items/{id}', { validateBody: true, validateParameters: true, required: { path: ['id'], querystring: ['q'] } }],
    ['PUT /items/{id}', { validateBody: true, validateParameters: false, bodyModels: { 'application/json': 'ItemV22' }, required: { path: ['id'], header: ['x-tenant'] } }],
    ['POST /items/{id}', undefined],
    [
      'PATCH /items/{id}',
      {
        validateBody: true,
        validateParameters: true,
        bodyModels: { 'application/merge-patch+json': { type: 'object', properties: { note: { type: ['string', 'null'] } } }, $default: 'ItemV22' },
        required: { path: ['id'], header: ['x-tenant'] },
      },
    ],
    ['GET /open', { validateBody: false, validateParameters: false }],
  ]);
  t.strictSame(api['models'], {
    ItemV22: {
      type: 'object',
      required: ['name'],
      properties: {
        name: { type: ['string', 'null'] },
        tags: { type: 'array', items: { type: ['string', 'null'], enum: ['a', 'b'] } },
        owner: { $ref: '#/components/schemas/Owner' },
        parent: { $ref: '#/components/schemas/ItemV22' },
        code: { type: 'string', default: 'x', example: { nullable: true } },
      },
    },
    Owner: { type: 'object', properties: { id: { type: 'integer' } }, 'x-internal': true },
    ItemV2: { type: 'string' },
  });
  t.strictSame(r.warnings, [
    { path: 'components.schemas.Item_V2', message: 'model renamed to ItemV22 (AWS model names are alphanumeric); references to it are rewritten' },
    { path: 'components.schemas.Item_V2.properties.owner.nullable', message: 'nullable without a type cannot be expressed in JSON Schema draft 4: ignored (null is rejected)' },
    { path: 'x-amazon-apigateway-request-validators.none.extra', message: 'unknown validator property: ignored' },
    { path: 'paths["/items/{id}"].post.x-amazon-apigateway-request-validator', message: 'POST /items/{id}: unknown request validator "nope" (defined: all, body, none): no validation' },
    { path: 'components.schemas.Owner.x-internal', message: 'x-internal is not an API Gateway extension: ignored' },
  ]);
  const cfg = load(r.config);
  const models = compileModels(cfg.apis[0]!.models, { draft: '04' });
  for (const route of cfg.apis[0]!.routes) {
    const rv = route.requestValidation;
    if (!rv) continue;
    const v = compileRouteValidator({ bodyModels: rv.bodyModels, required: rv.required, validator: { validateRequestBody: rv.validateBody, validateRequestParameters: rv.validateParameters } }, models);
    t.ok(v, `${route.route}: validator compiles`);
  }
  const put = cfg.apis[0]!.routes[1]!.requestValidation!;
  const v = compileRouteValidator({ bodyModels: put.bodyModels, validator: { validateRequestBody: true, validateRequestParameters: false } }, models);
  const req = (body: unknown) => ({ query: '', headers: [], pathParameters: { id: '1' }, contentType: 'application/json', body: Buffer.from(JSON.stringify(body)) });
  t.equal(v.check(req({ name: null, tags: ['a', 'b'], parent: { name: 'p' } })), null, 'nullable name, recursive model');
  t.not(v.check(req({ name: 1 })), null, 'wrong type rejected');
  t.not(v.check(req({ name: 'n', tags: ['c'] })), null, 'enum still enforced');
});

t.test('Lambda handlers: named handlers first, then the functions directory', async (t) => {
  const I = 'x-amazon-apigateway-integration';
  const lambda = (fn: string, extra: Record<string, unknown> = {}) => ({
    [I]: { type: 'AWS_PROXY', httpMethod: 'POST', uri: `arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:123456789012:function:${fn}/invocations`, ...extra },
  });
  const doc = oas({
    '/a': { get: lambda('GetPets'), post: lambda('GetPets:$LATEST', { payloadFormatVersion: 2, timeoutInMillis: 1000000, credentials: 'arn:aws:iam::1:role/r' }) },
    '/b': { get: lambda('Broken'), put: lambda('CreatePet', { payloadFormatVersion: '3.0' }) },
    '/c': { get: { [I]: { type: 'aws_proxy', uri: 'arn:aws:apigateway:us-east-1:s3:path/bucket/key' } } },
    '/d': { get: { [I]: { type: 'aws_proxy', integrationSubtype: 'SQS-SendMessage', uri: 'x' } } },
    '/e': { get: lambda('GetPets', { responses: { default: { statusCode: '200' } }, requestTemplates: { 'application/json': '{}' } }) },
  });
  const r = run(doc, { functionsDir: FUNCTIONS, handlers: { GetPets: './handlers/pets.mjs#deletePet', Broken: './missing.mjs', 'bad name': 'x.mjs' } });
  const routes = (r.config['apis'] as { routes: { route: string; integration: unknown }[] }[])[0]!.routes;
  t.strictSame(routes, [
    { route: 'GET /a', integration: { type: 'function', handler: 'GetPets', payloadFormatVersion: '1.0', functionName: 'GetPets' } },
    { route: 'POST /a', integration: { type: 'function', handler: 'GetPets', payloadFormatVersion: '2.0', functionName: 'GetPets', timeoutMs: 900000 } },
    { route: 'PUT /b', integration: { type: 'function', handler: `${join(FUNCTIONS, 'CreatePet.cjs')}#handler`, payloadFormatVersion: '1.0', functionName: 'CreatePet' } },
    { route: 'GET /e', integration: { type: 'function', handler: 'GetPets', payloadFormatVersion: '1.0', functionName: 'GetPets' } },
  ]);
  t.strictSame(r.config['functions'], { handlers: { GetPets: './handlers/pets.mjs#deletePet', Broken: './missing.mjs' } });
  t.strictSame(r.warnings, [
    { path: '', message: 'handler "bad name" from the given functions.handlers is not usable (names are [A-Za-z0-9_-]{1,64}, values \'path#export\'): left out' },
    { path: `paths["/a"].post.${I}.timeoutInMillis`, message: '1000000 is outside 1..900000: 900000 used' },
    { path: `paths["/a"].post.${I}.credentials`, message: 'IAM credentials are not used by the gateway: ignored' },
    { path: `paths["/b"].get.${I}.uri`, message: `functions.handlers.Broken (./missing.mjs) does not resolve to a .mjs/.cjs/.js file from ${FIX}` },
    { path: `paths["/b"].get.${I}.uri`, message: `GET /b skipped: no handler for Lambda function Broken (looked for functions.handlers.Broken and ${join(FUNCTIONS, 'Broken')}.mjs, .cjs or .js)` },
    { path: `paths["/b"].put.${I}.payloadFormatVersion`, message: 'unknown payloadFormatVersion "3.0": 1.0 used' },
    { path: `paths["/c"].get.${I}.uri`, message: 'GET /c skipped: not a Lambda function invocation ARN (AWS service integrations are not supported)' },
    { path: `paths["/d"].get.${I}.integrationSubtype`, message: 'GET /d skipped: AWS service integration SQS-SendMessage is not supported' },
    { path: `paths["/e"].get.${I}.requestTemplates`, message: 'mapping templates do not apply to proxy integrations: ignored' },
  ]);
  const cfg = load(r.config);
  const a = cfg.apis[0]!.routes[0]!.integration;
  t.equal(a.type === 'function' && a.handler, `${join(FIX, 'handlers/pets.mjs')}#deletePet`);

  // Without a functions directory or named handlers, nothing can be found.
  const none = issuesOf(oas({ '/a': { get: lambda('GetPets') } }));
  t.strictSame(none[1], { path: `paths["/a"].get.${I}.uri`, message: 'GET /a skipped: no handler for Lambda function GetPets (no functions directory or named handlers were given)' });
});

t.test('shared integrations (components.x-amazon-apigateway-integrations), $default route, OpenAPI 3.1', async (t) => {
  const r = run({
    openapi: '3.1.0',
    info: { title: 'shared', version: '1' },
    paths: {
      '/a': { get: { 'x-amazon-apigateway-integration': { $ref: '#/components/x-amazon-apigateway-integrations/backend' } } },
      '/$default': { 'x-amazon-apigateway-any-method': { isDefaultRoute: true, 'x-amazon-apigateway-integration': { type: 'mock' } } },
      '/b': { get: { 'x-amazon-apigateway-integration': { $ref: '#/components/x-amazon-apigateway-integrations/missing' } } },
    },
    components: {
      'x-amazon-apigateway-integrations': {
        backend: { type: 'http_proxy', httpMethod: 'GET', uri: 'http://backend:9000/a', payloadFormatVersion: '1.0', connectionType: 'INTERNET' },
        unused: { type: 'mock' },
      },
      schemas: { Thing: { type: ['string', 'null'], nullable: true } },
    },
  });
  const api = (r.config['apis'] as Record<string, unknown>[])[0]!;
  t.strictSame(api['routes'], [
    { route: 'GET /a', integration: { type: 'http_proxy', uri: 'http://backend:9000/a' } },
    { route: '$default', integration: { type: 'mock' } },
  ]);
  t.equal(api['modelSchemaDraft'], '2020-12', 'OpenAPI 3.1 schemas are JSON Schema 2020-12');
  t.strictSame(api['models'], { Thing: { type: ['string', 'null'], nullable: true } }, '3.1 schemas are kept as they are');
  t.strictSame(r.warnings, [
    { path: 'paths["/b"].get.x-amazon-apigateway-integration', message: 'GET /b skipped: the integration must be a mapping or a $ref to components.x-amazon-apigateway-integrations.<name>' },
    { path: 'components.x-amazon-apigateway-integrations.unused', message: 'integration not referenced by any operation: ignored' },
  ]);
  load(r.config);
});

t.test('request validation details: path parameters, greedy names, an unused API-level validator', async (t) => {
  const v = { 'x-amazon-apigateway-request-validator': 'p' };
  const r = run(
    oas(
      {
        '/files/{proxy+}': {
          'x-amazon-apigateway-any-method': { ...MOCK, ...v, parameters: [{ name: 'proxy+', in: 'path', required: true }, { name: 'ghost', in: 'path', required: true }] },
        },
      },
      {
        'x-amazon-apigateway-request-validators': { p: { validateRequestParameters: true }, q: {} },
        'x-amazon-apigateway-request-validator': 'q',
      },
    ),
  );
  t.strictSame((r.config['apis'] as { routes: unknown[] }[])[0]!.routes, [
    { route: 'ANY /files/{proxy+}', integration: { type: 'mock' }, requestValidation: { validateBody: false, validateParameters: true, required: { path: ['proxy'] } } },
  ]);
  t.strictSame(r.warnings, [
    { path: 'paths["/files/{proxy+}"].x-amazon-apigateway-any-method.parameters[1]', message: 'ANY /files/{proxy+}: path parameter ghost is not in the route: ignored' },
  ], 'the API-level validator, overridden everywhere, is not reported as unsupported');
  load(r.config);
});
