/**
 * One load-generator process of the fan-out bench (bench/fanout.ts forks several, with IPC): opens
 * its share of the subscribers, then for each run counts every delivery per connection and per
 * message, records the delivery latency (receive time minus the send time stamped in the body by
 * the publisher) in a log histogram, and counts deliveries per 100 ms tick.
 *
 * Client implementations (--client in fanout.ts):
 * - lib: what an application would use: the `ws` package against the gateway, `socket.io-client`
 *   (websocket transport only, one Manager per client: forceNew) against socket.io.
 * - raw: the same minimal RFC 6455 reader on node:net for both targets (for socket.io it also
 *   speaks the engine.io/socket.io handshake and answers pings). Much cheaper per message than
 *   either library, so a 2-core box can receive more than the libraries can.
 *
 * Body of every broadcast (ASCII, padded to the message size): `F|<run>|<seq>|<sentUs>|....`
 * where sentUs is performance.timeOrigin + performance.now() in integer microseconds (the same
 * clock in every process of the machine). Frames are located by the `"data":"F|` marker, so no
 * JSON.parse per delivery (the cost would be the generator's, not the server's).
 */
import { randomBytes } from 'node:crypto';
import { connect as netConnect, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import WebSocket from 'ws';
import { io as sioConnect, type Socket as SioSocket } from 'socket.io-client';

export type TargetKind = 'gateway' | 'socketio';
export type ClientImpl = 'lib' | 'raw';

/** Parent -> child. */
export type ToClient =
  | { t: 'open'; kind: TargetKind; impl: ClientImpl; ports: number[]; first: number; count: number; concurrency: number; path: string; timeoutMs: number; batched?: boolean }
  | { t: 'run'; run: number; maxSeq: number; t0Ms: number; ticks: number }
  | { t: 'status' }
  | { t: 'report' }
  | { t: 'close' };

/** Child -> parent. */
export type FromClient =
  | { t: 'opened'; ok: number; failed: number; firstError: string | null; ms: number }
  | { t: 'run-ok'; live: number }
  | { t: 'done'; seqs: number[] }
  | { t: 'status'; live: number; withAny: number; received: number }
  | { t: 'report'; report: ClientReport }
  | { t: 'closed' };

export interface ClientReport {
  /** Connections open at the start of the run (each should get every message). */
  live: number;
  /** Connections that closed during the run. */
  closed: number;
  received: number;
  /** Per connection: the smallest / largest number of this run's messages received. */
  minPerConn: number;
  maxPerConn: number;
  /** Messages counted twice on one connection. */
  dupes: number;
  /** Messages of another run (late ones of the previous run), or unparseable. */
  stray: number;
  bad: number;
  /** Latency histogram (HIST_BUCKETS log buckets, see bucketOf). */
  hist: number[];
  /**
   * The same split by path: published to the server this client is connected to (local), or to the
   * other one (remote). The publisher sends message `seq` to server seq % servers.
   */
  histLocal: number[];
  histRemote: number[];
  /** Deliveries per TICK_MS tick from t0. */
  ticks: number[];
  /** Epoch ms of the first and last delivery of this run. */
  firstMs: number;
  lastMs: number;
  /** Per message: connections of this process that got it (only up to the run's highest seq). */
  perSeq: number[];
}

// ------------------------------------------------------------------------------------------------
// Histogram: 1% log buckets over microseconds (1 µs .. ~10 min).

export const HIST_K = 100;
export const HIST_BUCKETS = 2100;
export const TICK_MS = 100;

export function bucketOf(us: number): number {
  if (us <= 1) return 0;
  const b = Math.floor(Math.log(us) * HIST_K);
  return b >= HIST_BUCKETS ? HIST_BUCKETS - 1 : b;
}
/** The bucket's middle, in ms. */
export function bucketMs(b: number): number {
  return Math.exp((b + 0.5) / HIST_K) / 1000;
}
/** Percentile (0..100) of a merged histogram, ms. */
export function histPercentile(hist: ArrayLike<number>, p: number): number {
  let total = 0;
  for (let i = 0; i < hist.length; i++) total += hist[i]!;
  if (total === 0) return NaN;
  const want = Math.max(1, Math.ceil((p / 100) * total));
  let seen = 0;
  for (let i = 0; i < hist.length; i++) {
    seen += hist[i]!;
    if (seen >= want) return bucketMs(i);
  }
  return bucketMs(hist.length - 1);
}

// ------------------------------------------------------------------------------------------------
// Body

export const BODY_PREFIX = 'F|';
const MARK = Buffer.from('"data":"F|');

export const nowUs = (): number => Math.round((performance.timeOrigin + performance.now()) * 1000);

/** The broadcast body: run, seq and the send time, padded with '.' to `bytes`. */
export function makeBody(run: number, seq: number, bytes: number, sentUs = nowUs()): string {
  const head = `${BODY_PREFIX}${run}|${seq}|${sentUs}|`;
  return head.length >= bytes ? head : head + '.'.repeat(bytes - head.length);
}

// ------------------------------------------------------------------------------------------------
// Measurement state (one run at a time)

let run = -1;
/** From the parent's open message: the gateway batches broadcasts (a frame may hold several). */
let batched = false;
let maxSeq = 0;
let live = 0;
let connCount = 0;
let isOpen = new Uint8Array(0);
let perConn = new Uint32Array(0);
let perSeq = new Uint32Array(0);
let bitmap = new Uint8Array(0);
let bytesPerConn = 0;
let hist = new Uint32Array(HIST_BUCKETS);
let histLocal = new Uint32Array(HIST_BUCKETS);
let histRemote = new Uint32Array(HIST_BUCKETS);
/** Index of the server (in the ports list) each connection is on, and how many servers. */
let serverOf = new Uint8Array(0);
let nServers = 1;
let ticks = new Uint32Array(1);
let t0Ms = 0;
let received = 0;
let dupes = 0;
let stray = 0;
let bad = 0;
let closedInRun = 0;
let firstMs = 0;
let lastMs = 0;
let highSeq = -1;
let doneBatch: number[] = [];
let doneQueued = false;

function send(m: FromClient): void {
  process.send!(m);
}

function flushDone(): void {
  doneQueued = false;
  if (doneBatch.length === 0) return;
  send({ t: 'done', seqs: doneBatch });
  doneBatch = [];
}

/** One delivery of (r, seq) sent at sentUs to connection i. */
function count(i: number, r: number, seq: number, sentUs: number, recvUs: number): void {
  if (r !== run || seq < 0 || seq >= maxSeq) { stray++; return; }
  const at = i * bytesPerConn + (seq >> 3);
  const bit = 1 << (seq & 7);
  if ((bitmap[at]! & bit) !== 0) { dupes++; return; }
  bitmap[at] = bitmap[at]! | bit;
  perConn[i]!++;
  received++;
  const b = bucketOf(recvUs - sentUs);
  hist[b]!++;
  if (seq % nServers === serverOf[i]) histLocal[b]!++;
  else histRemote[b]!++;
  const ms = recvUs / 1000;
  if (firstMs === 0) firstMs = ms;
  lastMs = ms;
  let tk = Math.floor((ms - t0Ms) / TICK_MS);
  if (tk < 0) tk = 0;
  else if (tk >= ticks.length) tk = ticks.length - 1;
  ticks[tk]!++;
  if (seq > highSeq) highSeq = seq;
  if (++perSeq[seq]! === live) {
    doneBatch.push(seq);
    if (!doneQueued) { doneQueued = true; setImmediate(flushDone); }
  }
}

/**
 * Parses `F|run|seq|sentUs|` after each marker in buf[start..end): one per frame, or several when
 * the gateway batches broadcasts (websocket.broadcastBatchBytes: newline-separated messages).
 */
function deliverBuf(i: number, buf: Buffer, start: number, end: number, recvUs: number): void {
  let p = buf.indexOf(MARK, start);
  if (p < 0 || p + MARK.length + 6 > end) { bad++; return; }
  while (p >= 0 && p + MARK.length + 6 <= end) {
    p += MARK.length;
    let r = 0; let c = 0;
    while ((c = buf[p++]!) !== 124) { if (c < 48 || c > 57) { bad++; return; } r = r * 10 + c - 48; }
    let seq = 0;
    while ((c = buf[p++]!) !== 124) { if (c < 48 || c > 57) { bad++; return; } seq = seq * 10 + c - 48; }
    let ts = 0;
    while ((c = buf[p++]!) !== 124) { if (c < 48 || c > 57) { bad++; return; } ts = ts * 10 + c - 48; }
    count(i, r, seq, ts, recvUs);
    if (!batched) return;
    p = buf.indexOf(MARK, p);
    if (p >= end) return;
  }
}

/** The same on a string (socket.io-client hands over the decoded `data` field). */
function deliverStr(i: number, s: string, from: number, recvUs: number): void {
  let p = from;
  let r = 0; let c = 0;
  while ((c = s.charCodeAt(p++)) !== 124) { if (c < 48 || c > 57) { bad++; return; } r = r * 10 + c - 48; }
  let seq = 0;
  while ((c = s.charCodeAt(p++)) !== 124) { if (c < 48 || c > 57) { bad++; return; } seq = seq * 10 + c - 48; }
  let ts = 0;
  while ((c = s.charCodeAt(p++)) !== 124) { if (c < 48 || c > 57) { bad++; return; } ts = ts * 10 + c - 48; }
  count(i, r, seq, ts, recvUs);
}

function onClosed(i: number): void {
  if (isOpen[i] === 0) return;
  isOpen[i] = 0;
  if (run >= 0) closedInRun++;
}

// ------------------------------------------------------------------------------------------------
// Raw RFC 6455 client on node:net (server frames are never masked; ours are, as the RFC requires)

const MASK_KEY = randomBytes(4);
const READ_BUF = Buffer.allocUnsafe(256 * 1024);

function frame(opcode: number, payload: Buffer): Buffer {
  if (payload.length > 125) throw new Error('raw client: control/handshake frames only');
  const out = Buffer.allocUnsafe(6 + payload.length);
  out[0] = 0x80 | opcode;
  out[1] = 0x80 | payload.length;
  MASK_KEY.copy(out, 2);
  for (let k = 0; k < payload.length; k++) out[6 + k] = payload[k]! ^ MASK_KEY[k & 3]!;
  return out;
}
const SIO_CONNECT = frame(0x1, Buffer.from('40'));
const SIO_PONG = frame(0x1, Buffer.from('3'));

function rawOpen(i: number, kind: TargetKind, port: number, path: string, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    // Reads land in one buffer shared by every socket of the process (net's `onread`): no Buffer and
    // no stream 'data' event per read, which is most of a reader's cost per delivery.
    const sock: Socket = netConnect({ host: '127.0.0.1', port, onread: { buffer: READ_BUF, callback: (n: number, b: Uint8Array) => { onRead(b as Buffer, n); return true; } } });
    sock.setNoDelay(true);
    let handshaking = true;
    let ready = false;
    let pending: Buffer | null = null;
    const timer = setTimeout(() => fail(new Error(`no handshake after ${timeoutMs} ms`)), timeoutMs);
    const fail = (e: Error) => {
      clearTimeout(timer);
      if (!ready) { ready = true; sock.destroy(); reject(e); }
    };
    const opened = () => {
      clearTimeout(timer);
      if (ready) return;
      ready = true;
      isOpen[i] = 1;
      conns[i] = { close: () => sock.destroy() };
      resolve();
    };
    sock.once('connect', () => {
      sock.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
    });
    sock.on('error', (e) => fail(e));
    sock.on('close', () => { fail(new Error('closed during the handshake')); onClosed(i); });
    const onText = (buf: Buffer, s: number, e: number, recvUs: number) => {
      if (kind === 'gateway') { deliverBuf(i, buf, s, e, recvUs); return; }
      // engine.io packet type, then socket.io packet type
      const a = buf[s];
      if (a === 0x34 /* 4 message */) {
        const b = buf[s + 1];
        if (b === 0x32 /* 2 event */) deliverBuf(i, buf, s, e, recvUs);
        else if (b === 0x30 /* 0 connect */) opened();
        else if (b === 0x34 /* 4 connect_error */) fail(new Error(`socket.io connect_error ${buf.toString('utf8', s, e)}`));
      } else if (a === 0x32 /* 2 ping */) sock.write(SIO_PONG);
      else if (a === 0x30 /* 0 open */) sock.write(SIO_CONNECT);
    };
    const onRead = (shared: Buffer, n: number) => {
      // The shared buffer is overwritten by the next read: a partial frame is kept as a copy.
      const buf = pending === null ? shared.subarray(0, n) : Buffer.concat([pending, shared.subarray(0, n)]);
      pending = null;
      let off = 0;
      if (handshaking) {
        const h = buf.indexOf('\r\n\r\n');
        if (h < 0) { pending = Buffer.from(buf); return; }
        const status = buf.toString('latin1', 0, Math.min(h, 200)).split('\r\n')[0]!;
        if (!/^HTTP\/1\.1 101/.test(status)) { fail(new Error(`handshake: ${status}`)); return; }
        handshaking = false;
        off = h + 4;
        if (kind === 'gateway') opened();
      }
      const recvUs = nowUs();
      const len = buf.length;
      while (len - off >= 2) {
        const b0 = buf[off]!;
        let plen = buf[off + 1]! & 0x7f;
        let hl = 2;
        if (plen === 126) {
          if (len - off < 4) break;
          plen = buf.readUInt16BE(off + 2);
          hl = 4;
        } else if (plen === 127) {
          if (len - off < 10) break;
          plen = buf.readUInt32BE(off + 2) * 4294967296 + buf.readUInt32BE(off + 6);
          hl = 10;
        }
        if (len - off < hl + plen) break;
        const s = off + hl;
        const e = s + plen;
        const op = b0 & 0x0f;
        if (op === 0x1 || op === 0x2) onText(buf, s, e, recvUs);
        else if (op === 0x9) sock.write(frame(0xa, buf.subarray(s, e)));
        else if (op === 0x8) { sock.end(frame(0x8, buf.subarray(s, Math.min(e, s + 2)))); }
        off = e;
      }
      if (off < len) pending = Buffer.from(buf.subarray(off));
    };
  });
}

