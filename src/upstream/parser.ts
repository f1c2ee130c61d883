/**
 * Strict, incremental HTTP/1.1 response parser for the upstream client.
 *
 * Works on Buffers as they come off the socket: the head is located with Buffer#indexOf and only
 * the head bytes are decoded to a string; body bytes are handed on as subarrays of the socket's
 * chunk (zero copy). Malformed input is reported through `onParseError`, never thrown.
 *
 * Strictness is deliberate: a gateway that forwards a response it framed differently from the
 * upstream is a response-splitting / desync vector, so anything ambiguous is an error
 * (RFC 9112 sections 2.2, 5, 6, 7).
 */

export interface ResponseHandler {
  /** A final (non-1xx) response head. `headers` is flat [name, value, ...], names lower-cased. */
  onResponseHead(status: number, headers: string[], hasBody: boolean): void;
  /** A piece of body (a subarray of the socket's chunk). Return false to pause the parser. */
  onResponseBody(chunk: Buffer): boolean;
  /** The response is complete; `keepAlive` says whether the connection may carry another one. */
  onResponseEnd(keepAlive: boolean): void;
  onParseError(reason: string): void;
  /**
   * Another response is expected on this connection (a pipelined request was sent behind this
   * one): bytes after a complete response are its start, not an error. The handler chains to it
   * by calling next() from onResponseEnd.
   */
  hasNext?(): boolean;
}

export interface ParserOptions {
  /** Largest response head (status line + headers), and largest trailer section. Default 64 KiB. */
  maxHeaderBytes?: number;
  /** Most header fields in one head. Default 200. */
  maxHeaders?: number;
  /**
   * How head bytes become strings. 'utf8' (default) because uWS writes JS strings back out as
   * UTF-8, so valid UTF-8 upstream headers round-trip byte for byte; 'latin1' maps bytes 1:1.
   */
  headerEncoding?: 'utf8' | 'latin1';
  /**
   * Input buffers are reused by the caller after execute() returns (a socket read buffer): bytes
   * the parser keeps (a head split across reads, input held by a pause) are then copied. Body
   * chunks are always views of the input, so they are valid only during onResponseBody.
   */
  transientInput?: boolean;
}

const CR = 13;
const LF = 10;
const SP = 32;
const HTAB = 9;
const COLON = 58;
const SEMI = 59;
const COMMA = 44;
const DEL = 0x7f;

/** RFC 9110 tchar, ASCII only. */
const TCHAR = new Uint8Array(128);
for (let c = 0x30; c <= 0x39; c++) TCHAR[c] = 1;
for (let c = 0x41; c <= 0x5a; c++) TCHAR[c] = 1;
for (let c = 0x61; c <= 0x7a; c++) TCHAR[c] = 1;
for (const ch of "!#$%&'*+-.^_`|~") TCHAR[ch.charCodeAt(0)] = 1;

const HEX = new Int8Array(256).fill(-1);
for (let c = 0; c < 10; c++) HEX[0x30 + c] = c;
for (let c = 0; c < 6; c++) HEX[0x41 + c] = HEX[0x61 + c] = 10 + c;

/**
 * parseHead's offsets per header line (name start/end, value start/end, upper-case name): one array
 * for every parser, as parseHead runs to completion before any callback.
 */
let headOffsets = new Int32Array(200 * 5);
const CRLFCRLF = Buffer.from('\r\n\r\n', 'latin1');
/** Largest chunk size whose next hex digit still fits a safe integer. */
const CHUNK_SIZE_MAX_PRE_SHIFT = Math.floor((Number.MAX_SAFE_INTEGER - 15) / 16);
/** A chunk-size line (size, extensions, CRLF) longer than this is an attack, not an extension. */
const MAX_CHUNK_LINE = 4096;

const S_IDLE = 0; // no response expected: any byte is unsolicited
const S_HEAD = 1;
const S_BODY_LEN = 2;
const S_BODY_EOF = 3;
const S_CHUNK_SIZE_START = 4;
const S_CHUNK_SIZE = 5;
const S_CHUNK_BWS = 6;
const S_CHUNK_EXT = 7;
const S_CHUNK_SIZE_LF = 8;
const S_CHUNK_DATA = 9;
const S_CHUNK_DATA_CR = 10;
const S_CHUNK_DATA_LF = 11;
const S_TRAILER_LINE = 12;
const S_TRAILER_NAME = 13;
const S_TRAILER_VALUE = 14;
const S_TRAILER_VALUE_LF = 15;
const S_TRAILER_END_LF = 16;
const S_COMPLETE = 17;
const S_ERROR = 18;

