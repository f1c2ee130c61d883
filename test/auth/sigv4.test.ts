import t, { type Test } from 'tap';
import { createHash } from 'node:crypto';
import aws4 from 'aws4';
import { SignatureV4 } from '@smithy/signature-v4';
import { Sha256 } from '@aws-crypto/sha256-js';
import {
  canonicalUri,
  SIGV4_MESSAGES,
  verifySigV4,
  type SigV4Credential,
  type SigV4Options,
  type SigV4Request,
  type SigV4Result,
} from '../../src/auth/sigv4.js';

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

const NOW = Date.UTC(2026, 10, 24, 10, 0, 0);
const AMZ_DATE = '20261124T100000Z';
const HOST = 'abc123.execute-api.us-east-1.amazonaws.com';

interface Keys { accessKeyId: string; secretAccessKey: string; sessionToken?: string }
const KEY: Keys = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' };
const TEMP: Keys = { accessKeyId: 'ASIATEMPEXAMPLE', secretAccessKey: 'tempSecret/abc+xyz', sessionToken: 'IQoJb3JpZ2luX2VjE/session+token==' };
const STRICT: Keys = { accessKeyId: 'ASIASTRICT', secretAccessKey: 'strictSecret', sessionToken: 'strict-token-1' };

interface MyCredential extends SigV4Credential { routes: string[] }
const CREDS: Record<string, MyCredential> = {
  [KEY.accessKeyId]: { secretAccessKey: KEY.secretAccessKey, routes: ['*'] },
  [TEMP.accessKeyId]: { secretAccessKey: TEMP.secretAccessKey, routes: [] },
  [STRICT.accessKeyId]: { secretAccessKey: STRICT.secretAccessKey, sessionToken: STRICT.sessionToken, routes: [] },
};
const lookup = (id: string): MyCredential | undefined => (Object.hasOwn(CREDS, id) ? CREDS[id] : undefined);
const opts = (extra: Partial<SigV4Options> = {}): SigV4Options => ({ lookup, now: NOW, ...extra });
const sha = (s: string): string => createHash('sha256').update(s, 'utf8').digest('hex');
const EMPTY = sha('');

/** Flat lower-case header list from a signer's header object (arrays become repeated headers). */
function flat(h: Record<string, unknown> | undefined): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(h ?? {})) {
    if (v === undefined) continue;
    for (const x of Array.isArray(v) ? v : [v]) out.push(k.toLowerCase(), String(x));
  }
  return out;
}

function splitUrl(pathAndQuery: string): { path: string; query: string } {
  const i = pathAndQuery.indexOf('?');
  return i < 0 ? { path: pathAndQuery, query: '' } : { path: pathAndQuery.slice(0, i), query: pathAndQuery.slice(i + 1) };
}

// aws4 ------------------------------------------------------------------------------------------

/** aws4.sign with execute-api defaults and a fixed date; returns what goes on the wire. */
function aws4Sign(o: aws4.Request, keys: Keys = KEY, body: string | null = null): SigV4Request {
  const req: aws4.Request = { host: HOST, service: 'execute-api', region: 'us-east-1', ...o };
  if (o.signQuery) {
    const p = o.path ?? '/';
    req.path = p + (p.includes('?') ? '&' : '?') + 'X-Amz-Date=' + AMZ_DATE;
  } else if (!o.doNotModifyHeaders) {
    req.headers = { 'X-Amz-Date': AMZ_DATE, ...o.headers };
  }
  const signed = aws4.sign(req, keys);
  const { path, query } = splitUrl(signed.path!);
  const b = body ?? (typeof o.body === 'string' ? o.body : null);
  return {
    method: signed.method ?? 'GET',
    path,
    query,
    headers: flat(signed.headers as Record<string, unknown>),
    bodySha256Hex: b === null ? null : sha(b),
  };
}

// @smithy/signature-v4 ---------------------------------------------------------------------------

/** The SDK's query serialisation (@smithy escapeUri: encodeURIComponent plus !'()*). */
const escapeUri = (s: string): string =>
  encodeURIComponent(s).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());

function buildQuery(q: Record<string, string | string[] | null>): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(q)) {
    if (v === null) continue;
    for (const x of Array.isArray(v) ? v : [v]) parts.push(escapeUri(k) + '=' + escapeUri(x));
  }
  return parts.join('&');
}

function smithySigner(keys: Keys = KEY, service = 'execute-api', region = 'us-east-1'): SignatureV4 {
  return new SignatureV4({ credentials: keys, region, service, sha256: Sha256 });
}

interface SReq {
  method?: string;
  path: string;
  query?: Record<string, string | string[]>;
  headers?: Record<string, string>;
  body?: string;
}

function smithyRequest(r: SReq) {
  const headers: Record<string, string> = { host: HOST, ...r.headers };
  if (r.body !== undefined) headers['content-length'] = String(Buffer.byteLength(r.body));
  return { method: r.method ?? 'GET', protocol: 'https:', hostname: HOST, path: r.path, query: { ...r.query }, headers, body: r.body };
}

function toVerify(signed: { method: string; path: string; query?: Record<string, string | string[] | null>; headers: Record<string, string> }, body: string | null): SigV4Request {
  return {
    method: signed.method,
    path: signed.path,
    query: buildQuery(signed.query ?? {}),
    headers: flat(signed.headers),
    bodySha256Hex: body === null ? null : sha(body),
  };
}

