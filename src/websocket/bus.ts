/**
 * The broadcast bus: carries a broadcast to every worker of every node, in one order.
 *
 * - Local (no Redis): a worker hands the message to the master (IPC), which gives it an id and sends
 *   it to every worker of the node, the sender included, in the order it got them.
 * - Redis: XADD to one stream (MAXLEN ~ retention), and one reader per worker with XREAD BLOCK from
 *   the last id it saw, so a reader that lost Redis resumes where it stopped instead of skipping;
 *   payloads are msgpackr. The stream order is the order every worker delivers in.
 *
 * Ids look like Redis stream ids ("<ms>-<seq>") in both modes and compare as such.
 */
import { Packr } from 'msgpackr';
import type { RedisConnectOptions } from '../store/connect.js';
import { connectRedis, type RedisClient } from '../store/connect.js';
import type { WireOp } from '../master/messages.js';
import type { ConnectionOwner } from './ids.js';
import type { ConnectionReply } from './runtime.js';

export interface BusMessage {
  id: string;
  /** "{api}/{stage}": topics belong to one WebSocket API stage. */
  api: string;
  topic: string;
  data: Buffer;
}

export interface WsBus {
  readonly kind: 'local' | 'redis';
  /** Resolves with the message id once the bus has it (it is then delivered to every worker, this one too). */
  publish(api: string, topic: string, data: Buffer): Promise<string>;
  /**
   * Starts delivering; `deliver` sees every message once, in bus order. Resolves once every message
   * published from then on is sure to be delivered (the worker reports ready after it).
   */
  start(deliver: (m: BusMessage) => void): Promise<void>;
  /** Messages after `after` still retained (Redis only: the local bus has no memory beyond the workers'). */
  replay(after: string): Promise<BusMessage[]>;
  close(): Promise<void>;
}

/** Orders two bus ids ("ms-seq"). */
export function compareIds(a: string, b: string): number {
  const da = a.indexOf('-');
  const db = b.indexOf('-');
  const ma = Number(a.slice(0, da < 0 ? a.length : da));
  const mb = Number(b.slice(0, db < 0 ? b.length : db));
  if (ma !== mb) return ma < mb ? -1 : 1;
  const sa = da < 0 ? 0 : Number(a.slice(da + 1));
  const sb = db < 0 ? 0 : Number(b.slice(db + 1));
  return sa === sb ? 0 : sa < sb ? -1 : 1;
}

export const BUS_ID = /^\d{1,16}-\d{1,16}$/;

/** Ids for the local bus, given by the master: "<ms>-<seq>", strictly increasing. */
export class IdClock {
  private ms = 0;
  private seq = 0;
  next(): string {
    const now = Date.now();
    if (now > this.ms) {
      this.ms = now;
      this.seq = 0;
    } else {
      this.seq++;
    }
    return `${this.ms}-${this.seq}`;
  }
}

/** The bus over cluster IPC: the master numbers and relays (see Supervisor 'ws-publish'). */
export class LocalBus implements WsBus {
  readonly kind = 'local' as const;
  private reqId = 0;
  private readonly waiting = new Map<number, { resolve: (id: string) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  private deliver: ((m: BusMessage) => void) | null = null;

  constructor(private readonly send: (msg: { type: 'ws-publish'; reqId: number; api: string; topic: string; data: string }) => void) {}

  publish(api: string, topic: string, data: Buffer): Promise<string> {
    return new Promise((resolve, reject) => {
      const reqId = ++this.reqId;
      // The master answers at once; only a master that is gone leaves this waiting.
      const timer = setTimeout(() => {
        this.waiting.delete(reqId);
        reject(new Error('the master did not take the broadcast'));
      }, 5000);
      this.waiting.set(reqId, { resolve, reject, timer });
      this.send({ type: 'ws-publish', reqId, api, topic, data: data.toString('base64') });
    });
  }

  /** The master's answer to a publish of this worker. */
  published(reqId: number, id: string): void {
    const w = this.waiting.get(reqId);
    if (w === undefined) return;
    this.waiting.delete(reqId);
    clearTimeout(w.timer);
    w.resolve(id);
  }

  /** A message the master relays (from any worker of the node). */
  delivered(m: { id: string; api: string; topic: string; data: string }): void {
    this.deliver?.({ id: m.id, api: m.api, topic: m.topic, data: Buffer.from(m.data, 'base64') });
  }

  start(deliver: (m: BusMessage) => void): Promise<void> {
    this.deliver = deliver;
    return Promise.resolve();
  }

  replay(): Promise<BusMessage[]> {
    return Promise.resolve([]);
  }

  async close(): Promise<void> {
    for (const w of this.waiting.values()) {
      clearTimeout(w.timer);
      w.reject(new Error('bus closed'));
    }
    this.waiting.clear();
    this.deliver = null;
  }
}

// XREAD blocks this long per call; the reader connection's command timeout must exceed it.
const BLOCK_MS = 2000;
// At most this many messages per XREAD (one burst is then one batch of deliveries).
const READ_COUNT = 1000;
const packr = new Packr({ useRecords: false });

/** The bus over one Redis stream. */
export class RedisBus implements WsBus {
  readonly kind = 'redis' as const;
  private readonly writer: RedisClient;
  private readonly reader: RedisClient;
  private readonly key: string;
  private lastId = '$';
  private running = false;
  private closed = false;