/**
 * One parser per connection, `reset()` before each response. Callbacks may re-enter (reset, abort,
 * pause) the parser; every callback is followed by a generation check so a parser reset from inside
 * a callback never touches the old response's bytes again.
 */
export class ResponseParser {
  private state = S_IDLE;
  private gen = 0;
  private paused = false;
  /** Bytes received while paused, or left over when a pause stopped a chunk midway. */
  private pend: Buffer[] = [];
  private headParts: Buffer[] | null = null;
  private headLen = 0;
  /** Scanner state of a head split across reads: matched prefix of CRLFCRLF, previous byte. */
  private headK = 0;
  private headPrev = -1;
  private isHead = false;
  private keepAlive = true;
  private remaining = 0;
  private chunkSize = 0;
  private lineBytes = 0;
  private lineLimit = MAX_CHUNK_LINE;
  private started = false;
  private headDone = false;
  /** Why parsing failed, after a parse error. */
  error: string | null = null;

  private readonly maxHeaderBytes: number;
  private readonly maxHeaders: number;
  private readonly enc: 'utf8' | 'latin1';
  private readonly copy: boolean;

  constructor(private readonly h: ResponseHandler, opts: ParserOptions = {}) {
    this.maxHeaderBytes = opts.maxHeaderBytes ?? 64 * 1024;
    this.maxHeaders = opts.maxHeaders ?? 200;
    this.enc = opts.headerEncoding ?? 'utf8';
    this.copy = opts.transientInput === true;
  }

  /** `buf` from offset `pos`, copied when the input is about to be reused. */
  private keep(buf: Buffer, pos: number, end = buf.length): Buffer {
    if (this.copy) return Buffer.from(buf.subarray(pos, end));
    return pos === 0 && end === buf.length ? buf : buf.subarray(pos, end);
  }

  /** Expect a new response; `isHead` when the request was HEAD (the response has no body). */
  reset(isHead: boolean): void {
    this.gen++;
    if (this.pend.length !== 0) this.pend = [];
    this.next(isHead);
  }

  /**
   * From onResponseEnd: the next pipelined response starts right after this one. Unlike reset(),
   * bytes already received (the rest of this read, bytes held by a pause) stay: they are its start.
   */
  next(isHead: boolean): void {
    this.state = S_HEAD;
    // A pause asked with the previous response's last chunk was that response's.
    this.paused = false;
    this.headParts = null;
    this.headLen = 0;
    this.isHead = isHead;
    this.keepAlive = true;
    this.started = false;
    this.headDone = false;
    this.error = null;
  }

  /** Forget the current response; no callback fires after this, whatever is fed in. */
  abort(): void {
    this.gen++;
    this.state = S_ERROR;
    this.paused = false;
    if (this.pend.length !== 0) this.pend = [];
    this.headParts = null;
  }

  /** Some byte of the current response (including a 1xx) has arrived. */
  get responseStarted(): boolean { return this.started; }
  /** The final response head has been delivered. */
  get headComplete(): boolean { return this.headDone; }
  get isPaused(): boolean { return this.paused; }
  /** Received bytes are waiting for resume(). */
  get hasPending(): boolean { return this.pend.length !== 0; }

  pause(): void {
    if (this.state !== S_IDLE && this.state !== S_ERROR) this.paused = true;
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    const gen = this.gen;
    while (!this.paused && this.pend.length !== 0) {
      const buf = this.pend.shift()!;
      this.run(buf, 0, true);
      if (this.gen !== gen) return;
    }
  }

  execute(buf: Buffer): void {
    if (this.paused || this.pend.length !== 0) {
      this.pend.push(this.keep(buf, 0));
      return;
    }
    this.run(buf, 0, false);
  }

  /**
   * The peer closed its side. Returns true when that completed a close-delimited response
   * (onResponseEnd has been called); false means the response was cut short.
   */
  finish(): boolean {
    if (this.state === S_BODY_EOF && !this.paused && this.pend.length === 0) {
      this.state = S_IDLE;
      this.h.onResponseEnd(false);
      return true;
    }
    return false;
  }

