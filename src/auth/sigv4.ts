/**
 * AWS Signature Version 4 VERIFIER for incoming requests (IAM authorization, service `execute-api`).
 *
 * node:crypto only (HMAC-SHA256, SHA-256, timingSafeEqual). Both forms are accepted:
 *  - `Authorization: AWS4-HMAC-SHA256 Credential=AKID/20261124/us-east-1/execute-api/aws4_request,
 *     SignedHeaders=host;x-amz-date, Signature=<64 hex>` with the time in `x-amz-date` (or `date`);
 *  - presigned query strings (`X-Amz-Algorithm`, `X-Amz-Credential`, `X-Amz-Date`, `X-Amz-Expires`,
 *    `X-Amz-SignedHeaders`, `X-Amz-Signature`, `X-Amz-Security-Token`).
 *
 * CANONICAL REQUEST (https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html,
 * non-S3 rules), checked against what the two common signers really do:
 *
 *  Canonical URI. `@smithy/signature-v4` (AWS SDK v3; `uriEscapePath: true` is its default) splits the
 *  path on `/`, drops empty and `.` segments, lets `..` pop one, rebuilds it with the leading `/` and
 *  (when a segment is left) the trailing `/`, then runs `encodeURIComponent` + `!'()*` escaping over
 *  the whole normalised path and turns `%2F` back into `/`. `aws4` collapses `//+` to `/`, drops `.`,
 *  lets `..` pop, and escapes each segment the same way. Both therefore DOUBLE-encode: the path they
 *  escape is the already percent-encoded wire path, so `%` becomes `%25` (`/a%20b` -> `/a%2520b`,
 *  `/x%2Fy` -> `/x%252Fy`, `/%C3%A9` -> `/%25C3%25A9`), and `:` -> `%3A`, `+` -> `%2B` (a path `+` is
 *  never a space). They give the same result for every path (normalised or not). Here: the same
 *  normalisation, then each segment escaped byte-wise (UTF-8) with everything but the RFC 3986
 *  unreserved set (`A-Z a-z 0-9 - _ . ~`) percent-encoded, upper-case hex.
 *  Because the signature only covers the NORMALISED path, while this gateway's router matches the
 *  raw path and never normalises (src/router/index.ts), a path that normalisation would change
 *  (`//`, `.` or `..` segments) is refused (reason `non-normalized-path`): otherwise a signature for
 *  `/files/x` would also accept `/files//x`, which routes differently.
 *
 *  Canonical query. Each `name=value` pair of the raw query (split on `&`, then on the first `=`; a
 *  pair without `=` has the empty value) is percent-DECODED to bytes and re-encoded with the RFC 3986
 *  unreserved set; pairs are sorted by encoded name, then encoded value. A raw `+` is a space (`%20`),
 *  as `aws4` (querystring.parse) and this gateway's own query parsing read it; `%2B` stays a plus.
 *  A `%` not followed by two hex digits is refused (reason `malformed-query`). In the presigned form
 *  the `X-Amz-Signature` pair is left out.
 *
 *  Canonical headers. The signed names (lower-case, in the order given), each with the values of
 *  every header of that name in arrival order, each trimmed with runs of spaces/tabs collapsed to
 *  one space, joined with `,`.
 *
 *  Payload hash. `x-amz-content-sha256` when present (a 64-hex hash or `UNSIGNED-PAYLOAD`; in the
 *  presigned form also the `X-Amz-Content-Sha256` query parameter, any case, where @smithy hoists
 *  the header), else the body hash; presigned URLs without a declared hash are tried with the body
 *  hash (both signers sign the real body, the empty-body hash for a GET) and then `UNSIGNED-PAYLOAD`.
 *  See "BODY" below.
 *
 * BODY (`bodySha256Hex`). The verifier never returns ok unless the body is covered:
 *  - the caller gave `bodySha256Hex`, or the body is known to be empty (no `content-length` and no
 *    `transfer-encoding`, or `content-length: 0`): that hash is used;
 *  - the signed hash came in `x-amz-content-sha256` and the body is known: they must match, else
 *    reason `payload-hash-mismatch`. `UNSIGNED-PAYLOAD` (header form or presigned) needs no body;
 *  - the body is needed and not known: reason `needs-body`, returned only after every other check
 *    passed (when the hash came in `x-amz-content-sha256`, only after the signature itself matched;
 *    for a presigned URL, only after `UNSIGNED-PAYLOAD` did not match).
 *    The caller may then read the body and call again with `bodySha256Hex`; if it does not, the
 *    request must be refused (the message is the signature-mismatch text).
 *
 * RESULT. `message` is what the gateway sends as `{"message": ...}` with status 403. AWS's own texts
 * are used where they are known; each is marked below with where it comes from. `reason` is a short
 * code for logs and metrics (see SigV4Reason).
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

export interface SigV4Credential {
  secretAccessKey: string;
  /**
   * When set, requests with this key must carry exactly this session token (`x-amz-security-token`
   * header, or `X-Amz-Security-Token` in a presigned URL); when unset, a token the request carries is
   * only bound into the signature (it must then be a signed header in the header form).
   */
  sessionToken?: string;
  /* optional extras the caller keeps, e.g. allowed routes (declare them in an extending interface) */
}

