import t from 'tap';
import { compilePolicy, evaluatePolicy, globMatch } from '../../src/auth/policy.js';
import { parseAuthorizerResult } from '../../src/functions/authorizer.js';
import type { AuthorizeRequest } from '../../src/functions/types.js';

// IAM policy evaluation for Lambda authorizer answers, and the answer checks, as pure functions.

const ARN = 'arn:aws:execute-api:us-east-1:123456789012:api/prod/GET/pets/42';

t.test('IAM wildcards: * any run (slashes too), ? one character, everything else literal', async (t) => {
  t.ok(globMatch('arn:aws:execute-api:*:*:api/*', ARN));
  t.ok(globMatch('arn:aws:execute-api:us-east-1:123456789012:api/prod/GET/pets/4?', ARN));
  t.notOk(globMatch('arn:aws:execute-api:us-east-1:123456789012:api/prod/GET/pets/4', ARN), 'no implicit prefix match');
  t.notOk(globMatch('arn:aws:execute-api:us-east-1:123456789012:api/prod/POST/*', ARN));
  t.ok(globMatch('*', ''));
  t.notOk(globMatch('?', ''));
  t.notOk(globMatch('arn.aws*', 'arnXaws:x'), '. is not a wildcard');
  t.ok(globMatch('a*b*c', 'aXXbYYc'));
  t.notOk(globMatch('a*b*c', 'aXXbYY'));
  // Many stars against a long non-matching text: answered (the matcher is O(pattern × text), no backtracking blow-up).
  t.notOk(globMatch(`${'a*'.repeat(30)}b`, 'a'.repeat(5000)));
});

t.test('explicit Deny wins; a matching Allow allows; otherwise implicit deny; only execute-api:Invoke statements count', async (t) => {
  const p = (statements: Parameters<typeof compilePolicy>[0]) => compilePolicy(statements);
  t.equal(evaluatePolicy(p([{ effect: 'Allow', actions: ['execute-api:Invoke'], resources: [ARN] }]), ARN), 'allow');
  t.equal(evaluatePolicy(p([{ effect: 'Allow', actions: ['EXECUTE-API:invoke'], resources: ['*'] }]), ARN), 'allow', 'actions compare without case');
  t.equal(evaluatePolicy(p([{ effect: 'Allow', actions: ['execute-api:*'], resources: ['*'] }, { effect: 'Deny', actions: ['*'], resources: [ARN] }]), ARN), 'explicit-deny');
  t.equal(evaluatePolicy(p([{ effect: 'Allow', actions: ['execute-api:Invoke'], resources: [ARN.toUpperCase()] }]), ARN), 'implicit-deny', 'resources compare with case');
  t.equal(evaluatePolicy(p([{ effect: 'Allow', actions: ['execute-api:ManageConnections'], resources: ['*'] }]), ARN), 'implicit-deny', 'another action allows nothing here');
  t.equal(evaluatePolicy(p([{ effect: 'Deny', actions: ['s3:*'], resources: ['*'] }, { effect: 'Allow', actions: ['*'], resources: ['*'] }]), ARN), 'allow', "another service's Deny does not apply");
});

const req = (type: 'REQUEST' | 'TOKEN', format: '1.0' | '2.0', simpleResponses = false) => ({ format, auth: { type, arn: ARN, identity: ['x'], simpleResponses } }) as AuthorizeRequest;
const statement = { Action: 'execute-api:Invoke', Effect: 'Allow', Resource: ARN };

t.test('answers: policies and simple responses normalized; invalid shapes are failures with a reason', async (t) => {
  const ok = parseAuthorizerResult({ principalId: 7, policyDocument: { Version: '2012-10-17', Statement: statement }, context: { n: 1, b: false }, usageIdentifierKey: 'k' }, req('TOKEN', '1.0'));
  t.same(ok, { ok: true, decision: { kind: 'policy', principalId: '7', statements: [{ effect: 'Allow', actions: ['execute-api:Invoke'], resources: [ARN] }], context: { n: '1', b: 'false' }, usageIdentifierKey: 'k' } });
  const simple = parseAuthorizerResult({ isAuthorized: true, context: { o: { a: [1] } } }, req('REQUEST', '2.0', true));
  t.same(simple, { ok: true, decision: { kind: 'simple', isAuthorized: true, context: { o: { a: [1] } } } });
  t.same(parseAuthorizerResult({ policyDocument: { Statement: [statement] } }, req('REQUEST', '2.0')).ok, true, 'principalId is optional with payload 2.0');
  const bad: [unknown, AuthorizeRequest, RegExp][] = [
    [null, req('TOKEN', '1.0'), /null, not an object/],
    [[1], req('TOKEN', '1.0'), /an array/],
    [{ policyDocument: { Statement: [statement] } }, req('TOKEN', '1.0'), /principalId is missing/],
    [{ principalId: 'p' }, req('TOKEN', '1.0'), /policyDocument is missing/],
    [{ principalId: 'p', policyDocument: { Statement: [] } }, req('TOKEN', '1.0'), /Statement is missing or empty/],
    [{ principalId: 'p', policyDocument: { Statement: [{ ...statement, Effect: 'allow' }] } }, req('TOKEN', '1.0'), /Effect must be/],
    [{ principalId: 'p', policyDocument: { Statement: [{ ...statement, Resource: [] }] } }, req('TOKEN', '1.0'), /Resource must be/],
    [{ principalId: 'p', policyDocument: { Statement: [{ ...statement, Action: 3 }] } }, req('TOKEN', '1.0'), /Action must be/],
    [{ principalId: 'p', policyDocument: { Statement: [statement] }, context: { o: {} } }, req('REQUEST', '1.0'), /context\.o: values must be/],
    [{ principalId: 'p', policyDocument: { Statement: [statement] }, context: 'x' }, req('REQUEST', '2.0'), /context must be an object/],
    [{ isAuthorized: 'true' }, req('REQUEST', '2.0', true), /isAuthorized must be a boolean/],
  ];
  for (const [answer, r, re] of bad) {
    const out = parseAuthorizerResult(answer, r);
    t.equal(out.ok, false, JSON.stringify(answer));
    if (!out.ok) {
      t.equal(out.unauthorized, false);
      t.match(out.failure.message, re);
    }
  }
});
