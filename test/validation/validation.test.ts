import t from 'tap';
import {
  compileModels,
  compileRouteValidator,
  INLINE_BODY_LIMIT,
  mediaType,
  type RequestView,
  type RouteValidation,
  type ValidationError,
} from '../../src/validation/index.js';
import { makeBody, PET_MODELS } from '../../bench/validation.js';

const BOTH = { validateRequestBody: true, validateRequestParameters: true };
const BODY_ONLY = { validateRequestBody: true, validateRequestParameters: false };
const PARAMS_ONLY = { validateRequestBody: false, validateRequestParameters: true };

const INVALID_BODY = '{"message":"Invalid request body"}';
const missing = (...names: string[]) => JSON.stringify({ message: `Missing required request parameters: [${names.join(', ')}]` });

function req(o: Partial<Omit<RequestView, 'body'>> & { body?: string | Buffer | null } = {}): RequestView {
  const { body, ...rest } = o;
  return {
    query: '',
    headers: [],
    pathParameters: null,
    contentType: 'application/json',
    ...rest,
    body: body === undefined || body === null ? null : typeof body === 'string' ? Buffer.from(body) : body,
  };
}

const D4 = 'http://json-schema.org/draft-04/schema#';

// The AWS sample model (https://docs.aws.amazon.com/apigateway/latest/developerguide/models-mappings-models.html)
const PETSTORE = {
  $schema: D4,
  title: 'PetStoreModel',
  type: 'object',
  required: ['price', 'type'],
  properties: {
    id: { type: 'integer' },
    type: { type: 'string', enum: ['dog', 'cat', 'fish'] },
    price: { type: 'number', minimum: 25.0, maximum: 500.0 },
  },
};

function errOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    return (e as Error).message;
  }
  return '(no error)';
}

function bodyCheck(spec: RouteValidation, models: Record<string, unknown>, r: RequestView, draft: '04' | '2020-12' = '04'): ValidationError | null {
  return compileRouteValidator(spec, compileModels(models, { draft })).checkBody(r);
}

t.test('draft-04 models: AWS sample model, boolean exclusive bounds, id keyword', async (t) => {
  const ms = compileModels({ PetStoreModel: PETSTORE }, { draft: '04' });
  const v = compileRouteValidator({ bodyModels: { 'application/json': 'PetStoreModel' }, validator: BODY_ONLY }, ms);
  t.equal(v.checkBody(req({ body: '{"name":"Marco","type":"dog","price":260}' })), null, 'AWS test page: valid payload');
  const bird = v.checkBody(req({ body: '{"name":"Molly","type":"bird","price":269}' }));
  t.equal(bird?.status, 400);
  t.equal(bird?.body, INVALID_BODY, 'AWS test page: type not in enum');
  t.equal(bird?.type, 'BAD_REQUEST_BODY');
  t.equal(v.checkBody(req({ body: '{"type":"dog","price":501}' }))?.body, INVALID_BODY, 'AWS test page: price 501');

  const ex = compileModels({ M: { $schema: D4, id: 'http://example.com/m', type: 'number', minimum: 0, exclusiveMinimum: true, maximum: 10 } }, { draft: '04' });
  const ev = compileRouteValidator({ bodyModels: { 'application/json': 'M' }, validator: BODY_ONLY }, ex);
  t.not(ev.checkBody(req({ body: '0' })), null, 'draft-04 boolean exclusiveMinimum excludes 0');
  t.equal(ev.checkBody(req({ body: '0.5' })), null);
  t.equal(ev.checkBody(req({ body: '10' })), null);
  t.match(errOf(() => compileModels({ M: { type: 'number', exclusiveMinimum: 3 } }, { draft: '04' })), /model 'M'.*invalid JSON schema \(draft 04\)/, 'numeric exclusiveMinimum is not draft 04');
});