export interface SigV4Request {
  /** As received. */
  method: string;
  /** Raw path as received (percent-encoding kept, stage prefix included), no query. */
  path: string;
  /** Raw query string without '?', '' when none. */
  query: string;
  /** Flat [name, value, ...], names lower-case, in arrival order (repeated names possible). */
  headers: string[];
  /** Hex SHA-256 of the body when the caller has read it; null when not read. */
  bodySha256Hex: string | null;
}

export interface SigV4Options {
  lookup: (accessKeyId: string) => SigV4Credential | undefined;
  /** Default 'execute-api'. */
  service?: string;
  /** null/undefined: accept any region in the credential scope (still bound into the signature). */
  region?: string | null;
  /** Epoch ms, for tests. */
  now?: number;
  /** Default 300000 (5 minutes), both directions. */
  maxSkewMs?: number;
}

export type SigV4Result =
  | { ok: true; accessKeyId: string; region: string; signedHeaders: string[]; presigned: boolean }
  | { ok: false; status: 403; message: string; reason: string };

/** The `reason` codes verifySigV4 returns. */
export type SigV4Reason =
  | 'missing-auth' // no Authorization header and no X-Amz-* auth query parameters
  | 'ambiguous-auth' // both an Authorization header and X-Amz-Algorithm in the query
  | 'malformed-authorization' // Authorization header not `ALG k=v, k=v, ...`, missing/duplicate parts
  | 'malformed-presigned' // presigned query parameters missing or repeated
  | 'unsupported-algorithm'
  | 'malformed-date' // x-amz-date / date / X-Amz-Date not a valid timestamp
  | 'signature-expired' // older than now - maxSkewMs
  | 'signature-not-yet-current' // newer than now + maxSkewMs (header form and presigned)
  | 'presigned-expired' // X-Amz-Date + X-Amz-Expires is past
  | 'malformed-expires' // X-Amz-Expires not a whole number of seconds
  | 'expires-too-large' // X-Amz-Expires > 604800
  | 'host-not-signed'
  | 'token-not-signed' // x-amz-security-token header present but not a signed header
  | 'malformed-signed-headers'
  | 'malformed-credential' // Credential not 5 slash-separated parts
  | 'region-mismatch' // (credential scope; the message lists every scope problem)
  | 'wrong-service'
  | 'bad-terminator'
  | 'scope-date-mismatch'
  | 'unknown-access-key'
  | 'invalid-security-token'
  | 'malformed-query' // bad % escape in the query string
  | 'non-normalized-path' // `//`, `.` or `..` segments
  | 'signed-header-missing' // a name in SignedHeaders is absent from the request
  | 'unsupported-payload-hash' // x-amz-content-sha256 neither 64 hex nor UNSIGNED-PAYLOAD
  | 'needs-body' // verification needs the body hash: read the body and call again
  | 'payload-hash-mismatch' // x-amz-content-sha256 does not match the body
  | 'malformed-signature' // Signature not 64 hex digits (refused without comparing)
  | 'signature-mismatch';

