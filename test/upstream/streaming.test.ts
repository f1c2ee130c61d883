import t from 'tap';
import { httpServer, poolFor, req, send, type Captured } from './helpers.js';

/**
 * 200 MB each way with backpressure, in one process (client and server), while sampling RSS.
 * Without backpressure the whole body would pile up in a socket's write queue or in the sink
 * (RSS +200 MB); with it, growth stays at a few socket buffers' worth.
 */

const TOTAL = 200 * 1024 * 1024;
const CHUNK = 64 * 1024;
/**
 * Allowed RSS growth after a warm-up. Measured on this machine: 1-11 MB with backpressure working;
 * about 117 MB (response) and 166 MB (request) with it disabled in the pool.
 */
const RSS_BUDGET = 64 * 1024 * 1024;

/** Byte value of the 512-byte block `block`: position-dependent, so loss or reordering shows. */
const blockValue = (block: number): number => (block * 31 + 7) & 0xff;

/** A new buffer with the stream bytes at `offset`. */
function makeChunk(offset: number, size: number): Buffer {
  const b = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i += 512) b.fill(blockValue((offset + i) >>> 9), i, Math.min(size, i + 512));
  return b;
}

/** Checks the first byte of every 512-byte block in `chunk`, which starts at stream `offset`. */
function checkChunk(chunk: Buffer, offset: number): boolean {
  const first = (512 - (offset % 512)) % 512;
  for (let j = first; j < chunk.length; j += 512) {
    if (chunk[j] !== blockValue((offset + j) >>> 9)) return false;
  }
  return true;
}

function rssSampler(): { stop: () => number } {
  const base = process.memoryUsage.rss();
  let peak = base;
  const timer = setInterval(() => { peak = Math.max(peak, process.memoryUsage.rss()); }, 5);
  return {
    stop: () => {
      clearInterval(timer);
      peak = Math.max(peak, process.memoryUsage.rss());
      return peak - base;
    },
  };
}

const mb = (n: number): string => `${(n / 1024 / 1024).toFixed(1)} MB`;

/** Streams `total` bytes as a request body, honouring write() → false / onDrain. */
async function upload(pool: ReturnType<typeof poolFor>, total: number): Promise<{ r: Captured; writes: number; waits: number }> {
  let writes = 0;
  let waits = 0;
  const r = await send(pool, req({ method: 'PUT', body: 'stream', timeoutMs: 120_000 }), {
    started: (ex) => {
      let offset = 0;
      // A fresh buffer per write, as the proxy does: without backpressure they would all pile up.
      const pump = (): void => {
        while (offset < total) {
          const n = Math.min(CHUNK, total - offset);
          const chunk = makeChunk(offset, n);
          offset += n;
          writes++;
          if (!ex.write(chunk)) {
            waits++;
            ex.onDrain = () => { ex.onDrain = null; pump(); };
            return;
          }
        }
        ex.end();
      };
      pump();
    },
  });
  return { r, writes, waits };
}

t.test('200 MB streamed request body with backpressure', async (t) => {
  let intact = true;
  const srv = await httpServer((rq, res) => {
    // A reader that stalls now and then, so the client really has to wait for drain.
    let received = 0;
    let sinceStall = 0;
    rq.on('data', (chunk: Buffer) => {
      if (!checkChunk(chunk, received)) intact = false;
      received += chunk.length;
      sinceStall += chunk.length;
      if (sinceStall > 8 * 1024 * 1024) {
        sinceStall = 0;
        rq.pause();
        setTimeout(() => rq.resume(), 5);
      }
    });
    rq.on('end', () => res.end(String(received)));
  });
  const pool = poolFor(srv.port);
  t.teardown(async () => { pool.close(); await srv.close(); });

  // Warm-up, not measured: the first tens of MB through a fresh process grow the allocator's
  // arenas (read buffers, JIT) by about 40 MB once, whatever the client does.
  t.equal((await upload(pool, 32 * 1024 * 1024)).r.error, null);
  const rss = rssSampler();
  const { r, writes, waits } = await upload(pool, TOTAL);
  const growth = rss.stop();
  t.equal(r.error, null);
  t.equal(r.status, 200);
  t.equal(r.body.toString(), String(TOTAL), 'upstream received every byte');
  t.ok(intact, 'bytes arrived intact and in order');
  t.ok(waits > 10, `write() asked us to wait (${waits} of ${writes} writes)`);
  t.ok(growth < RSS_BUDGET, `RSS grew ${mb(growth)} (budget ${mb(RSS_BUDGET)})`);
});

t.test('200 MB response body to a slow consumer with backpressure', async (t) => {
  const srv = await httpServer((rq, res) => {
    const total = rq.url === '/warm-up' ? 32 * 1024 * 1024 : TOTAL;
    res.writeHead(200, { 'content-length': total });
    let offset = 0;
    const pump = (): void => {
      while (offset < total) {
        const n = Math.min(CHUNK, total - offset);
        const chunk = makeChunk(offset, n);
        offset += n;
        if (!res.write(chunk)) return void res.once('drain', pump);
      }
      res.end();
    };
    pump();
  });
  const pool = poolFor(srv.port);
  t.teardown(async () => { pool.close(); await srv.close(); });

  // The sink forwards into a "client" that takes 1 MB every 4 ms (250 MB/s), slower than loopback.
  const LIMIT = 1024 * 1024;
  let queued: Buffer[] = [];
  let queuedBytes = 0;
  let maxQueued = 0;
  let paused = false;
  let violations = 0;
  let offset = 0;
  let intact = true;
  let pauses = 0;
  t.equal((await send(pool, req({ path: '/warm-up' }), { discardBody: true })).error, null, 'warm-up (not measured)');
  const rss = rssSampler();
  const r = await send(pool, req({ timeoutMs: 120_000 }), {
    discardBody: true,
    onData: (chunk, ex) => {
      if (paused) violations++;
      // The chunk is a view of a reused read buffer: check it now, keep a copy (as uWS would).
      if (!checkChunk(chunk, offset)) intact = false;
      offset += chunk.length;
      queued.push(Buffer.from(chunk));
      queuedBytes += chunk.length;
      maxQueued = Math.max(maxQueued, queuedBytes);
      if (queuedBytes < LIMIT) return true;
      paused = true;
      pauses++;
      setTimeout(() => {
        queued = [];
        queuedBytes = 0;
        paused = false;
        ex.resume();
      }, 4);
      return false;
    },
  });
  const growth = rss.stop();
  t.equal(r.error, null);
  t.equal(offset, TOTAL, 'every byte delivered');
  t.ok(intact, 'bytes intact and in order');
  t.equal(violations, 0, 'no onData while paused');
  t.ok(pauses > 50, `the consumer paused the upstream ${pauses} times`);
  t.ok(maxQueued <= LIMIT + 256 * 1024, `consumer never held more than one read past its limit (max ${mb(maxQueued)})`);
  t.ok(growth < RSS_BUDGET, `RSS grew ${mb(growth)} (budget ${mb(RSS_BUDGET)})`);
});