  private fail(reason: string): void {
    this.state = S_ERROR;
    this.error = reason;
    this.h.onParseError(reason);
  }

  /** True when the handler chained to a next response (next()) and parsing goes on. */
  private complete(extra: boolean): boolean {
    // Unless a pipelined response follows, bytes after a complete response mean the framing was wrong.
    if (extra && this.h.hasNext?.() !== true) {
      this.fail('unexpected data after the response');
      return false;
    }
    this.state = S_IDLE;
    this.h.onResponseEnd(this.keepAlive);
    return this.state === S_HEAD;
  }

  /** `owned`: `buf` is ours (already kept), so holding on to it needs no copy. */
  private run(buf: Buffer, pos: number, owned: boolean): void {
    const gen = this.gen;
    const len = buf.length;
    if (pos < len) this.started = true;
    while (pos < len) {
      if (this.paused) {
        this.pend.unshift(owned ? buf.subarray(pos) : this.keep(buf, pos));
        return;
      }
      switch (this.state) {
        case S_HEAD:
          pos = this.readHead(buf, pos);
          break;
        case S_BODY_LEN: {
          const n = len - pos < this.remaining ? len - pos : this.remaining;
          const chunk = buf.subarray(pos, pos + n);
          pos += n;
          this.remaining -= n;
          if (this.remaining === 0) this.state = S_COMPLETE;
          const ok = this.h.onResponseBody(chunk);
          if (this.gen !== gen) return;
          if (!ok) this.paused = true;
          break;
        }
        case S_CHUNK_DATA: {
          const n = len - pos < this.remaining ? len - pos : this.remaining;
          const chunk = buf.subarray(pos, pos + n);
          pos += n;
          this.remaining -= n;
          if (this.remaining === 0) this.state = S_CHUNK_DATA_CR;
          const ok = this.h.onResponseBody(chunk);
          if (this.gen !== gen) return;
          if (!ok) this.paused = true;
          break;
        }
        case S_BODY_EOF: {
          const chunk = pos === 0 ? buf : buf.subarray(pos);
          pos = len;
          const ok = this.h.onResponseBody(chunk);
          if (this.gen !== gen) return;
          if (!ok) this.paused = true;
          break;
        }
        case S_IDLE:
          return this.fail('unsolicited data from upstream');
        case S_ERROR:
          return;
        default:
          pos = this.framing(buf, pos, len);
      }
      if (this.gen !== gen) return;
      if (this.state === S_COMPLETE) {
        // A reset() from the handler (new generation) stops here; next() continues in this buffer.
        if (!this.complete(pos < len) || this.gen !== gen) return;
        if (pos < len) this.started = true;
        continue;
      }
      if (this.state === S_ERROR) return;
    }
  }

