import { connect, type Socket } from 'node:net';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

/**
 * A light HTTP/1.1 load driver for accuracy tests: raw keep-alive sockets, one request in flight per
 * connection (uWS closes a connection that pipelines behind an asynchronous response), responses
 * framed by Content-Length. Every request records the monotonic time its bytes were written, so a
 * test can count answers by when they were sent. Costs a few microseconds per request, so it leaves
 * the CPU to the gateways it measures.
 */

export interface Answer {
  /** performance.now() when the request was written to the socket. */
  sentAt: number;
  /** performance.now() when the whole response was read. */
  doneAt: number;
  status: number;
  body: string;
  /** Index of the connection in its pool (see ConnPool.localPorts). */
  conn: number;
}

interface Pending {
  req: Buffer;
  resolve: (a: Answer) => void;
  reject: (e: Error) => void;
}

class Conn {
  busy: Pending | null = null;
  sentAt = 0;
  dead = false;
  private buf = '';

  constructor(readonly socket: Socket, readonly index: number, private readonly onFree: (c: Conn) => void) {
    socket.setNoDelay(true);
    socket.on('data', (d: Buffer) => this.onData(d));
    socket.on('error', () => {}); // reported through 'close'
    socket.on('close', () => {
      this.dead = true;
      const p = this.busy;
      this.busy = null;
      if (p !== null) p.reject(new Error(`connection ${index} closed with a request in flight${this.buf ? ` (read so far: ${JSON.stringify(this.buf.slice(0, 200))})` : ''}`));
      this.onFree(this);
    });
  }

  send(p: Pending): void {
    this.busy = p;
    this.buf = '';
    this.sentAt = performance.now();
    this.socket.write(p.req);
  }

  private onData(d: Buffer): void {
    this.buf += d.toString('latin1');
    const p = this.busy;
    if (p === null) return this.fail(`bytes with no request in flight: ${JSON.stringify(this.buf.slice(0, 200))}`);
    const end = this.buf.indexOf('\r\n\r\n');
    if (end < 0) return;
    const head = this.buf.slice(0, end);
    const status = /^HTTP\/1\.1 (\d{3}) /.exec(head);
    const len = /\r\ncontent-length: *(\d+)/i.exec(head);
    if (status === null || len === null) return this.fail(`unframed response (no status or Content-Length): ${JSON.stringify(head.slice(0, 300))}`);
    const total = end + 4 + Number(len[1]);
    if (this.buf.length < total) return;
    if (this.buf.length > total) return this.fail(`extra bytes after a response: ${JSON.stringify(this.buf.slice(total, total + 200))}`);
    const body = Buffer.from(this.buf.slice(end + 4), 'latin1').toString('utf8');
    this.buf = '';
    this.busy = null;
    const closing = /\r\nconnection: *close/i.test(head);
    p.resolve({ sentAt: this.sentAt, doneAt: performance.now(), status: Number(status[1]), body, conn: this.index });
    if (closing) { this.dead = true; this.socket.end(); }
    this.onFree(this);
  }

  private fail(why: string): void {
    const p = this.busy;
    this.busy = null;
    this.dead = true;
    this.socket.destroy();
    if (p !== null) p.reject(new Error(why));
  }
}

/** Keep-alive connections to one server; send() takes a free one (round robin) or waits for one, FIFO. */
export class ConnPool {
  private readonly conns: Conn[] = [];
  private readonly queue: Pending[] = [];
  private next = 0;

  private constructor(readonly port: number) {}

  static async open(port: number, n: number): Promise<ConnPool> {
    const pool = new ConnPool(port);
    await pool.add(n);
    return pool;
  }

  /** Opens `n` more connections. */
  async add(n: number): Promise<void> {
    const sockets = await Promise.all(Array.from({ length: n }, () => new Promise<Socket>((resolve, reject) => {
      const s = connect(this.port, '127.0.0.1');
      s.once('connect', () => { s.off('error', reject); resolve(s); });
      s.once('error', reject);
    })));
    for (const s of sockets) this.conns.push(new Conn(s, this.conns.length, (c) => this.freed(c)));
  }

  /** Client-side port of each connection (index = Answer.conn). */
  get localPorts(): number[] {
    return this.conns.map((c) => c.socket.localPort ?? 0);
  }

  get live(): number {
    return this.conns.filter((c) => !c.dead).length;
  }

  send(req: Buffer): Promise<Answer> {
    return new Promise((resolve, reject) => {
      const p: Pending = { req, resolve, reject };
      const c = this.freeConn();
      if (c !== null) c.send(p);
      else if (this.live === 0) reject(new Error(`no live connection to :${this.port}`));
      else this.queue.push(p);
    });
  }

  private freeConn(): Conn | null {
    for (let i = 0; i < this.conns.length; i++) {
      const c = this.conns[(this.next + i) % this.conns.length]!;
      if (!c.dead && c.busy === null) {
        this.next = (this.next + i + 1) % this.conns.length;
        return c;
      }
    }
    return null;
  }

