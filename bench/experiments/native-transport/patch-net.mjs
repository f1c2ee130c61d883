// Measurement prototype (see ab.mjs): preloaded with --import, routes the gateway upstream pool's
// net.connect calls (recognised by their `onread` option and an IP host) to transport.node, a
// net.Socket stand-in on libuv. NATIVE_TRANSPORT=0 turns it off.
import net from 'node:net';
import { getSystemErrorName } from 'node:util';
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
const T = require('./transport.node');
const EV_CONNECT = 1, EV_EOF = 2, EV_ERROR = 3, EV_DRAIN = 4;
const HIGH_WATER = 16 * 1024; // net.Socket's default writableHighWaterMark
const WRITEV_MAX = 64; // transport.c's uv_buf_t array
const sockets = [];
let shared = null;

function onRead(id, n) {
  const s = sockets[id];
  if (s === undefined || s.destroyed) return false;
  return s._onread(n, shared) !== false;
}
function onEvent(id, type, err) {
  const s = sockets[id];
  if (s === undefined || s.destroyed) return;
  if (type === EV_CONNECT) {
    if (err === null) { s.connecting = false; s._emit('connect'); if (s._paused) T.read(id, false); }
    else s._fail(err);
  } else if (type === EV_EOF) {
    s._emit('end');
    if (!s.destroyed) s.destroy(); // allowHalfOpen false, as net.Socket
  } else if (type === EV_ERROR) s._fail(err);
  else if (type === EV_DRAIN) {
    s.writableLength = 0;
    if (s.writableNeedDrain) { s.writableNeedDrain = false; s._emit('drain'); }
  }
}

class NativeSocket {
  constructor(host, port, onread) {
    if (shared === null) { shared = onread.buffer; T.init(shared, onRead, onEvent); }
    else if (shared !== onread.buffer) throw new Error('one shared read buffer only');
    this._onread = onread.callback;
    this._l = Object.create(null);
    this._corked = null;
    this._paused = false;
    this.connecting = true;
    this.destroyed = false;
    this.writableLength = 0;
    this.writableNeedDrain = false;
    this._handle = null; // pool.ts fastWrite then uses write()
    this.id = T.connect(host, port);
    if (this.id < 0) { this.id = -1; process.nextTick(() => this._fail('EINVAL')); return; }
    sockets[this.id] = this;
  }
  on(ev, fn) { (this._l[ev] ??= []).push(fn); return this; }
  _emit(ev, arg) { const fs = this._l[ev]; if (fs) for (const f of fs) f(arg); }
  _fail(code) {
    if (this.destroyed) return;
    const e = new Error(`${this.connecting ? 'connect' : 'read'} ${code}`);
    e.code = code;
    this._emit('error', e);
    this.destroy();
  }
  write(data) {
    if (this.destroyed) return false;
    if (this._corked !== null) { this._corked.push(data); return !this.writableNeedDrain; }
    return this._after(T.writev(this.id, data));
  }
  _after(q) {
    if (q < 0) { process.nextTick(() => this._fail(getSystemErrorName(q))); return false; }
    this.writableLength = q;
    if (q > HIGH_WATER) this.writableNeedDrain = true;
    return !this.writableNeedDrain;
  }
  cork() { if (this._corked === null) this._corked = []; }
  uncork() {
    const c = this._corked;
    this._corked = null;
    if (c === null || c.length === 0) return;
    for (let i = 0; i < c.length && !this.destroyed; i += WRITEV_MAX) this._after(T.writev(this.id, c.length === 1 ? c[0] : c.slice(i, i + WRITEV_MAX)));
  }
  pause() { this._paused = true; if (!this.destroyed && this.id >= 0) T.read(this.id, false); return this; }
  resume() { this._paused = false; if (!this.destroyed && this.id >= 0) T.read(this.id, true); return this; }
  destroy() {
    if (this.destroyed) return this;
    this.destroyed = true;
    if (this.id >= 0) { T.close(this.id); delete sockets[this.id]; }
    process.nextTick(() => this._emit('close', false));
    return this;
  }
}

const orig = net.connect;
net.connect = function (opts, ...rest) {
  if (opts !== null && typeof opts === 'object' && opts.onread && net.isIP(opts.host ?? '') !== 0 && process.env.NATIVE_TRANSPORT !== '0') {
    return new NativeSocket(opts.host, opts.port, opts.onread);
  }
  return orig.call(this, opts, ...rest);
};