// ------------------------------------------------------------------------------------------------
// Library clients

function libOpen(i: number, kind: TargetKind, port: number, path: string, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let settled = false;
    if (kind === 'gateway') {
      const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`, { perMessageDeflate: false, skipUTF8Validation: true, handshakeTimeout: timeoutMs });
      ws.on('message', (data: Buffer) => deliverBuf(i, data, 0, data.length, nowUs()));
      ws.once('open', () => { settled = true; isOpen[i] = 1; conns[i] = { close: () => ws.terminate() }; resolve(); });
      ws.once('unexpected-response', (_req, res) => { if (!settled) { settled = true; reject(new Error(`handshake ${res.statusCode}`)); } ws.terminate(); });
      ws.on('error', (e) => { if (!settled) { settled = true; reject(e); } });
      ws.on('close', () => onClosed(i));
      return;
    }
    const q = new URLSearchParams(path.split('?')[1] ?? '');
    const s: SioSocket = sioConnect(`http://127.0.0.1:${port}`, {
      transports: ['websocket'], forceNew: true, reconnection: false, timeout: timeoutMs, query: Object.fromEntries(q),
    });
    s.on('m', (msg: { data: string }) => {
      const recvUs = nowUs();
      const d = msg.data;
      if (typeof d !== 'string' || !d.startsWith(BODY_PREFIX)) { bad++; return; }
      deliverStr(i, d, BODY_PREFIX.length, recvUs);
    });
    s.once('connect', () => { settled = true; isOpen[i] = 1; conns[i] = { close: () => s.disconnect() }; resolve(); });
    s.once('connect_error', (e) => { if (!settled) { settled = true; reject(e); } s.disconnect(); });
    s.on('disconnect', () => onClosed(i));
  });
}