/**
 * AWS's texts. Sources:
 *  [APIGW]  AWS re:Post knowledge center, "Troubleshoot SigV4 signature mismatch errors with IAM
 *           authentication for API Gateway" (https://repost.aws/knowledge-center/api-gateway-iam-sigv4-mismatch):
 *           "Missing Authentication Token", "The security token included in the request is invalid.",
 *           "The request signature we calculated does not match the signature you provided. Check your
 *           AWS Secret Access Key and signing method." (the full text with "Consult the service
 *           documentation for details." is the body API Gateway sends, quoted in okigan/awscurl#27 and
 *           mhart/aws4#133, which also show API Gateway appends the expected canonical request and
 *           string-to-sign; that debugging tail is NOT sent here).
 *  [APIGW-OBSERVED] API Gateway response bodies quoted in public issues/tests: the combined
 *           "Authorization header requires 'Credential' parameter. ... Authorization=<first token>"
 *           (aws-samples/amazon-elasticsearch-service-with-authentication#4, openillumi.com article),
 *           "'<x>' not a valid key=value pair (missing equal-sign) in Authorization header: '<header>'."
 *           and "Signature expired: 20170212T175938Z is now earlier than 20170215T145534Z
 *           (20170215T150034Z - 5 min.)" (aws-amplify/aws-sdk-android#253, mhart/aws4#118).
 *  [CORAL]  The shared AWS (coral) SigV4 texts, as recorded from real responses in mhart/dynalite
 *           index.js comments and reproduced (with their ordering) by dacut/scratchstack-aws-signature
 *           (src/constants.rs, src/auth.rs, tests): "Unsupported AWS 'algorithm': ...",
 *           "Date must be in ISO-8601 'basic format'. ...", "Signature not yet current: ...",
 *           "Credential must have exactly 5 slash-delimited elements, ...", "Credential should be scoped
 *           ...", "Date in Credential scope does not match ...", "'Host' or ':authority' must be a
 *           'SignedHeader' in the AWS Authorization.", "AWS query-string parameters must include ...",
 *           "Found both 'X-Amz-Algorithm' as a query-string param and 'Authorization' as HTTP header.",
 *           "Illegal hex character in escape % pattern: %..", "Incomplete trailing escape % sequence".
 *           (AWS sends some of these with status 400; this verifier always answers 403.)
 *  [S3]     Amazon S3 texts (no API Gateway equivalent found), as reproduced by MinIO and seen in
 *           aws-cli output: "X-Amz-Expires must be less than a week (in seconds); that is, the given
 *           X-Amz-Expires must be less than 604800 seconds", "X-Amz-Expires should be a number",
 *           "The provided 'x-amz-content-sha256' header does not match what was computed."
 *  [LOCAL]  Not AWS text: written here in AWS's style where no AWS text was found.
 */
export const SIGV4_MESSAGES = {
  /** [APIGW] */
  missingToken: 'Missing Authentication Token',
  /** [APIGW] (unknown access key, or a session token that is not the credential's) */
  invalidToken: 'The security token included in the request is invalid.',
  /** [APIGW] */
  mismatch:
    'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.',
  /** [CORAL] */
  both: "Found both 'X-Amz-Algorithm' as a query-string param and 'Authorization' as HTTP header.",
  /** [CORAL] */
  hostNotSigned: "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.",
  /** [LOCAL], in the pattern of [CORAL] "'<Header>' must be a 'SignedHeader' in the AWS Authorization." */
  tokenNotSigned: "'X-Amz-Security-Token' must be a 'SignedHeader' in the AWS Authorization.",
  /** [S3] */
  expiresTooLarge:
    'X-Amz-Expires must be less than a week (in seconds); that is, the given X-Amz-Expires must be less than 604800 seconds',
  /** [S3] */
  expiresNotNumber: 'X-Amz-Expires should be a number',
  /** [S3] */
  payloadHashMismatch: "The provided 'x-amz-content-sha256' header does not match what was computed.",
  /** [LOCAL] */
  unsupportedPayloadHash: "The 'x-amz-content-sha256' value must be a hex SHA-256 or UNSIGNED-PAYLOAD.",
  /** [LOCAL] */
  multipleAuthorization: 'The request has more than one Authorization header.',
} as const;

const ALGORITHM = 'AWS4-HMAC-SHA256';
const TERMINATOR = 'aws4_request';
const UNSIGNED_PAYLOAD = 'UNSIGNED-PAYLOAD';
const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
const MAX_EXPIRES_S = 604800;
const DEFAULT_SKEW_MS = 300_000;
const HEX_DIGITS = '0123456789ABCDEF';
const HEX64 = /^[0-9a-fA-F]{64}$/;

type Failure = { ok: false; status: 403; message: string; reason: SigV4Reason };

function fail(reason: SigV4Reason, message: string): Failure {
  return { ok: false, status: 403, message, reason };
}

// ---------------------------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------------------------

