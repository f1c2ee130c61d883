/**
 * A cached response and its wire form (shared by the in-process L1 and a shared L2 such as Redis).
 */
import { Packr, Unpackr } from 'msgpackr';

/** Bumped whenever the array layout changes: entries written by another version read as misses. */
export const ENTRY_FORMAT_VERSION = 1;

export interface CachedResponse {
  status: number;
  /** Flat [name, value, ...], lower-case names. */
  headers: string[];
  body: Buffer;
  /** Epoch ms. */
  storedAt: number;
  /** Epoch ms. */
  expiresAt: number;
}

// Records/structures off: an entry must decode on its own, in any process, without shared state.
const packr = new Packr({ useRecords: false, structuredClone: false });
const unpackr = new Unpackr({ useRecords: false, structuredClone: false, mapsAsObjects: false });

/** [version, status, headers, body, storedAt, expiresAt]. */
export function encodeEntry(e: CachedResponse): Buffer {
  return packr.pack([ENTRY_FORMAT_VERSION, e.status, e.headers, e.body, e.storedAt, e.expiresAt]);
}

/**
 * The entry in `buf`, or null when it is not a well-formed entry of this format version (a read from
 * a shared store must degrade to a miss, never throw). The body may share memory with `buf`.
 */
export function decodeEntry(buf: Buffer): CachedResponse | null {
  if (!(buf instanceof Uint8Array) || buf.length === 0) return null;
  // Cheap pre-check before the parser: a fixarray of 6 whose first item is the version fixint.
  if (buf[0] !== 0x96 || buf[1] !== ENTRY_FORMAT_VERSION) return null;
  let v: unknown;
  try {
    v = unpackr.unpack(buf);
  } catch {
    return null; // truncated, trailing bytes, unknown extension...
  }
  if (!Array.isArray(v) || v.length !== 6 || v[0] !== ENTRY_FORMAT_VERSION) return null;
  const [, status, headers, body, storedAt, expiresAt] = v as unknown[];
  if (typeof status !== 'number' || !Number.isInteger(status) || status < 100 || status > 599) return null;
  if (!Array.isArray(headers) || (headers.length & 1) !== 0) return null;
  for (let i = 0; i < headers.length; i++) if (typeof headers[i] !== 'string') return null;
  if (!(body instanceof Uint8Array)) return null;
  if (typeof storedAt !== 'number' || !Number.isFinite(storedAt)) return null;
  if (typeof expiresAt !== 'number' || !Number.isFinite(expiresAt) || expiresAt < storedAt) return null;
  return {
    status,
    headers: headers as string[],
    body: Buffer.isBuffer(body) ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength),
    storedAt,
    expiresAt,
  };
}

// Rough V8 costs: the entry object, its headers array and the Buffer/ArrayBuffer objects; each
// header string's header plus its array slot. Only needs to be stable and not wildly low.
const ENTRY_OVERHEAD = 256;
const STRING_OVERHEAD = 24;

/** Bytes an entry costs in memory: body + header text + fixed overhead. */
export function entrySize(e: CachedResponse): number {
  let n = ENTRY_OVERHEAD + e.body.length;
  const h = e.headers;
  for (let i = 0; i < h.length; i++) n += STRING_OVERHEAD + h[i]!.length;
  return n;
}
