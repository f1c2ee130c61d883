import { cpSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { get, startGateway } from '../helpers/gateway.js';

// The REST export with Lambda authorizers, an API key and IAM (test/fixtures/openapi/rest-authorizers.yaml)
// served directly by `gateway start --config doc.yaml --functions DIR`: the imported authorization is enforced.

const FIX = fileURLToPath(new URL('../../../test/fixtures/openapi/', import.meta.url));

t.test('a REST export with authorizers served end to end', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'oas-auth-'));
  cpSync(FIX, dir, { recursive: true });
  const gw = await startGateway({}, { configFile: join(dir, 'rest-authorizers.yaml'), args: ['--functions', join(dir, 'functions')] });
  t.teardown(() => gw.stop());
  t.match(gw.output(), /warning: .*DELETE \/orders\/\{id\} skipped: authorizer CognitoPool is not supported/, 'the Cognito route is skipped, with a warning');

  // TOKEN authorizer (TokenAuth) on a Lambda proxy route.
  let r = await get(gw.port, '/prod/orders');
  t.equal(r.status, 401, 'no Authorization header: 401 without calling the authorizer');
  t.equal(r.body, '{"message":"Unauthorized"}');
  r = await get(gw.port, '/prod/orders', { headers: { authorization: 'Bearer x y' } });
  t.equal(r.status, 401, 'the token does not match identityValidationExpression');
  r = await get(gw.port, '/prod/orders', { headers: { authorization: 'Bearer deny' } });
  t.equal(r.status, 403, 'the authorizer denies');
  t.equal(r.body, '{"Message":"User is not authorized to access this resource with an explicit deny"}');
  r = await get(gw.port, '/prod/orders', { headers: { authorization: 'Bearer allow' } });
  t.equal(r.status, 200, 'the authorizer allows: the GetPets function answers');
  t.match(JSON.parse(r.body), [{ id: 1, type: 'dog', price: 249.99 }]);
  r = await get(gw.port, '/prod/reports', { headers: { authorization: 'Bearer allow' } });
  t.equal(r.status, 200, 'the same authorizer on a mock route (its scopes were ignored)');
  t.same(JSON.parse(r.body), { user: 'user-1', tenant: 'acme' }, "the authorizer's principal and context reach the template");

  // REQUEST authorizer (payload 1.0) and an API key, both required.
  r = await get(gw.port, '/prod/orders', { method: 'POST' });
  t.equal(r.status, 401, 'no x-tenant: 401');
  r = await get(gw.port, '/prod/orders', { method: 'POST', headers: { 'x-tenant': 'other' } });
  t.equal(r.status, 403, 'the REQUEST authorizer denies tenant other');
  t.match(r.body, /explicit deny/);
  r = await get(gw.port, '/prod/orders', { method: 'POST', headers: { 'x-tenant': 'acme' } });
  t.equal(r.status, 403, 'allowed by the authorizer, but no API key');
  t.equal(r.body, '{"message":"Forbidden"}');

  // IAM: unsigned requests are refused.
  r = await get(gw.port, '/prod/orders/7');
  t.equal(r.status, 403);
  t.match(r.body, /Missing Authentication Token/);

  // No security: open.
  r = await get(gw.port, '/prod/health');
  t.equal(r.status, 200);
  t.equal(r.body, '{"ok": true}');
});

t.test('an HTTP API export with a JWT authorizer and a Lambda authorizer (simple responses) served end to end', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'oas-auth-'));
  cpSync(FIX, dir, { recursive: true });
  const gw = await startGateway({}, { configFile: join(dir, 'http-api-jwt.json'), args: ['--functions', join(dir, 'functions')] });
  t.teardown(() => gw.stop());

  let r = await get(gw.port, '/pets');
  t.equal(r.status, 401, 'JWT authorizer: no token');
  t.equal(r.body, '{"message":"Unauthorized"}');
  t.match(r.headers['www-authenticate'], /^Bearer/);
  r = await get(gw.port, '/pets', { headers: { authorization: 'Bearer not.a.jwt' } });
  t.equal(r.status, 401, 'JWT authorizer: not a JWT');

  r = await get(gw.port, '/pets/5');
  t.equal(r.status, 401, 'Lambda authorizer: no x-partner-key');
  r = await get(gw.port, '/pets/5', { headers: { 'x-partner-key': 'wrong' } });
  t.equal(r.status, 403, 'Lambda authorizer: isAuthorized false');
  t.equal(r.body, '{"message":"Forbidden"}');
  r = await get(gw.port, '/pets/5', { headers: { 'x-partner-key': 'partner-secret' } });
  t.equal(r.status, 200, 'Lambda authorizer: isAuthorized true, the GetPet function answers');
  t.same(JSON.parse(r.body), { id: '5' });

  r = await get(gw.port, '/admin/users');
  t.equal(r.status, 403, 'IAM: unsigned');
});