async function smithySign(r: SReq, keys: Keys = KEY, service?: string, region?: string, giveBody = true): Promise<SigV4Request> {
  const signed = await smithySigner(keys, service, region).sign(smithyRequest(r), { signingDate: new Date(NOW) });
  return toVerify(signed, giveBody && r.body !== undefined ? r.body : null);
}

async function smithyPresign(r: SReq, keys: Keys = KEY, expiresIn = 3600): Promise<SigV4Request> {
  const signed = await smithySigner(keys).presign(smithyRequest(r), { signingDate: new Date(NOW), expiresIn });
  return toVerify(signed, r.body !== undefined ? r.body : null);
}

// Assertions -------------------------------------------------------------------------------------

function ok(t: Test, r: SigV4Result, msg: string, presigned = false, accessKeyId = KEY.accessKeyId): void {
  if (!r.ok) t.fail(`${msg}: ${r.reason}: ${r.message}`);
  else {
    t.equal(r.accessKeyId, accessKeyId, `${msg}: access key`);
    t.equal(r.presigned, presigned, `${msg}: presigned`);
  }
}

function no(t: Test, r: SigV4Result, reason: string, msg: string, message?: string | RegExp): void {
  if (r.ok) {
    t.fail(`${msg}: expected ${reason}, got ok`);
    return;
  }
  t.equal(r.status, 403, `${msg}: 403`);
  t.equal(r.reason, reason, `${msg}: reason`);
  t.type(r.message, 'string');
  t.ok(r.message.length > 0, `${msg}: has a message`);
  if (typeof message === 'string') t.equal(r.message, message, `${msg}: message`);
  else if (message) t.match(r.message, message, `${msg}: message`);
}

/** A copy of the request with header `name` replaced (all occurrences) or removed (value null). */
function withHeader(req: SigV4Request, name: string, value: string | null): SigV4Request {
  const headers: string[] = [];
  let done = false;
  for (let i = 0; i < req.headers.length; i += 2) {
    if (req.headers[i] === name) {
      if (value !== null && !done) headers.push(name, value);
      done = true;
    } else headers.push(req.headers[i]!, req.headers[i + 1]!);
  }
  if (!done && value !== null) headers.push(name, value);
  return { ...req, headers };
}

function authOf(req: SigV4Request): string {
  const i = req.headers.indexOf('authorization');
  return req.headers[i + 1]!;
}

const MISMATCH = SIGV4_MESSAGES.mismatch;

// ---------------------------------------------------------------------------------------------
// Canonical URI: the two signers and this verifier agree
// ---------------------------------------------------------------------------------------------

t.test('canonical URI matches @smithy/signature-v4 and aws4 (double encoding)', async (t) => {
  const smithy = smithySigner() as unknown as { getCanonicalPath(r: { path: string }): string };
  const paths = [
    '/', '/pets', '/pets/', '/a%20b', '/caf%C3%A9/%E2%9C%93', '/x%2Fy', '/c:d', '/e+f', '/~user/a-b_c.d',
    '/%25', '/a%2Fb%2F..%2Fc', "/it's(1)*!", '/a/./b', '/a/../b/', '//a//b//', '/a/b/..', '/..', '/a%3Bb=c@d$e,f&g',
    '/%E4%BD%A0%E5%A5%BD/%F0%9F%98%80',
  ];
  for (const p of paths) {
    const mine = canonicalUri(p);
    t.equal(mine, smithy.getCanonicalPath({ path: p }), `smithy agrees on ${p}`);
    // aws4 rewrites a path with characters outside its set before signing; these paths have none.
    const aws4Canonical = new aws4.RequestSigner({ host: HOST, path: p, service: 'execute-api', region: 'us-east-1', headers: { 'X-Amz-Date': AMZ_DATE } }, KEY)
      .canonicalString().split('\n')[1];
    t.equal(mine, aws4Canonical, `aws4 agrees on ${p}`);
  }
  t.equal(canonicalUri('/a%20b/c:d/e+f/x%2Fy'), '/a%2520b/c%3Ad/e%2Bf/x%252Fy');
  t.equal(canonicalUri('/caf%C3%A9'), '/caf%25C3%25A9');
  t.equal(canonicalUri('/café'), '/caf%C3%A9', 'raw non-ASCII is UTF-8 percent-encoded');
  t.equal(canonicalUri('/\ud800x'), '/%EF%BF%BDx', 'a lone surrogate does not throw');
});

// ---------------------------------------------------------------------------------------------
// aws4
// ---------------------------------------------------------------------------------------------