t.test('draft 2020-12 models', async (t) => {
  const models = {
    Point: {
      type: 'array',
      prefixItems: [{ type: 'number' }, { type: 'number' }],
      items: false,
    },
    Shape: {
      type: 'object',
      required: ['points'],
      properties: { points: { type: 'array', items: { $ref: 'Point' } }, color: { $ref: '#/$defs/color' } },
      dependentRequired: { color: ['opacity'] },
      $defs: { color: { enum: ['red', 'blue'] } },
    },
  };
  const spec = { bodyModels: { 'application/json': 'Shape' }, validator: BODY_ONLY };
  t.equal(bodyCheck(spec, models, req({ body: '{"points":[[1,2],[3,4]]}' }), '2020-12'), null);
  t.not(bodyCheck(spec, models, req({ body: '{"points":[[1,2,3]]}' }), '2020-12'), null, 'prefixItems + items:false');
  t.not(bodyCheck(spec, models, req({ body: '{"points":[],"color":"red"}' }), '2020-12'), null, 'dependentRequired');
  t.equal(bodyCheck(spec, models, req({ body: '{"points":[],"color":"red","opacity":1}' }), '2020-12'), null);
  t.not(bodyCheck(spec, models, req({ body: '{"points":[],"color":"green","opacity":1}' }), '2020-12'), null, '$defs ref');
  t.match(
    errOf(() => compileModels({ Old: PETSTORE }, { draft: '2020-12' })),
    /model 'Old'.*draft-04/,
    'a draft-04 $schema in a 2020-12 set is an error naming the model',
  );
  t.match(errOf(() => compileModels({}, { draft: '07' as never })), /unknown JSON schema draft '07'/);
});

t.test('$ref between models: every accepted form', async (t) => {
  const Owner = { type: 'object', required: ['email'], properties: { email: { type: 'string', format: 'email' } } };
  const forms = [
    'Owner',
    '#/components/schemas/Owner',
    '#/definitions/Owner',
    'https://apigateway.amazonaws.com/restapis/abc123/models/Owner',
  ];
  for (const ref of forms) {
    const models = { Pet: { type: 'object', properties: { owner: { $ref: ref } } }, Owner };
    for (const draft of ['04', '2020-12'] as const) {
      const v = compileRouteValidator({ bodyModels: { 'application/json': 'Pet' }, validator: BODY_ONLY }, compileModels(models, { draft }));
      t.equal(v.checkBody(req({ body: '{"owner":{"email":"a@b.example"}}' })), null, `${ref} (${draft}) valid`);
      t.equal(v.checkBody(req({ body: '{"owner":{"email":"nope"}}' }))?.body, INVALID_BODY, `${ref} (${draft}) invalid`);
    }
  }
  // a pointer into another model
  const ptr = compileModels({
    A: { type: 'object', properties: { id: { $ref: '#/components/schemas/B/properties/id' }, n: { $ref: 'https://apigateway.amazonaws.com/restapis/x/models/B#/properties/id' } } },
    B: { type: 'object', properties: { id: { type: 'integer' } } },
  }, { draft: '04' });
  const pv = compileRouteValidator({ bodyModels: { 'application/json': 'A' }, validator: BODY_ONLY }, ptr);
  t.equal(pv.checkBody(req({ body: '{"id":1,"n":2}' })), null);
  t.not(pv.checkBody(req({ body: '{"id":"1"}' })), null, 'pointer into model B');
  t.not(pv.checkBody(req({ body: '{"n":1.5}' })), null, 'AWS URL with pointer');

  // a local definition of the same name wins over the model
  const local = compileModels({
    Pet: { type: 'object', properties: { owner: { $ref: '#/definitions/Owner' } }, definitions: { Owner: { type: 'string' } } },
    Owner,
  }, { draft: '04' });
  const lv = compileRouteValidator({ bodyModels: { 'application/json': 'Pet' }, validator: BODY_ONLY }, local);
  t.equal(lv.checkBody(req({ body: '{"owner":"me"}' })), null, 'local #/definitions/Owner used');

  // recursion through refs, and models defined after their users
  const tree = compileModels({
    Forest: { type: 'array', items: { $ref: 'Node' } },
    Node: { type: 'object', required: ['v'], properties: { v: { type: 'integer' }, kids: { type: 'array', items: { $ref: 'Node' } } } },
  }, { draft: '04' });
  const tv = compileRouteValidator({ bodyModels: { 'application/json': 'Forest' }, validator: BODY_ONLY }, tree);
  t.equal(tv.checkBody(req({ body: '[{"v":1,"kids":[{"v":2,"kids":[{"v":3}]}]}]' })), null);
  t.not(tv.checkBody(req({ body: '[{"v":1,"kids":[{"v":2,"kids":[{"w":3}]}]}]' })), null, 'deep invalid node');

  // route body model given inline, referring to a model
  const ms = compileModels({ Owner }, { draft: '04' });
  const inline = compileRouteValidator({ bodyModels: { 'application/json': { type: 'array', items: { $ref: 'Owner' } } }, validator: BODY_ONLY }, ms);
  t.equal(inline.checkBody(req({ body: '[{"email":"a@b.example"}]' })), null);
  t.not(inline.checkBody(req({ body: '[{}]' })), null);
  const wrapped = compileRouteValidator({ bodyModels: { 'application/json': { $ref: '#/components/schemas/Owner' } }, validator: BODY_ONLY }, ms);
  t.not(wrapped.checkBody(req({ body: '{}' })), null, '{ $ref } inline is the model');
  t.same(ms.names(), ['Owner']);
  t.ok(ms.has('Owner'));
  t.equal(ms.draft, '04');
});