  /**
   * `maxLen`: messages the stream keeps (XADD MAXLEN ~), the replay window for reconnecting clients.
   * `onError`: the reader lost Redis (it retries with backoff and resumes from its last id).
   * `startWaitMs`: how long start() waits for Redis to fix the read position (default 2 s, as the
   * store; 0 when the store already found Redis down: the worker has waited once).
   */
  constructor(o: RedisConnectOptions & { keyPrefix: string; maxLen: number; startWaitMs?: number }, private readonly onError: (e: Error) => void = () => {}) {
    this.key = `${o.keyPrefix}ws:bus`;
    this.maxLen = o.maxLen;
    this.startWaitMs = o.startWaitMs ?? 2000;
    this.writer = connectRedis({ ...o, commandTimeoutMs: Math.max(o.commandTimeoutMs ?? 100, 1000) });
    this.writer.on('error', () => {});
    this.reader = connectRedis({ ...o, commandTimeoutMs: BLOCK_MS + 3000 }, { enableAutoPipelining: false });
    this.reader.on('error', () => {});
  }

  private readonly maxLen: number;
  private readonly startWaitMs: number;

  async publish(api: string, topic: string, data: Buffer): Promise<string> {
    const payload = packr.pack({ a: api, t: topic, d: data });
    const id = await this.writer.xadd(this.key, 'MAXLEN', '~', String(this.maxLen), '*', 'm', payload);
    if (id === null) throw new Error('redis: XADD returned no id');
    return id;
  }

  async start(deliver: (m: BusMessage) => void): Promise<void> {
    if (this.running) return;
    this.running = true;
    // Fix the start position before the worker reports ready: '$' at the first XREAD would miss what
    // is published between ready and that read (the reader may still be connecting). The newest
    // entry's id, or 0-0 for an empty stream, is exact. Redis down: '$' once it is back (bounded wait).
    const deadline = Date.now() + this.startWaitMs;
    while (!this.closed && Date.now() < deadline) {
      try {
        if (this.writer.status === 'ready') {
          const last = await this.writer.xrevrange(this.key, '+', '-', 'COUNT', 1);
          this.lastId = last.length > 0 ? last[0]![0] : '0-0';
          break;
        }
      } catch { /* retried until the deadline */ }
      await new Promise((r) => setTimeout(r, 50));
    }
    void this.loop(deliver);
  }

  private async loop(deliver: (m: BusMessage) => void): Promise<void> {
    let failures = 0;
    while (!this.closed) {
      try {
        if (this.reader.status !== 'ready') {
          await new Promise((r) => setTimeout(r, Math.min(2000, 50 * 2 ** Math.min(failures++, 6))));
          continue;
        }
        // From the last id seen ('$' only if start() could not reach Redis), so a reader that lost
        // Redis for a while reads what it missed (as far as the stream still holds it).
        const r = await this.reader.xreadBuffer('COUNT', READ_COUNT, 'BLOCK', BLOCK_MS, 'STREAMS', this.key, this.lastId);
        failures = 0;
        if (r === null) continue;
        for (const [, entries] of r) {
          for (const [idBuf, fields] of entries) {
            const id = idBuf.toString();
            this.lastId = id;
            const m = this.decode(id, fields);
            if (m !== null) deliver(m);
          }
        }
      } catch (e) {
        if (this.closed) return;
        this.onError(e as Error);
        await new Promise((r) => setTimeout(r, Math.min(2000, 50 * 2 ** Math.min(failures++, 6))));
      }
    }
  }

  private decode(id: string, fields: Buffer[]): BusMessage | null {
    for (let i = 0; i + 1 < fields.length; i += 2) {
      if (fields[i]!.toString() !== 'm') continue;
      try {
        const v = packr.unpack(fields[i + 1]!) as { a: string; t: string; d: Uint8Array };
        return { id, api: v.a, topic: v.t, data: Buffer.from(v.d.buffer, v.d.byteOffset, v.d.byteLength) };
      } catch {
        return null; // not ours: skipped
      }
    }
    return null;
  }

