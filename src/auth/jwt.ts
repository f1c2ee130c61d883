/**
 * JWT authorizer core, HTTP API semantics
 * (https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-jwt-authorizer.html):
 *
 * 1. the identity source holds the token, alone or after `Bearer` ({@link tokenFromAuthorization});
 * 2. the token is decoded;
 * 3. its algorithm and signature are checked with a public key from the issuer's `jwks_uri`
 *    (OIDC discovery, `{issuer}/.well-known/openid-configuration`, or a configured `jwksUri`);
 * 4. claims: `kid` (header) must name a key of the set, `iss` must equal the issuer, `aud` (or,
 *    only when `aud` is absent, `client_id`) must match one of the audiences, `exp` must be after
 *    now, `nbf` and `iat` before now; `scope`/`scp` against the route's authorizationScopes is
 *    {@link JwtAuthorizer.checkScopes} (403 Forbidden; every other failure is 401 Unauthorized).
 *
 * Quotas (https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-quotas.html):
 * 1500 ms timeout for the JWKS and the discovery endpoints, JWKS responses up to 150000 bytes,
 * request line + headers up to 10240 bytes (so no token is longer).
 *
 * Hot path: a token verified before and not expired is answered by {@link JwtAuthorizer.cached}
 * (one Map lookup, no crypto, no allocation). Garbage is refused before any key fetch or
 * signature check; failures never enter the positive cache, so a flood cannot evict good entries.
 */
import { BoundedMap } from '../util/bounded-map.js';
import { createLocalJWKSet, createRemoteJWKSet, customFetch, jwtVerify } from 'jose';
import type { JSONWebKeySet, JWTPayload, JWTVerifyGetKey, RemoteJWKSet } from 'jose';

export interface JwtAuthorizerConfig {
  /** Must equal the token's `iss` exactly; also the base of OIDC discovery. */
  issuer: string;
  /** `aud` (or `client_id` when the token has no `aud`) must match one entry. */
  audience: string[];
  /** Skips discovery when set. */
  jwksUri?: string;
  /** Allowed `alg` values; default {@link DEFAULT_JWT_ALGORITHMS}. `none` and HS* are refused (config error). */
  algorithms?: string[];
  /** Leeway for `nbf` and `iat` in the future (clock skew), seconds; default 5. `exp` gets none (AWS: must be after now). */
  clockToleranceSec?: number;
  /** Longer tokens are refused before parsing; default 10240 (AWS: request line + headers ≤ 10240 bytes). */
  maxTokenBytes?: number;
}

export interface JwtIdentity {
  /** The verified payload (deep-frozen: shared by every request that presents the token). */
  claims: Record<string, unknown>;
  /** From `scope` (space-separated) and `scp` (array or space-separated), union, first-seen order. */
  scopes: string[];
  /** `exp`, epoch ms. */
  expiresAt: number;
}

export type JwtResult =
  | { ok: true; identity: JwtIdentity }
  | { ok: false; status: 401 | 403; message: 'Unauthorized' | 'Forbidden'; reason: string };

export interface JwtAuthorizerOptions {
  /** Verified tokens kept (insertion-order eviction); default 10000; 0 disables the cache. */
  cacheMax?: number;
  /** Clock for token times (exp/nbf/iat) and cache expiry, epoch ms; default Date.now. Network backoff uses the real clock. */
  now?: () => number;
  /** Discovery and JWKS fetch timeout; default 1500 (AWS quota). */
  fetchTimeoutMs?: number;
  /** After a successful JWKS fetch, an unknown `kid` triggers no refetch for this long; default 30000 (jose's default). */
  jwksCooldownMs?: number;
}

/** Asymmetric algorithms allowed by default. AWS documents "only RSA-based algorithms" (RS*, PS*); ES* is an extension. */
export const DEFAULT_JWT_ALGORITHMS: readonly string[] = Object.freeze([
  'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512',
]);
/** What `algorithms` may name: asymmetric signatures only (no `none`, no HMAC: key-confusion proof). */
const SUPPORTED_ALGORITHMS = new Set([...DEFAULT_JWT_ALGORITHMS, 'EdDSA', 'Ed25519']);