// ------------------------------------------------------------------------------------------------
// Control

let conns: ({ close(): void } | undefined)[] = [];

async function openAll(m: Extract<ToClient, { t: 'open' }>): Promise<void> {
  const t0 = performance.now();
  connCount = m.count;
  batched = m.batched === true;
  conns = new Array(m.count);
  isOpen = new Uint8Array(m.count);
  nServers = m.ports.length;
  serverOf = new Uint8Array(m.count);
  for (let i = 0; i < m.count; i++) serverOf[i] = (m.first + i) % nServers;
  let ok = 0;
  let failed = 0;
  let firstError: string | null = null;
  let next = 0;
  const open = m.impl === 'raw' ? rawOpen : libOpen;
  const worker = async () => {
    while (next < m.count) {
      const i = next++;
      // Spread over the servers by the global client index.
      const port = m.ports[serverOf[i]!]!;
      try {
        await open(i, m.kind, port, m.path, m.timeoutMs);
        ok++;
      } catch (e) {
        failed++;
        firstError ??= (e as Error).message;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(m.concurrency, m.count) }, worker));
  send({ t: 'opened', ok, failed, firstError, ms: performance.now() - t0 });
}

function startRun(m: Extract<ToClient, { t: 'run' }>): void {
  flushDone();
  run = m.run;
  maxSeq = m.maxSeq;
  t0Ms = m.t0Ms;
  live = 0;
  for (let i = 0; i < connCount; i++) live += isOpen[i]!;
  bytesPerConn = (maxSeq + 7) >> 3;
  bitmap = new Uint8Array(connCount * bytesPerConn);
  perConn = new Uint32Array(connCount);
  perSeq = new Uint32Array(maxSeq);
  hist = new Uint32Array(HIST_BUCKETS);
  histLocal = new Uint32Array(HIST_BUCKETS);
  histRemote = new Uint32Array(HIST_BUCKETS);
  ticks = new Uint32Array(Math.max(1, m.ticks));
  received = 0; dupes = 0; stray = 0; bad = 0; closedInRun = 0; firstMs = 0; lastMs = 0; highSeq = -1;
  send({ t: 'run-ok', live });
}

