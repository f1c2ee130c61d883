import t, { type Test } from 'tap';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type JWK, type JWTPayload, type JWTHeaderParameters } from 'jose';
import { JwtAuthorizer, tokenFromAuthorization, wwwAuthenticate, type JwtIdentity, type JwtResult } from '../../src/auth/jwt.js';

// ---- a local identity provider: discovery + JWKS, every request counted ----

interface Idp {
  url: string;
  hits: { discovery: number; jwks: number; other: number };
  jwks: { keys: JWK[] };
  /** Delay before answering (ms); 0 = at once. */
  delayMs: number;
  /** Status for discovery / JWKS answers. */
  discoveryStatus: number;
  jwksStatus: number;
  close(): Promise<void>;
}

async function startIdp(keys: JWK[] = []): Promise<Idp> {
  const timers = new Set<NodeJS.Timeout>();
  const idp = {
    url: '',
    hits: { discovery: 0, jwks: 0, other: 0 },
    jwks: { keys },
    delayMs: 0,
    discoveryStatus: 200,
    jwksStatus: 200,
  } as Idp;
  const server = http.createServer((req, res) => {
    const answer = (status: number, body: unknown): void => {
      const send = (): void => {
        if (res.destroyed) return;
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      if (idp.delayMs > 0) {
        const timer = setTimeout(() => { timers.delete(timer); send(); }, idp.delayMs);
        timers.add(timer);
      } else send();
    };
    if (req.url === '/.well-known/openid-configuration') {
      idp.hits.discovery++;
      answer(idp.discoveryStatus, { issuer: idp.url, jwks_uri: `${idp.url}/jwks` });
    } else if (req.url === '/jwks') {
      idp.hits.jwks++;
      answer(idp.jwksStatus, idp.jwks);
    } else {
      idp.hits.other++;
      answer(404, {});
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  idp.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  idp.close = async () => {
    for (const timer of timers) clearTimeout(timer);
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return idp;
}

interface SigningKey { kid: string; alg: string; privateKey: CryptoKey; publicKey: CryptoKey; jwk: JWK }

async function makeKey(alg: string, kid: string): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  return { kid, alg, privateKey, publicKey, jwk };
}

const nowSec = (): number => Math.floor(Date.now() / 1000);
const AUD = 'my-api';

async function sign(key: SigningKey, claims: JWTPayload, header: Partial<JWTHeaderParameters> = {}): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: key.alg, kid: key.kid, ...header } as JWTHeaderParameters).sign(key.privateKey);
}

const b64 = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');

function assertUnauthorized(t: Test, r: JwtResult, reason?: RegExp): void {
  t.equal(r.ok, false, 'refused');
  if (r.ok) return;
  t.equal(r.status, 401);
  t.equal(r.message, 'Unauthorized');
  if (reason) t.match(r.reason, reason);
}

const rsa = await makeKey('RS256', 'rsa-1');
const ec = await makeKey('ES256', 'ec-1');
const attacker = await makeKey('RS256', 'evil-1');

function claims(idp: Idp, extra: JWTPayload = {}): JWTPayload {
  const now = nowSec();
  return { iss: idp.url, aud: AUD, sub: 'user-1', iat: now, exp: now + 3600, ...extra };
}

t.test('valid RS256 and ES256 tokens pass; claims and scopes come out; the second verify is a synchronous cache hit', async (t) => {
  const idp = await startIdp([rsa.jwk, ec.jwk]);
  t.teardown(() => idp.close());
  const auth = new JwtAuthorizer({ issuer: idp.url, audience: ['other', AUD] });
  t.teardown(() => auth.close());

  const tokRsa = await sign(rsa, claims(idp, { scope: 'a b', email: 'u@example.com' }));
  const r1 = await auth.verify(tokRsa);
  t.equal(r1.ok, true, 'RS256 passes');
  if (!r1.ok) return;
  t.equal(r1.identity.claims['email'], 'u@example.com');
  t.equal(r1.identity.claims['sub'], 'user-1');
  t.same(r1.identity.scopes, ['a', 'b'], 'scope "a b"');
  t.equal(r1.identity.expiresAt, (r1.identity.claims['exp'] as number) * 1000);
  t.ok(Object.isFrozen(r1.identity.claims), 'claims are frozen (shared by cache hits)');
  t.same(idp.hits, { discovery: 1, jwks: 1, other: 0 }, 'one discovery, one JWKS fetch');

  const tokEc = await sign(ec, claims(idp, { scp: ['a', 'b'] }));
  const r2 = await auth.verify(tokEc);
  t.equal(r2.ok, true, 'ES256 passes');
  if (r2.ok) t.same(r2.identity.scopes, ['a', 'b'], 'scp ["a","b"]');

  const both = await auth.verify(await sign(rsa, claims(idp, { scope: 'a b', scp: ['b', 'c'] })));
  if (both.ok) t.same(both.identity.scopes, ['a', 'b', 'c'], 'scope and scp: union');
  else t.fail('scope+scp token refused');

  const sync = auth.cached(tokRsa);
  t.equal(sync, r1, 'cached() answers synchronously with the same result');
  const r3 = await auth.verify(tokRsa);
  t.equal(r3, r1, 'verify of a cached token is the cache hit');
  t.equal(idp.hits.jwks, 1, 'no further JWKS request');
  t.equal(idp.hits.discovery, 1, 'discovery done once');
  t.equal(auth.cached('never.seen.token'), undefined);
});

t.test('audience: aud, or client_id only when aud is absent (AWS)', async (t) => {
  const idp = await startIdp([rsa.jwk]);
  t.teardown(() => idp.close());
  const auth = new JwtAuthorizer({ issuer: idp.url, audience: [AUD] });
  t.teardown(() => auth.close());
  const c = claims(idp);
  delete c.aud;
  t.equal((await auth.verify(await sign(rsa, { ...c, client_id: AUD }))).ok, true, 'access token: client_id matches');
  assertUnauthorized(t, await auth.verify(await sign(rsa, { ...c, client_id: 'x' })), /audience/);
  assertUnauthorized(t, await auth.verify(await sign(rsa, c)), /audience/);
  assertUnauthorized(t, await auth.verify(await sign(rsa, { ...c, aud: 'other', client_id: AUD })), /audience/);
  t.equal((await auth.verify(await sign(rsa, { ...c, aud: ['x', AUD] }))).ok, true, 'aud array with one match');
  assertUnauthorized(t, await auth.verify(await sign(rsa, { ...c, aud: [] })), /audience/);
});

t.test('attacks and invalid tokens: 401 Unauthorized, never a throw', async (t) => {
  const idp = await startIdp([rsa.jwk, ec.jwk]);
  const evil = await startIdp([attacker.jwk]);
  t.teardown(() => Promise.all([idp.close(), evil.close()]));
  const auth = new JwtAuthorizer({ issuer: idp.url, audience: [AUD] }, { jwksCooldownMs: 0 });
  t.teardown(() => auth.close());
  t.equal((await auth.verify(await sign(rsa, claims(idp)))).ok, true, 'warm-up: a good token');

  await t.test('alg none (unsigned)', async (t) => {
    const body = b64(claims(idp));
    assertUnauthorized(t, await auth.verify(`${b64({ alg: 'none', typ: 'JWT' })}.${body}.`), /not a signed JWT/);
    assertUnauthorized(t, await auth.verify(`${b64({ alg: 'none', kid: rsa.kid })}.${body}.c2ln`), /algorithm/);
    assertUnauthorized(t, await auth.verify(`${b64({ alg: 'NONE', kid: rsa.kid })}.${body}.c2ln`), /algorithm/);
  });

  await t.test('HS256 with the RSA public key PEM as HMAC secret (key confusion)', async (t) => {
    const pem = await exportSPKI(rsa.publicKey);
    for (const secret of [pem, pem.trim(), JSON.stringify(rsa.jwk)]) {
      const tok = await new SignJWT(claims(idp)).setProtectedHeader({ alg: 'HS256', kid: rsa.kid }).sign(new TextEncoder().encode(secret));
      assertUnauthorized(t, await auth.verify(tok), /algorithm/);
    }
  });

  await t.test('kid injection and unknown kid', async (t) => {
    for (const kid of ['../../etc/passwd', "' OR '1'='1' --", '"; DROP TABLE keys; --', '\u0000', 'x'.repeat(5000)]) {
      assertUnauthorized(t, await auth.verify(await sign(rsa, claims(idp), { kid })));
    }
    t.equal(idp.hits.other, 0, 'no kid ever reaches a URL');
    const before = idp.hits.jwks;
    assertUnauthorized(t, await auth.verify(await sign(rsa, claims(idp), { kid: 'not-in-the-set' })), /kid/);
    t.equal(idp.hits.jwks, before + 1, 'unknown kid: exactly one refetch (cooldown 0 here), still 401');
    assertUnauthorized(t, await auth.verify(await sign(rsa, claims(idp), { kid: undefined })), /kid/);
  });

  await t.test('jku / x5u / jwk headers pointing at an attacker are ignored', async (t) => {
    const headers: Partial<JWTHeaderParameters>[] = [
      { jku: `${evil.url}/jwks` },
      { x5u: `${evil.url}/cert.pem` },
      { jwk: attacker.jwk as JWTHeaderParameters['jwk'] },
      { jku: `${evil.url}/jwks`, x5u: `${evil.url}/cert.pem`, jwk: attacker.jwk as JWTHeaderParameters['jwk'] },
    ];
    for (const h of headers) {
      assertUnauthorized(t, await auth.verify(await sign(attacker, claims(idp), h)), /kid/); // attacker's kid
      assertUnauthorized(t, await auth.verify(await sign({ ...attacker, kid: rsa.kid }, claims(idp), h)), /signature/); // legit kid
    }
    t.same(evil.hits, { discovery: 0, jwks: 0, other: 0 }, 'the attacker server received no request');
  });

  await t.test('a token signed by a different key with the same kid', async (t) => {
    assertUnauthorized(t, await auth.verify(await sign({ ...attacker, kid: rsa.kid }, claims(idp))), /signature/);
    assertUnauthorized(t, await auth.verify(await sign({ ...ec, kid: rsa.kid }, claims(idp))), /kid/); // ES256 vs an RSA key
  });

  await t.test('tampered payload', async (t) => {
    const tok = await sign(rsa, claims(idp, { scope: 'read' }));
    const [h, , s] = tok.split('.');
    const forged = `${h}.${b64(claims(idp, { scope: 'read admin' }))}.${s}`;
    assertUnauthorized(t, await auth.verify(forged), /signature/);
    const again = auth.cached(forged);
    t.ok(again && !again.ok, 'a bad signature is remembered briefly (negative cache), apart from verified tokens');
  });

  await t.test('time and issuer claims', async (t) => {
    const now = nowSec();
    assertUnauthorized(t, await auth.verify(await sign(rsa, claims(idp, { exp: now - 10 }))), /expired/);
    assertUnauthorized(t, await auth.verify(await sign(rsa, claims(idp, { nbf: now + 600 }))), /not valid yet/);
    assertUnauthorized(t, await auth.verify(await sign(rsa, claims(idp, { iat: now + 600 }))), /future/);
    t.equal((await auth.verify(await sign(rsa, claims(idp, { iat: now + 2, nbf: now + 2 })))).ok, true, 'within the 5 s default skew');
    const noExp = claims(idp);
    delete noExp.exp;
    assertUnauthorized(t, await auth.verify(await sign(rsa, noExp)), /exp/);
    assertUnauthorized(t, await auth.verify(await sign(rsa, claims(idp, { exp: 'tomorrow' as unknown as number }))), /exp/);
    assertUnauthorized(t, await auth.verify(await sign(rsa, claims(idp, { iss: 'https://evil.example' }))), /issuer/);
    assertUnauthorized(t, await auth.verify(await sign(rsa, claims(idp, { iss: `${idp.url}/` }))), /issuer/);
    assertUnauthorized(t, await auth.verify(await sign(rsa, claims(idp, { aud: 'someone-else' }))), /audience/);
  });

  await t.test('a huge token is refused before parsing', async (t) => {
    const before = { ...idp.hits };
    const huge = `${b64({ alg: 'RS256', kid: rsa.kid })}.${'A'.repeat(100 * 1024)}.c2ln`;
    assertUnauthorized(t, await auth.verify(huge), /exceeds 10240 bytes/);
    assertUnauthorized(t, await auth.verify('{'.repeat(100 * 1024)), /exceeds/);
    t.same(idp.hits, before, 'no fetch: refused on its size');
  });

  await t.test('garbage of every shape', async (t) => {
    for (const junk of ['', 'a', 'a.b', 'a.b.c', '...', 'a.b.c.d', `${b64([1])}.${b64({})}.c2ln`, `${b64({ alg: 'RS256', kid: 'k' })}.${b64('str')}.c2ln`, 'é.é.é']) {
      assertUnauthorized(t, await auth.verify(junk));
    }
    assertUnauthorized(t, await auth.verify(undefined as unknown as string));
  });

  t.equal(idp.hits.discovery, 1, 'discovery happened once');
  t.equal(idp.hits.other, 0, 'no other URL was ever requested');
});

t.test('unknown kid within the cooldown triggers no refetch (default 30 s): a flood cannot hammer the IdP', async (t) => {
  const idp = await startIdp([rsa.jwk]);
  t.teardown(() => idp.close());
  const auth = new JwtAuthorizer({ issuer: idp.url, audience: [AUD] });
  t.teardown(() => auth.close());
  t.equal((await auth.verify(await sign(rsa, claims(idp)))).ok, true);
  for (let i = 0; i < 20; i++) assertUnauthorized(t, await auth.verify(await sign(rsa, claims(idp), { kid: `unknown-${i}` })), /kid/);
  t.equal(idp.hits.jwks, 1, 'still one JWKS fetch');
});

t.test('key rotation: a token with the new kid verifies after one refetch', async (t) => {
  const idp = await startIdp([rsa.jwk]);
  t.teardown(() => idp.close());
  const auth = new JwtAuthorizer({ issuer: idp.url, audience: [AUD] }, { jwksCooldownMs: 0 });
  t.teardown(() => auth.close());
  t.equal((await auth.verify(await sign(rsa, claims(idp)))).ok, true);
  t.equal(idp.hits.jwks, 1);
  const next = await makeKey('RS256', 'rsa-2');
  idp.jwks = { keys: [next.jwk] };
  const r = await auth.verify(await sign(next, claims(idp)));
  t.equal(r.ok, true, 'new kid verifies');
  t.equal(idp.hits.jwks, 2, 'after exactly one refetch');
  t.equal((await auth.verify(await sign(next, claims(idp, { sub: 'other' })))).ok, true);
  t.equal(idp.hits.jwks, 2, 'known kid: no fetch');
  assertUnauthorized(t, await auth.verify(await sign(rsa, claims(idp, { sub: 'old' }))), /kid/);
});

t.test('discovery and JWKS failures: 401, bounded by the 1.5 s timeout, backoff, no hang', async (t) => {
  await t.test('discovery endpoint slow (answers after 3 s)', async (t) => {
    const idp = await startIdp([rsa.jwk]);
    t.teardown(() => idp.close());
    idp.delayMs = 3000;
    const auth = new JwtAuthorizer({ issuer: idp.url, audience: [AUD] });
    t.teardown(() => auth.close());
    const tok = await sign(rsa, claims(idp));
    // The server would answer (correctly) after 3 s: a 401 for "timed out" shows the fetch was cut short.
    assertUnauthorized(t, await auth.verify(tok), /discovery.*timed out/);
    assertUnauthorized(t, await auth.verify(tok), /discovery/);
    t.equal(idp.hits.discovery, 1, 'no request during the backoff');
  });

  await t.test('JWKS endpoint slow (answers after 3 s)', async (t) => {
    const idp = await startIdp([rsa.jwk]);
    t.teardown(() => idp.close());
    idp.delayMs = 3000;
    const auth = new JwtAuthorizer({ issuer: idp.url, audience: [AUD], jwksUri: `${idp.url}/jwks` });
    t.teardown(() => auth.close());
    const tok = await sign(rsa, claims(idp));
    // The keys would arrive (and verify) after 3 s: a 401 shows the fetch was cut short.
    const rs = await Promise.all([auth.verify(tok), auth.verify(tok), auth.verify(await sign(rsa, claims(idp, { sub: 'b' })))]);
    for (const r of rs) assertUnauthorized(t, r, /signing keys unavailable/);
    t.equal(idp.hits.jwks, 1, 'concurrent verifications share one fetch');
    assertUnauthorized(t, await auth.verify(tok), /signing keys unavailable/);
    t.equal(idp.hits.jwks, 1, 'backoff: no new fetch at once');
  });

  await t.test('server down (connection refused)', async (t) => {
    const idp = await startIdp();
    const url = idp.url;
    await idp.close();
    const viaDiscovery = new JwtAuthorizer({ issuer: url, audience: [AUD] });
    const viaJwks = new JwtAuthorizer({ issuer: url, audience: [AUD], jwksUri: `${url}/jwks` });
    t.teardown(() => { viaDiscovery.close(); viaJwks.close(); });
    const tok = await sign(rsa, { iss: url, aud: AUD, exp: nowSec() + 60 });
    assertUnauthorized(t, await viaDiscovery.verify(tok), /discovery/);
    assertUnauthorized(t, await viaJwks.verify(tok), /signing keys unavailable/);
  });

  await t.test('discovery failing (HTTP 500) is retried after the backoff', async (t) => {
    const idp = await startIdp([rsa.jwk]);
    t.teardown(() => idp.close());
    idp.discoveryStatus = 500;
    const auth = new JwtAuthorizer({ issuer: idp.url, audience: [AUD] });
    t.teardown(() => auth.close());
    const tok = await sign(rsa, claims(idp));
    assertUnauthorized(t, await auth.verify(tok), /discovery.*500/);
    assertUnauthorized(t, await auth.verify(tok), /discovery/);
    t.equal(idp.hits.discovery, 1, 'second call within the backoff made no request');
    idp.discoveryStatus = 200;
    await new Promise((r) => setTimeout(r, 1100));
    t.equal((await auth.verify(tok)).ok, true, 'after the 1 s backoff discovery is retried and succeeds');
    t.equal(idp.hits.discovery, 2);
  });

  await t.test('JWKS endpoint down after a first fetch: known keys keep verifying, no request storm', async (t) => {
    const idp = await startIdp([rsa.jwk]);
    t.teardown(() => idp.close());
    const auth = new JwtAuthorizer({ issuer: idp.url, audience: [AUD] }, { jwksCooldownMs: 0 });
    t.teardown(() => auth.close());
    t.equal((await auth.verify(await sign(rsa, claims(idp)))).ok, true);
    idp.jwksStatus = 503;
    assertUnauthorized(t, await auth.verify(await sign(rsa, claims(idp), { kid: 'new-kid' })), /kid/);
    t.equal(idp.hits.jwks, 2, 'the unknown kid tried one refetch (503)');
    t.equal((await auth.verify(await sign(rsa, claims(idp, { sub: 'during-outage' })))).ok, true, 'known key still verifies');
    assertUnauthorized(t, await auth.verify(await sign(rsa, claims(idp), { kid: 'other-new-kid' })), /kid/);
    t.equal(idp.hits.jwks, 2, 'within the backoff: no new fetch');
  });

  await t.test('JWKS response over 150000 bytes is refused', async (t) => {
    const idp = await startIdp([rsa.jwk]);
    t.teardown(() => idp.close());
    idp.jwks = { keys: [rsa.jwk, ...Array.from({ length: 2000 }, (_, i) => ({ ...rsa.jwk, kid: `pad-${i}` }))] };
    const auth = new JwtAuthorizer({ issuer: idp.url, audience: [AUD] });
    t.teardown(() => auth.close());
    assertUnauthorized(t, await auth.verify(await sign(rsa, claims(idp))), /exceeds 150000 bytes/);
  });
});

t.test('cache: bounded, expires with the token, survives a garbage flood, dedupes concurrent verifications', async (t) => {
  const idp = await startIdp([ec.jwk]);
  t.teardown(() => idp.close());

  await t.test('cacheMax 100: size stays ≤ 100', async (t) => {
    const auth = new JwtAuthorizer({ issuer: idp.url, audience: [AUD] }, { cacheMax: 100 });
    t.teardown(() => auth.close());
    const tokens: string[] = [];
    for (let i = 0; i < 250; i++) tokens.push(await sign(ec, claims(idp, { sub: `u${i}` })));
    let ok = 0;
    for (const tok of tokens) {
      if ((await auth.verify(tok)).ok) ok++;
      t.ok(auth.cacheSize <= 100);
    }
    t.equal(ok, 250);
    t.equal(auth.cacheSize, 100, 'bounded at 100');
    t.ok(auth.cached(tokens[249]!)?.ok, 'the newest is cached');
    t.equal(auth.cached(tokens[0]!), undefined, 'the oldest was evicted');
  });

  await t.test('entries expire with the token (injected clock)', async (t) => {
    let now = Date.now();
    const auth = new JwtAuthorizer({ issuer: idp.url, audience: [AUD] }, { now: () => now });
    t.teardown(() => auth.close());
    const tok = await sign(ec, claims(idp, { exp: Math.floor(now / 1000) + 60 }));
    t.equal((await auth.verify(tok)).ok, true);
    t.ok(auth.cached(tok)?.ok);
    now += 61_000;
    t.equal(auth.cached(tok), undefined, 'expired: no longer cached');
    assertUnauthorized(t, await auth.verify(tok), /expired/);
    t.equal(auth.cacheSize, 0);
  });

  await t.test('a flood of bad tokens evicts no good entry; memory stays bounded', async (t) => {
    const auth = new JwtAuthorizer({ issuer: idp.url, audience: [AUD] }, { cacheMax: 100 });
    t.teardown(() => auth.close());
    const good = await sign(ec, claims(idp));
    t.equal((await auth.verify(good)).ok, true);
    const [h, p] = good.split('.');
    for (let i = 0; i < 3000; i++) {
      const r = await auth.verify(`${h}.${p}.${Buffer.from(`forged-${i}`).toString('base64url')}`);
      if (r.ok) t.fail('forged token passed');
    }
    for (let i = 0; i < 3000; i++) await auth.verify(`junk.${i}.x`);
    t.ok(auth.cached(good)?.ok, 'the good token is still cached');
    t.equal(auth.cacheSize, 1, 'failures never enter the verified cache');
  });

  await t.test('concurrent verifications of one token share the work', async (t) => {
    const fresh = await startIdp([ec.jwk]);
    t.teardown(() => fresh.close());
    const auth = new JwtAuthorizer({ issuer: fresh.url, audience: [AUD] });
    t.teardown(() => auth.close());
    const tok = await sign(ec, claims(fresh));
    const rs = await Promise.all(Array.from({ length: 20 }, () => auth.verify(tok)));
    t.ok(rs.every((r) => r.ok));
    t.same(fresh.hits, { discovery: 1, jwks: 1, other: 0 });
  });

  await t.test('close(): caches dropped, verify answers 401', async (t) => {
    const auth = new JwtAuthorizer({ issuer: idp.url, audience: [AUD] });
    const tok = await sign(ec, claims(idp));
    t.equal((await auth.verify(tok)).ok, true);
    auth.close();
    t.equal(auth.cached(tok), undefined);
    assertUnauthorized(t, await auth.verify(tok), /closed/);
  });
});

t.test('algorithms are pinned', async (t) => {
  const idp = await startIdp([rsa.jwk, ec.jwk]);
  t.teardown(() => idp.close());
  const rsaOnly = new JwtAuthorizer({ issuer: idp.url, audience: [AUD], algorithms: ['RS256'] });
  t.teardown(() => rsaOnly.close());
  t.equal((await rsaOnly.verify(await sign(rsa, claims(idp)))).ok, true);
  assertUnauthorized(t, await rsaOnly.verify(await sign(ec, claims(idp))), /algorithm/);
  for (const algorithms of [['none'], ['HS256'], ['RS256', 'HS512'], []]) {
    t.throws(() => new JwtAuthorizer({ issuer: idp.url, audience: [AUD], algorithms }), TypeError, `refused: ${JSON.stringify(algorithms)}`);
  }
  t.throws(() => new JwtAuthorizer({ issuer: idp.url, audience: [] }), TypeError, 'empty audience');
  t.throws(() => new JwtAuthorizer({ issuer: idp.url, audience: [AUD], jwksUri: 'file:///etc/passwd' }), TypeError, 'jwksUri scheme');
  t.throws(() => new JwtAuthorizer({ issuer: 'not a url', audience: [AUD] }), TypeError, 'issuer must be a URL for discovery');
});

t.test('checkScopes: any one of the route scopes; none configured → ok', async (t) => {
  const id = (scopes: string[]): JwtIdentity => ({ claims: {}, scopes, expiresAt: 0 });
  t.equal(JwtAuthorizer.checkScopes(id(['a', 'b']), []), true, 'no scopes configured');
  t.equal(JwtAuthorizer.checkScopes(id([]), []), true);
  t.equal(JwtAuthorizer.checkScopes(id(['a', 'b']), ['b']), true);
  t.equal(JwtAuthorizer.checkScopes(id(['a']), ['x', 'a']), true, 'any one is enough');
  t.equal(JwtAuthorizer.checkScopes(id(['a', 'b']), ['c']), false);
  t.equal(JwtAuthorizer.checkScopes(id([]), ['a']), false, 'no scopes in the token');
  t.equal(JwtAuthorizer.checkScopes(id(['A']), ['a']), false, 'case-sensitive');
  t.equal(JwtAuthorizer.checkScopes(id(['ab']), ['a']), false, 'whole scopes only');
});

t.test('tokenFromAuthorization: raw token or Bearer <token>', async (t) => {
  t.equal(tokenFromAuthorization('Bearer abc.def.ghi'), 'abc.def.ghi');
  t.equal(tokenFromAuthorization('bearer abc.def.ghi'), 'abc.def.ghi');
  t.equal(tokenFromAuthorization('BEARER   abc.def.ghi  '), 'abc.def.ghi');
  t.equal(tokenFromAuthorization('abc.def.ghi'), 'abc.def.ghi', 'the raw token (AWS accepts it)');
  t.equal(tokenFromAuthorization('Bearer'), null);
  t.equal(tokenFromAuthorization('Bearer '), null);
  t.equal(tokenFromAuthorization(''), null);
  t.equal(tokenFromAuthorization('   '), null);
  t.equal(tokenFromAuthorization(undefined), null);
  t.equal(tokenFromAuthorization('Basic dXNlcjpwYXNz'), null, 'another scheme');
  t.equal(tokenFromAuthorization('Bearer a.b.c, Bearer d.e.f'), null, 'two headers joined');
  t.equal(tokenFromAuthorization('Bearerabc.def.ghi'), 'Bearerabc.def.ghi', 'no space: a raw value (verify refuses it)');
});

t.test('wwwAuthenticate: the AWS header shape', async (t) => {
  t.equal(wwwAuthenticate('the token does not have a valid audience'), 'Bearer scope="" error="invalid_token" error_description="the token does not have a valid audience"');
  t.notMatch(wwwAuthenticate('a "quoted"\r\nvalue'), /["]quoted|\r|\n/);
});