export const JWT_FETCH_TIMEOUT_MS = 1500;
export const JWT_MAX_TOKEN_BYTES = 10_240;
const JWKS_MAX_BYTES = 150_000;
const DISCOVERY_MAX_BYTES = 150_000;
const DEFAULT_CACHE_MAX = 10_000;
const DEFAULT_CLOCK_TOLERANCE_SEC = 5;
/** jose refreshes keys older than this on use. */
const JWKS_MAX_AGE_MS = 10 * 60_000;
/** When the JWKS endpoint fails, keys fetched within this window still verify (AWS: keys may be cached two hours). */
const JWKS_MAX_STALE_MS = 2 * 3600_000;
const BACKOFF_BASE_MS = 1000;
const BACKOFF_MAX_MS = 30_000;
/** Bad-signature answers are remembered briefly, apart from the verified cache. */
const NEGATIVE_TTL_MS = 5000;
const NEGATIVE_MAX = 1024;
const MAX_KID_LENGTH = 1024;

const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

interface CacheEntry { result: JwtResult; until: number }
type KeySource = { remote: RemoteJWKSet } | { reason: string };

/** A discovery or JWKS fetch that failed (network, timeout, status, size, shape): transient, never cached. */
class KeyFetchError extends Error {
  override name = 'KeyFetchError';
}

function unauthorized(reason: string): JwtResult {
  return Object.freeze({ ok: false, status: 401, message: 'Unauthorized', reason }) as JwtResult;
}

const CLOSED = unauthorized('the authorizer is closed');

/**
 * The token from an identity source value. AWS: "The identitySource can include only the token, or
 * the token prefixed with Bearer". The scheme is case-insensitive; anything else with whitespace
 * (another scheme, several comma-joined headers) is no token.
 */
export function tokenFromAuthorization(value: string | undefined): string | null {
  if (typeof value !== 'string') return null;
  let v = value.trim();
  if (v.length === 0) return null;
  const m = /^bearer(?:\s+|$)/i.exec(v);
  if (m !== null) v = v.slice(m[0].length).trim();
  if (v.length === 0 || /\s/.test(v)) return null;
  return v;
}

/** `www-authenticate` value AWS sends with a JWT 401 (http-api-troubleshooting-jwt.html). */
export function wwwAuthenticate(reason: string): string {
  return `Bearer scope="" error="invalid_token" error_description="${reason.replace(/["\\\r\n]/g, ' ')}"`;
}