function report(): ClientReport {
  let minPer = Infinity;
  let maxPer = 0;
  for (let i = 0; i < connCount; i++) {
    if (isOpen[i] === 0 && perConn[i] === 0) continue;
    minPer = Math.min(minPer, perConn[i]!);
    maxPer = Math.max(maxPer, perConn[i]!);
  }
  return {
    live, closed: closedInRun, received, minPerConn: Number.isFinite(minPer) ? minPer : 0, maxPerConn: maxPer, dupes, stray, bad,
    hist: Array.from(hist), histLocal: Array.from(histLocal), histRemote: Array.from(histRemote), ticks: Array.from(ticks), firstMs, lastMs, perSeq: Array.from(perSeq.subarray(0, highSeq + 1)),
  };
}

function onControl(m: ToClient): void {
  switch (m.t) {
    case 'open': void openAll(m); break;
    case 'run': startRun(m); break;
    case 'status': {
      let withAny = 0;
      let l = 0;
      for (let i = 0; i < connCount; i++) {
        if (perConn[i]! > 0) withAny++;
        l += isOpen[i]!;
      }
      send({ t: 'status', live: l, withAny, received });
      break;
    }
    case 'report': flushDone(); send({ t: 'report', report: report() }); break;
    case 'close':
      for (const c of conns) c?.close();
      send({ t: 'closed' });
      setTimeout(() => process.exit(0), 200);
      break;
  }
}

// Only as a forked process: bench/fanout.ts and the tests import this module for its helpers.
if (process.send !== undefined && process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.on('message', onControl);
  process.on('disconnect', () => process.exit(0));
}