  private freed(c: Conn): void {
    if (this.queue.length === 0) return;
    if (!c.dead && c.busy === null) { c.send(this.queue.shift()!); return; }
    if (this.live === 0) for (const p of this.queue.splice(0)) p.reject(new Error(`no live connection to :${this.port}`));
  }

  close(): void {
    for (const c of this.conns) c.socket.destroy();
  }
}

export function getRequest(path: string, headers: Record<string, string> = {}): Buffer {
  const extra = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('');
  return Buffer.from(`GET ${path} HTTP/1.1\r\nHost: accuracy.test\r\n${extra}\r\n`, 'latin1');
}

export interface PacedAnswer {
  /** Which pool (server) it went to. */
  pool: number;
  /** ms after the start of the run it was due (schedule) and sent (written). */
  dueMs: number;
  sentMs: number;
  /** Sent to fully read, ms (-1 on error). */
  latencyMs: number;
  status: number;
  body: string;
  conn: number;
  /** Connection failure or bad framing; status is 0 then. */
  error?: string;
}

/**
 * Open loop: `rate` requests/s in total for `durationMs`, request i due at i / rate, sent by a timer
 * every `tickMs` (what is due and not yet sent goes out then: a late timer sends a short burst
 * instead of dropping load). Requests alternate between the pools. Resolves when every answer is in.
 */
export async function paced(pools: ConnPool[], req: Buffer, rate: number, durationMs: number, tickMs = 4): Promise<{ answers: PacedAnswer[]; maxLateMs: number }> {
  const answers: PacedAnswer[] = [];
  const inflight: Promise<void>[] = [];
  const total = Math.floor((rate * durationMs) / 1000);
  const t0 = performance.now();
  let issued = 0;
  let maxLateMs = 0;
  await new Promise<void>((done) => {
    const tick = () => {
      const now = performance.now() - t0;
      const due = Math.min(total, Math.floor((now * rate) / 1000) + 1);
      while (issued < due) {
        const i = issued++;
        const pool = i % pools.length;
        const dueMs = (i * 1000) / rate;
        maxLateMs = Math.max(maxLateMs, now - dueMs);
        inflight.push(pools[pool]!.send(req).then(
          (a) => { answers.push({ pool, dueMs, sentMs: a.sentAt - t0, latencyMs: a.doneAt - a.sentAt, status: a.status, body: a.body, conn: a.conn }); },
          (e: Error) => { answers.push({ pool, dueMs, sentMs: performance.now() - t0, latencyMs: -1, status: 0, body: '', conn: -1, error: e.message }); },
        ));
      }
      if (issued >= total) { clearInterval(timer); done(); }
    };
    const timer = setInterval(tick, tickMs);
    tick();
  });
  await Promise.all(inflight);
  answers.sort((a, b) => a.sentMs - b.sentMs);
  return { answers, maxLateMs };
}

/** Closed loop: `n` requests with `concurrency` in flight, spread round robin over the pools. */
export async function closedLoop(pools: ConnPool[], req: Buffer, n: number, concurrency: number): Promise<PacedAnswer[]> {
  const answers: PacedAnswer[] = [];
  const t0 = performance.now();
  let next = 0;
  const lane = async () => {
    while (next < n) {
      const i = next++;
      const pool = i % pools.length;
      try {
        const a = await pools[pool]!.send(req);
        answers.push({ pool, dueMs: 0, sentMs: a.sentAt - t0, latencyMs: a.doneAt - a.sentAt, status: a.status, body: a.body, conn: a.conn });
      } catch (e) {
        answers.push({ pool, dueMs: 0, sentMs: performance.now() - t0, latencyMs: -1, status: 0, body: '', conn: -1, error: (e as Error).message });
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
  return answers;
}

/**
 * Linux: which of `pids` holds the server side of each client connection to `serverPort` (by local
 * port), found through /proc/net/tcp inodes and /proc/PID/fd links. null where it cannot be told
 * (not Linux, or the socket is gone).
 */
export function serverPids(serverPort: number, clientPorts: number[], pids: number[]): (number | null)[] {
  let table: string;
  try {
    table = readFileSync('/proc/net/tcp', 'utf8');
  } catch {
    return clientPorts.map(() => null);
  }
  const hex = (p: number) => p.toString(16).toUpperCase().padStart(4, '0');
  const local = `0100007F:${hex(serverPort)}`;
  const inodeByRemote = new Map<string, string>();
  for (const line of table.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length > 9 && f[1] === local) inodeByRemote.set(f[2]!, f[9]!);
  }
  const pidByInode = new Map<string, number>();
  for (const pid of pids) {
    let fds: string[] = [];
    try { fds = readdirSync(`/proc/${pid}/fd`); } catch { continue; }
    for (const fd of fds) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (m) pidByInode.set(m[1]!, pid);
      } catch { /* closed meanwhile */ }
    }
  }
  return clientPorts.map((p) => {
    const inode = inodeByRemote.get(`0100007F:${hex(p)}`);
    return inode === undefined ? null : pidByInode.get(inode) ?? null;
  });
}