  /** Chunk-size lines, chunk delimiters and trailers, byte by byte. */
  private framing(buf: Buffer, pos: number, len: number): number {
    let st = this.state;
    while (pos < len) {
      const c = buf[pos++];
      if (++this.lineBytes > this.lineLimit) {
        this.fail(st >= S_TRAILER_LINE ? 'trailer section too large' : 'chunk size line too long');
        return len;
      }
      switch (st) {
        case S_CHUNK_SIZE_START: {
          const d = HEX[c];
          if (d < 0) { this.fail('invalid chunk size'); return len; }
          this.chunkSize = d;
          st = S_CHUNK_SIZE;
          break;
        }
        case S_CHUNK_SIZE: {
          const d = HEX[c];
          if (d >= 0) {
            if (this.chunkSize > CHUNK_SIZE_MAX_PRE_SHIFT) { this.fail('chunk size overflow'); return len; }
            this.chunkSize = this.chunkSize * 16 + d;
          } else if (c === CR) st = S_CHUNK_SIZE_LF;
          else if (c === SEMI) st = S_CHUNK_EXT;
          else if (c === SP || c === HTAB) st = S_CHUNK_BWS;
          else { this.fail('invalid chunk size'); return len; }
          break;
        }
        case S_CHUNK_BWS:
          // BWS is only allowed before a chunk extension.
          if (c === SEMI) st = S_CHUNK_EXT;
          else if (c !== SP && c !== HTAB) { this.fail('invalid chunk size line'); return len; }
          break;
        case S_CHUNK_EXT:
          if (c === CR) st = S_CHUNK_SIZE_LF;
          else if ((c < SP && c !== HTAB) || c === DEL) { this.fail('invalid chunk extension'); return len; }
          break;
        case S_CHUNK_SIZE_LF:
          if (c !== LF) { this.fail('bare CR in chunk size line'); return len; }
          if (this.chunkSize === 0) {
            st = S_TRAILER_LINE;
            this.lineBytes = 0;
            this.lineLimit = this.maxHeaderBytes;
          } else {
            this.remaining = this.chunkSize;
            this.state = S_CHUNK_DATA;
            return pos;
          }
          break;
        case S_CHUNK_DATA_CR:
          if (c !== CR) { this.fail('chunk data longer than its size'); return len; }
          st = S_CHUNK_DATA_LF;
          break;
        case S_CHUNK_DATA_LF:
          if (c !== LF) { this.fail('bare CR after chunk data'); return len; }
          st = S_CHUNK_SIZE_START;
          this.lineBytes = 0;
          break;
        case S_TRAILER_LINE:
          if (c === CR) st = S_TRAILER_END_LF;
          else if (c < 128 && TCHAR[c] === 1) st = S_TRAILER_NAME;
          else { this.fail(c === SP || c === HTAB ? 'obs-fold in trailer' : 'invalid trailer name'); return len; }
          break;
        case S_TRAILER_NAME:
          if (c === COLON) st = S_TRAILER_VALUE;
          else if (c >= 128 || TCHAR[c] !== 1) { this.fail('invalid trailer name'); return len; }
          break;
        case S_TRAILER_VALUE:
          if (c === CR) st = S_TRAILER_VALUE_LF;
          else if ((c < SP && c !== HTAB) || c === DEL) { this.fail('invalid trailer value'); return len; }
          break;
        case S_TRAILER_VALUE_LF:
          if (c !== LF) { this.fail('bare CR in trailer'); return len; }
          st = S_TRAILER_LINE;
          break;
        case S_TRAILER_END_LF:
          if (c !== LF) { this.fail('bare CR after trailers'); return len; }
          this.state = S_COMPLETE;
          return pos;
      }
    }
    this.state = st;
    return pos;
  }

  private readHead(buf: Buffer, pos: number): number {
    const len = buf.length;
    if (this.headParts === null) {
      const idx = buf.indexOf(CRLFCRLF, pos);
      if (idx !== -1) {
        const end = idx + 4;
        if (end - pos > this.maxHeaderBytes) {
          this.fail('response head too large');
          return len;
        }
        this.parseHead(buf, pos, end);
        return end;
      }
      // Head split across reads (rare): scan it byte by byte from here on.
      this.headK = 0;
      this.headPrev = -1;
      this.headParts = [];
    }
    const end = this.scanHead(buf, pos, len);
    if (this.state === S_ERROR) return len;
    const stop = end === -1 ? len : end;
    this.headLen += stop - pos;
    if (this.headLen > this.maxHeaderBytes) {
      this.fail('response head too large');
      return len;
    }
    this.headParts!.push(this.keep(buf, pos, stop));
    if (end === -1) return len;
    const whole = Buffer.concat(this.headParts!, this.headLen);
    this.headParts = null;
    this.headLen = 0;
    this.parseHead(whole, 0, whole.length);
    return end;
  }

  /**
   * Finds the end of a head that spans reads, rejecting NUL, bare CR and bare LF as they arrive so
   * an upstream speaking LF-only HTTP fails at once instead of at the timeout.
   */
  private scanHead(buf: Buffer, pos: number, len: number): number {
    let k = this.headK;
    let prev = this.headPrev;
    for (let i = pos; i < len; i++) {
      const c = buf[i];
      if (prev === CR && c !== LF) { this.fail('bare CR in response head'); return -1; }
      if (c === LF) {
        if (prev !== CR) { this.fail('bare LF in response head'); return -1; }
        k = k === 1 ? 2 : k === 3 ? 4 : 0;
        if (k === 4) return i + 1;
      } else if (c === CR) {
        k = k === 2 ? 3 : 1;
      } else {
        if (c === 0) { this.fail('NUL in response head'); return -1; }
        k = 0;
      }
      prev = c;
    }
    this.headK = k;
    this.headPrev = prev;
    return -1;
  }

