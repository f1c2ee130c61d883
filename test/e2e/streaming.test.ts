import t from 'tap';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { Readable } from 'node:stream';
import { get, startGateway } from '../helpers/gateway.js';
import { startUpstream } from '../helpers/upstream.js';

// 100 MB each way through the gateway: bodies stream with backpressure, worker RSS stays flat.

const SIZE = 100 * 1024 * 1024;
const CHUNK = 64 * 1024;

function pattern(i: number): Buffer {
  return Buffer.alloc(CHUNK, i % 251);
}

const sink = await startUpstream((req, res) => {
  const h = createHash('sha256');
  let n = 0;
  req.on('data', (c: Buffer) => { n += c.length; h.update(c); });
  req.on('end', () => res.end(JSON.stringify({ n, sha: h.digest('hex') })));
}, { readBody: false });

/** Serves SIZE bytes of the pattern, with Content-Length or (without) chunked, honouring backpressure. */
const serve = (withLength: boolean) => startUpstream((_req, res) => {
  res.writeHead(200, withLength ? { 'content-length': String(SIZE) } : { 'content-type': 'application/octet-stream' });
  let i = 0;
  const pump = () => {
    while (i < SIZE / CHUNK) {
      if (!res.write(pattern(i++))) return void res.once('drain', pump);
    }
    res.end();
  };
  pump();
}, { readBody: false });
const source = await serve(true);
const chunkedSource = await serve(false);

const gw = await startGateway({
  limits: { maxBodyBytes: 200 * 1024 * 1024 },
  apis: [{
    name: 'api',
    upstreams: { sink: { targets: [sink.url] }, source: { targets: [source.url] }, chunked: { targets: [chunkedSource.url] } },
    routes: [
      { route: 'POST /upload', integration: { type: 'http_proxy', upstream: 'sink', timeoutMs: 120000 } },
      { route: 'GET /download', integration: { type: 'http_proxy', upstream: 'source', timeoutMs: 120000 } },
      { route: 'GET /download-chunked', integration: { type: 'http_proxy', upstream: 'chunked', timeoutMs: 120000 } },
    ],
  }],
}, { workers: 1 });
t.teardown(async () => { await gw.stop(); await Promise.all([sink.close(), source.close(), chunkedSource.close()]); });

const workerPid: number = JSON.parse((await get(gw.adminPort, '/ready')).body).pids[0];
const rssMb = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${workerPid}/status`, 'utf8'))![1]) / 1024;

/** Samples the worker's RSS while `fn` runs; returns the peak growth in MB. */
async function peakGrowth(fn: () => Promise<void>): Promise<number> {
  const base = rssMb();
  let peak = base;
  const iv = setInterval(() => { peak = Math.max(peak, rssMb()); }, 50);
  try { await fn(); } finally { clearInterval(iv); }
  return peak - base;
}

t.test('100 MB upload streams through', { timeout: 120_000 }, async (t) => {
  const expected = createHash('sha256');
  for (let i = 0; i < SIZE / CHUNK; i++) expected.update(pattern(i));
  let result = '';
  const growth = await peakGrowth(() => new Promise((resolve, reject) => {
    let i = 0;
    const body = new Readable({ read() { this.push(i < SIZE / CHUNK ? pattern(i++) : null); } });
    const req = request({ host: '127.0.0.1', port: gw.port, path: '/upload', method: 'POST', headers: { 'content-length': String(SIZE) } }, (res) => {
      res.setEncoding('utf8');
      res.on('data', (d) => { result += d; });
      res.on('end', () => resolve());
    });
    req.on('error', reject);
    body.pipe(req);
  }));
  const r = JSON.parse(result);
  t.equal(r.n, SIZE, 'every byte arrived');
  t.equal(r.sha, expected.digest('hex'), 'in order, unchanged');
  t.ok(growth < 64, `worker RSS grew ${growth.toFixed(1)} MB (< 64 MB)`);
});

for (const path of ['/download', '/download-chunked']) {
  t.test(`100 MB download streams through (${path})`, { timeout: 120_000 }, async (t) => {
    let n = 0;
    const h = createHash('sha256');
    const expected = createHash('sha256');
    for (let i = 0; i < SIZE / CHUNK; i++) expected.update(pattern(i));
    const growth = await peakGrowth(() => new Promise((resolve, reject) => {
      request({ host: '127.0.0.1', port: gw.port, path }, (res) => {
        // A slow reader: pause now and then so the gateway sees client backpressure.
        res.on('data', (c: Buffer) => {
          n += c.length;
          h.update(c);
          if (n % (8 * 1024 * 1024) < c.length) { res.pause(); setTimeout(() => res.resume(), 20); }
        });
        res.on('end', () => resolve());
        res.on('error', reject);
      }).on('error', reject).end();
    }));
    t.equal(n, SIZE, 'every byte arrived');
    t.equal(h.digest('hex'), expected.digest('hex'), 'in order, unchanged');
    t.ok(growth < 64, `worker RSS grew ${growth.toFixed(1)} MB (< 64 MB)`);
  });
}
