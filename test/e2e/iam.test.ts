import { fileURLToPath } from 'node:url';
import t from 'tap';
import { SignatureV4 } from '@smithy/signature-v4';
import { Sha256 } from '@aws-crypto/sha256-js';
import aws4 from 'aws4';
import { get, startGateway } from '../helpers/gateway.js';
import { startUpstream } from '../helpers/upstream.js';

// AWS_IAM routes through a real gateway, with requests signed by the AWS SDK v3's signer
// (@smithy/signature-v4) and by aws4.

const AKID = 'AKIDEXAMPLE0000000001';
const SECRET = 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY';
const READER = 'AKIDREADERONLY000001';
const WHOAMI = fileURLToPath(new URL('../../../test/fixtures/functions/whoami.mjs', import.meta.url));

const up = await startUpstream();
t.teardown(() => up.close());
const gw = await startGateway({
  throttling: { gateway: false },
  iam: {
    region: 'us-east-1',
    credentials: [
      { accessKeyId: AKID, secretAccessKey: SECRET },
      { accessKeyId: READER, secretAccessKey: SECRET, routes: ['api/$default/GET *'] },
    ],
  },
  apis: [{
    name: 'api',
    routes: [
      { route: 'GET /me', authorizationType: 'AWS_IAM', integration: { type: 'function', handler: `${WHOAMI}#handler` } },
      { route: 'POST /items', authorizationType: 'AWS_IAM', integration: { type: 'http_proxy', uri: `${up.url}/items` } },
      { route: 'GET /open', integration: { type: 'mock', body: 'open' } },
    ],
  }],
});
t.teardown(() => gw.stop());
const host = `127.0.0.1:${gw.port}`;

const smithy = (accessKeyId = AKID, secretAccessKey = SECRET) =>
  new SignatureV4({ service: 'execute-api', region: 'us-east-1', credentials: { accessKeyId, secretAccessKey }, sha256: Sha256 });

async function smithySigned(method: string, path: string, body?: string, opts: { date?: Date; key?: string } = {}) {
  const [p, q] = path.split('?') as [string, string | undefined];
  const query = Object.fromEntries(new URLSearchParams(q ?? ''));
  const req = { method, protocol: 'http:', hostname: '127.0.0.1', port: gw.port, path: p, query, headers: { host, ...(body ? { 'content-type': 'application/json' } : {}) }, body };
  const signed = await smithy(opts.key).sign(req, opts.date ? { signingDate: opts.date } : {});
  return signed.headers as Record<string, string>;
}

t.test('signed by @smithy/signature-v4: GET reaches the function with requestContext.authorizer.iam', async (t) => {
  const headers = await smithySigned('GET', '/me?b=2&a=1');
  const r = await get(gw.port, '/me?b=2&a=1', { headers });
  t.equal(r.status, 200, r.body);
  t.same(JSON.parse(r.body).iam.accessKey, AKID);
});

t.test('a signed POST body: the gateway reads and hashes it, the upstream still gets it whole', async (t) => {
  const body = JSON.stringify({ name: 'x'.repeat(5000) });
  // @smithy declares the body hash in x-amz-content-sha256: the gateway checks the body against it.
  const headers = await smithySigned('POST', '/items', body);
  const r = await get(gw.port, '/items', { method: 'POST', headers, body });
  t.equal(r.status, 200, r.body);
  t.equal(JSON.parse(r.body).bodyLength, body.length);
  const tampered = await get(gw.port, '/items', { method: 'POST', headers, body: body.replace('x', 'y') });
  t.equal(tampered.status, 403, 'a changed body does not match the declared hash');
  // aws4 declares nothing: the signature itself covers the body hash.
  const o = aws4.sign({ host, path: '/items', service: 'execute-api', region: 'us-east-1', method: 'POST', body, headers: { 'content-type': 'application/json' } }, { accessKeyId: AKID, secretAccessKey: SECRET });
  const h = o.headers as Record<string, string>;
  t.notOk(Object.keys(h).some((k) => k.toLowerCase() === 'x-amz-content-sha256'), 'aws4 sends no payload hash header');
  const r2 = await get(gw.port, '/items', { method: 'POST', headers: h, body });
  t.equal(r2.status, 200, r2.body);
  t.equal(JSON.parse(r2.body).bodyLength, body.length);
  t.equal((await get(gw.port, '/items', { method: 'POST', headers: h, body: body.replace('x', 'y') })).status, 403, 'a changed body breaks the signature');
});

t.test('signed by aws4 (header and presigned query)', async (t) => {
  const o = aws4.sign({ host, path: '/me', service: 'execute-api', region: 'us-east-1', method: 'GET' }, { accessKeyId: AKID, secretAccessKey: SECRET });
  t.equal((await get(gw.port, '/me', { headers: o.headers as Record<string, string> })).status, 200);
  const q = aws4.sign({ host, path: '/me', service: 'execute-api', region: 'us-east-1', method: 'GET', signQuery: true }, { accessKeyId: AKID, secretAccessKey: SECRET });
  t.equal((await get(gw.port, q.path!, { headers: { host } })).status, 200, 'presigned URL');
});

t.test('refusals: unsigned, tampered, unknown key, replay outside 5 minutes, a key without this route', async (t) => {
  const unsigned = await get(gw.port, '/me');
  t.equal(unsigned.status, 403);
  t.same(JSON.parse(unsigned.body), { message: 'Missing Authentication Token' });
  const headers = await smithySigned('GET', '/me');
  t.equal((await get(gw.port, '/me?extra=1', { headers })).status, 403, 'query added after signing');
  t.match(JSON.parse((await get(gw.port, '/me', { headers: await smithySigned('GET', '/me', undefined, { key: 'AKIDUNKNOWN000000001' }) })).body).message, /security token included in the request is invalid/);
  const old = await smithySigned('GET', '/me', undefined, { date: new Date(Date.now() - 6 * 60_000) });
  const replay = await get(gw.port, '/me', { headers: old });
  t.equal(replay.status, 403);
  t.match(JSON.parse(replay.body).message, /Signature expired/);
  const readerPost = await smithySigned('POST', '/items', '{}', { key: READER });
  const denied = await get(gw.port, '/items', { method: 'POST', headers: readerPost, body: '{}' });
  t.equal(denied.status, 403, 'READER may only GET');
  t.match(JSON.parse(denied.body).Message, /is not authorized to perform: execute-api:Invoke on resource: api\/\$default\/POST \/items/);
  t.equal((await get(gw.port, '/me', { headers: await smithySigned('GET', '/me', undefined, { key: READER }) })).status, 200, 'READER may GET');
  t.equal((await get(gw.port, '/open')).status, 200, 'routes without AWS_IAM stay open');
});
