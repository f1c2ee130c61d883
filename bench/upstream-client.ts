/**
 * Upstream client benchmark: our UpstreamPool against undici's Pool, same upstream, same load.
 *
 *   node dist/bench/upstream-client.js [--concurrency N] [--duration MS] [--rounds N] [--server raw|http]
 *
 * The upstream runs in a child process (its own core): by default a raw net server that answers
 * every request head with a fixed ~100-byte JSON response, so the server costs little and the
 * client's cost shows; `--server http` uses node:http instead (then the server is the bottleneck
 * and both clients measure the same). Each client keeps `concurrency` requests in flight (each
 * completion issues the next) with a realistic gateway header block. undici is driven through
 * Pool.dispatch with a bare handler, its fastest path. Rounds alternate A B A B; the median
 * requests/s of each side is reported, and the client process's CPU time per request, which
 * stays meaningful when other work on the machine makes throughput noisy.
 */
import { pathToFileURL } from 'node:url';
import { spawn } from 'node:child_process';
import { Pool } from 'undici';
import { median } from './stats.js';
import { UpstreamPool, type ResponseSink, type UpstreamRequest } from '../src/upstream/pool.js';

export interface UpstreamClientBenchOptions {
  /** Requests in flight per client. Default 64. */
  concurrency?: number;
  /** Length of one measured round. Default 3000 ms. */
  durationMs?: number;
  /** Rounds per client (interleaved). Default 5. */
  rounds?: number;
  server?: 'raw' | 'http';
  log?: (line: string) => void;
}

export interface UpstreamClientBenchResult {
  /** Requests/s of each round. */
  oursRounds: number[];
  undiciRounds: number[];
  /** Median requests/s. */
  ours: number;
  undici: number;
  /** ours / undici: above 1 means ours is faster. */
  ratio: number;
  /** Median client CPU (user + system) per request, microseconds. */
  oursCpuUs: number;
  undiciCpuUs: number;
  errors: number;
}

const SERVER_CODE = `
const net = require('node:net');
const http = require('node:http');
const body = JSON.stringify({ id: 42, name: 'widget', price: 9.99, tags: ['a', 'b', 'c'], inStock: true });
let server;
if (process.argv[1] === 'raw') {
  const one = Buffer.from('HTTP/1.1 200 OK\\r\\ncontent-type: application/json\\r\\ncontent-length: ' +
    Buffer.byteLength(body) + '\\r\\n\\r\\n' + body, 'latin1');
  server = net.createServer((s) => {
    s.setNoDelay(true);
    let k = 0; // matched prefix of CRLFCRLF; requests here never have bodies
    s.on('data', (d) => {
      let n = 0;
      for (let i = 0; i < d.length; i++) {
        const c = d[i];
        if (c === 13) k = k === 2 ? 3 : 1;
        else if (c === 10) { if (k === 1) k = 2; else if (k === 3) { n++; k = 0; } else k = 0; }
        else k = 0;
      }
      if (n === 1) s.write(one);
      else if (n > 1) s.write(Buffer.concat(new Array(n).fill(one)));
    });
    s.on('error', () => {});
  });
} else {
  server = http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
  server.keepAliveTimeout = 60000;
}
server.listen(0, '127.0.0.1', () => process.stdout.write(server.address().port + '\\n'));
process.stdin.on('end', () => process.exit(0)); // parent gone or done
process.stdin.resume();
`;

async function startServer(kind: 'raw' | 'http'): Promise<{ port: number; stop: () => Promise<void> }> {
  const child = spawn(process.execPath, ['-e', SERVER_CODE, kind], { stdio: ['pipe', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`upstream server exited with ${code}`)));
  });
  return {
    port,
    stop: async () => {
      const exited = new Promise((r) => child.once('exit', r));
      child.stdin.end();
      await exited;
    },
  };
}

function headerBlock(port: number): string {
  return `host: 127.0.0.1:${port}\r\nuser-agent: Mozilla/5.0 (X11; Linux x86_64) bench/1.0\r\n` +
    'accept: application/json\r\naccept-encoding: gzip, br\r\n' +
    'x-forwarded-for: 203.0.113.7\r\nx-forwarded-proto: http\r\nx-forwarded-host: api.example.com\r\n' +
    'x-request-id: 9b2f6c1e-4a7d-4e0b-9f3a-2c8d5e6f7a10\r\n';
}

function flatHeaders(block: string): string[] {
  const out: string[] = [];
  for (const line of block.split('\r\n')) {
    if (line === '') continue;
    const i = line.indexOf(':');
    out.push(line.slice(0, i), line.slice(i + 1).trim());
  }
  return out;
}

interface Round { rps: number; cpuUs: number; errors: number }