/** RFC 3986 unreserved: A-Z a-z 0-9 - . _ ~ */
function unreserved(c: number): boolean {
  return (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) ||
    c === 0x2d || c === 0x2e || c === 0x5f || c === 0x7e;
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

function pct(b: number): string {
  return '%' + HEX_DIGITS[b >> 4]! + HEX_DIGITS[b & 15]!;
}

/**
 * Escapes `s` with everything but the unreserved set percent-encoded (UTF-8 bytes, upper-case hex).
 * `query`: `%XX` is first decoded (so it is re-encoded canonically) and `+` is a space; a bad `%`
 * escape returns its index as a negative number - 1. Otherwise `%` is just a character (`%25`).
 * Never throws (a lone surrogate is encoded as U+FFFD, as Buffer does).
 */
function escape(s: string, query: boolean): string | number {
  let out = '';
  let plain = 0; // start of the current run of unreserved characters
  const n = s.length;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (unreserved(c)) continue;
    out += s.slice(plain, i);
    if (query && c === 0x2b) {
      out += '%20';
    } else if (query && c === 0x25) {
      const h = i + 2 < n ? hexValue(s.charCodeAt(i + 1)) : -1;
      const l = i + 2 < n ? hexValue(s.charCodeAt(i + 2)) : -1;
      if (h < 0 || l < 0) return -1 - i;
      const b = h * 16 + l;
      out += unreserved(b) ? String.fromCharCode(b) : pct(b);
      i += 2;
    } else if (c < 0x80) {
      out += pct(c);
    } else {
      let len = 1;
      if (c >= 0xd800 && c <= 0xdbff && i + 1 < n) {
        const d = s.charCodeAt(i + 1);
        if (d >= 0xdc00 && d <= 0xdfff) len = 2;
      }
      for (const b of Buffer.from(s.slice(i, i + len), 'utf8')) out += pct(b);
      i += len - 1;
    }
    plain = i + 1;
  }
  return plain === 0 ? s : out + s.slice(plain);
}

/** The path with empty, `.` and `..` segments resolved exactly as @smithy/signature-v4 and aws4 do. */
function normalizePath(path: string): string {
  const segs: string[] = [];
  for (const seg of path.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') segs.pop();
    else segs.push(seg);
  }
  return (path.startsWith('/') ? '/' : '') + segs.join('/') + (segs.length > 0 && path.endsWith('/') ? '/' : '');
}

/**
 * The canonical URI of a raw (wire) path for a non-S3 service: normalised, then each segment
 * percent-encoded again (double encoding), as @smithy/signature-v4 (uriEscapePath: true) and aws4 do.
 * E.g. `/a%20b/c:d/e+f` -> `/a%2520b/c%3Ad/e%2Bf`.
 */
export function canonicalUri(path: string): string {
  const p = normalizePath(path);
  if (p === '/' || p === '') return p;
  return p.split('/').map((seg) => escape(seg, false) as string).join('/');
}

/** True when normalisation leaves the path unchanged (no `//`, `.` or `..` segments). */
function isNormalized(path: string): boolean {
  return normalizePath(path) === path;
}

interface QueryPair { name: string; value: string }

/** Canonically encoded pairs of a raw query string, or the failure for a bad `%` escape. */
function parseQuery(query: string): QueryPair[] | Failure {
  const pairs: QueryPair[] = [];
  if (query === '') return pairs;
  for (const part of query.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const rawName = eq < 0 ? part : part.slice(0, eq);
    const rawValue = eq < 0 ? '' : part.slice(eq + 1);
    const name = escape(rawName, true);
    if (typeof name === 'number') return badEscape(rawName, -1 - name);
    const value = escape(rawValue, true);
    if (typeof value === 'number') return badEscape(rawValue, -1 - value);
    pairs.push({ name, value });
  }
  return pairs;
}

function badEscape(s: string, at: number): Failure {
  // [CORAL] MalformedQueryString texts (AWS answers 400).
  const rest = s.slice(at + 1, at + 3);
  return fail(
    'malformed-query',
    rest.length < 2 ? 'Incomplete trailing escape % sequence' : `Illegal hex character in escape % pattern: %${rest}`,
  );
}

/** The decoded value of a canonically encoded query component, or null if it is not UTF-8 text. */
function decodeComponent(encoded: string): string | null {
  try {
    return decodeURIComponent(encoded);
  } catch {
    return null;
  }
}

function canonicalQuery(pairs: QueryPair[], skipSignature: boolean): string {
  const list = skipSignature ? pairs.filter((p) => p.name !== 'X-Amz-Signature') : pairs.slice();
  list.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.value < b.value ? -1 : a.value > b.value ? 1 : 0));
  let out = '';
  for (let i = 0; i < list.length; i++) out += (i ? '&' : '') + list[i]!.name + '=' + list[i]!.value;
  return out;
}

function canonicalHeaderValue(v: string): string {
  return v.replace(/[ \t]+/g, ' ').replace(/^ | $/g, '');
}

// ---------------------------------------------------------------------------------------------
// Dates
// ---------------------------------------------------------------------------------------------

/** `YYYYMMDDTHHMMSSZ` of an epoch ms. */
function compact(ms: number): string {
  const d = new Date(ms);
  if (Number.isNaN(d.getTime())) return String(ms);
  return d.toISOString().replace(/[-:]|\.\d{3}/g, '');
}