  /**
   * Parses one complete head (ending in CRLFCRLF) and sets up body framing. The structure is scanned
   * on the bytes: charCodeAt on the decoded string went through a LoadIC per character in the
   * optimized code (perf of a proxy worker: ~4% of its CPU in this function's IC misses). Names and
   * values are then sliced from one decoded string, whose offsets equal the byte offsets for latin1
   * and for an all-ASCII head; a UTF-8 head with other bytes decodes each value on its own.
   */
  private parseHead(buf: Buffer, start: number, end: number): void {
    // status-line = HTTP-version SP status-code SP [ reason-phrase ] CRLF
    if (end - start < 14 || buf[start] !== 0x48 || buf[start + 1] !== 0x54 || buf[start + 2] !== 0x54 || buf[start + 3] !== 0x50 ||
      buf[start + 4] !== 0x2f || buf[start + 5] !== 0x31 || buf[start + 6] !== 0x2e) return this.fail('invalid status line');
    const minor = buf[start + 7]! - 0x30;
    if ((minor !== 0 && minor !== 1) || buf[start + 8] !== SP) return this.fail('invalid status line');
    const d1 = buf[start + 9]! - 0x30;
    const d2 = buf[start + 10]! - 0x30;
    const d3 = buf[start + 11]! - 0x30;
    if (d1 < 1 || d1 > 9 || d2 < 0 || d2 > 9 || d3 < 0 || d3 > 9) return this.fail('invalid status code');
    const status = d1 * 100 + d2 * 10 + d3;
    let i = start + 12;
    let c = buf[i]!;
    let ascii = true;
    // The SP before an empty reason is often omitted; accept both.
    if (c === SP) {
      for (;;) {
        c = buf[++i]!;
        if (c === CR) break;
        if ((c < SP && c !== HTAB) || c === DEL) return this.fail('invalid reason phrase');
      }
    } else if (c !== CR) return this.fail('invalid status line');
    if (buf[i + 1] !== LF) return this.fail('bare CR in status line');
    i += 2;

    // Pass 1: check every line and note its offsets (name start/end, value start/end, upper-case name).
    let at = headOffsets;
    if (at.length < this.maxHeaders * 5) headOffsets = at = new Int32Array(this.maxHeaders * 5);
    let count = 0;
    for (;;) {
      c = buf[i]!;
      if (c === CR) {
        // The head was cut at the first CRLFCRLF, so this is the final empty line.
        if (buf[i + 1] !== LF) return this.fail('bare CR in response head');
        break;
      }
      if (c === SP || c === HTAB) return this.fail('obs-fold in response head');
      if (count >= this.maxHeaders) return this.fail('too many headers');
      const ns = i;
      let upper = 0;
      while (c < 128 && TCHAR[c] === 1) {
        if (c >= 0x41 && c <= 0x5a) upper = 1;
        c = buf[++i]!;
      }
      if (c !== COLON || i === ns) return this.fail('invalid header name');
      const ne = i;
      c = buf[++i]!;
      while (c === SP || c === HTAB) c = buf[++i]!;
      const vs = i;
      let ve = i;
      for (;;) {
        if (c === CR) break;
        if (c < SP ? c !== HTAB : c === DEL) {
          return this.fail(c === LF ? 'bare LF in response head' : c === 0 ? 'NUL in header value' : 'invalid header value');
        }
        if (c > DEL) ascii = false;
        i++;
        if (c !== SP && c !== HTAB) ve = i;
        c = buf[i]!;
      }
      if (buf[i + 1] !== LF) return this.fail('bare CR in header value');
      i += 2;
      const k = count * 5;
      at[k] = ns; at[k + 1] = ne; at[k + 2] = vs; at[k + 3] = ve; at[k + 4] = upper;
      count++;
    }

    // Pass 2: strings, and the headers that decide framing.
    const sliced = ascii || this.enc === 'latin1';
    const s = sliced ? buf.toString('latin1', start, end) : '';
    const headers: string[] = [];
    let contentLength = -1;
    let chunked = false;
    let hasTE = false;
    let connClose = false;
    let connKeepAlive = false;
    for (let h = 0; h < count; h++) {
      const k = h * 5;
      // Names are tokens (ASCII): sliced from s, or from the bytes when s was not made.
      const name = sliced ? s.slice(at[k]! - start, at[k + 1]! - start) : buf.toString('latin1', at[k]!, at[k + 1]!);
      const lname = at[k + 4] === 1 ? name.toLowerCase() : name;
      const value = sliced ? s.slice(at[k + 2]! - start, at[k + 3]! - start) : buf.toString(this.enc, at[k + 2]!, at[k + 3]!);
      headers.push(lname, value);
      switch (lname.length) {
        case 10:
          if (lname === 'connection') {
            const v = value.toLowerCase();
            if (v === 'close') connClose = true;
            else if (v === 'keep-alive') connKeepAlive = true;
            else if (v.indexOf(',') !== -1) {
              for (const tok of v.split(',')) {
                const t = tok.trim();
                if (t === 'close') connClose = true;
                else if (t === 'keep-alive') connKeepAlive = true;
              }
            }
          }
          break;
        case 14:
          if (lname === 'content-length') {
            const n = parseContentLength(value);
            if (n === -1) return this.fail('invalid content-length');
            if (n === -2 || (contentLength !== -1 && n !== contentLength)) return this.fail('conflicting content-length');
            contentLength = n;
          }
          break;
        case 17:
          if (lname === 'transfer-encoding') {
            hasTE = true;
            // Only "chunked", once: another coding would have to be decoded before forwarding,
            // since Transfer-Encoding is hop-by-hop, and repeated chunked is a smuggling trick.
            for (const tok of value.split(',')) {
              const t = tok.trim().toLowerCase();
              if (t === '') continue;
              if (t !== 'chunked' || chunked) return this.fail('unsupported transfer-encoding');
              chunked = true;
            }
          }
          break;
      }
    }

    if (status < 200) {
      // We never ask to upgrade, so a 101 is a protocol violation; other 1xx are skipped.
      if (status === 101) return this.fail('unexpected 101 Switching Protocols');
      return;
    }
    if (hasTE && !chunked) return this.fail('unsupported transfer-encoding');
    if (hasTE && contentLength !== -1) return this.fail('both transfer-encoding and content-length');
    this.keepAlive = minor === 1 ? !connClose : connKeepAlive && !connClose;
    // RFC 9112 6.1: Transfer-Encoding in an HTTP/1.0 message means faulty framing; never reuse.
    if (hasTE && minor === 0) this.keepAlive = false;
    this.headDone = true;
    let hasBody = true;
    if (this.isHead || status === 204 || status === 304) {
      hasBody = false;
      this.state = S_COMPLETE;
    } else if (chunked) {
      this.state = S_CHUNK_SIZE_START;
      this.lineBytes = 0;
      this.lineLimit = MAX_CHUNK_LINE;
    } else if (contentLength > 0) {
      this.remaining = contentLength;
      this.state = S_BODY_LEN;
    } else if (contentLength === 0) {
      hasBody = false;
      this.state = S_COMPLETE;
    } else {
      this.keepAlive = false;
      this.state = S_BODY_EOF;
    }
    this.h.onResponseHead(status, headers, hasBody);
  }
}

/**
 * 1*DIGIT, or a list of identical values ("5, 5") as RFC 9110 8.6 lets a recipient accept.
 * Returns -1 when invalid, -2 when the list disagrees with itself.
 */
function parseContentLength(v: string): number {
  const n = v.length;
  let result = -1;
  let i = 0;
  // -1 past the end: reading beyond a string deoptimizes the function.
  const at = (k: number): number => (k < n ? v.charCodeAt(k) : -1);
  for (;;) {
    let c = at(i);
    while (c === SP || c === HTAB) c = at(++i);
    let val = 0;
    let digits = 0;
    while (c >= 0x30 && c <= 0x39) {
      // 15 digits stay below 2^53.
      if (++digits > 15) return -1;
      val = val * 10 + (c - 0x30);
      c = at(++i);
    }
    if (digits === 0) return -1;
    while (c === SP || c === HTAB) c = at(++i);
    if (result !== -1 && val !== result) return -2;
    result = val;
    if (i >= n) return result;
    if (c !== COMMA) return -1;
    i++;
  }
}