t.test('aws4: header-signed requests verify', async (t) => {
  ok(t, verifySigV4(aws4Sign({ path: '/pets' }), opts()), 'GET /pets');
  ok(t, verifySigV4(aws4Sign({ path: '/prod/pets/42' }), opts({ region: 'us-east-1' })), 'region pinned');

  const q = aws4Sign({ path: '/search?b=2&b=1&a=x%20y&c=%E2%9C%93&d=a%2Fb&e=&f&g=%21%27%28%29%2A&h=%7E_.-' });
  t.match(q.query, /b=2&b=1/, 'repeated params kept');
  ok(t, verifySigV4(q, opts()), 'repeated params and special characters');
  ok(t, verifySigV4({ ...q, query: q.query.split('&').reverse().join('&') }, opts()), 'param order on the wire does not matter');

  // aws4 re-encodes a path with characters outside its set (space, non-ASCII) before signing.
  const sp = aws4Sign({ path: '/a b/é/c:d/e+f' });
  t.equal(sp.path, '/a%20b/%C3%A9/c:d/e+f', 'wire path as aws4 sends it');
  ok(t, verifySigV4(sp, opts()), 'space, unicode, colon, plus');
  ok(t, verifySigV4(aws4Sign({ path: '/files/x%2Fy/%25' }), opts()), 'encoded slash and percent');
  ok(t, verifySigV4(aws4Sign({ path: '/caf%C3%A9/%F0%9F%98%80' }), opts()), 'pre-encoded unicode');

  // A raw '+' in the query is a space for aws4 (querystring.parse) and for this verifier.
  const plus = aws4Sign({ path: '/q?term=a+b' });
  t.equal(plus.query, 'term=a%20b', 'aws4 sends %20');
  ok(t, verifySigV4({ ...plus, query: 'term=a+b' }, opts()), 'raw + verifies as a space');
  no(t, verifySigV4({ ...plus, query: 'term=a%2Bb' }, opts()), 'signature-mismatch', '%2B is a plus, not a space');

  const r = verifySigV4(aws4Sign({ path: '/pets' }), opts());
  t.same(r.ok && r.signedHeaders, ['host', 'x-amz-date']);
  t.equal(r.ok && r.region, 'us-east-1');
});

