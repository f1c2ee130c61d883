import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { CLI, get, startGateway } from '../helpers/gateway.js';
import { startUpstream } from '../helpers/upstream.js';

// OpenAPI documents exported from AWS, served directly by `gateway start --config doc.yaml`.

const FIX = fileURLToPath(new URL('../../../test/fixtures/openapi/', import.meta.url));

/** The AWS PetStore backend, played by a local server: /petstore/pets and /petstore/pets/{id}. */
const store = await startUpstream((req, res, body) => {
  res.writeHead(req.method === 'POST' ? 200 : 200, { 'content-type': 'application/json' });
  if (req.method === 'POST') res.end(JSON.stringify({ pet: JSON.parse(body.toString()), message: 'success' }));
  else if (req.url === '/petstore/pets') res.end('[{"id":1,"type":"dog","price":249.99}]');
  else res.end(JSON.stringify({ id: Number(req.url!.split('/').pop()), type: 'cat', price: 124.99 }));
});
t.teardown(() => store.close());

t.test('import-openapi prints a config that validates', async (t) => {
  const r = spawnSync(process.execPath, [CLI, 'import-openapi', join(FIX, 'petstore.yaml')], { encoding: 'utf8' });
  t.equal(r.status, 0, r.stderr);
  t.match(r.stdout, /^# Gateway config imported from petstore\.yaml \(OpenAPI 3\.0\.1\)\./);
  t.match(r.stdout, /route: GET \/pets\/\{petId\}/);
  const dir = mkdtempSync(join(tmpdir(), 'oas-'));
  writeFileSync(join(dir, 'gw.yaml'), r.stdout);
  const v = spawnSync(process.execPath, [CLI, 'validate', '--config', join(dir, 'gw.yaml')], { encoding: 'utf8' });
  t.equal(v.status, 0, v.stderr);
});

t.test('import-openapi on a broken document: exit 1 with the reason', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'oas-'));
  writeFileSync(join(dir, 'bad.yaml'), 'openapi: 3.0.1\ninfo: { title: x, version: "1" }\npaths: {}\n');
  const r = spawnSync(process.execPath, [CLI, 'import-openapi', join(dir, 'bad.yaml')], { encoding: 'utf8' });
  t.equal(r.status, 1);
  t.match(r.stderr, /bad\.yaml/);
});

t.test('the AWS PetStore document served end to end', async (t) => {
  // Same document, its backend pointed at the local store.
  const dir = mkdtempSync(join(tmpdir(), 'oas-'));
  const doc = readFileSync(join(FIX, 'petstore.yaml'), 'utf8').replaceAll('http://petstore-demo-endpoint.execute-api.com', store.url);
  writeFileSync(join(dir, 'petstore.yaml'), doc);
  // An OpenAPI document is the config file itself; ports come from flags.
  const gw = await startGateway({}, { configFile: join(dir, 'petstore.yaml') });
  t.teardown(() => gw.stop());

  let r = await get(gw.port, '/prod/');
  t.equal(r.status, 200);
  t.equal(r.headers['content-type'], 'text/html');
  t.match(r.body, /<a href="\/prod\/pets\/"/, 'the mock response template rendered $context.stage');

  r = await get(gw.port, '/prod/pets');
  t.equal(r.status, 200);
  t.same(JSON.parse(r.body), [{ id: 1, type: 'dog', price: 249.99 }]);

  r = await get(gw.port, '/prod/pets/7');
  t.equal(r.status, 200);
  t.equal(JSON.parse(r.body).id, 7);

  r = await get(gw.port, '/prod/pets', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"type":"dog","price":10}' });
  t.equal(r.status, 200);
  t.same(JSON.parse(r.body).pet, { type: 'dog', price: 10 });

  r = await get(gw.port, '/prod/pets', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"type":"dragon","price":10}' });
  t.equal(r.status, 400, 'NewPet model: type must be one of the PetType enum');
  t.equal(r.body, '{"message":"Invalid request body"}');

  r = await get(gw.port, '/prod/pets', { method: 'OPTIONS' });
  t.equal(r.status, 200, 'CORS preflight mock');

  r = await get(gw.port, '/prod/nope');
  t.equal(r.status, 404);
});

t.test('an HTTP API export with Lambda integrations, handlers from --functions', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'oas-'));
  cpSync(FIX, dir, { recursive: true });
  const gw = await startGateway({}, { configFile: join(dir, 'http-api-lambda.json'), args: ['--functions', join(dir, 'functions')] });
  t.teardown(() => gw.stop());
  t.match(gw.output(), /warning: .*DeletePet/, 'skipped routes are warned about');
  let r = await get(gw.port, '/pets');
  t.equal(r.status, 200);
  t.same(JSON.parse(r.body), [{ id: 1, type: 'dog', price: 249.99, path: '/pets' }]);
  r = await get(gw.port, '/pets/5');
  t.same(JSON.parse(r.body), { id: '5' });
  r = await get(gw.port, '/pets', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"a":1}' });
  t.equal(r.status, 201);
  t.equal(r.body, '{"a":1}');
});