/** Epoch ms of an ISO 8601 basic UTC timestamp, or null (strict: real calendar values only). */
function parseBasic(s: string): number | null {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(s);
  if (!m) return null;
  const ms = Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!);
  return compact(ms) === s ? ms : null;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** Epoch ms of an HTTP `Date` header (IMF-fixdate, or ISO 8601 basic), or null. */
function parseHttpDate(s: string): number | null {
  const basic = parseBasic(s);
  if (basic !== null) return basic;
  const m = /^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), (\d{2}) ([A-Z][a-z]{2}) (\d{4}) (\d{2}):(\d{2}):(\d{2}) GMT$/.exec(s);
  if (!m) return null;
  const month = MONTHS.indexOf(m[2]!);
  if (month < 0) return null;
  const ms = Date.UTC(+m[3]!, month, +m[1]!, +m[4]!, +m[5]!, +m[6]!);
  return new Date(ms).toUTCString() === s ? ms : null;
}

function duration(ms: number): string {
  return ms % 60_000 === 0 ? `${ms / 60_000} min` : `${Math.round(ms / 1000)} sec`;
}

// ---------------------------------------------------------------------------------------------
// Crypto
// ---------------------------------------------------------------------------------------------

function hmac(key: string | Buffer, data: string): Buffer {
  return createHmac('sha256', key).update(data, 'utf8').digest();
}

function sha256Hex(data: string): string {
  return createHash('sha256').update(data, 'utf8').digest('hex');
}

/** Derived signing keys by access key + scope; entries carry the secret they were made from. */
const keyCache = new Map<string, { secret: string; key: Buffer }>();
const KEY_CACHE_MAX = 1024;

function signingKey(accessKeyId: string, secret: string, date: string, region: string, service: string): Buffer {
  const ck = `${accessKeyId}/${date}/${region}/${service}`;
  const hit = keyCache.get(ck);
  if (hit !== undefined && hit.secret === secret) return hit.key;
  const key = hmac(hmac(hmac(hmac('AWS4' + secret, date), region), service), TERMINATOR);
  if (keyCache.size >= KEY_CACHE_MAX) keyCache.clear();
  keyCache.set(ck, { secret, key });
  return key;
}

/** Constant-time string equality (compares SHA-256 digests, so lengths never differ). */
function safeEqualStrings(a: string, b: string): boolean {
  return timingSafeEqual(createHash('sha256').update(a, 'utf8').digest(), createHash('sha256').update(b, 'utf8').digest());
}

// ---------------------------------------------------------------------------------------------
// Verification
// ---------------------------------------------------------------------------------------------

/** All values of a header joined with ',' (as canonicalisation joins them), or undefined if absent. */
function headerValue(headers: string[], name: string): string | undefined {
  let out: string | undefined;
  for (let i = 0; i + 1 < headers.length; i += 2) {
    if (headers[i] === name) out = out === undefined ? headers[i + 1]! : out + ',' + headers[i + 1]!;
  }
  return out;
}

function headerCount(headers: string[], name: string): number {
  let n = 0;
  for (let i = 0; i + 1 < headers.length; i += 2) if (headers[i] === name) n++;
  return n;
}

/** True when the body is known to be empty from the framing headers. */
function bodyKnownEmpty(headers: string[]): boolean {
  const cl = headerValue(headers, 'content-length');
  if (cl !== undefined) return cl.trim() === '0';
  return headerValue(headers, 'transfer-encoding') === undefined;
}

interface AuthParts {
  presigned: boolean;
  algorithm: string;
  credential: string;
  signedHeaders: string;
  signature: string;
  /** ISO basic timestamp that goes into the string to sign. */
  timestamp: string;
  timeMs: number;
  /** Presigned only: X-Amz-Expires in seconds, or null when absent. */
  expiresS: number | null;
  token: string | undefined;
  /** Presigned only: X-Amz-Content-Sha256 query parameter. */
  queryPayloadHash: string | undefined;
}