/** Keeps `concurrency` requests in flight for `durationMs`; counts completions. */
function drive(start: (onDone: (ok: boolean) => void) => void, concurrency: number, durationMs: number): Promise<Round> {
  return new Promise((resolve) => {
    let done = 0;
    let errors = 0;
    let active = 0;
    let stopped = false;
    let measured = 0;
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    let elapsed = 0;
    let cpu = 0;
    const onDone = (ok: boolean): void => {
      active--;
      if (ok) done++;
      else errors++;
      if (!stopped) {
        active++;
        start(onDone);
      } else if (active === 0) resolve({ rps: (measured / elapsed) * 1000, cpuUs: cpu / measured, errors });
    };
    setTimeout(() => {
      stopped = true;
      measured = done;
      elapsed = performance.now() - t0;
      const c = process.cpuUsage(cpu0);
      cpu = c.user + c.system;
    }, durationMs);
    for (let i = 0; i < concurrency; i++) {
      active++;
      start(onDone);
    }
  });
}

async function roundOurs(port: number, concurrency: number, durationMs: number): Promise<Round> {
  const pool = new UpstreamPool({ host: '127.0.0.1', port, maxSockets: concurrency });
  const req: UpstreamRequest = {
    method: 'GET', path: '/api/widgets/42?fields=id,name,price', headers: headerBlock(port), body: null,
    idempotent: true, connectTimeoutMs: 5000, timeoutMs: 30000,
  };
  let bytes = 0;
  const r = await drive((onDone) => {
    const sink: ResponseSink = {
      onHead() {},
      onData(chunk) { bytes += chunk.length; return true; },
      onEnd() { onDone(true); },
      onError() { onDone(false); },
    };
    pool.request(req, sink);
  }, concurrency, durationMs);
  pool.close();
  if (bytes === 0) throw new Error('no body bytes received');
  return r;
}

async function roundUndici(port: number, concurrency: number, durationMs: number): Promise<Round> {
  const pool = new Pool(`http://127.0.0.1:${port}`, { connections: concurrency, pipelining: 1 });
  const headers = flatHeaders(headerBlock(port));
  const opts = { path: '/api/widgets/42?fields=id,name,price', method: 'GET' as const, headers };
  let bytes = 0;
  const r = await drive((onDone) => {
    pool.dispatch(opts, {
      onConnect() {},
      onHeaders() { return true; },
      onData(chunk: Buffer) { bytes += chunk.length; return true; },
      onComplete() { onDone(true); },
      onError() { onDone(false); },
    } as never);
  }, concurrency, durationMs);
  await pool.close();
  if (bytes === 0) throw new Error('no body bytes received');
  return r;
}


export async function runUpstreamClientBench(opts: UpstreamClientBenchOptions = {}): Promise<UpstreamClientBenchResult> {
  const concurrency = opts.concurrency ?? 64;
  const durationMs = opts.durationMs ?? 3000;
  const rounds = opts.rounds ?? 5;
  const log = opts.log ?? (() => {});
  const server = await startServer(opts.server ?? 'raw');
  try {
    // Warm-up: JIT both clients and the server before anything is measured.
    await roundOurs(server.port, concurrency, 1000);
    await roundUndici(server.port, concurrency, 1000);
    const ours: number[] = [];
    const undici: number[] = [];
    const oursCpu: number[] = [];
    const undiciCpu: number[] = [];
    let errors = 0;
    for (let i = 0; i < rounds; i++) {
      const a = await roundOurs(server.port, concurrency, durationMs);
      ours.push(a.rps);
      oursCpu.push(a.cpuUs);
      log(`round ${i + 1} ours   ${a.rps.toFixed(0)} req/s, ${a.cpuUs.toFixed(1)} us CPU/req`);
      const b = await roundUndici(server.port, concurrency, durationMs);
      undici.push(b.rps);
      undiciCpu.push(b.cpuUs);
      log(`round ${i + 1} undici ${b.rps.toFixed(0)} req/s, ${b.cpuUs.toFixed(1)} us CPU/req`);
      errors += a.errors + b.errors;
    }
    const o = median(ours);
    const u = median(undici);
    return {
      oursRounds: ours, undiciRounds: undici, ours: o, undici: u, ratio: o / u,
      oursCpuUs: median(oursCpu), undiciCpuUs: median(undiciCpu), errors,
    };
  } finally {
    await server.stop();
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const args = process.argv.slice(2);
  const arg = (name: string): string | undefined => {
    const i = args.indexOf(`--${name}`);
    return i === -1 ? undefined : args[i + 1];
  };
  const num = (name: string): number | undefined => (arg(name) === undefined ? undefined : Number(arg(name)));
  const server = arg('server');
  const r = await runUpstreamClientBench({
    concurrency: num('concurrency'),
    durationMs: num('duration'),
    rounds: num('rounds'),
    server: server === 'http' ? 'http' : 'raw',
    log: (l) => console.log(l),
  });
  console.log(`median ours ${r.ours.toFixed(0)} req/s, undici ${r.undici.toFixed(0)} req/s, ratio ${r.ratio.toFixed(2)}x; ` +
    `CPU/req ours ${r.oursCpuUs.toFixed(1)} us, undici ${r.undiciCpuUs.toFixed(1)} us; errors ${r.errors}`);
}
