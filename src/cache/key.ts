/**
 * Response cache keys: method + path + the request parameters the method names as cache key
 * parameters (AWS `cacheKeyParameters`), in a text that is injective over requests.
 *
 * Key text: every variable part is length-prefixed (`<len>:<text>`, len in UTF-16 units), so no
 * value can forge a separator and the text parses back unambiguously:
 *   `<len>:<method> <len>:<path>`, then per named parameter (path, then querystring, then header;
 *   each sorted by name) ` <kind><len>:<name>` when absent, or the same plus `=<v1>,<v2>...` with
 *   the values length-prefixed, in request order. kind is p / q / h. A query value that is not valid
 *   percent-encoding is kept raw as `<len>!<raw>`, so it cannot meet a decoded one.
 * e.g. `3:GET 7:/pets/7 p2:id=1:7 q5:limit q3:tag=1:a,1:b h6:accept=9:text/html`
 */
import * as crypto from 'node:crypto';

export interface CacheKeySpec {
  querystring: string[];
  header: string[];
  path: string[];
}

export interface CacheKeyRequest {
  method: string;
  path: string;
  /** Raw query string, without '?'. */
  query: string;
  /** Flat [name, value, ...], lower-case names. */
  headers: string[];
  params: Record<string, string> | null;
}

export type CacheKeyFn = (req: CacheKeyRequest) => string;

const lp = (s: string): string => `${s.length}:${s}`;

/** Sorted, deduplicated names; each with its key prefix ` <kind><len>:<name>`. */
function names(list: readonly string[] | undefined, kind: string, lower: boolean): { names: string[]; prefixes: string[] } {
  if (list === undefined) list = [];
  if (!Array.isArray(list)) throw new TypeError(`cache key ${kind === 'q' ? 'querystring' : kind === 'h' ? 'header' : 'path'} names must be an array`);
  const set = new Set<string>();
  for (const n of list) {
    if (typeof n !== 'string') throw new TypeError(`cache key parameter names must be strings, got ${typeof n}`);
    set.add(lower ? n.toLowerCase() : n);
  }
  const sorted = [...set].sort();
  return { names: sorted, prefixes: sorted.map((n) => ` ${kind}${lp(n)}`) };
}

/** `=v1,v2...` (values already length-prefixed), or '' when absent. */
function values(vs: string[] | undefined): string {
  return vs === undefined ? '' : `=${vs.join(',')}`;
}

/** Decoded and length-prefixed query component; raw with `!` when the encoding is invalid. */
function queryValue(q: string, start: number, end: number, encoded: boolean): string {
  const raw = q.slice(start, end);
  if (!encoded) return lp(raw);
  try {
    return lp(decodeURIComponent(raw.replaceAll('+', ' ')));
  } catch {
    return `${raw.length}!${raw}`;
  }
}

/** The decoded name, or null when its encoding is invalid (such a name matches nothing). */
function queryName(raw: string): string | null {
  try {
    return decodeURIComponent(raw.replaceAll('+', ' '));
  } catch {
    return null;
  }
}

/** Index of `ch` in `q` at or after `from`, or q.length. */
function next(q: string, ch: string, from: number): number {
  const i = q.indexOf(ch, from);
  return i === -1 ? q.length : i;
}

/**
 * Collects into `out[i]` the length-prefixed values of query parameter `qn[i]`, in request order.
 * Native indexOf scans, no regex or split; the next `=`, `%` and `+` positions are carried over from
 * piece to piece, so a long query of `&`-pieces without `=` stays linear.
 */