function deepFreeze<T>(v: T): T {
  if (v !== null && typeof v === 'object' && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const k of Object.keys(v as object)) deepFreeze((v as Record<string, unknown>)[k]);
  }
  return v;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function decodeSegment(seg: string): unknown {
  try {
    return JSON.parse(Buffer.from(seg, 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
}

function scopesOf(claims: Record<string, unknown>): string[] {
  const out: string[] = [];
  const add = (v: unknown): void => {
    const parts = typeof v === 'string' ? v.split(/\s+/) : Array.isArray(v) ? v : [];
    for (const s of parts) if (typeof s === 'string' && s.length > 0 && !out.includes(s)) out.push(s);
  };
  add(claims['scope']);
  add(claims['scp']);
  return out;
}

function isNumericDate(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}

/** Capped body read; a timeout while reading aborts through the fetch signal. */
async function readCapped(res: Response, max: number, what: string): Promise<string> {
  const len = Number(res.headers.get('content-length'));
  if (Number.isFinite(len) && len > max) {
    await res.body?.cancel().catch(() => {});
    throw new KeyFetchError(`${what} response exceeds ${max} bytes`);
  }
  if (res.body === null) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > max) {
      await reader.cancel().catch(() => {});
      throw new KeyFetchError(`${what} response exceeds ${max} bytes`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function describeFetchError(e: unknown, what: string): string {
  if (e instanceof KeyFetchError) return e.message;
  const name = (e as { name?: unknown } | null)?.name;
  if (name === 'TimeoutError') return `${what} timed out`;
  if (name === 'AbortError') return `${what} aborted`;
  const cause = (e as { cause?: { code?: unknown } } | null)?.cause?.code;
  return `${what} failed${typeof cause === 'string' ? ` (${cause})` : ''}`;
}

function isFetchFailure(e: unknown): boolean {
  return e instanceof KeyFetchError || (e as { code?: unknown } | null)?.code === 'ERR_JWKS_TIMEOUT';
}

/** Maps a jose error to a reason; `remember`: deterministic for this token string (negative-cacheable). */
function classify(e: unknown): { reason: string; remember: boolean } {
  const code = (e as { code?: unknown } | null)?.code;
  switch (code) {
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED': return { reason: 'the token signature is invalid', remember: true };
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
    case 'ERR_JOSE_NOT_SUPPORTED': return { reason: 'the token signing algorithm is not allowed', remember: true };
    case 'ERR_JWS_INVALID':
    case 'ERR_JWT_INVALID': return { reason: 'the token is malformed', remember: true };
    case 'ERR_JWT_EXPIRED': return { reason: 'the token has expired', remember: true };
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED': return { reason: `the token claims are invalid: ${(e as Error).message}`, remember: false };
    case 'ERR_JWKS_NO_MATCHING_KEY': return { reason: 'no signing key matches the token kid', remember: false };
    case 'ERR_JWKS_MULTIPLE_MATCHING_KEYS': return { reason: 'several signing keys match the token kid', remember: false };
    case 'ERR_JWKS_INVALID':
    case 'ERR_JWK_INVALID': return { reason: 'the signing key set is invalid', remember: false };
    default:
      if (isFetchFailure(e)) return { reason: `signing keys unavailable: ${describeFetchError(e, 'JWKS fetch')}`, remember: false };
      return { reason: 'the token could not be verified', remember: false };
  }
}

export class JwtAuthorizer {
  private readonly issuer: string;
  private readonly audiences: ReadonlySet<string>;
  private readonly algorithms: string[];
  private readonly algorithmSet: ReadonlySet<string>;
  private readonly toleranceMs: number;
  private readonly maxTokenBytes: number;
  private readonly cacheMax: number;
  private readonly now: () => number;
  private readonly fetchTimeoutMs: number;
  private readonly cooldownMs: number;

  private readonly verified: BoundedMap<CacheEntry>;
  private readonly rejected: BoundedMap<CacheEntry>;
  private readonly inflight = new Map<string, Promise<JwtResult>>();
  private readonly closer = new AbortController();
  private closed = false;

  private remote: RemoteJWKSet | undefined;
  private discovery: Promise<KeySource> | undefined;
  private discoveryFailures = 0;
  private discoveryRetryAt = 0;
  private discoveryError = '';

  private jwksFailures = 0;
  private jwksRetryAt = 0;
  private jwksError = '';
  private jwksOkAt = 0;
  private staleKeys: { at: number; get: JWTVerifyGetKey } | undefined;

  constructor(cfg: JwtAuthorizerConfig, opts: JwtAuthorizerOptions = {}) {
    if (typeof cfg.issuer !== 'string' || cfg.issuer.length === 0) throw new TypeError('jwt authorizer: issuer is required');
    if (!Array.isArray(cfg.audience) || cfg.audience.length === 0 || !cfg.audience.every((a) => typeof a === 'string' && a.length > 0)) {
      throw new TypeError('jwt authorizer: audience must be a non-empty list of strings');
    }
    const algorithms = cfg.algorithms ?? [...DEFAULT_JWT_ALGORITHMS];
    if (!Array.isArray(algorithms) || algorithms.length === 0) throw new TypeError('jwt authorizer: algorithms must be a non-empty list');
    for (const a of algorithms) {
      if (!SUPPORTED_ALGORITHMS.has(a)) {
        throw new TypeError(`jwt authorizer: algorithm ${JSON.stringify(a)} is not allowed (asymmetric signatures only: ${[...SUPPORTED_ALGORITHMS].join(', ')})`);
      }
    }
    const tol = cfg.clockToleranceSec ?? DEFAULT_CLOCK_TOLERANCE_SEC;
    if (!Number.isFinite(tol) || tol < 0) throw new TypeError('jwt authorizer: clockToleranceSec must be a non-negative number');
    const maxTokenBytes = cfg.maxTokenBytes ?? JWT_MAX_TOKEN_BYTES;
    if (!Number.isInteger(maxTokenBytes) || maxTokenBytes <= 0) throw new TypeError('jwt authorizer: maxTokenBytes must be a positive integer');
    const cacheMax = opts.cacheMax ?? DEFAULT_CACHE_MAX;
    if (!Number.isInteger(cacheMax) || cacheMax < 0) throw new TypeError('jwt authorizer: cacheMax must be a non-negative integer');
    const fetchTimeoutMs = opts.fetchTimeoutMs ?? JWT_FETCH_TIMEOUT_MS;
    if (!Number.isInteger(fetchTimeoutMs) || fetchTimeoutMs <= 0) throw new TypeError('jwt authorizer: fetchTimeoutMs must be a positive integer');
    const cooldownMs = opts.jwksCooldownMs ?? 30_000;
    if (!Number.isFinite(cooldownMs) || cooldownMs < 0) throw new TypeError('jwt authorizer: jwksCooldownMs must be a non-negative number');

    this.issuer = cfg.issuer;
    this.audiences = new Set(cfg.audience);
    this.algorithms = [...algorithms];
    this.algorithmSet = new Set(algorithms);
    this.toleranceMs = tol * 1000;
    this.maxTokenBytes = maxTokenBytes;
    this.cacheMax = cacheMax;
    this.verified = new BoundedMap(cacheMax);
    this.rejected = new BoundedMap(Math.min(NEGATIVE_MAX, cacheMax));
    this.now = opts.now ?? Date.now;
    this.fetchTimeoutMs = fetchTimeoutMs;
    this.cooldownMs = cooldownMs;

    if (cfg.jwksUri !== undefined) {
      this.remote = this.createRemote(JwtAuthorizer.httpUrl(cfg.jwksUri, 'jwksUri'));
    } else {
      JwtAuthorizer.httpUrl(this.discoveryUrl(), 'issuer');
    }
  }

  /** Verified tokens currently cached (≤ cacheMax). */
  get cacheSize(): number {
    return this.verified.size;
  }

  /** Synchronous answer for a token verified before and not expired (the hot path costs a Map lookup), else undefined. */
  cached(token: string): JwtResult | undefined {
    const hit = this.verified.get(token);
    if (hit !== undefined) {
      if (this.now() < hit.until) return hit.result;
      this.verified.delete(token);
      return undefined;
    }
    if (this.rejected.size === 0) return undefined;
    const miss = this.rejected.get(token);
    if (miss === undefined) return undefined;
    if (performance.now() < miss.until) return miss.result;
    this.rejected.delete(token);
    return undefined;
  }

  /** Never throws, never hangs beyond the fetch timeouts (discovery + JWKS, 1.5 s each by default). */
  verify(token: string): Promise<JwtResult> {
    if (this.closed) return Promise.resolve(CLOSED);
    if (typeof token !== 'string') return Promise.resolve(unauthorized('no token'));
    const hit = this.cached(token);
    if (hit !== undefined) return Promise.resolve(hit);
    const pending = this.inflight.get(token);
    if (pending !== undefined) return pending;
    const bad = this.precheck(token);
    if (bad !== null) return Promise.resolve(unauthorized(bad));
    const p = this.verifySlow(token).finally(() => this.inflight.delete(token));
    this.inflight.set(token, p);
    return p;
  }

  /** scopes check per AWS: any one of the route's authorizationScopes present → ok; none configured → ok; else 403 Forbidden. */
  static checkScopes(identity: JwtIdentity, required: readonly string[]): boolean {
    if (required.length === 0) return true;
    const have = identity.scopes;
    for (let i = 0; i < required.length; i++) if (have.includes(required[i]!)) return true;
    return false;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.closer.abort();
    this.verified.clear();
    this.rejected.clear();
    this.staleKeys = undefined;
  }

  // ---- internals ----

  private static httpUrl(value: string, what: string): URL {
    let u: URL;
    try {
      u = new URL(value);
    } catch {
      throw new TypeError(`jwt authorizer: ${what} is not a URL: ${JSON.stringify(value)}`);
    }
    if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new TypeError(`jwt authorizer: ${what} must be an http(s) URL`);
    return u;
  }

  private discoveryUrl(): string {
    return `${this.issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
  }

  /**
   * Everything that needs no key: size (before any parsing), compact shape, header (alg pinned,
   * kid required: AWS matches the header kid against the key set) and the claims, read from the
   * same bytes the signature covers. A token failing here never causes a fetch or a signature check.
   */
  private precheck(token: string): string | null {
    if (token.length > this.maxTokenBytes) return `the token exceeds ${this.maxTokenBytes} bytes`;
    if (!COMPACT_JWS.test(token)) return 'the token is not a signed JWT';
    const dot1 = token.indexOf('.');
    const dot2 = token.indexOf('.', dot1 + 1);
    const header = decodeSegment(token.slice(0, dot1));
    if (!isPlainObject(header)) return 'the token header is malformed';
    const alg = header['alg'];
    if (typeof alg !== 'string' || !this.algorithmSet.has(alg)) return 'the token signing algorithm is not allowed';
    const kid = header['kid'];
    if (typeof kid !== 'string' || kid.length === 0 || kid.length > MAX_KID_LENGTH) return 'the token has no valid kid';
    const payload = decodeSegment(token.slice(dot1 + 1, dot2));
    if (!isPlainObject(payload)) return 'the token payload is malformed';
    return this.checkClaims(payload);
  }

  private checkClaims(p: Record<string, unknown>): string | null {
    if (p['iss'] !== this.issuer) return 'the token does not have a valid issuer';
    const aud = p['aud'];
    if (aud !== undefined) {
      // AWS: client_id is evaluated only when aud is absent.
      const list = typeof aud === 'string' ? [aud] : Array.isArray(aud) ? aud : [];
      if (!list.some((a) => typeof a === 'string' && this.audiences.has(a))) return 'the token does not have a valid audience';
    } else {
      const cid = p['client_id'];
      if (typeof cid !== 'string' || !this.audiences.has(cid)) return 'the token does not have a valid audience';
    }
    const now = this.now();
    const exp = p['exp'];
    if (exp === undefined) return 'the token has no exp claim';
    if (!isNumericDate(exp)) return 'the token exp claim is invalid';
    if (exp * 1000 <= now) return 'the token has expired';
    const nbf = p['nbf'];
    if (nbf !== undefined && (!isNumericDate(nbf) || nbf * 1000 > now + this.toleranceMs)) return 'the token is not valid yet';
    const iat = p['iat'];
    if (iat !== undefined && (!isNumericDate(iat) || iat * 1000 > now + this.toleranceMs)) return 'the token was issued in the future';
    return null;
  }

  private async verifySlow(token: string): Promise<JwtResult> {
    try {
      const keys = await this.keySource();
      if ('reason' in keys) return unauthorized(keys.reason);
      let payload: JWTPayload;
      if (Date.now() < this.jwksRetryAt) {
        // The JWKS endpoint failed recently: no network, keys fetched before (if any) still verify.
        const stale = this.staleVerifier();
        if (stale === undefined) return unauthorized(`signing keys unavailable: ${this.jwksError}`);
        payload = await this.jose(token, stale);
      } else {
        try {
          payload = await this.jose(token, keys.remote);
        } catch (e) {
          if (!isFetchFailure(e)) throw e; // already counted by the fetch itself
          const stale = this.staleVerifier();
          if (stale === undefined) return unauthorized(`signing keys unavailable: ${this.jwksError}`);
          payload = await this.jose(token, stale);
        }
      }
      if (this.closed) return CLOSED;
      const claims = payload as Record<string, unknown>;
      const bad = this.checkClaims(claims); // the clock may have moved during a fetch
      if (bad !== null) return unauthorized(bad);
      const expiresAt = (claims['exp'] as number) * 1000;
      const identity: JwtIdentity = { claims: deepFreeze(claims), scopes: Object.freeze(scopesOf(claims)) as string[], expiresAt };
      const result = Object.freeze({ ok: true, identity: Object.freeze(identity) }) as JwtResult;
      this.remember(this.verified, token, result, expiresAt);
      return result;
    } catch (e) {
      const { reason, remember } = classify(e);
      const result = unauthorized(reason);
      if (remember && !this.closed) this.remember(this.rejected, token, result, performance.now() + NEGATIVE_TTL_MS);
      return result;
    }
  }

  private async jose(token: string, key: JWTVerifyGetKey | RemoteJWKSet): Promise<JWTPayload> {
    const { payload } = await jwtVerify(token, key as JWTVerifyGetKey, {
      algorithms: this.algorithms,
      requiredClaims: ['exp'],
      currentDate: new Date(this.now()),
      clockTolerance: this.toleranceMs / 1000,
    });
    return payload;
  }

  /** Insertion-order eviction (BoundedMap): O(1), bounded; a hot token evicted early costs one re-verification. */
  private remember(map: BoundedMap<CacheEntry>, token: string, result: JwtResult, until: number): void {
    map.set(token, { result, until });
  }

  // ---- keys ----

  private async keySource(): Promise<KeySource> {
    if (this.remote !== undefined) return { remote: this.remote };
    if (this.discovery !== undefined) return this.discovery;
    if (Date.now() < this.discoveryRetryAt) return { reason: `issuer discovery unavailable: ${this.discoveryError}` };
    const d = this.discover();
    this.discovery = d;
    try {
      return await d;
    } finally {
      this.discovery = undefined;
    }
  }

  /** Once; on failure retried with exponential backoff (1 s doubling to 30 s), every request in between gets 401 at once. */
  private async discover(): Promise<KeySource> {
    const url = this.discoveryUrl();
    try {
      const text = await this.fetchText(url, { redirect: 'manual', headers: { accept: 'application/json' } }, DISCOVERY_MAX_BYTES, 'OIDC discovery');
      let doc: unknown;
      try {
        doc = JSON.parse(text);
      } catch {
        throw new KeyFetchError('OIDC discovery document is not JSON');
      }
      const jwksUri = isPlainObject(doc) ? doc['jwks_uri'] : undefined;
      if (typeof jwksUri !== 'string') throw new KeyFetchError('OIDC discovery document has no jwks_uri');
      let jwksUrl: URL;
      try {
        jwksUrl = JwtAuthorizer.httpUrl(jwksUri, 'jwks_uri');
      } catch {
        throw new KeyFetchError('OIDC discovery jwks_uri is not an http(s) URL');
      }
      if (this.closed) return { reason: 'the authorizer is closed' };
      this.remote ??= this.createRemote(jwksUrl);
      this.discoveryFailures = 0;
      return { remote: this.remote };
    } catch (e) {
      this.discoveryError = describeFetchError(e, 'OIDC discovery');
      this.discoveryFailures++;
      this.discoveryRetryAt = Date.now() + Math.min(BACKOFF_BASE_MS * 2 ** (this.discoveryFailures - 1), BACKOFF_MAX_MS);
      return { reason: `issuer discovery unavailable: ${this.discoveryError}` };
    }
  }

  private createRemote(url: URL): RemoteJWKSet {
    return createRemoteJWKSet(url, {
      timeoutDuration: this.fetchTimeoutMs,
      cooldownDuration: this.cooldownMs,
      cacheMaxAge: JWKS_MAX_AGE_MS,
      headers: { accept: 'application/json, application/jwk-set+json' },
      [customFetch]: async (href, init) => {
        try {
          const text = await this.fetchText(href, init, JWKS_MAX_BYTES, 'JWKS fetch');
          let json: unknown;
          try {
            json = JSON.parse(text);
          } catch {
            throw new KeyFetchError('JWKS response is not JSON');
          }
          if (!isPlainObject(json) || !Array.isArray(json['keys'])) throw new KeyFetchError('JWKS response has no keys');
          this.jwksFailures = 0;
          this.jwksRetryAt = 0;
          this.jwksOkAt = Date.now();
          return new Response(text, { status: 200, headers: { 'content-type': 'application/json' } });
        } catch (e) {
          this.noteJwksFailure(describeFetchError(e, 'JWKS fetch'));
          throw e instanceof KeyFetchError ? e : new KeyFetchError(describeFetchError(e, 'JWKS fetch'), { cause: e });
        }
      },
    });
  }

  private noteJwksFailure(reason: string): void {
    this.jwksError = reason;
    this.jwksFailures++;
    this.jwksRetryAt = Date.now() + Math.min(BACKOFF_BASE_MS * 2 ** (this.jwksFailures - 1), BACKOFF_MAX_MS);
  }

  /** Keys from the last successful fetch, if within the stale window; no network. */
  private staleVerifier(): JWTVerifyGetKey | undefined {
    if (this.remote === undefined || this.jwksOkAt === 0 || Date.now() - this.jwksOkAt > JWKS_MAX_STALE_MS) return undefined;
    if (this.staleKeys?.at === this.jwksOkAt) return this.staleKeys.get;
    const jwks: JSONWebKeySet | undefined = this.remote.jwks();
    if (jwks === undefined) return undefined;
    const get = createLocalJWKSet(jwks) as JWTVerifyGetKey;
    this.staleKeys = { at: this.jwksOkAt, get };
    return get;
  }

  /** GET with the fetch timeout (and close()) as abort signal, status 200 required, body capped. */
  private async fetchText(
    url: string,
    init: { redirect: 'manual'; headers: HeadersInit; signal?: AbortSignal },
    max: number,
    what: string,
  ): Promise<string> {
    const signals = [AbortSignal.timeout(this.fetchTimeoutMs), this.closer.signal];
    if (init.signal !== undefined) signals.push(init.signal);
    const res = await fetch(url, { method: 'GET', redirect: init.redirect, headers: init.headers, signal: AbortSignal.any(signals) });
    if (res.status !== 200) {
      await res.body?.cancel().catch(() => {});
      throw new KeyFetchError(`${what} answered HTTP ${res.status}`);
    }
    return readCapped(res, max, what);
  }
}