/** Parses the Authorization header form. */
function parseHeaderAuth(authorization: string, headers: string[]): AuthParts | Failure {
  const v = authorization.trim();
  const sp = v.search(/\s/);
  const algorithm = sp < 0 ? v : v.slice(0, sp);
  const rest = sp < 0 ? '' : v.slice(sp + 1);
  const params = new Map<string, string>();
  for (const piece of rest.split(',')) {
    const p = piece.trim();
    if (p === '') continue;
    const eq = p.indexOf('=');
    if (eq < 0) {
      // [APIGW-OBSERVED]
      return fail('malformed-authorization', `'${p}' not a valid key=value pair (missing equal-sign) in Authorization header: '${authorization}'.`);
    }
    const key = p.slice(0, eq).trim();
    if (params.has(key)) {
      // [LOCAL]
      return fail('malformed-authorization', `Authorization header has more than one '${key}' parameter. Authorization=${algorithm}`);
    }
    params.set(key, p.slice(eq + 1).trim());
  }
  const amzDate = headerValue(headers, 'x-amz-date');
  const date = amzDate === undefined ? headerValue(headers, 'date') : undefined;
  // [APIGW-OBSERVED] / [CORAL]: every missing part in one message, then "Authorization=<algorithm>".
  let msg = '';
  for (const name of ['Credential', 'Signature', 'SignedHeaders']) {
    if (!params.get(name)) msg += `Authorization header requires '${name}' parameter. `;
  }
  if (amzDate === undefined && date === undefined) {
    msg += "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. ";
  }
  if (msg !== '') return fail('malformed-authorization', msg + `Authorization=${algorithm}`);
  if (algorithm !== ALGORITHM) {
    // [CORAL]
    return fail('unsupported-algorithm', `Unsupported AWS 'algorithm': '${algorithm}'.`);
  }
  const dateText = (amzDate ?? date)!;
  const timeMs = amzDate !== undefined ? parseBasic(amzDate) : parseHttpDate(date!);
  if (timeMs === null) {
    // [CORAL]
    return fail('malformed-date', `Date must be in ISO-8601 'basic format'. Got '${dateText}'. See http://en.wikipedia.org/wiki/ISO_8601`);
  }
  return {
    presigned: false,
    algorithm,
    credential: params.get('Credential')!,
    signedHeaders: params.get('SignedHeaders')!,
    signature: params.get('Signature')!,
    timestamp: compact(timeMs),
    timeMs,
    expiresS: null,
    token: headerValue(headers, 'x-amz-security-token'),
    queryPayloadHash: undefined,
  };
}

const PRESIGN_PARAMS = [
  'X-Amz-Algorithm', 'X-Amz-Credential', 'X-Amz-Signature', 'X-Amz-SignedHeaders', 'X-Amz-Date',
  'X-Amz-Expires', 'X-Amz-Security-Token', 'X-Amz-Content-Sha256',
];

/** Parses the presigned (query string) form. */
function parseQueryAuth(pairs: QueryPair[]): AuthParts | Failure {
  const got = new Map<string, string>();
  for (const pair of pairs) {
    // @smithy's presign hoists an `x-amz-content-sha256` header under the name it was given.
    const name = pair.name.toLowerCase() === 'x-amz-content-sha256' ? 'X-Amz-Content-Sha256' : pair.name;
    const value = pair.value;
    if (!PRESIGN_PARAMS.includes(name)) continue;
    if (got.has(name)) {
      // [LOCAL]
      return fail('malformed-presigned', `AWS query-string parameter '${name}' must appear only once. Re-examine the query-string parameters.`);
    }
    const decoded = decodeComponent(value);
    if (decoded === null) {
      // [LOCAL]
      return fail('malformed-presigned', `AWS query-string parameter '${name}' is not valid UTF-8. Re-examine the query-string parameters.`);
    }
    got.set(name, decoded);
  }
  // [CORAL]
  let msg = '';
  for (const name of ['X-Amz-Algorithm', 'X-Amz-Credential', 'X-Amz-Signature', 'X-Amz-SignedHeaders', 'X-Amz-Date']) {
    if (!got.get(name)) msg += `AWS query-string parameters must include '${name}'. `;
  }
  if (msg !== '') return fail('malformed-presigned', msg + 'Re-examine the query-string parameters.');
  const algorithm = got.get('X-Amz-Algorithm')!;
  if (algorithm !== ALGORITHM) {
    // [CORAL]
    return fail('unsupported-algorithm', `Unsupported AWS 'algorithm': '${algorithm}'.`);
  }
  const dateText = got.get('X-Amz-Date')!;
  const timeMs = parseBasic(dateText);
  if (timeMs === null) {
    // [CORAL]
    return fail('malformed-date', `Date must be in ISO-8601 'basic format'. Got '${dateText}'. See http://en.wikipedia.org/wiki/ISO_8601`);
  }
  let expiresS: number | null = null;
  const expires = got.get('X-Amz-Expires');
  if (expires !== undefined) {
    if (!/^\d{1,15}$/.test(expires)) return fail('malformed-expires', SIGV4_MESSAGES.expiresNotNumber);
    expiresS = Number(expires);
    if (expiresS > MAX_EXPIRES_S) return fail('expires-too-large', SIGV4_MESSAGES.expiresTooLarge);
  }
  return {
    presigned: true,
    algorithm,
    credential: got.get('X-Amz-Credential')!,
    signedHeaders: got.get('X-Amz-SignedHeaders')!,
    signature: got.get('X-Amz-Signature')!,
    timestamp: dateText,
    timeMs,
    expiresS,
    token: got.get('X-Amz-Security-Token'),
    queryPayloadHash: got.get('X-Amz-Content-Sha256'),
  };
}