function collectQuery(q: string, qn: string[], out: (string[] | undefined)[]): void {
  const len = q.length;
  const m = qn.length;
  let eqAt = -1;
  let pctAt = -1;
  let plusAt = -1;
  let start = 0;
  while (start < len) {
    const end = next(q, '&', start);
    if (end > start) {
      if (eqAt < start) eqAt = next(q, '=', start);
      if (pctAt < start) pctAt = next(q, '%', start);
      if (plusAt < start) plusAt = next(q, '+', start);
      const hasEq = eqAt < end;
      const nameEnd = hasEq ? eqAt : end;
      const nameEncoded = pctAt < nameEnd || plusAt < nameEnd;
      if (pctAt < nameEnd) pctAt = next(q, '%', nameEnd);
      if (plusAt < nameEnd) plusAt = next(q, '+', nameEnd);
      const valueEncoded = pctAt < end || plusAt < end;
      let i = 0;
      if (nameEncoded) {
        const name = queryName(q.slice(start, nameEnd));
        while (i < m && qn[i] !== name) i++;
      } else {
        const nlen = nameEnd - start;
        while (i < m && !(qn[i]!.length === nlen && q.startsWith(qn[i]!, start))) i++;
      }
      // `?a` and `?a=` are the same empty value, as in AWS's parameter mapping.
      if (i < m) (out[i] ??= []).push(hasEq ? queryValue(q, eqAt + 1, end, valueEncoded) : '0:');
    }
    start = end + 1;
  }
}

/** Compiles `spec` into a function giving a request's cache key text. */
export function compileCacheKey(spec: CacheKeySpec): CacheKeyFn {
  const p = names(spec.path, 'p', false);
  const q = names(spec.querystring, 'q', false);
  // Header names are case-insensitive; request header names arrive lower-case.
  const h = names(spec.header, 'h', true);
  const pn = p.names, pp = p.prefixes, pm = pn.length;
  const qn = q.names, qp = q.prefixes, qm = qn.length;
  const hn = h.names, hp = h.prefixes, hm = hn.length;

  return (req: CacheKeyRequest): string => {
    let key = `${lp(req.method)} ${lp(req.path)}`;

    if (pm > 0) {
      const params = req.params;
      for (let i = 0; i < pm; i++) {
        // typeof guards names like `constructor` that a plain object inherits.
        const v = params === null ? undefined : params[pn[i]!];
        key += typeof v === 'string' ? `${pp[i]}=${lp(v)}` : pp[i];
      }
    }

    if (qm > 0) {
      const out: (string[] | undefined)[] = new Array(qm);
      if (req.query.length > 0) collectQuery(req.query, qn, out);
      for (let i = 0; i < qm; i++) key += qp[i] + values(out[i]);
    }

    if (hm > 0) {
      const out: (string[] | undefined)[] = new Array(hm);
      const hs = req.headers;
      for (let j = 0; j + 1 < hs.length; j += 2) {
        const name = hs[j];
        for (let i = 0; i < hm; i++) {
          if (hn[i] === name) {
            (out[i] ??= []).push(lp(hs[j + 1]!));
            break;
          }
        }
      }
      for (let i = 0; i < hm; i++) key += hp[i] + values(out[i]);
    }

    return key;
  };
}

// crypto.hash (one-shot, no Hash object) is Node >= 20.12; createHash otherwise.
const sha256: (data: string | Buffer) => string =
  typeof crypto.hash === 'function'
    ? (data) => crypto.hash('sha256', data, 'base64url')
    : (data) => crypto.createHash('sha256').update(data).digest('base64url');

// Every Node 20 has String.prototype.isWellFormed; the ES2022 lib does not declare it.
const isWellFormed = (String.prototype as unknown as { isWellFormed: (this: string) => boolean }).isWellFormed;
const UTF16_MARK = Buffer.from([0xff]);

/** Base64url SHA-256 of the key text: 43 characters, for store keys. */
export function hashKey(text: string): string {
  if (isWellFormed.call(text)) return sha256(text);
  // UTF-8 would turn lone surrogates into U+FFFD and merge keys: hash the UTF-16 code units instead,
  // behind a 0xFF byte (never in UTF-8) so the two forms cannot meet.
  return sha256(Buffer.concat([UTF16_MARK, Buffer.from(text, 'utf16le')]));
}