t.test('aws4: POST with body', async (t) => {
  const body = JSON.stringify({ name: 'Rex', tags: ['a', 'b'], note: 'ünïcode' });
  const req = aws4Sign({ method: 'POST', path: '/pets', body, headers: { 'Content-Type': 'application/json' } });
  ok(t, verifySigV4(req, opts()), 'body hash given');
  no(t, verifySigV4({ ...req, bodySha256Hex: null }, opts()), 'needs-body', 'body not read yet', MISMATCH);
  ok(t, verifySigV4({ ...req, bodySha256Hex: req.bodySha256Hex!.toUpperCase() }, opts()), 'hex case of the caller hash');
  no(t, verifySigV4({ ...req, bodySha256Hex: sha(body + ' ') }, opts()), 'signature-mismatch', 'tampered body');

  // x-amz-content-sha256 given by the client (signed as a header and used as the payload hash).
  const withHash = aws4Sign({ method: 'PUT', path: '/pets/1', body, headers: { 'X-Amz-Content-Sha256': sha(body) } });
  ok(t, verifySigV4(withHash, opts()), 'x-amz-content-sha256 and matching body');
  no(t, verifySigV4({ ...withHash, bodySha256Hex: null }, opts()), 'needs-body', 'declared hash, body not read');
  no(t, verifySigV4({ ...withHash, bodySha256Hex: sha('{}') }, opts()), 'payload-hash-mismatch', 'declared hash, other body',
    SIGV4_MESSAGES.payloadHashMismatch);

  const unsigned = aws4Sign({ method: 'POST', path: '/upload', body, headers: { 'X-Amz-Content-Sha256': 'UNSIGNED-PAYLOAD' } });
  ok(t, verifySigV4({ ...unsigned, bodySha256Hex: null }, opts()), 'UNSIGNED-PAYLOAD needs no body');
  ok(t, verifySigV4({ ...unsigned, bodySha256Hex: sha('anything') }, opts()), 'UNSIGNED-PAYLOAD ignores the body');

  const streaming = aws4Sign({ method: 'PUT', path: '/x', body, headers: { 'X-Amz-Content-Sha256': 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD' } });
  no(t, verifySigV4(streaming, opts()), 'unsupported-payload-hash', 'chunked signing not supported');
});

t.test('aws4: session tokens, Date header, presigned (signQuery)', async (t) => {
  const tok = aws4Sign({ path: '/pets' }, TEMP);
  t.ok(tok.headers.includes('x-amz-security-token'));
  ok(t, verifySigV4(tok, opts()), 'session token signed as a header', false, TEMP.accessKeyId);
  no(t, verifySigV4(withHeader(tok, 'x-amz-security-token', 'other'), opts()), 'signature-mismatch', 'token swapped');

  ok(t, verifySigV4(aws4Sign({ path: '/pets' }, STRICT), opts()), 'token the credential requires', false, STRICT.accessKeyId);
  no(t, verifySigV4(aws4Sign({ path: '/pets' }, { ...STRICT, sessionToken: 'strict-token-2' }), opts()),
    'invalid-security-token', 'other token', SIGV4_MESSAGES.invalidToken);
  no(t, verifySigV4(aws4Sign({ path: '/pets' }, { ...STRICT, sessionToken: undefined }), opts()),
    'invalid-security-token', 'token missing', SIGV4_MESSAGES.invalidToken);

  const dated = aws4Sign({ path: '/pets', doNotModifyHeaders: true, headers: { Date: 'Tue, 24 Nov 2026 10:00:00 GMT' } });
  t.notOk(dated.headers.includes('x-amz-date'));
  ok(t, verifySigV4(dated, opts()), 'Date header instead of x-amz-date');
  no(t, verifySigV4(dated, opts({ now: NOW + 301_000 })), 'signature-expired', 'Date header outside the skew');

  const pq = aws4Sign({ path: '/pets?z=1&a=%20x', signQuery: true });
  t.notOk(pq.headers.includes('authorization'));
  ok(t, verifySigV4(pq, opts()), 'signQuery', true);
  ok(t, verifySigV4(aws4Sign({ path: '/pets', signQuery: true }, TEMP), opts()), 'signQuery with token', true, TEMP.accessKeyId);
  // aws4 puts no X-Amz-Expires for execute-api: the 5-minute window applies.
  no(t, verifySigV4(pq, opts({ now: NOW + 301_000 })), 'signature-expired', 'signQuery without X-Amz-Expires, late');
  no(t, verifySigV4({ ...pq, query: pq.query.replace('z=1', 'z=2') }, opts()), 'signature-mismatch', 'presigned query tampered');
  no(t, verifySigV4({ ...pq, query: pq.query + '&extra=1' }, opts()), 'signature-mismatch', 'presigned param added');
  no(t, verifySigV4({ ...pq, path: '/pets/1' }, opts()), 'signature-mismatch', 'presigned path tampered');

  // X-Amz-Expires over 7 days (aws4 signs whatever it is given; the verifier refuses it).
  const week = aws4Sign({ path: '/pets?X-Amz-Expires=604801', signQuery: true });
  no(t, verifySigV4(week, opts()), 'expires-too-large', 'X-Amz-Expires 604801', SIGV4_MESSAGES.expiresTooLarge);
  ok(t, verifySigV4(aws4Sign({ path: '/pets?X-Amz-Expires=604800', signQuery: true }), opts({ now: NOW + 604_000_000 })),
    'X-Amz-Expires 604800, six days later', true);
  no(t, verifySigV4(aws4Sign({ path: '/pets?X-Amz-Expires=-5', signQuery: true }), opts()), 'malformed-expires', 'negative',
    SIGV4_MESSAGES.expiresNotNumber);
  no(t, verifySigV4(aws4Sign({ path: '/pets?X-Amz-Expires=1e3', signQuery: true }), opts()), 'malformed-expires', 'not an integer');
});

// ---------------------------------------------------------------------------------------------
// @smithy/signature-v4
// ---------------------------------------------------------------------------------------------

t.test('@smithy/signature-v4: sign', async (t) => {
  ok(t, verifySigV4(await smithySign({ path: '/pets' }), opts()), 'GET /pets');

  const q = await smithySign({
    path: '/search',
    query: { b: ['2', '1', '1'], a: 'x y', 'weird key': 'v/é+✓', empty: '', star: "*!'()", 'X-Amz-Credential': 'app-param' },
  });
  ok(t, verifySigV4(q, opts()), 'repeated params, special characters, app param named like a presign param');

  for (const path of ['/a%20b/%C3%A9', '/c:d/e+f', '/files/x%2Fy', '/caf%C3%A9/%F0%9F%98%80/~a', '/pets/', '/%25/%2B']) {
    ok(t, verifySigV4(await smithySign({ path }), opts()), `path ${path}`);
  }

  const body = JSON.stringify({ a: 1, b: 'ü' });
  const post = await smithySign({ method: 'POST', path: '/pets', body, headers: { 'content-type': 'application/json' } });
  t.ok(post.headers.includes('x-amz-content-sha256'), 'smithy always sends x-amz-content-sha256');
  ok(t, verifySigV4(post, opts()), 'POST with body hash');
  no(t, verifySigV4({ ...post, bodySha256Hex: null }, opts()), 'needs-body', 'POST, body not read');
  no(t, verifySigV4({ ...post, bodySha256Hex: sha('{"a":2}') }, opts()), 'payload-hash-mismatch', 'POST, other body');
  no(t, verifySigV4(withHeader(post, 'x-amz-content-sha256', sha('{"a":2}')), opts({})), 'signature-mismatch', 'declared hash swapped');
  // The declared hash alone is verified when no body hash exists and the framing says "no body".
  const get = await smithySign({ path: '/pets' });
  t.equal(get.bodySha256Hex, null);
  ok(t, verifySigV4(get, opts()), 'GET without body: empty body inferred from the framing');
  no(t, verifySigV4({ ...get, headers: [...get.headers, 'content-length', '5'] }, opts()), 'needs-body', 'GET with a body');

  const unsigned = await smithySign({ method: 'PUT', path: '/blob', body: 'xyz', headers: { 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' } }, KEY, undefined, undefined, false);
  ok(t, verifySigV4(unsigned, opts()), 'UNSIGNED-PAYLOAD');

  const tok = await smithySign({ path: '/pets' }, TEMP);
  ok(t, verifySigV4(tok, opts()), 'session token', false, TEMP.accessKeyId);
  ok(t, verifySigV4(await smithySign({ path: '/pets' }, STRICT), opts()), 'required session token', false, STRICT.accessKeyId);

  const eu = await smithySign({ path: '/pets' }, KEY, 'execute-api', 'eu-west-1');
  const r = verifySigV4(eu, opts());
  t.equal(r.ok && r.region, 'eu-west-1', 'any region accepted by default, and reported');
  ok(t, verifySigV4(eu, opts({ region: 'eu-west-1' })), 'pinned region');

  // Repeated headers: the signer saw one value "a,b"; the wire has the header twice.
  const rep = await smithySign({ path: '/pets', headers: { 'x-tag': 'a,b' } });
  const split = withHeader(rep, 'x-tag', null);
  split.headers.push('x-tag', 'a', 'x-tag', ' b ');
  ok(t, verifySigV4(split, opts()), 'repeated header joined with a comma, values trimmed');
  const spaced = await smithySign({ path: '/pets', headers: { 'x-note': '  a   b\tc  ' } });
  ok(t, verifySigV4(withHeader(spaced, 'x-note', 'a b   \t c'), opts()), 'inner whitespace runs collapsed');
});

t.test('@smithy/signature-v4: presign', async (t) => {
  const p = await smithyPresign({ path: '/pets', query: { q: 'a b', tag: ['y', 'x'] } });
  t.match(p.query, /X-Amz-Expires=3600/);
  ok(t, verifySigV4(p, opts()), 'presigned GET', true);
  ok(t, verifySigV4(p, opts({ now: NOW + 3_600_000 })), 'last second', true);
  no(t, verifySigV4(p, opts({ now: NOW + 3_601_000 })), 'presigned-expired', 'expired',
    /^Signature expired: 20261124T100000Z is now earlier than 20261124T100001Z \(20261124T110001Z - 3600 sec\.\)$/);
  no(t, verifySigV4(p, opts({ now: NOW - 301_000 })), 'signature-not-yet-current', 'not yet valid');
  ok(t, verifySigV4(p, opts({ now: NOW - 300_000 })), 'within the skew before X-Amz-Date', true);

  const tok = await smithyPresign({ path: '/pets' }, TEMP);
  t.match(tok.query, /X-Amz-Security-Token=/);
  ok(t, verifySigV4(tok, opts()), 'presigned with session token', true, TEMP.accessKeyId);
  no(t, verifySigV4({ ...tok, query: tok.query.replace(/X-Amz-Security-Token=[^&]+/, 'X-Amz-Security-Token=forged') }, opts()),
    'signature-mismatch', 'presigned token swapped');
  const strict = await smithyPresign({ path: '/pets' }, STRICT);
  ok(t, verifySigV4(strict, opts()), 'presigned, required token', true, STRICT.accessKeyId);

  // Hoisted x-amz-* headers, e.g. an explicit UNSIGNED-PAYLOAD for a POST URL.
  const up = await smithyPresign({ method: 'POST', path: '/upload', headers: { 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD', 'x-amz-meta-a': 'b' } });
  t.match(up.query, /x-amz-content-sha256=UNSIGNED-PAYLOAD/i, 'smithy hoists the header as named');
  ok(t, verifySigV4({ ...up, headers: [...up.headers, 'content-length', '3'] }, opts()), 'hoisted UNSIGNED-PAYLOAD', true);

  // Presigned over a body (no hoisted hash): verified once the body hash is known.
  const body = 'payload';
  const pb = await smithyPresign({ method: 'PUT', path: '/pets/1', body });
  ok(t, verifySigV4(pb, opts()), 'presigned with body hash', true);
  no(t, verifySigV4({ ...pb, bodySha256Hex: null }, opts()), 'needs-body', 'presigned, body not read');
  no(t, verifySigV4({ ...pb, bodySha256Hex: sha('other') }, opts()), 'signature-mismatch', 'presigned, other body');
});

// ---------------------------------------------------------------------------------------------
// Attacks and refusals
// ---------------------------------------------------------------------------------------------

t.test('tampering is detected', async (t) => {
  const body = '{"amount":10}';
  const base = await smithySign({ method: 'POST', path: '/accounts/1/transfer', query: { to: 'alice' }, body, headers: { 'x-custom': 'v1' } });
  ok(t, verifySigV4(base, opts()), 'untouched');
  no(t, verifySigV4(withHeader(base, 'x-custom', 'v2'), opts()), 'signature-mismatch', 'signed header value', MISMATCH);
  no(t, verifySigV4(withHeader(base, 'host', 'evil.example.com'), opts()), 'signature-mismatch', 'host');
  no(t, verifySigV4({ ...base, path: '/accounts/2/transfer' }, opts()), 'signature-mismatch', 'path');
  no(t, verifySigV4({ ...base, path: '/accounts/1/transfer/' }, opts()), 'signature-mismatch', 'trailing slash');
  no(t, verifySigV4({ ...base, path: '/Accounts/1/transfer' }, opts()), 'signature-mismatch', 'path case');
  no(t, verifySigV4({ ...base, path: '/accounts/%31/transfer' }, opts()), 'signature-mismatch', 'path re-encoded');
  no(t, verifySigV4({ ...base, query: 'to=mallory' }, opts()), 'signature-mismatch', 'query value');
  no(t, verifySigV4({ ...base, query: 'to=alice&to=mallory' }, opts()), 'signature-mismatch', 'query param repeated');
  no(t, verifySigV4({ ...base, query: 'to=alice&admin' }, opts()), 'signature-mismatch', 'valueless param added');
  no(t, verifySigV4({ ...base, query: '' }, opts()), 'signature-mismatch', 'query removed');
  no(t, verifySigV4({ ...base, method: 'PUT' }, opts()), 'signature-mismatch', 'method');
  no(t, verifySigV4({ ...base, method: 'post' }, opts()), 'signature-mismatch', 'method case');
  no(t, verifySigV4({ ...base, bodySha256Hex: sha('{"amount":1000}') }, opts()), 'payload-hash-mismatch', 'body');
  no(t, verifySigV4(withHeader(base, 'x-custom', null), opts()), 'signed-header-missing', 'signed header removed', MISMATCH);
  // A name added to SignedHeaders that the request does not carry.
  const added = withHeader(base, 'authorization', authOf(base).replace('SignedHeaders=', 'SignedHeaders=x-absent;'));
  no(t, verifySigV4(added, opts()), 'signed-header-missing', 'signed by name but not present');
  // An unsigned header may be added freely (not covered, as in AWS).
  ok(t, verifySigV4({ ...base, headers: [...base.headers, 'x-unsigned', '1'] }, opts()), 'unsigned header added');
  // Unsigned session token header slipped into a request signed without one.
  no(t, verifySigV4({ ...base, headers: [...base.headers, 'x-amz-security-token', 'abc'] }, opts()), 'token-not-signed',
    'token header not signed', SIGV4_MESSAGES.tokenNotSigned);

  // Paths the signers normalise but the router would not: refused.
  const p = await smithySign({ path: '/files/x' });
  for (const path of ['/files//x', '//files/x', '/files/./x', '/y/../files/x']) {
    no(t, verifySigV4({ ...p, path }, opts()), 'non-normalized-path', `raw path ${path}`);
  }
});

t.test('keys, scope and time', async (t) => {
  const req = await smithySign({ path: '/pets' });
  no(t, verifySigV4(req, { lookup: () => undefined, now: NOW }), 'unknown-access-key', 'unknown key', SIGV4_MESSAGES.invalidToken);
  no(t, verifySigV4(req, { lookup: (id) => (id === '__proto__' ? {} as SigV4Credential : undefined), now: NOW }),
    'unknown-access-key', 'lookup result without a secret');
  no(t, verifySigV4(await smithySign({ path: '/pets' }, { accessKeyId: KEY.accessKeyId, secretAccessKey: 'wrong' }), opts()),
    'signature-mismatch', 'wrong secret', MISMATCH);
  no(t, verifySigV4(await smithySign({ path: '/pets' }, KEY, 'lambda'), opts()), 'wrong-service', 'wrong service',
    "Credential should be scoped to correct service: 'execute-api'.");
  ok(t, verifySigV4(await smithySign({ path: '/pets' }, KEY, 'lambda'), opts({ service: 'lambda' })), 'service option');
  no(t, verifySigV4(req, opts({ region: 'eu-west-1' })), 'region-mismatch', 'region mismatch',
    "Credential should be scoped to a valid region, not 'us-east-1'.");
  no(t, verifySigV4(await smithySign({ path: '/pets' }, KEY, 'lambda', 'ap-south-1'), opts({ region: 'eu-west-1' })), 'region-mismatch',
    'region and service: both in the message',
    "Credential should be scoped to a valid region, not 'ap-south-1'. Credential should be scoped to correct service: 'execute-api'.");

  // Replay outside the 5-minute skew, both directions (boundaries inclusive).
  ok(t, verifySigV4(req, opts({ now: NOW + 300_000 })), '+5 min');
  ok(t, verifySigV4(req, opts({ now: NOW - 300_000 })), '-5 min');
  no(t, verifySigV4(req, opts({ now: NOW + 300_001 })), 'signature-expired', 'replayed 5 min later',
    'Signature expired: 20261124T100000Z is now earlier than 20261124T100000Z (20261124T100500Z - 5 min.)');
  no(t, verifySigV4(req, opts({ now: NOW + 3_600_000 })), 'signature-expired', 'replayed an hour later',
    'Signature expired: 20261124T100000Z is now earlier than 20261124T105500Z (20261124T110000Z - 5 min.)');
  no(t, verifySigV4(req, opts({ now: NOW - 301_000 })), 'signature-not-yet-current', 'from the future',
    'Signature not yet current: 20261124T100000Z is still later than 20261124T095959Z (20261124T095459Z + 5 min.)');
  no(t, verifySigV4(req, opts({ now: NOW + 61_000, maxSkewMs: 60_000 })), 'signature-expired', 'maxSkewMs option', / - 1 min\.\)$/);

  // Credential scope date must be the request's day (checked before the signature).
  const auth = authOf(req);
  no(t, verifySigV4(withHeader(req, 'authorization', auth.replace('/20261124/', '/20261123/')), opts()), 'scope-date-mismatch',
    'scope date', "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '20261123' != '20261124', from '20261124T100000Z'.");
  no(t, verifySigV4(withHeader(req, 'authorization', auth.replace('aws4_request', 'aws5_request')), opts()), 'bad-terminator', 'terminator');
  // Moving x-amz-date (signed) breaks the signature even within the window.
  no(t, verifySigV4(withHeader(req, 'x-amz-date', '20261124T100100Z'), opts()), 'signature-mismatch', 'date moved');
});

t.test('malformed authorization never throws', async (t) => {
  const req = await smithySign({ path: '/pets' });
  const auth = authOf(req);
  const sig = /Signature=([0-9a-f]{64})/.exec(auth)![1]!;
  const cases: [string, string, string | RegExp][] = [
    ['', 'malformed-authorization',
      "Authorization header requires 'Credential' parameter. Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter. Authorization="],
    ['Bearer abc.def.ghi', 'malformed-authorization',
      "'abc.def.ghi' not a valid key=value pair (missing equal-sign) in Authorization header: 'Bearer abc.def.ghi'."],
    ['mock', 'malformed-authorization', /^Authorization header requires 'Credential' parameter\. .* Authorization=mock$/],
    ['AWS4-HMAC-SHA256', 'malformed-authorization', /Authorization=AWS4-HMAC-SHA256$/],
    ['AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE', 'malformed-authorization',
      "Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter. Authorization=AWS4-HMAC-SHA256"],
    ['AWS4-HMAC-SHA256 Credential=, SignedHeaders=host, Signature=' + sig, 'malformed-authorization', /requires 'Credential'/],
    [auth.replace('AWS4-HMAC-SHA256', 'AWS4-HMAC-SHA512'), 'unsupported-algorithm', "Unsupported AWS 'algorithm': 'AWS4-HMAC-SHA512'."],
    [auth.replace('AWS4-HMAC-SHA256', 'AWS4-ECDSA-P256-SHA256'), 'unsupported-algorithm', /AWS4-ECDSA-P256-SHA256/],
    [auth + ', Signature=' + sig, 'malformed-authorization', /more than one 'Signature'/],
    [auth.replace(/Credential=[^,]+/, 'Credential=AKIDEXAMPLE/20261124/us-east-1'), 'malformed-credential',
      "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got 'AKIDEXAMPLE/20261124/us-east-1'"],
    [auth.replace(/Credential=[^,]+/, 'Credential=AKIDEXAMPLE/20261124/us-east-1/execute-api/aws4_request/x'), 'malformed-credential', /6|exactly 5/],
    [auth.replace(/Credential=[^,]+/, 'Credential=/20261124/us-east-1/execute-api/aws4_request'), 'malformed-credential', /exactly 5/],
    [auth.replace(/SignedHeaders=[^,]+/, 'SignedHeaders=x-amz-date'), 'host-not-signed', SIGV4_MESSAGES.hostNotSigned],
    [auth.replace(/SignedHeaders=[^,]+/, 'SignedHeaders=host;;x-amz-date'), 'malformed-signed-headers', MISMATCH],
    [auth.replace(/SignedHeaders=[^,]+/, 'SignedHeaders=host;host;x-amz-content-sha256;x-amz-date'), 'malformed-signed-headers', MISMATCH],
    [auth.replace(/SignedHeaders=[^,]+/, 'SignedHeaders=host;x y'), 'malformed-signed-headers', MISMATCH],
    // Signatures of other lengths or not hex: refused before any comparison (timingSafeEqual throws on
    // unequal lengths; the verifier must not).
    [auth.replace(sig, sig.slice(0, 63)), 'malformed-signature', MISMATCH],
    [auth.replace(sig, sig + '0'), 'malformed-signature', MISMATCH],
    [auth.replace(sig, 'abc'), 'malformed-signature', MISMATCH],
    [auth.replace(sig, 'g'.repeat(64)), 'malformed-signature', MISMATCH],
    [auth.replace(sig, sig.slice(0, 62) + 'é'), 'malformed-signature', MISMATCH],
    [auth.replace(sig, sig.slice(0, 62) + '\u{1F600}'), 'malformed-signature', MISMATCH],
    [auth.replace(sig, '0'.repeat(64)), 'signature-mismatch', MISMATCH],
    [auth.replace(sig, sig.slice(0, 63) + (sig[63] === '0' ? '1' : '0')), 'signature-mismatch', MISMATCH],
    [auth.replace(sig, 'a'.repeat(128)), 'malformed-signature', MISMATCH],
  ];
  for (const [value, reason, message] of cases) {
    let r: SigV4Result | undefined;
    t.doesNotThrow(() => { r = verifySigV4(withHeader(req, 'authorization', value), opts()); }, `no throw: ${value.slice(0, 60)}`);
    no(t, r!, reason, `Authorization: ${value.slice(0, 70)}`, message);
  }
  ok(t, verifySigV4(withHeader(req, 'authorization', auth.replace(sig, sig.toUpperCase())), opts()), 'upper-case hex signature');
  ok(t, verifySigV4(withHeader(req, 'authorization', auth.replace(/, /g, ',')), opts()), 'no spaces after commas');
  ok(t, verifySigV4(withHeader(req, 'authorization', '  ' + auth.replace(/, /g, ' ,  ') + ' '), opts()), 'extra whitespace');

  no(t, verifySigV4(withHeader(req, 'authorization', null), opts()), 'missing-auth', 'no authorization at all', 'Missing Authentication Token');
  no(t, verifySigV4({ ...req, headers: [...req.headers, 'authorization', auth] }, opts()), 'malformed-authorization', 'two Authorization headers');
  no(t, verifySigV4({ ...req, query: 'X-Amz-Algorithm=AWS4-HMAC-SHA256' }, opts()), 'ambiguous-auth', 'header and query auth', SIGV4_MESSAGES.both);
  no(t, verifySigV4(withHeader(withHeader(req, 'x-amz-date', null), 'date', null), opts()), 'malformed-authorization', 'no date',
    "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. Authorization=AWS4-HMAC-SHA256");
  for (const d of ['2026-11-24T10:00:00Z', '20261124T100000', '20261332T100000Z', '20261124T250000Z', 'yesterday', '']) {
    no(t, verifySigV4(withHeader(req, 'x-amz-date', d), opts()), 'malformed-date', `x-amz-date ${JSON.stringify(d)}`,
      `Date must be in ISO-8601 'basic format'. Got '${d}'. See http://en.wikipedia.org/wiki/ISO_8601`);
  }
  no(t, verifySigV4({ ...req, headers: [...req.headers, 'x-amz-date', AMZ_DATE] }, opts()), 'malformed-date', 'x-amz-date twice');
  no(t, verifySigV4({ ...req, query: 'a=%zz' }, opts()), 'malformed-query', 'bad escape', 'Illegal hex character in escape % pattern: %zz');
  no(t, verifySigV4({ ...req, query: 'a=b%4' }, opts()), 'malformed-query', 'truncated escape', 'Incomplete trailing escape % sequence');
});

t.test('malformed presigned URLs never throw', async (t) => {
  const p = await smithyPresign({ path: '/pets' });
  const q = p.query;
  const cases: [string, string, string | RegExp][] = [
    ['X-Amz-Signature=abc', 'malformed-presigned',
      "AWS query-string parameters must include 'X-Amz-Algorithm'. AWS query-string parameters must include 'X-Amz-Credential'. AWS query-string parameters must include 'X-Amz-SignedHeaders'. AWS query-string parameters must include 'X-Amz-Date'. Re-examine the query-string parameters."],
    [q.replace(/X-Amz-SignedHeaders=[^&]+&?/, ''), 'malformed-presigned', "AWS query-string parameters must include 'X-Amz-SignedHeaders'. Re-examine the query-string parameters."],
    [q + '&X-Amz-Credential=x', 'malformed-presigned', /only once/],
    [q.replace('X-Amz-Algorithm=AWS4-HMAC-SHA256', 'X-Amz-Algorithm=AWS4-HMAC-SHA1'), 'unsupported-algorithm', /AWS4-HMAC-SHA1/],
    [q.replace(/X-Amz-Date=[^&]+/, 'X-Amz-Date=20261124'), 'malformed-date', /basic format/],
    [q.replace(/X-Amz-Expires=[^&]+/, 'X-Amz-Expires=604801'), 'expires-too-large', SIGV4_MESSAGES.expiresTooLarge],
    [q.replace(/X-Amz-Expires=[^&]+/, 'X-Amz-Expires=abc'), 'malformed-expires', SIGV4_MESSAGES.expiresNotNumber],
    [q.replace(/X-Amz-Expires=[^&]+/, 'X-Amz-Expires=86400'), 'signature-mismatch', MISMATCH],
    [q.replace(/X-Amz-Signature=[^&]+/, 'X-Amz-Signature=%ZZ'), 'malformed-query', /Illegal hex/],
    [q.replace(/X-Amz-Signature=[^&]+/, 'X-Amz-Signature=deadbeef'), 'malformed-signature', MISMATCH],
    [q.replace(/X-Amz-Credential=[^&]+/, 'X-Amz-Credential=%FF%FE'), 'malformed-presigned', /UTF-8/],
    [q.replace(/X-Amz-Credential=[^&]+/, 'X-Amz-Credential=NOPE%2F20261124%2Fus-east-1%2Fexecute-api%2Faws4_request'), 'unknown-access-key',
      SIGV4_MESSAGES.invalidToken],
    [q.replace(/X-Amz-SignedHeaders=[^&]+/, 'X-Amz-SignedHeaders=x-amz-date'), 'host-not-signed', SIGV4_MESSAGES.hostNotSigned],
  ];
  for (const [query, reason, message] of cases) {
    let r: SigV4Result | undefined;
    t.doesNotThrow(() => { r = verifySigV4({ ...p, query }, opts()); });
    no(t, r!, reason, `query ${query.slice(0, 80)}`, message);
  }
  no(t, verifySigV4({ ...p, query: '' }, opts()), 'missing-auth', 'no query at all', 'Missing Authentication Token');
});

t.test('random garbage never throws', async (t) => {
  const req = await smithySign({ path: '/pets' });
  const auth = authOf(req);
  const alphabet = 'AWS4-HMAC-SHA256 Credential=/,;=SignedHeaders Signature abcdef0123456789%é\u{1F600}\t';
  let seed = 42;
  const rnd = (n: number): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  let thrown = 0;
  let accepted = 0;
  for (let i = 0; i < 2000; i++) {
    let v = auth;
    for (let k = 0, m = 1 + rnd(4); k < m; k++) {
      const at = rnd(v.length + 1);
      const op = rnd(3);
      const ch = [...alphabet][rnd([...alphabet].length)]!;
      v = op === 0 ? v.slice(0, at) + ch + v.slice(at) : op === 1 ? v.slice(0, at) + v.slice(at + 1) : v.slice(0, at) + ch + v.slice(at + 1);
    }
    const query = rnd(4) === 0 ? v.replace(/[ ,]/g, '&') : '';
    try {
      const r = verifySigV4({ ...withHeader(req, 'authorization', v), query }, opts());
      if (r.ok) accepted++;
      else if (r.status !== 403 || !r.message) thrown++;
    } catch {
      thrown++;
    }
  }
  t.equal(thrown, 0, 'every mutation answered with a 403 result');
  t.ok(accepted <= 60, `mutations that still verify are only no-op/whitespace ones (${accepted})`);
});