t.test('invalid schema at compile: a clear error naming the model', async (t) => {
  t.match(errOf(() => compileModels({ Good: PETSTORE, Broken: { type: 'objec' } }, { draft: '04' })), /^model 'Broken': invalid JSON schema \(draft 04\): schema is invalid: data\/type/);
  t.match(errOf(() => compileModels({ Broken: { properties: { a: { required: 'yes' } } } }, { draft: '2020-12' })), /^model 'Broken': invalid JSON schema \(draft 2020-12\)/);
  t.match(errOf(() => compileModels({ Str: 'not a schema' }, { draft: '04' })), /^model 'Str': schema must be a JSON object, got string/);
  t.match(errOf(() => compileModels({ Nil: null }, { draft: '04' })), /^model 'Nil': schema must be a JSON object, got null/);
  t.match(errOf(() => compileModels({ Arr: [] }, { draft: '04' })), /^model 'Arr': schema must be a JSON object, got an array/);
  t.match(errOf(() => compileModels({ Re: { type: 'string', pattern: '(' } }, { draft: '04' })), /^model 'Re': cannot compile.*regular expression/i);
  t.match(errOf(() => compileModels({ Ext: { $ref: 'other.json#/x' } }, { draft: '04' })), /^model 'Ext': cannot compile.*can't resolve reference other\.json#\/x/);
  t.not(errOf(() => compileModels({ Ext: { $ref: 'other.json#/x' } }, { draft: '04' })).includes('gateway.invalid'), true, 'internal URIs not shown');
  // unknown keywords are tolerated (AWS models often carry "example" and vendor keys)
  t.doesNotThrow(() => compileModels({ M: { type: 'object', example: { a: 1 }, 'x-note': 'hi' } }, { draft: '04' }));
});

t.test('unknown model references', async (t) => {
  t.equal(
    errOf(() => compileModels({ Pet: { properties: { owner: { $ref: 'Owner' } } } }, { draft: '04' })),
    "model 'Pet': unknown model reference 'Owner' (no model named 'Owner'; known models: Pet)",
  );
  t.match(errOf(() => compileModels({ Pet: { properties: { o: { $ref: '#/components/schemas/Nope' } } } }, { draft: '2020-12' })), /^model 'Pet': unknown model reference '#\/components\/schemas\/Nope'/);
  t.match(errOf(() => compileModels({ Pet: { items: { $ref: 'https://apigateway.amazonaws.com/restapis/a1/models/Gone' } } }, { draft: '04' })), /^model 'Pet': unknown model reference .*models\/Gone/);
  const ms = compileModels({ Pet: PETSTORE }, { draft: '04' });
  t.equal(
    errOf(() => compileRouteValidator({ bodyModels: { 'application/json': 'Cat' }, validator: BODY_ONLY }, ms)),
    "body model for content type 'application/json': unknown model 'Cat' (known models: Pet)",
  );
  t.match(errOf(() => compileRouteValidator({ bodyModels: { 'application/json': { $ref: 'Cat' } }, validator: BODY_ONLY }, ms)), /unknown model reference 'Cat'/);
  t.match(errOf(() => compileRouteValidator({ bodyModels: { 'application/json': { type: 'objec' } }, validator: BODY_ONLY }, ms)), /body model for content type 'application\/json': invalid JSON schema/);
  t.match(errOf(() => compileRouteValidator({ bodyModels: { 'application/json': 42 }, validator: BODY_ONLY }, ms)), /schema must be a JSON object or a model name/);
  // refs in a route model are checked even when body validation is off: a config error either way
  t.throws(() => compileRouteValidator({ bodyModels: { 'application/json': 'Cat' }, validator: PARAMS_ONLY }, ms));
  t.throws(() => compileRouteValidator({ validator: undefined as never }, ms), /validator/);
  t.throws(() => compileRouteValidator({ required: { querystring: 'q' as never }, validator: BOTH }, ms), /required.querystring must be an array/);
  t.throws(() => compileRouteValidator({ required: { header: [''] }, validator: BOTH }, ms), /non-empty/);
});

t.test('body: valid, invalid, not JSON, empty', async (t) => {
  const ms = compileModels({ Pet: PETSTORE, Empty: { $schema: D4, title: 'Empty Schema', type: 'object' } }, { draft: '04' });
  const v = compileRouteValidator({ bodyModels: { 'application/json': 'Pet' }, validator: BODY_ONLY }, ms);
  t.equal(v.checkBody(req({ body: '{"type":"cat","price":30}' })), null);
  t.equal(v.checkBody(req({ body: '{"type":"cat","price":"30"}' }))?.body, INVALID_BODY, 'no type coercion');
  for (const bad of ['{"type":"cat",', 'type=cat&price=30', '<pet/>', 'undefined', '  ', '\u0000']) {
    const e = v.checkBody(req({ body: bad }));
    t.equal(e?.body, INVALID_BODY, `not JSON: ${JSON.stringify(bad)}`);
    t.equal(e?.status, 400);
  }
  t.equal(v.checkBody(req({ body: Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{"type":"cat","price":30}')]) })), null, 'UTF-8 BOM skipped');
  t.equal(v.checkBody(req({ body: '"just a string"' }))?.body, INVALID_BODY, 'JSON of the wrong type');
  // empty body is validated as {}: fails a model with required properties, passes Empty
  t.equal(v.checkBody(req({ body: null }))?.body, INVALID_BODY, 'no body, required properties');
  t.equal(v.checkBody(req({ body: '' }))?.body, INVALID_BODY, 'zero-length body, required properties');
  const empty = compileRouteValidator({ bodyModels: { 'application/json': 'Empty' }, validator: BODY_ONLY }, ms);
  t.equal(empty.checkBody(req({ body: null })), null, 'no body passes the Empty model');
  t.equal(empty.checkBody(req({ body: '{"anything":1}' })), null);
  t.equal(empty.checkBody(req({ body: '[]' }))?.body, INVALID_BODY, 'Empty model is type object');
  // an error object is shared and frozen when details are off: no allocation per failure
  t.equal(v.checkBody(req({ body: '{}' })), v.checkBody(req({ body: '[]' })));
  t.ok(Object.isFrozen(v.checkBody(req({ body: '{}' }))));
  // formats are enforced
  const fm = compileModels({ F: { type: 'object', properties: { at: { type: 'string', format: 'date-time' }, web: { type: 'string', format: 'uri' } } } }, { draft: '04' });
  const fv = compileRouteValidator({ bodyModels: { 'application/json': 'F' }, validator: BODY_ONLY }, fm);
  t.equal(fv.checkBody(req({ body: '{"at":"2024-02-29T13:45:00Z","web":"https://x.example/a"}' })), null);
  t.not(fv.checkBody(req({ body: '{"at":"yesterday"}' })), null, 'date-time');
  t.not(fv.checkBody(req({ body: '{"web":"not a uri"}' })), null, 'uri');
});

t.test('content type selects the model', async (t) => {
  const ms = compileModels({ Pet: PETSTORE, Str: { type: 'string' } }, { draft: '04' });
  const v = compileRouteValidator({ bodyModels: { 'application/json': 'Pet', 'Application/Vnd.Pet+JSON': 'Str' }, validator: BODY_ONLY }, ms);
  const good = '{"type":"cat","price":30}';
  t.equal(v.checkBody(req({ contentType: 'application/json; charset=utf-8', body: good })), null, 'charset parameter ignored');
  t.equal(v.checkBody(req({ contentType: 'application/json;charset=UTF-8', body: '{}' }))?.body, INVALID_BODY, 'charset parameter, invalid body');
  t.equal(v.checkBody(req({ contentType: 'APPLICATION/JSON', body: '{}' }))?.body, INVALID_BODY, 'media type case-insensitive');
  t.equal(v.checkBody(req({ contentType: ' application/json ; charset=utf-8', body: good })), null);
  t.equal(v.checkBody(req({ contentType: 'application/vnd.pet+json', body: '"s"' })), null, 'second model by its own key');
  t.equal(v.checkBody(req({ contentType: 'application/vnd.pet+json', body: good }))?.body, INVALID_BODY);
  // no model for the content type and no $default: no validation (B2)
  t.equal(v.checkBody(req({ contentType: 'text/plain', body: 'not json at all' })), null);
  t.equal(v.checkBody(req({ contentType: 'application/xml', body: '<x/>' })), null);
  t.notOk(v.needsBodyFor('text/plain'));
  t.ok(v.needsBodyFor('application/json; charset=utf-8'));
  // absent Content-Type: application/json (B3)
  t.equal(v.checkBody(req({ contentType: '', body: '{}' }))?.body, INVALID_BODY, 'absent Content-Type uses the application/json model');
  t.equal(v.checkBody(req({ contentType: '', body: good })), null);
  t.ok(v.needsBodyFor(''));
  // $default catches the rest
  const d = compileRouteValidator({ bodyModels: { 'application/json': 'Str', $default: 'Pet' }, validator: BODY_ONLY }, ms);
  t.equal(d.checkBody(req({ contentType: 'text/plain', body: '{}' }))?.body, INVALID_BODY, '$default applies to other types');
  t.equal(d.checkBody(req({ contentType: 'text/plain', body: good })), null);
  t.equal(d.checkBody(req({ contentType: 'application/json', body: '"s"' })), null, 'exact type wins over $default');
  const only = compileRouteValidator({ bodyModels: { $default: 'Pet' }, validator: BODY_ONLY }, ms);
  t.equal(only.checkBody(req({ contentType: '', body: '{}' }))?.body, INVALID_BODY, 'absent Content-Type falls to $default');
  t.equal(only.checkBody(req({ contentType: 'image/png', body: Buffer.from([0x89, 0x50]) }))?.body, INVALID_BODY);
  t.throws(() => compileRouteValidator({ bodyModels: { '; charset=utf-8': 'Pet' }, validator: BODY_ONLY }, ms), /empty media type/);
  t.equal(mediaType('Text/HTML; charset=ISO-8859-1'), 'text/html');
  t.equal(mediaType(''), '');
});

t.test('missing required parameters: exact messages', async (t) => {
  const ms = compileModels({}, { draft: '04' });
  // AWS test page: GET /validation with q1 required
  const q = compileRouteValidator({ required: { querystring: ['q1'] }, validator: PARAMS_ONLY }, ms);
  t.equal(q.checkParameters(req({ query: 'q1=cat' })), null);
  const e = q.checkParameters(req({ query: '' }));
  t.equal(e?.status, 400);
  t.equal(e?.type, 'BAD_REQUEST_PARAMETERS');
  t.equal(e?.message, 'Missing required request parameters: [q1]');
  t.equal(e?.body, missing('q1'));
  t.equal(q.checkParameters(req({ query: 'q1=' }))?.body, missing('q1'), 'blank value');
  t.equal(q.checkParameters(req({ query: 'q1' }))?.body, missing('q1'), 'no "="');
  t.equal(q.checkParameters(req({ query: 'q1=%20' }))?.body, missing('q1'), 'encoded space only');
  t.equal(q.checkParameters(req({ query: 'q1=++' }))?.body, missing('q1'), '"+" spaces only');
  t.equal(q.checkParameters(req({ query: 'q10=x&xq1=y&Q1=z' }))?.body, missing('q1'), 'prefixes, suffixes, case');
  t.equal(q.checkParameters(req({ query: 'a=1&q1=x&b=2' })), null);
  t.equal(q.checkParameters(req({ query: 'q1=&q1=x' })), null, 'one occurrence not blank');
  t.equal(q.checkParameters(req({ query: 'q%31=x' })), null, 'percent-encoded name');
  t.equal(q.checkParameters(req({ query: 'q1=%E2%9C%93' })), null);
  t.equal(q.checkParameters(req({ query: 'q1=%zz' })), null, 'malformed escape is something');
  t.equal(q.checkParameters(req({ query: '&&q1=0&' })), null, 'empty pairs skipped; "0" is not blank');
  const sp = compileRouteValidator({ required: { querystring: ['a b'] }, validator: PARAMS_ONLY }, ms);
  t.equal(sp.checkParameters(req({ query: 'a+b=1' })), null);
  t.equal(sp.checkParameters(req({ query: 'a%20b=1' })), null);
  t.equal(sp.checkParameters(req({ query: 'ab=1' }))?.body, missing('a b'));

  // AWS test page: header h1
  const h = compileRouteValidator({ required: { header: ['h1'] }, validator: PARAMS_ONLY }, ms);
  t.equal(h.checkParameters(req({ headers: ['content-type', 'application/json', 'h1', 'v1'] })), null);
  t.equal(h.checkParameters(req({ headers: ['content-type', 'application/json'] }))?.body, missing('h1'));
  t.equal(h.checkParameters(req({ headers: ['h1', ''] }))?.body, missing('h1'), 'blank header');
  t.equal(h.checkParameters(req({ headers: ['h1', ' \t'] }))?.body, missing('h1'), 'whitespace header');
  t.equal(h.checkParameters(req({ headers: ['h1', '', 'h1', 'x'] })), null, 'repeated header, one not blank');
  t.equal(h.checkParameters(req({ headers: ['x', 'h1'] }))?.body, missing('h1'), 'a value equal to the name is not the header');
  const hc = compileRouteValidator({ required: { header: ['X-Api-Key', 'x-api-key'] }, validator: PARAMS_ONLY }, ms);
  t.equal(hc.checkParameters(req({ headers: ['x-api-key', 'k'] })), null, 'case-insensitive header names');
  t.equal(hc.checkParameters(req({ headers: [] }))?.body, missing('X-Api-Key'), 'reported as configured, once');

  // path
  const p = compileRouteValidator({ required: { path: ['petId'] }, validator: PARAMS_ONLY }, ms);
  t.equal(p.checkParameters(req({ pathParameters: { petId: '42' } })), null);
  t.equal(p.checkParameters(req({ pathParameters: null }))?.body, missing('petId'), 'route without parameters');
  t.equal(p.checkParameters(req({ pathParameters: { other: '1' } }))?.body, missing('petId'));
  t.equal(p.checkParameters(req({ pathParameters: { petId: '%20' } }))?.body, missing('petId'), 'raw path parameter decoding to blank');

  // several: headers, then path, then query string; sorted within each (AWS recorded example)
  const all = compileRouteValidator({
    required: { path: ['issuer'], querystring: ['qs1'], header: ['x-header-param'] },
    validator: PARAMS_ONLY,
  }, ms);
  t.equal(all.checkParameters(req({ pathParameters: { test: 'value' } }))?.body, '{"message":"Missing required request parameters: [x-header-param, issuer, qs1]"}');
  t.equal(all.checkParameters(req({ query: 'qs1=test', pathParameters: { test: 'value' } }))?.body, missing('x-header-param', 'issuer'));
  const many = compileRouteValidator({
    required: { querystring: ['zeta', 'alpha', 'mid', 'alpha'], header: ['x-b', 'x-a'], path: ['b', 'a'] },
    validator: PARAMS_ONLY,
  }, ms);
  t.equal(many.checkParameters(req({ query: 'mid=1' }))?.message, 'Missing required request parameters: [x-a, x-b, a, b, alpha, zeta]');
  t.equal(many.checkParameters(req({ query: 'zeta=1&alpha=2&mid=3', headers: ['x-a', '1', 'x-b', '2'], pathParameters: { a: '1', b: '2' } })), null);

  // more than 30 required query names
  const names = Array.from({ length: 40 }, (_, i) => `p${String(i).padStart(2, '0')}`);
  const big = compileRouteValidator({ required: { querystring: names }, validator: PARAMS_ONLY }, ms);
  const fullQuery = names.map((n) => `${n}=1`).join('&');
  t.equal(big.checkParameters(req({ query: fullQuery })), null);
  t.equal(big.checkParameters(req({ query: fullQuery.replace('p03=1', 'p03=').replace('p35=1', 'x=1') }))?.body, missing('p03', 'p35'));
});

t.test('validator flags: body only, params only, both, neither', async (t) => {
  const ms = compileModels({ Pet: PETSTORE }, { draft: '04' });
  const base = { bodyModels: { 'application/json': 'Pet' }, required: { querystring: ['q1'] } };
  const badBoth = req({ body: '{}' });
  const bodyOnly = compileRouteValidator({ ...base, validator: BODY_ONLY }, ms);
  t.equal(bodyOnly.checkParameters(badBoth), null, 'body only: parameters not checked');
  t.equal(bodyOnly.checkBody(badBoth)?.body, INVALID_BODY);
  t.ok(bodyOnly.needsBody);
  t.equal(bodyOnly.check(badBoth)?.type, 'BAD_REQUEST_BODY');

  const paramsOnly = compileRouteValidator({ ...base, validator: PARAMS_ONLY }, ms);
  t.equal(paramsOnly.checkBody(badBoth), null, 'params only: body not checked');
  t.notOk(paramsOnly.needsBody);
  t.notOk(paramsOnly.needsBodyFor('application/json'));
  t.equal(paramsOnly.checkParameters(badBoth)?.body, missing('q1'));

  const both = compileRouteValidator({ ...base, validator: BOTH }, ms);
  t.equal(both.check(badBoth)?.body, missing('q1'), 'both: parameters answered first');
  t.equal(both.check(req({ query: 'q1=x', body: '{}' }))?.body, INVALID_BODY);
  t.equal(both.check(req({ query: 'q1=x', body: '{"type":"dog","price":30}' })), null);

  const neither = compileRouteValidator({ ...base, validator: { validateRequestBody: false, validateRequestParameters: false } }, ms);
  t.equal(neither.check(badBoth), null);
  t.notOk(neither.needsBody);

  const noModels = compileRouteValidator({ validator: BOTH }, ms);
  t.notOk(noModels.needsBody, 'body validation on but no model: nothing to read');
  t.equal(noModels.check(req({ body: 'garbage' })), null);
});

t.test('details on and off', async (t) => {
  const ms = compileModels({
    Owner: { type: 'object', properties: { email: { type: 'string', format: 'email' } } },
    Pet: { type: 'object', required: ['name'], properties: { name: { type: 'string' }, owner: { $ref: 'Owner' } } },
  }, { draft: '04' });
  const on = compileRouteValidator({ bodyModels: { 'application/json': 'Pet' }, validator: BODY_ONLY, details: true }, ms);
  const off = compileRouteValidator({ bodyModels: { 'application/json': 'Pet' }, validator: BODY_ONLY }, ms);
  const bad = req({ body: '{"name":"a","owner":{"email":"nope"}}' });
  t.equal(off.checkBody(bad)?.body, INVALID_BODY, 'off: exactly what AWS sends');
  const e = on.checkBody(bad);
  t.equal(e?.status, 400);
  t.equal(e?.message, 'Invalid request body');
  const parsed = JSON.parse(e!.body) as { message: string; errors: { instancePath: string; schemaPath: string; keyword: string; message: string }[] };
  t.equal(parsed.message, 'Invalid request body');
  t.equal(parsed.errors.length, 1);
  t.match(parsed.errors[0], { instancePath: '/owner/email', keyword: 'format', message: 'must match format "email"', schemaPath: 'Owner#/properties/email/format' });
  const missingName = JSON.parse(on.checkBody(req({ body: '{}' }))!.body) as { errors: { keyword: string; schemaPath: string }[] };
  t.match(missingName.errors[0], { keyword: 'required', schemaPath: '#/required' });
  const notJson = JSON.parse(on.checkBody(req({ body: '{oops' }))!.body) as { errors: { keyword: string; message: string }[] };
  t.equal(notJson.errors[0]!.keyword, 'json');
  t.match(notJson.errors[0]!.message, /^body is not valid JSON: /);
  t.equal(on.checkBody(req({ body: '{"name":"a"}' })), null);
});

t.test('benchmark bodies validate; INLINE_BODY_LIMIT', async (t) => {
  const ms = compileModels(PET_MODELS, { draft: '04' });
  for (const size of [200, 2000, 20_000]) {
    const c = makeBody(size);
    t.ok(c.body.length >= size, `${c.label} is at least ${size} B`);
    const v = compileRouteValidator({ bodyModels: { 'application/json': c.model }, validator: BODY_ONLY }, ms);
    t.equal(v.checkBody(req({ body: c.body })), null, `${c.label} bench body is valid`);
    const broken = c.body.toString().replace('"available"', '"lost"').replace('"pending"', '"lost"');
    t.equal(v.checkBody(req({ body: broken }))?.body, INVALID_BODY, `${c.label} with a bad enum value is not`);
  }
  t.type(INLINE_BODY_LIMIT, 'number');
  t.ok(INLINE_BODY_LIMIT >= 1024 && INLINE_BODY_LIMIT <= 1024 * 1024);
});