  async replay(after: string): Promise<BusMessage[]> {
    const r = await this.writer.xrangeBuffer(this.key, `(${after}`, '+', 'COUNT', this.maxLen);
    const out: BusMessage[] = [];
    for (const [idBuf, fields] of r) {
      const m = this.decode(idBuf.toString(), fields);
      if (m !== null) out.push(m);
    }
    return out;
  }

  // ---- connection registry: one hash per connection, expiring unless its owner refreshes it ----

  private connKey(id: string): string {
    return `${this.key}:conn:${id}`;
  }

  /** Records (or refreshes) a connection: owner, connectedAt, lastActiveAt, identity; gone after `ttlMs` without a refresh. */
  register(id: string, c: { node: number; worker: number; connectedAt: number; lastActiveAt: number; sourceIp: string; userAgent: string }, ttlMs: number): void {
    const key = this.connKey(id);
    this.writer.multi()
      .hset(key, 'node', c.node, 'worker', c.worker, 'connectedAt', c.connectedAt, 'lastActiveAt', c.lastActiveAt, 'sourceIp', c.sourceIp, 'userAgent', c.userAgent)
      .pexpire(key, ttlMs)
      .exec()
      .catch(() => { /* best effort: the owner still answers for its connections */ });
  }

  unregister(id: string): void {
    this.writer.del(this.connKey(id)).catch(() => {});
  }

  /** A connection another node holds, as the registry knows it; null when it is not there (closed, or its node is gone). */
  async lookup(id: string): Promise<{ connectedAt: number; lastActiveAt: number; sourceIp: string; userAgent: string } | null> {
    const h = await this.writer.hgetall(this.connKey(id));
    if (h['connectedAt'] === undefined) return null;
    return { connectedAt: Number(h['connectedAt']), lastActiveAt: Number(h['lastActiveAt']), sourceIp: h['sourceIp'] ?? '', userAgent: h['userAgent'] ?? '' };
  }

  // ---- @connections operations between nodes (pub/sub: one channel per worker) ----

  private sub: RedisClient | null = null;
  private self: ConnectionOwner | null = null;
  private reqId = 0;
  private readonly waiting = new Map<number, { resolve: (r: ConnectionReply) => void; timer: NodeJS.Timeout }>();

  private channel(o: ConnectionOwner): string {
    return `${this.key}:ops:${o.node}:${o.worker}`;
  }

  /** Takes operations for this worker's connections (and replies to its own requests) on its channel. */
  serve(self: ConnectionOwner, handle: (op: WireOp) => ConnectionReply, opts: RedisConnectOptions): void {
    this.self = self;
    const sub = connectRedis({ ...opts, commandTimeoutMs: 5000 }, { enableAutoPipelining: false });
    this.sub = sub;
    sub.on('error', () => {});
    const channel = this.channel(self);
    sub.on('ready', () => void sub.subscribe(channel).catch(() => {}));
    sub.on('message', (ch: string, text: string) => {
      if (ch !== channel) return;
      let m: { reqId: number; from?: ConnectionOwner; op?: WireOp; reply?: ConnectionReply };
      try {
        m = JSON.parse(text) as typeof m;
      } catch {
        return;
      }
      if (m.reply !== undefined) {
        const w = this.waiting.get(m.reqId);
        if (w === undefined) return;
        this.waiting.delete(m.reqId);
        clearTimeout(w.timer);
        w.resolve(m.reply);
      } else if (m.op !== undefined && m.from !== undefined) {
        const reply = handle(m.op);
        void this.writer.publish(this.channel(m.from), JSON.stringify({ reqId: m.reqId, reply })).catch(() => {});
      }
    });
  }

  /** An operation for a connection another node (or worker) holds; 410 when nobody listens for that owner. */
  async request(owner: ConnectionOwner, op: WireOp): Promise<ConnectionReply> {
    if (this.self === null) return { status: 410 };
    const reqId = ++this.reqId;
    const answer = new Promise<ConnectionReply>((resolve) => {
      // The owner is subscribed while it lives; an owner that stops answering holds nothing any more.
      const timer = setTimeout(() => {
        this.waiting.delete(reqId);
        resolve({ status: 410 });
      }, 5000);
      this.waiting.set(reqId, { resolve, timer });
    });
    const heard = await this.writer.publish(this.channel(owner), JSON.stringify({ reqId, from: this.self, op }));
    if (heard === 0) {
      // No worker has that channel: the node or worker is gone, and its connections with it.
      const w = this.waiting.get(reqId);
      if (w !== undefined) {
        clearTimeout(w.timer);
        this.waiting.delete(reqId);
      }
      return { status: 410 };
    }
    return answer;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const w of this.waiting.values()) {
      clearTimeout(w.timer);
      w.resolve({ status: 410 });
    }
    this.waiting.clear();
    this.sub?.disconnect();
    this.reader.disconnect();
    this.writer.disconnect();
  }
}