/**
 * Verifies an AWS Signature Version 4 (AWS4-HMAC-SHA256) request, header or presigned form.
 * Never throws for anything in `req` (only if `o.lookup` itself throws).
 */
export function verifySigV4(req: SigV4Request, o: SigV4Options): SigV4Result {
  const service = o.service ?? 'execute-api';
  const now = o.now ?? Date.now();
  const skew = typeof o.maxSkewMs === 'number' && o.maxSkewMs >= 0 ? o.maxSkewMs : DEFAULT_SKEW_MS;
  const headers = req.headers;

  // 1. Which form, and its parts.
  const pairs = parseQuery(req.query);
  if (!Array.isArray(pairs)) return pairs;
  const authCount = headerCount(headers, 'authorization');
  if (authCount > 1) return fail('malformed-authorization', SIGV4_MESSAGES.multipleAuthorization);
  const authorization = authCount === 1 ? headerValue(headers, 'authorization')! : undefined;
  let hasAlgorithm = false;
  let hasQueryAuth = false;
  for (const { name } of pairs) {
    if (name === 'X-Amz-Algorithm') hasAlgorithm = true;
    if (name === 'X-Amz-Algorithm' || name === 'X-Amz-Credential' || name === 'X-Amz-Signature') hasQueryAuth = true;
  }
  if (authorization !== undefined && hasAlgorithm) return fail('ambiguous-auth', SIGV4_MESSAGES.both);
  if (authorization === undefined && !hasQueryAuth) return fail('missing-auth', SIGV4_MESSAGES.missingToken);
  const a = authorization !== undefined ? parseHeaderAuth(authorization, headers) : parseQueryAuth(pairs);
  if ('ok' in a) return a;

  // 2. Time window.
  if (a.timeMs > now + skew) {
    // [CORAL]
    return fail('signature-not-yet-current',
      `Signature not yet current: ${a.timestamp} is still later than ${compact(now + skew)} (${compact(now)} + ${duration(skew)}.)`);
  }
  if (a.expiresS === null) {
    if (a.timeMs < now - skew) {
      // [APIGW-OBSERVED]
      return fail('signature-expired',
        `Signature expired: ${a.timestamp} is now earlier than ${compact(now - skew)} (${compact(now)} - ${duration(skew)}.)`);
    }
  } else if (now > a.timeMs + a.expiresS * 1000) {
    // [APIGW-OBSERVED] format, with the presigned URL's own lifetime (X-Amz-Expires) as the window.
    return fail('presigned-expired',
      `Signature expired: ${a.timestamp} is now earlier than ${compact(now - a.expiresS * 1000)} (${compact(now)} - ${a.expiresS} sec.)`);
  }

  // 3. Signed headers.
  const signed = a.signedHeaders.split(';').map((h) => h.trim().toLowerCase());
  if (signed.some((h) => !/^[!#$%&'*+.^_`|~0-9a-z-]+$/.test(h)) || new Set(signed).size !== signed.length) {
    return fail('malformed-signed-headers', SIGV4_MESSAGES.mismatch);
  }
  if (!signed.includes('host')) return fail('host-not-signed', SIGV4_MESSAGES.hostNotSigned);
  if (!a.presigned && a.token !== undefined && !signed.includes('x-amz-security-token')) {
    return fail('token-not-signed', SIGV4_MESSAGES.tokenNotSigned);
  }

  // 4. Credential scope.
  const cred = a.credential.split('/');
  if (cred.length !== 5 || cred.some((part) => part === '')) {
    // [CORAL]
    return fail('malformed-credential',
      `Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '${a.credential}'`);
  }
  const [accessKeyId, scopeDate, scopeRegion, scopeService, scopeTerm] = cred as [string, string, string, string, string];
  // [CORAL]: every scope problem in one message; the reason is the first.
  const problems: string[] = [];
  let reason: SigV4Reason | undefined;
  if (o.region != null && scopeRegion !== o.region) {
    problems.push(`Credential should be scoped to a valid region, not '${scopeRegion}'.`);
    reason ??= 'region-mismatch';
  }
  if (scopeService !== service) {
    problems.push(`Credential should be scoped to correct service: '${service}'.`);
    reason ??= 'wrong-service';
  }
  if (scopeTerm !== TERMINATOR) {
    problems.push(`Credential should be scoped with a valid terminator: '${TERMINATOR}', not '${scopeTerm}'.`);
    reason ??= 'bad-terminator';
  }
  const day = a.timestamp.slice(0, 8);
  if (scopeDate !== day) {
    problems.push(`Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '${scopeDate}' != '${day}', from '${a.timestamp}'.`);
    reason ??= 'scope-date-mismatch';
  }
  if (reason !== undefined) return fail(reason, problems.join(' '));

  // 5. Key and session token.
  const credential = o.lookup(accessKeyId);
  if (credential === undefined || credential === null || typeof credential.secretAccessKey !== 'string') {
    return fail('unknown-access-key', SIGV4_MESSAGES.invalidToken);
  }
  if (typeof credential.sessionToken === 'string' &&
    (a.token === undefined || !safeEqualStrings(a.token, credential.sessionToken))) {
    return fail('invalid-security-token', SIGV4_MESSAGES.invalidToken);
  }

  // 6. Signature format, path, headers, payload.
  if (!HEX64.test(a.signature)) return fail('malformed-signature', SIGV4_MESSAGES.mismatch);
  if (!isNormalized(req.path)) return fail('non-normalized-path', SIGV4_MESSAGES.mismatch);
  const values = new Map<string, string[]>();
  for (const h of signed) values.set(h, []);
  for (let i = 0; i + 1 < headers.length; i += 2) values.get(headers[i]!)?.push(headers[i + 1]!);
  let canonicalHeaders = '';
  for (const h of signed) {
    const vs = values.get(h)!;
    if (vs.length === 0) return fail('signed-header-missing', SIGV4_MESSAGES.mismatch);
    canonicalHeaders += h + ':' + vs.map(canonicalHeaderValue).join(',') + '\n';
  }

  const body = req.bodySha256Hex !== null ? req.bodySha256Hex.toLowerCase() : bodyKnownEmpty(headers) ? EMPTY_SHA256 : null;
  const declared = headerValue(headers, 'x-amz-content-sha256') ?? (a.presigned ? a.queryPayloadHash : undefined);
  let candidates: string[];
  let checkBody = false; // the declared hash must be compared with the body once the signature matches
  if (declared !== undefined) {
    if (declared === UNSIGNED_PAYLOAD) candidates = [declared];
    else if (HEX64.test(declared)) {
      candidates = [declared];
      checkBody = true;
    } else return fail('unsupported-payload-hash', SIGV4_MESSAGES.unsupportedPayloadHash);
  } else if (a.presigned) {
    candidates = body !== null ? [body, UNSIGNED_PAYLOAD] : [UNSIGNED_PAYLOAD];
  } else {
    if (body === null) return fail('needs-body', SIGV4_MESSAGES.mismatch);
    candidates = [body];
  }

  // 7. Signature.
  const provided = Buffer.from(a.signature, 'hex');
  const key = signingKey(accessKeyId, credential.secretAccessKey, scopeDate, scopeRegion, scopeService);
  const scope = `${scopeDate}/${scopeRegion}/${scopeService}/${TERMINATOR}`;
  const head = req.method + '\n' + canonicalUri(req.path) + '\n' + canonicalQuery(pairs, a.presigned) + '\n' +
    canonicalHeaders + '\n' + signed.join(';') + '\n';
  let matched = false;
  for (const payloadHash of candidates) {
    const stringToSign = ALGORITHM + '\n' + a.timestamp + '\n' + scope + '\n' + sha256Hex(head + payloadHash);
    const expected = hmac(key, stringToSign);
    // Both are 32 bytes (the signature was checked to be 64 hex digits above).
    if (timingSafeEqual(expected, provided)) {
      matched = true;
      break;
    }
  }
  if (!matched) {
    // Presigned without a declared hash, body not known: it may have been signed over the body.
    if (a.presigned && declared === undefined && body === null) return fail('needs-body', SIGV4_MESSAGES.mismatch);
    return fail('signature-mismatch', SIGV4_MESSAGES.mismatch);
  }
  if (checkBody) {
    if (body === null) return fail('needs-body', SIGV4_MESSAGES.mismatch);
    if (body !== declared!.toLowerCase()) return fail('payload-hash-mismatch', SIGV4_MESSAGES.payloadHashMismatch);
  }
  return { ok: true, accessKeyId, region: scopeRegion, signedHeaders: signed, presigned: a.presigned };
}
