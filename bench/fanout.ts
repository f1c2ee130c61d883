/**
 * Fan-out bench: one topic, C subscribers spread over two server processes that share a Redis,
 * 1 KB broadcasts published over HTTP; deliveries/s and delivery latency (publish to receipt, every
 * delivery) for the gateway (two `gateway start` processes, WebSocket API whose $connect subscribes,
 * `store: redis`, SigV4-signed `POST /live/@broadcast/room1`) against socket.io 4 with
 * @socket.io/redis-streams-adapter (two processes, `POST /broadcast/room1` -> io.to(room).emit).
 *
 *   node dist/bench/fanout.js [--quick] [--clients 5000] [--rates 10,20,30,50,100,150,200,250,300,max:16,max] [--duration 8]
 *        [--rounds 3] [--targets gateway,socketio] [--client raw|lib] [--client-procs 2] [--workers 1] [--window 128]
 *        [--bytes 1024] [--cpu-prof DIR] [--max-backpressure BYTES] [--overload] [--out DIR]
 *
 * Each target gets its own Redis, two servers and its own client processes (bench/fanout-client.ts);
 * both stay up for the whole bench and the runs are interleaved (round 1: rate 1 gateway, rate 1
 * socket.io, rate 2 ..., the order flipped every round), so a noisy minute hits both. Before each
 * run every server must be idle (an overloaded run's backlog must not land in the next one). A run:
 * the publisher (this process) sends `rate` messages/s for `duration` s, alternating between the
 * two servers (latencies are also split by whether the subscriber is on the server published to); `max:W` keeps
 * W broadcasts outstanding (not yet delivered to every subscriber) and sends the next as one
 * completes (closed loop). Then it waits for every delivery (drain: at most max(15 s, duration), or
 * 3 s without progress). A target that does not keep up at a fixed rate (every message delivered
 * within 1 s of the last publish) skips the higher fixed rates of that round (--overload: not).
 *
 * deliveries/s = deliveries / max(duration, last delivery - first publish). Latencies from a merged
 * 1% log histogram. CPU (cores = CPU seconds / wall seconds over the run) per server process (the
 * gateway's master + workers), Redis, the client processes and the publisher (together: the load
 * generator), the kernel's share, and the machine's busy time. A client process at >= 90% of a
 * core is saturated (⚑); a machine >= 95% busy (◼) means generator, servers, Redis and other
 * tenants competed for the 2 cores, so deliveries/s is the box's limit, and server CPU µs per
 * delivery is the fairest comparison.
 *
 * Writes bench/results/fanout-<timestamp>.{md,json}. Exit 1 when a target did not start, or any run
 * had duplicates, garbled frames or failed publishes; with --quick also when any message was not
 * delivered to every subscriber or a connection closed.
 */
import { fork, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { Agent, request as httpRequest } from 'node:http';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { SignatureV4 } from '@smithy/signature-v4';
import { Sha256 } from '@aws-crypto/sha256-js';
import {
  RESULTS_DIR, ROOT, type Proc, childPids, cliNumber, cpuOf, fmt, freePort, installCleanupHandlers, machineInfo, mdTable, median,
  procCpuSeconds, rssMbOf, sleep, startGateway, startProc, stopAll, stopProc, systemBusySeconds, timestamp, topSelfTime, waitHttp200, aborted,
} from './harness.js';
import {
  type ClientImpl, type ClientReport, type FromClient, HIST_BUCKETS, type TargetKind, type ToClient, TICK_MS, bucketOf, histPercentile, makeBody,
} from './fanout-client.js';

const CLIENT_JS = fileURLToPath(new URL('./fanout-client.js', import.meta.url));
const SIO_JS = fileURLToPath(new URL('./fanout-socketio.js', import.meta.url));
const CONNECT_MJS = join(ROOT, 'bench', 'fanout-connect.mjs');
const TOPIC = 'room1';
const STAGE = 'live';
const KEY = { accessKeyId: 'AKIDFANOUTBENCH00001', secretAccessKey: 'fanout-bench-secret-key-0123456789abcdef' };
const CORES = cpus().length;

const USAGE = `Usage: node dist/bench/fanout.js [options]   (npm run bench:fanout -- [options])
  --targets a,b          gateway,socketio (default both)
  --clients N            subscribers per target, spread over its two servers (default 5000; --quick 300)
  --rates a,b            messages/s per run; max (closed loop: --window broadcasts outstanding, the next
                         sent as one reaches every subscriber) or max:W (window W)
                         (default 10,20,30,50,100,150,200,250,300,max:16,max; --quick 20)
  --duration S           publishing seconds per run (default 8; --quick 2)
  --rounds N             interleaved rounds (default 3; --quick 1)
  --client raw|lib       raw: one minimal RFC 6455 reader for both targets (default; ~1 µs per delivery);
                         lib: ws (gateway) / socket.io-client (socket.io), what applications use
  --client-procs P       load-generator processes per target (default 2)
  --workers W            gateway workers per gateway process (default 1)
  --window W             broadcasts outstanding for max (default 128)
  --bytes B              message body size (default 1024)
  --connect-concurrency  handshakes in flight per client process (default 100)
  --max-backpressure B   gateway websocket.maxBackpressureBytes (default: the gateway's, 1 MiB)
  --batch B              gateway websocket.broadcastBatchBytes: broadcasts of one turn share a frame
                         (newline-separated) up to B bytes (default 0: one frame per broadcast)
  --cpu-prof DIR         profile the gateway workers (node --cpu-prof), report their top functions
  --out DIR              where the .md and .json go (default bench/results)
  --overload             keep running a target at fixed rates above one it did not keep up with
  --quick                CI check: few clients, one short run per target, every message delivered`;

/** Messages/s, or `max:W`: closed loop with W broadcasts outstanding. */
type MaxRate = `max:${number}`;
type Rate = number | MaxRate;
const windowOf = (r: MaxRate): number => Number(r.slice(4));

// ------------------------------------------------------------------------------------------------
// Client processes

export class ClientProc {
  readonly child: ChildProcess;
  private readonly queues = new Map<string, ((m: FromClient) => void)[]>();
  private exitErr: Error | null = null;
  onDone: (seqs: number[]) => void = () => {};
  constructor(name: string) {
    // No execArgv: a --cpu-prof of this process must not reach the clients.
    this.child = fork(CLIENT_JS, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: [], serialization: 'advanced' });
    this.child.on('message', (m: FromClient) => {
      if (m.t === 'done') this.onDone(m.seqs);
      else this.queues.get(m.t)?.shift()?.(m);
    });
    this.child.once('exit', (code, sig) => {
      this.exitErr = new Error(`${name} exited (${code ?? sig})`);
      for (const q of this.queues.values()) for (const w of q.splice(0)) w({ t: 'closed' });
    });
    clientProcs.add(this);
  }
  get pid(): number { return this.child.pid ?? -1; }
  ask<T extends FromClient['t']>(msg: ToClient, reply: T, timeoutMs = 120_000): Promise<Extract<FromClient, { t: T }>> {
    if (this.exitErr) return Promise.reject(this.exitErr);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`client process: no ${reply} after ${timeoutMs} ms`)), timeoutMs);
      const q = this.queues.get(reply) ?? [];
      this.queues.set(reply, q);
      q.push((m) => {
        clearTimeout(timer);
        if (m.t !== reply) reject(this.exitErr ?? new Error(`client process: ${m.t} instead of ${reply}`));
        else resolve(m as Extract<FromClient, { t: T }>);
      });
      this.child.send(msg);
    });
  }
  kill(): void { try { this.child.kill('SIGKILL'); } catch { /* gone */ } }
}
const clientProcs = new Set<ClientProc>();
process.once('exit', () => { for (const c of clientProcs) c.kill(); });

// ------------------------------------------------------------------------------------------------
// Publishing

const agent = new Agent({ keepAlive: true, maxSockets: 32 });
const signer = new SignatureV4({ service: 'execute-api', region: 'us-east-1', credentials: KEY, sha256: Sha256 });

/**
 * One POST on the keep-alive pool. A reused connection the server closed as idle just as we sent
 * (ECONNRESET before any answer: the request never reached the server) is retried once on a new
 * connection, as Node's docs advise (the http.Agent keep-alive race).
 */
function post(port: number, path: string, body: string, headers: Record<string, string>, retry = true): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    let answered = false;
    const req = httpRequest({ host: '127.0.0.1', port, path, method: 'POST', agent, headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) } }, (res) => {
      answered = true;
      let b = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { b += c; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: b }));
      res.on('error', reject);
    });
    req.on('error', (e: NodeJS.ErrnoException) => {
      if (retry && !answered && req.reusedSocket && e.code === 'ECONNRESET') post(port, path, body, headers, false).then(resolve, reject);
      else reject(e);
    });
    req.setTimeout(30_000, () => req.destroy(new Error('publish timeout (30 s)')));
    req.end(body);
  });
}

async function publishGateway(port: number, body: string): Promise<{ status: number; body: string }> {
  const path = `/${STAGE}/@broadcast/${TOPIC}`;
  const host = `127.0.0.1:${port}`;
  const signed = await signer.sign({ method: 'POST', protocol: 'http:', hostname: '127.0.0.1', port, path, query: {}, headers: { host, 'content-type': 'text/plain' }, body });
  return post(port, path, body, signed.headers as Record<string, string>);
}

function publishSocketio(port: number, body: string): Promise<{ status: number; body: string }> {
  return post(port, `/broadcast/${TOPIC}`, body, { 'content-type': 'text/plain' });
}

// ------------------------------------------------------------------------------------------------
// Targets

interface ServerProc { name: string; proc: Proc; port: number; pids: () => number[]; workers: number[] }

interface TargetSet {
  kind: TargetKind;
  name: string;
  note: string;
  redis: Proc;
  servers: ServerProc[];
  clients: ClientProc[];
  /** Subscribers connected (and checked subscribed). */
  connected: number;
  connectMs: number;
  connectFailures: number;
  firstConnectError: string | null;
  subscribeMs: number;
  publish: (port: number, body: string) => Promise<{ status: number; body: string }>;
  runId: number;
}

async function startRedis(name: string): Promise<Proc> {
  const port = await freePort();
  const proc = startProc(name, 'redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--maxclients', '10000']);
  for (let i = 0; i < 100 && !proc.output().includes('Ready to accept'); i++) await sleep(50);
  if (!proc.output().includes('Ready to accept')) throw new Error(`redis-server did not start (apt-get install redis-server):\n${proc.output()}`);
  (proc as Proc & { port: number }).port = port;
  return proc;
}
const redisUrl = (p: Proc) => `redis://127.0.0.1:${(p as Proc & { port: number }).port}`;

interface Opts {
  targets: TargetKind[];
  clients: number;
  rates: Rate[];
  durationS: number;
  rounds: number;
  impl: ClientImpl;
  procs: number;
  workers: number;
  window: number;
  bytes: number;
  connectConcurrency: number;
  maxBackpressure: number | null;
  /** gateway websocket.broadcastBatchBytes (0: one frame per broadcast, the default). */
  batch: number;
  cpuProfDir: string | null;
  overload: boolean;
  quick: boolean;
}

async function startTarget(kind: TargetKind, o: Opts, log: (l: string) => void): Promise<TargetSet> {
  const redis = await startRedis(`${kind}-redis`);
  const url = redisUrl(redis);
  let servers: ServerProc[];
  if (kind === 'gateway') {
    const apis = [{
      name: 'bench', stage: STAGE, protocol: 'websocket',
      websocket: { ...(o.maxBackpressure !== null ? { maxBackpressureBytes: o.maxBackpressure } : {}), ...(o.batch > 0 ? { broadcastBatchBytes: o.batch } : {}) },
      routes: [{ route: '$connect', integration: { type: 'function', handler: `${CONNECT_MJS}#handler` } }],
    }];
    const config = { workers: o.workers, store: { type: 'redis', redis: { url } }, iam: { credentials: [{ ...KEY, routes: [`bench/${STAGE}/*`] }] } };
    const nodeArgs = o.cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${o.cpuProfDir}`] : [];
    servers = await Promise.all(['a', 'b'].map(async (x) => {
      const h = await startGateway(apis, { name: `gateway-${x}`, config, nodeArgs });
      return { name: `gateway-${x}`, proc: h.proc, port: h.port, workers: h.workers, pids: () => [h.proc.pid, ...childPids(h.proc.pid)] };
    }));
  } else {
    servers = await Promise.all(['a', 'b'].map(async (x) => {
      const port = await freePort();
      const proc = startProc(`socketio-${x}`, process.execPath, [SIO_JS, '--port', String(port), '--redis', url]);
      await waitHttp200(proc, port, '/health', 20_000);
      return { name: `socketio-${x}`, proc, port, workers: [proc.pid], pids: () => [proc.pid] };
    }));
  }
  const set: TargetSet = {
    kind, name: kind === 'gateway' ? 'gateway' : 'socket.io',
    note: kind === 'gateway'
      ? `2 gateway processes × ${o.workers} worker, store redis, $connect subscribe, SigV4 POST /${STAGE}/@broadcast/${TOPIC}${o.batch > 0 ? `, broadcastBatchBytes ${o.batch}` : ', one frame per broadcast'}`
      : '2 socket.io 4.8 processes, @socket.io/redis-streams-adapter 0.3 (ioredis), join(room) on connect, POST /broadcast/room -> io.to(room).emit',
    redis, servers, clients: [], connected: 0, connectMs: 0, connectFailures: 0, firstConnectError: null, subscribeMs: 0,
    publish: kind === 'gateway' ? publishGateway : publishSocketio, runId: 0,
  };
  // Clients
  const path = kind === 'gateway' ? `/${STAGE}?topic=${TOPIC}` : o.impl === 'raw' ? `/socket.io/?EIO=4&transport=websocket&topic=${TOPIC}` : `/?topic=${TOPIC}`;
  const t0 = performance.now();
  let first = 0;
  const opens: Promise<Extract<FromClient, { t: 'opened' }>>[] = [];
  for (let k = 0; k < o.procs; k++) {
    const count = Math.floor(o.clients / o.procs) + (k < o.clients % o.procs ? 1 : 0);
    if (count === 0) continue;
    const c = new ClientProc(`${kind} client ${k}`);
    set.clients.push(c);
    opens.push(c.ask({ t: 'open', kind, impl: o.impl, ports: servers.map((s) => s.port), first, count, concurrency: o.connectConcurrency, path, timeoutMs: 30_000, batched: kind === 'gateway' && o.batch > 0 }, 'opened', 600_000));
    first += count;
  }
  for (const r of await Promise.all(opens)) {
    set.connected += r.ok;
    set.connectFailures += r.failed;
    set.firstConnectError ??= r.firstError;
  }
  set.connectMs = performance.now() - t0;
  log(`${set.name}: ${set.connected}/${o.clients} clients connected in ${(set.connectMs / 1000).toFixed(1)} s` +
    (set.connectFailures > 0 ? `; ${set.connectFailures} failed, first: ${set.firstConnectError}` : ''));
  // Subscribed: probe broadcasts until every connected client got one.
  const s0 = performance.now();
  const runId = ++set.runId;
  await Promise.all(set.clients.map((c) => c.ask({ t: 'run', run: runId, maxSeq: 1000, t0Ms: Date.now(), ticks: 1 }, 'run-ok')));
  let seq = 0;
  for (;;) {
    const r = await set.publish(servers[seq % servers.length]!.port, makeBody(runId, seq, o.bytes));
    seq++;
    if (r.status !== 200) throw new Error(`${set.name}: publish answered ${r.status} ${r.body.slice(0, 300)}`);
    await sleep(200);
    const st = await Promise.all(set.clients.map((c) => c.ask({ t: 'status' }, 'status')));
    const withAny = st.reduce((a, x) => a + x.withAny, 0);
    const liveNow = st.reduce((a, x) => a + x.live, 0);
    if (withAny >= liveNow && liveNow > 0) break;
    if (performance.now() - s0 > 20_000 || seq >= 999) throw new Error(`${set.name}: only ${withAny} of ${liveNow} clients got a probe broadcast after ${seq} tries`);
  }
  set.subscribeMs = performance.now() - s0;
  return set;
}

async function stopTarget(set: TargetSet): Promise<void> {
  await Promise.all(set.clients.map(async (c) => {
    try { await c.ask({ t: 'close' }, 'closed', 10_000); } catch { /* killed below */ }
    c.kill();
    clientProcs.delete(c);
  }));
  for (const s of set.servers) await stopProc(s.proc);
  await stopProc(set.redis);
}

// ------------------------------------------------------------------------------------------------
// One run

export interface FanRun {
  target: string;
  round: number;
  rate: Rate;
  clients: number;
  durationS: number;
  published: number;
  publishPerS: number;
  publishErrors: number;
  firstPublishError: string | null;
  deliveries: number;
  expected: number;
  undelivered: number;
  dupes: number;
  stray: number;
  bad: number;
  closed: number;
  offeredPerS: number | null;
  deliveriesPerS: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  /** Latency of deliveries published to the subscriber's own server, and to the other one (socket.io: only those cross Redis; the gateway sends every broadcast through the Redis stream). */
  local: { p50: number; p99: number };
  remote: { p50: number; p99: number };
  /** Publish request round trip (signed POST to 200), ms. */
  publishRtt: { p50: number; p99: number };
  /** Last delivery after the last publish, ms. */
  drainMs: number;
  cpu: { servers: number[]; redis: number; clients: number[]; publisher: number; foreign: number; busy: number; serverKernelShare: number; clientKernelShare: number };
  /** Server processes' CPU µs per delivery (Redis apart). */
  serverUsPerDelivery: number;
  redisUsPerDelivery: number;
  rssMb: number[];
  /** Deliveries in each second from the run's start (all client processes). */
  perSecond: number[];
  /** A client process used >= 90% of a core: the generator was saturated. */
  generatorBound: boolean;
  /** The machine was >= 95% busy (all cores): generator, servers, Redis and other tenants share it. */
  boxBound: boolean;
  keptUp: boolean;
  /** ms the servers needed to go idle before this run (a previous run's backlog). */
  settleMs: number;
}

const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;
/** Kernel-mode CPU seconds (stime) of processes: on loopback, sending a frame includes the receiving side's TCP work. */
function sysCpuOf(pids: number[]): number {
  let t = 0;
  for (const pid of pids) {
    try {
      const st = readFileSync(`/proc/${pid}/stat`, 'utf8');
      t += Number(st.slice(st.lastIndexOf(')') + 2).split(' ')[12]) / CLK_TCK;
    } catch { /* gone */ }
  }
  return t;
}

interface CpuSnap { t: number; servers: number[]; serversSys: number; redis: number; clients: number[]; clientsSys: number; pub: NodeJS.CpuUsage; busy: number }
function snap(set: TargetSet): CpuSnap {
  const serverPids = set.servers.map((s) => s.pids());
  return {
    t: performance.now(), servers: serverPids.map(cpuOf), serversSys: sysCpuOf(serverPids.flat()), redis: procCpuSeconds(set.redis.pid),
    clients: set.clients.map((c) => procCpuSeconds(c.pid)), clientsSys: sysCpuOf(set.clients.map((c) => c.pid)), pub: process.cpuUsage(), busy: systemBusySeconds(),
  };
}

/**
 * Waits until every server process of every target is idle (< 10% of a core over 500 ms): an
 * overloaded run leaves a backlog the servers keep sending after its drain cap, which must not land
 * in the next run. At most 120 s.
 */
async function settle(sets: TargetSet[]): Promise<number> {
  const t0 = performance.now();
  const pids = () => sets.flatMap((x) => x.servers.map((s) => s.pids()));
  while (performance.now() - t0 < 120_000 && !aborted()) {
    const a = pids().map(cpuOf);
    await sleep(500);
    const b = pids().map(cpuOf);
    if (b.every((x, i) => (x - (a[i] ?? 0)) / 0.5 < 0.1)) break;
  }
  return performance.now() - t0;
}

async function runOnce(set: TargetSet, o: Opts, rate: Rate, round: number, durationS: number, settleMs = 0): Promise<FanRun> {
  const runId = ++set.runId;
  const maxMode = typeof rate === 'string';
  const window = maxMode ? windowOf(rate) : 0;
  // Bitmaps of (clients x messages) bits in the client processes: capped at ~64 MB in all.
  const cap = Math.max(2000, Math.min(200_000, Math.floor((64e6 * 8) / Math.max(1, set.connected))));
  const maxSeq = maxMode ? cap : Math.min(cap, Math.ceil(rate * durationS) + 2);
  const drainMaxMs = Math.max(15_000, durationS * 1000);
  const t0Ms = Date.now();
  const ticks = Math.ceil((durationS * 1000 + drainMaxMs + 5000) / TICK_MS);
  const oks = await Promise.all(set.clients.map((c) => c.ask({ t: 'run', run: runId, maxSeq, t0Ms, ticks }, 'run-ok')));
  const procsLive = oks.filter((x) => x.live > 0).length;
  const liveClients = oks.reduce((a, x) => a + x.live, 0);

  // Completion of a message = every client process reported all of its clients got it.
  const doneCount = new Uint8Array(maxSeq);
  let completed = 0;
  let lastProgress = performance.now();
  let pump: () => void = () => {};
  for (const c of set.clients) {
    c.onDone = (seqs) => {
      for (const s of seqs) if (++doneCount[s]! === procsLive) completed++;
      lastProgress = performance.now();
      pump();
    };
  }

  let published = 0;
  let publishErrors = 0;
  let firstPublishError: string | null = null;
  let inflight = 0;
  let firstPublishMs = 0;
  let lastPublishMs = 0;
  const rtt = new Array<number>(HIST_BUCKETS).fill(0);
  const fire = (seq: number) => {
    const port = set.servers[seq % set.servers.length]!.port;
    const body = makeBody(runId, seq, o.bytes);
    if (firstPublishMs === 0) firstPublishMs = performance.timeOrigin + performance.now();
    lastPublishMs = performance.timeOrigin + performance.now();
    published++;
    inflight++;
    const sentAt = performance.now();
    set.publish(port, body).then((r) => {
      inflight--;
      rtt[bucketOf((performance.now() - sentAt) * 1000)]!++;
      if (r.status !== 200 || !r.body.includes('messageId')) {
        publishErrors++;
        firstPublishError ??= `${r.status} ${r.body.slice(0, 200)}`;
      }
    }, (e: Error) => {
      inflight--;
      publishErrors++;
      firstPublishError ??= e.message;
    });
  };

  const c0 = snap(set);
  const start = performance.now();
  const endAt = start + durationS * 1000;
  let seq = 0;
  if (maxMode) {
    await new Promise<void>((resolve) => {
      let stopped = false;
      pump = () => {
        while (!stopped && seq - completed < window && seq < maxSeq) fire(seq++);
      };
      setTimeout(() => { stopped = true; pump = () => {}; resolve(); }, durationS * 1000);
      pump();
    });
  } else {
    const interval = 1000 / rate;
    await new Promise<void>((resolve) => {
      const tick = () => {
        const now = performance.now();
        if (now >= endAt) return resolve();
        const due = Math.min(maxSeq, Math.floor((now - start) / interval) + 1);
        while (seq < due) fire(seq++);
        setTimeout(tick, Math.max(0, start + seq * interval - performance.now()));
      };
      tick();
    });
  }
  // Drain: every published message delivered everywhere, or no progress for 3 s, or the cap.
  const drainStart = performance.now();
  lastProgress = Math.max(lastProgress, drainStart);
  // Progress = completions, or deliveries (asked every 500 ms): one lagging server holds back every
  // completion while the other still delivers.
  let lastReceived = -1;
  let lastAsk = 0;
  while (completed < published || inflight > 0) {
    if (aborted()) break;
    const now = performance.now();
    if (now - lastAsk >= 500) {
      lastAsk = now;
      const st = await Promise.all(set.clients.map((c) => c.ask({ t: 'status' }, 'status')));
      const received = st.reduce((a, x) => a + x.received, 0);
      if (received !== lastReceived) { lastReceived = received; lastProgress = performance.now(); }
    }
    if (now - lastProgress > 3000 || now - drainStart > drainMaxMs) break;
    await sleep(20);
  }
  const c1 = snap(set);
  for (const c of set.clients) c.onDone = () => {};
  const reps: ClientReport[] = (await Promise.all(set.clients.map((c) => c.ask({ t: 'report' }, 'report')))).map((x) => x.report);

  const hist = new Array<number>(HIST_BUCKETS).fill(0);
  const histLocal = new Array<number>(HIST_BUCKETS).fill(0);
  const histRemote = new Array<number>(HIST_BUCKETS).fill(0);
  const perSecond: number[] = [];
  let deliveries = 0;
  let lastMs = 0;
  for (const r of reps) {
    for (let i = 0; i < HIST_BUCKETS; i++) {
      hist[i]! += r.hist[i]!;
      histLocal[i]! += r.histLocal[i]!;
      histRemote[i]! += r.histRemote[i]!;
    }
    for (let i = 0; i < r.ticks.length; i++) {
      if (r.ticks[i] === 0) continue;
      const sec = Math.floor((i * TICK_MS) / 1000);
      while (perSecond.length <= sec) perSecond.push(0);
      perSecond[sec]! += r.ticks[i]!;
    }
    deliveries += r.received;
    lastMs = Math.max(lastMs, r.lastMs);
  }
  const wallS = (c1.t - c0.t) / 1000;
  const cores = (a: number, b: number) => (b - a) / wallS;
  const serverCpuS = c1.servers.reduce((a, x, i) => a + x - c0.servers[i]!, 0);
  const pubS = (c1.pub.user - c0.pub.user + c1.pub.system - c0.pub.system) / 1e6;
  const clientsCores = c1.clients.map((x, i) => cores(c0.clients[i]!, x));
  const busy = cores(c0.busy, c1.busy);
  const ours = serverCpuS / wallS + cores(c0.redis, c1.redis) + clientsCores.reduce((a, b) => a + b, 0) + pubS / wallS;
  const expected = published * liveClients;
  // At least the publishing time: a run that keeps up delivers rate x clients per second, not a little more.
  const spanS = Math.max(durationS, (lastMs - firstPublishMs) / 1000);
  const sum = (k: 'closed' | 'dupes' | 'stray' | 'bad') => reps.reduce((a, r) => a + r[k], 0);
  const genBound = clientsCores.some((x) => x >= 0.9);
  const drainMs = lastMs > 0 ? Math.max(0, lastMs - lastPublishMs) : NaN;
  const undelivered = expected - deliveries;
  return {
    target: set.name, round, rate, clients: liveClients, durationS,
    published, publishPerS: published / durationS, publishErrors, firstPublishError,
    deliveries, expected, undelivered, dupes: sum('dupes'), stray: sum('stray'), bad: sum('bad'), closed: sum('closed'),
    offeredPerS: maxMode ? null : rate * liveClients,
    deliveriesPerS: deliveries / spanS,
    p50: histPercentile(hist, 50), p90: histPercentile(hist, 90), p99: histPercentile(hist, 99), p999: histPercentile(hist, 99.9), max: histPercentile(hist, 100),
    local: { p50: histPercentile(histLocal, 50), p99: histPercentile(histLocal, 99) },
    remote: { p50: histPercentile(histRemote, 50), p99: histPercentile(histRemote, 99) },
    publishRtt: { p50: histPercentile(rtt, 50), p99: histPercentile(rtt, 99) },
    drainMs,
    cpu: {
      servers: c1.servers.map((x, i) => cores(c0.servers[i]!, x)), redis: cores(c0.redis, c1.redis), clients: clientsCores,
      publisher: pubS / wallS, foreign: Math.max(0, busy - ours), busy,
      serverKernelShare: serverCpuS > 0 ? (c1.serversSys - c0.serversSys) / serverCpuS : NaN,
      clientKernelShare: (c1.clientsSys - c0.clientsSys) / Math.max(1e-9, c1.clients.reduce((a, x, i) => a + x - c0.clients[i]!, 0)),
    },
    serverUsPerDelivery: deliveries > 0 ? (serverCpuS * 1e6) / deliveries : NaN,
    redisUsPerDelivery: deliveries > 0 ? ((c1.redis - c0.redis) * 1e6) / deliveries : NaN,
    rssMb: set.servers.map((s) => rssMbOf(s.pids())),
    perSecond,
    generatorBound: genBound,
    boxBound: busy >= 0.95 * CORES,
    settleMs,
    keptUp: undelivered === 0 && publishErrors === 0 && (maxMode || drainMs < 1000),
  };
}

// ------------------------------------------------------------------------------------------------
// Report

interface Summary {
  target: string;
  rate: Rate;
  runs: number;
  deliveriesPerS: number;
  p50: number;
  p99: number;
  serverCores: number;
  redisCores: number;
  clientCores: number;
  serverUsPerDelivery: number;
  keptUpRuns: number;
  genBoundRuns: number;
  boxBoundRuns: number;
  /** Whole-machine busy cores, and the load generator's (client processes + publisher) part of them. */
  busy: number;
  generatorCores: number;
  serverKernelShare: number;
  /** Largest RSS of the two servers together over the runs, MB. */
  rssMb: number;
  undelivered: number;
  publishPerS: number;
}

function summarize(runs: FanRun[], target: string, rate: Rate): Summary | null {
  const rs = runs.filter((r) => r.target === target && r.rate === rate);
  if (rs.length === 0) return null;
  const m = (f: (r: FanRun) => number) => median(rs.map(f));
  return {
    target, rate, runs: rs.length,
    deliveriesPerS: m((r) => r.deliveriesPerS), p50: m((r) => r.p50), p99: m((r) => r.p99),
    serverCores: m((r) => r.cpu.servers.reduce((a, b) => a + b, 0)), redisCores: m((r) => r.cpu.redis), clientCores: m((r) => r.cpu.clients.reduce((a, b) => a + b, 0)),
    serverUsPerDelivery: m((r) => r.serverUsPerDelivery), keptUpRuns: rs.filter((r) => r.keptUp).length, genBoundRuns: rs.filter((r) => r.generatorBound).length,
    boxBoundRuns: rs.filter((r) => r.boxBound).length, busy: m((r) => r.cpu.busy), serverKernelShare: m((r) => r.cpu.serverKernelShare), rssMb: Math.max(...rs.map((r) => r.rssMb.reduce((a, b) => a + b, 0))), generatorCores: m((r) => r.cpu.clients.reduce((a, b) => a + b, 0) + r.cpu.publisher),
    undelivered: rs.reduce((a, r) => a + r.undelivered, 0), publishPerS: m((r) => r.publishPerS),
  };
}

const rateLabel = (r: Rate) => (typeof r === 'string' ? `max, window ${windowOf(r)}` : `${r}/s`);

function markdown(rep: FanReport): string {
  const o = rep.options;
  const L: string[] = [];
  L.push(`# Fan-out bench — ${rep.startedAt}`, '');
  L.push(mdTable(['machine', ''], Object.entries(rep.machine).map(([k, v]) => [k, String(v)])), '');
  L.push(`${o.clients} subscribers per target on one topic over 2 server processes sharing a Redis; ${o.bytes}-byte bodies; ${o.durationS} s per run, ${o.rounds} interleaved round(s); ` +
    `clients: ${o.impl === 'raw' ? 'raw RFC 6455 reader (both targets)' : 'ws (gateway) / socket.io-client websocket-only (socket.io)'} in ${o.procs} process(es) per target.`, '');
  for (const t of rep.targets) {
    L.push(`- **${t.name}**: ${t.note}. ${t.connected} connected in ${(t.connectMs / 1000).toFixed(1)} s (${t.connectFailures} failed${t.firstConnectError ? `: ${t.firstConnectError}` : ''}), all subscribed ${(t.subscribeMs / 1000).toFixed(1)} s later.`);
  }
  for (const [k, v] of Object.entries(rep.failed)) L.push(`- **${k} FAILED**: ${v}`);
  L.push('', `fd limit: ${rep.limits.fd}; ${rep.limits.note}`, '');
  L.push('## Medians', '');
  L.push(mdTable(
    ['rate', 'target', 'deliveries/s', 'p50 ms', 'p99 ms', 'server CPU (cores)', 'Redis CPU', 'server µs/delivery', 'server kernel share', 'generator CPU (cores)', 'box busy (cores)', 'servers RSS MB', 'kept up', 'undelivered'],
    rep.summaries.map((s) => [
      rateLabel(s.rate), s.target, fmt.int(s.deliveriesPerS) + (s.genBoundRuns * 2 > s.runs ? ' ⚑' : '') + (s.boxBoundRuns * 2 > s.runs ? ' ◼' : ''), fmt.ms(s.p50), fmt.ms(s.p99),
      fmt.cores(s.serverCores), fmt.cores(s.redisCores), s.serverUsPerDelivery.toFixed(2), fmt.pct(s.serverKernelShare), fmt.cores(s.generatorCores), fmt.cores(s.busy), s.rssMb.toFixed(0), `${s.keptUpRuns}/${s.runs}`, fmt.int(s.undelivered),
    ]),
  ), '');
  if (rep.ratios.length > 0) {
    L.push('## gateway / socket.io', '');
    L.push(mdTable(['rate', 'deliveries/s', 'p99', 'server µs/delivery'], rep.ratios.map((r) => [rateLabel(r.rate), fmt.ratio(r.deliveries), fmt.ratio(r.p99), fmt.ratio(r.usPerDelivery)])), '');
    if (rep.verdict) L.push(rep.verdict, '');
  }
  L.push('⚑ a client process used ≥ 90% of a core in most runs: the load generator was saturated; deliveries/s is a floor and latencies include the generator\'s own queueing. ' +
    `◼ the whole machine (${CORES} cores) was ≥ 95% busy in most runs: servers, Redis, generator and other tenants competed for it, so deliveries/s is what this box allows, not the server's limit (server µs/delivery is). ` +
    'kept up: every message delivered (fixed rates: within 1 s of the last publish).', '');
  if (rep.cpuProfiles.length > 0) {
    for (const p of rep.cpuProfiles) {
      L.push(`## CPU profile ${p.name} (top self time)`, '');
      L.push(mdTable(['function', 'ms', 'share'], p.top.map((x) => [x.label, x.ms.toFixed(0), fmt.pct(x.share)])), '');
    }
  }
  L.push('## Runs', '');
  L.push(mdTable(
    ['round', 'rate', 'target', 'published/s', 'deliveries/s', 'p50', 'p99', 'p99.9', 'max ms', 'own server p50 / p99', 'other server p50 / p99', 'publish RTT p50 / p99', 'drain ms', 'undeliv / dup / closed / pub err', 'servers (cores)', 'Redis', 'clients', 'publisher', 'foreign', 'busy', 'µs/deliv'],
    rep.runs.map((r) => [
      r.round, rateLabel(r.rate), r.target, fmt.int(r.publishPerS), fmt.int(r.deliveriesPerS) + (r.generatorBound ? ' ⚑' : '') + (r.boxBound ? ' ◼' : ''), fmt.ms(r.p50), fmt.ms(r.p99), fmt.ms(r.p999), fmt.ms(r.max),
      `${fmt.ms(r.local.p50)} / ${fmt.ms(r.local.p99)}`, `${fmt.ms(r.remote.p50)} / ${fmt.ms(r.remote.p99)}`, `${fmt.ms(r.publishRtt.p50)} / ${fmt.ms(r.publishRtt.p99)}`,
      fmt.int(r.drainMs), `${r.undelivered}/${r.dupes}/${r.closed}/${r.publishErrors}`, r.cpu.servers.map(fmt.cores).join(' + '), fmt.cores(r.cpu.redis),
      r.cpu.clients.map(fmt.cores).join(' + '), fmt.cores(r.cpu.publisher), fmt.cores(r.cpu.foreign), fmt.cores(r.cpu.busy), r.serverUsPerDelivery.toFixed(2),
    ]),
  ), '');
  return L.join('\n');
}

interface FanReport {
  startedAt: string;
  machine: Record<string, string | number>;
  options: Opts;
  limits: { fd: string; note: string };
  targets: { name: string; note: string; connected: number; connectMs: number; connectFailures: number; firstConnectError: string | null; subscribeMs: number }[];
  failed: Record<string, string>;
  runs: FanRun[];
  summaries: Summary[];
  ratios: { rate: Rate; deliveries: number; p99: number; usPerDelivery: number }[];
  verdict: string | null;
  cpuProfiles: { name: string; top: { label: string; ms: number; share: number }[] }[];
  wallS: number;
}

/**
 * The issue's target, ≥ 10× socket.io's deliveries/s at an equal or better p99, read two ways:
 * - sustained: socket.io at the highest fixed rate it kept up with in most rounds (D_s, p99_s)
 *   against the gateway at the highest fixed rate it kept up with at a median p99 ≤ p99_s;
 * - closed loop (max): both with the same number of broadcasts outstanding.
 */
function verdict(sums: Summary[], o: Opts): string | null {
  const lines: string[] = [];
  const kept = (name: string) => sums.filter((s) => s.target === name && typeof s.rate === 'number' && s.keptUpRuns * 2 > s.runs)
    .sort((a, b) => (a.rate as number) - (b.rate as number));
  const bs = kept('socket.io').pop();
  if (bs !== undefined) {
    const gs = kept('gateway').filter((s) => s.p99 <= bs.p99).pop();
    if (gs === undefined) lines.push(`Sustained: socket.io kept up to ${bs.rate}/s (${fmt.int(bs.deliveriesPerS)} deliveries/s, p99 ${fmt.ms(bs.p99)} ms); the gateway kept up at no rate with a p99 that low.`);
    else {
      const x = gs.deliveriesPerS / bs.deliveriesPerS;
      const top = o.rates.filter((r): r is number => typeof r === 'number').at(-1);
      lines.push(`Sustained: gateway ${fmt.int(gs.deliveriesPerS)} deliveries/s at ${gs.rate}/s, p99 ${fmt.ms(gs.p99)} ms vs socket.io ${fmt.int(bs.deliveriesPerS)} at ${bs.rate}/s, p99 ${fmt.ms(bs.p99)} ms: ` +
        `**${x.toFixed(1)}×** at ${gs.p99 <= bs.p99 ? 'a p99 no worse' : 'a worse p99'} — ${x >= 10 ? 'target MET' : 'target NOT met'}` +
        (gs.rate === top ? ` (the gateway kept up at the highest rate tried, ${top}/s: a floor)` : '') + '.');
    }
  } else if (sums.some((s) => s.target === 'socket.io' && typeof s.rate === 'number')) {
    lines.push('Sustained: socket.io kept up at none of the fixed rates; add lower --rates.');
  }
  for (const rate of o.rates.filter((r): r is MaxRate => typeof r === 'string')) {
    const gm = sums.find((s) => s.target === 'gateway' && s.rate === rate);
    const bm = sums.find((s) => s.target === 'socket.io' && s.rate === rate);
    if (!gm || !bm) continue;
    const x = gm.deliveriesPerS / bm.deliveriesPerS;
    lines.push(`Closed loop (window ${windowOf(rate)}): gateway ${fmt.int(gm.deliveriesPerS)} deliveries/s, p99 ${fmt.ms(gm.p99)} ms vs socket.io ${fmt.int(bm.deliveriesPerS)}, p99 ${fmt.ms(bm.p99)} ms: ` +
      `**${x.toFixed(1)}×** at ${gm.p99 <= bm.p99 ? 'a p99 no worse' : 'a worse p99'} — ${x >= 10 && gm.p99 <= bm.p99 ? 'target MET' : 'target NOT met'}.`);
  }
  // Each at its highest throughput over all runs (a saturated run's deliveries/s is the capacity).
  const top = (name: string) => sums.filter((s) => s.target === name).sort((a, b) => b.deliveriesPerS - a.deliveriesPerS)[0];
  const gt = top('gateway');
  const bt = top('socket.io');
  if (gt && bt) {
    const x = gt.deliveriesPerS / bt.deliveriesPerS;
    lines.push(`Each at its best (median deliveries/s of its best setting): gateway ${fmt.int(gt.deliveriesPerS)} (${rateLabel(gt.rate)}, p99 ${fmt.ms(gt.p99)} ms) vs socket.io ${fmt.int(bt.deliveriesPerS)} (${rateLabel(bt.rate)}, p99 ${fmt.ms(bt.p99)} ms): ` +
      `**${x.toFixed(1)}×** at ${gt.p99 <= bt.p99 ? 'a p99 no worse' : 'a worse p99'}; server CPU per delivery ${gt.serverUsPerDelivery.toFixed(2)} vs ${bt.serverUsPerDelivery.toFixed(2)} µs (**${(bt.serverUsPerDelivery / gt.serverUsPerDelivery).toFixed(1)}×** less).`);
  }
  return lines.length > 0 ? lines.join('\n\n') : null;
}

function fdLimits(o: Opts): { fd: string; note: string } {
  let soft = NaN;
  let hard = NaN;
  try {
    const m = /^Max open files\s+(\S+)\s+(\S+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    soft = Number(m?.[1]);
    hard = Number(m?.[2]);
  } catch { /* not Linux */ }
  // Each server holds half the sockets (a gateway spreads them over its workers, each a process);
  // each client process its share.
  const perServer = Math.ceil(o.clients / 2);
  const need = Math.max(
    o.targets.includes('socketio') ? perServer : 0,
    o.targets.includes('gateway') ? Math.ceil(perServer / o.workers) : 0,
    Math.ceil(o.clients / o.procs),
  ) + 100;
  const notes: string[] = [];
  if (need > soft) {
    notes.push(`NEEDS ~${need} fds in one process, over the soft limit: ` + (need <= hard ? `raise it (ulimit -n ${hard})` : `raise the hard limit (root: ulimit -Hn, /etc/security/limits.conf)`) +
      `, or spread: more --client-procs${o.targets.includes('gateway') ? ', more gateway --workers' : ''}`);
  } else notes.push(`the busiest process needs ~${need}`);
  try {
    const [lo, hi] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number) as [number, number];
    const perPort = hi - lo + 1;
    notes.push(`ephemeral ports ${lo}-${hi}: at most ~${perPort.toLocaleString('en-US')} clients per server port${perServer > perPort ? ' (EXCEEDED)' : ''}`);
  } catch { /* not Linux */ }
  return { fd: `ulimit -n ${soft} (hard ${hard})`, note: notes.join('; ') };
}

// ------------------------------------------------------------------------------------------------

export async function main(argv: string[]): Promise<number> {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        targets: { type: 'string' }, clients: { type: 'string' }, rates: { type: 'string' }, duration: { type: 'string' }, rounds: { type: 'string' },
        client: { type: 'string' }, 'client-procs': { type: 'string' }, workers: { type: 'string' }, window: { type: 'string' }, bytes: { type: 'string' },
        'connect-concurrency': { type: 'string' }, 'max-backpressure': { type: 'string' }, batch: { type: 'string' }, 'cpu-prof': { type: 'string' }, overload: { type: 'boolean' }, out: { type: 'string' }, quick: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n\n${USAGE}\n`);
    return 2;
  }
  if (values.help) { process.stdout.write(`${USAGE}\n`); return 0; }
  const quick = values.quick === true;
  const str = (k: string) => (typeof values[k] === 'string' ? (values[k] as string) : undefined);
  const targets = (str('targets') ?? 'gateway,socketio').split(',').map((x) => x.trim()).filter(Boolean);
  if (targets.some((t) => t !== 'gateway' && t !== 'socketio')) { process.stderr.write(`--targets: gateway and/or socketio\n`); return 2; }
  const window = Math.round(cliNumber('window', str('window'), 128, 1));
  const rates: Rate[] = [];
  for (const x of (str('rates') ?? (quick ? '20' : '10,20,30,50,100,150,200,250,300,max:16,max')).split(',').map((y) => y.trim()).filter(Boolean)) {
    const w = x === 'max' ? window : /^max:\d+$/.test(x) ? Number(x.slice(4)) : NaN;
    if (x.startsWith('max') && w >= 1) rates.push(`max:${w}`);
    else if (Number(x) > 0) rates.push(Number(x));
    else { process.stderr.write(`--rates: positive numbers, max or max:WINDOW; got "${x}"\n`); return 2; }
  }
  const impl = str('client') ?? 'raw';
  if (impl !== 'lib' && impl !== 'raw') { process.stderr.write('--client: lib or raw\n'); return 2; }
  const o: Opts = {
    targets: targets as TargetKind[],
    clients: Math.round(cliNumber('clients', str('clients'), quick ? 300 : 5000, 1)),
    rates,
    durationS: cliNumber('duration', str('duration'), quick ? 2 : 8, 0.5),
    rounds: Math.round(cliNumber('rounds', str('rounds'), quick ? 1 : 3, 1)),
    impl,
    procs: Math.round(cliNumber('client-procs', str('client-procs'), 2, 1)),
    workers: Math.round(cliNumber('workers', str('workers'), 1, 1)),
    window,
    bytes: Math.round(cliNumber('bytes', str('bytes'), 1024, 64)),
    connectConcurrency: Math.round(cliNumber('connect-concurrency', str('connect-concurrency'), 100, 1)),
    maxBackpressure: str('max-backpressure') !== undefined ? Math.round(cliNumber('max-backpressure', str('max-backpressure'), 0, 16384)) : null,
    batch: Math.round(cliNumber('batch', str('batch'), 0, 0)),
    cpuProfDir: str('cpu-prof') ?? null,
    overload: values.overload === true,
    quick,
  };
  const log = (l: string) => process.stderr.write(`${l}\n`);
  installCleanupHandlers();
  const limits = fdLimits(o);
  log(`fan-out: ${limits.fd}; ${limits.note}`);
  const t0 = performance.now();
  const rep: FanReport = {
    startedAt: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    machine: { ...machineInfo(), memGb: (totalmem() / 2 ** 30).toFixed(1), loadavgAtStart: loadavg().map((x) => x.toFixed(2)).join(' ') },
    options: o, limits, targets: [], failed: {}, runs: [], summaries: [], ratios: [], verdict: null, cpuProfiles: [], wallS: 0,
  };
  delete rep.machine['nginx'];
  delete rep.machine['wrk'];
  delete rep.machine['autocannon'];
  const sets: TargetSet[] = [];
  try {
    for (const kind of o.targets) {
      if (aborted()) break;
      try {
        const set = await startTarget(kind, o, log);
        sets.push(set);
        rep.targets.push({ name: set.name, note: set.note, connected: set.connected, connectMs: set.connectMs, connectFailures: set.connectFailures, firstConnectError: set.firstConnectError, subscribeMs: set.subscribeMs });
        if (set.connectFailures > 0) rep.failed[set.name] = `${set.connectFailures} of ${o.clients} clients did not connect: ${set.firstConnectError}`;
      } catch (e) {
        rep.failed[kind] = `did not start: ${(e as Error).message.split('\n').slice(0, 6).join(' / ')}`;
        log(`${kind}: ${rep.failed[kind]}`);
      }
    }
    // Warm-up (JIT on both sides), not recorded.
    if (!quick) {
      for (const set of sets) {
        const r = await runOnce(set, o, rates.find((x): x is number => typeof x === 'number') ?? 5, 0, 2);
        log(`warm-up ${set.name}: ${fmt.int(r.deliveriesPerS)} deliveries/s, p99 ${fmt.ms(r.p99)} ms, undelivered ${r.undelivered}`);
      }
    }
    for (let round = 1; round <= o.rounds && !aborted(); round++) {
      // A target that did not keep up at a fixed rate is not run at higher fixed rates this round
      // (unless --overload): its backlog only grows (socket.io buffers it in memory, GBs at 200/s).
      const failedAt = new Map<TargetSet, number>();
      for (const rate of o.rates) {
        const order = round % 2 === 1 ? sets : [...sets].reverse();
        for (const set of order) {
          if (aborted()) break;
          const f = failedAt.get(set);
          if (typeof rate === 'number' && f !== undefined && !o.overload) {
            log(`round ${round} ${rateLabel(rate).padEnd(16)} ${set.name.padEnd(9)} skipped: did not keep up at ${f}/s`);
            continue;
          }
          const settleMs = await settle(sets);
          const r = await runOnce(set, o, rate, round, o.durationS, settleMs);
          rep.runs.push(r);
          if (typeof rate === 'number' && !r.keptUp && f === undefined) failedAt.set(set, rate);
          log(`round ${round} ${rateLabel(rate).padEnd(16)} ${set.name.padEnd(9)} ${fmt.int(r.deliveriesPerS).padStart(10)} deliveries/s (published ${fmt.int(r.publishPerS)}/s) ` +
            `p50 ${fmt.ms(r.p50)} p99 ${fmt.ms(r.p99)} max ${fmt.ms(r.max)} ms${r.keptUp ? '' : ' (not kept up)'} ` +
            `[own server ${fmt.ms(r.local.p50)}/${fmt.ms(r.local.p99)}, other server ${fmt.ms(r.remote.p50)}/${fmt.ms(r.remote.p99)}, publish RTT ${fmt.ms(r.publishRtt.p50)}/${fmt.ms(r.publishRtt.p99)}]  servers ${r.cpu.servers.map(fmt.cores).join('+')} redis ${fmt.cores(r.cpu.redis)} ` +
            `clients ${r.cpu.clients.map(fmt.cores).join('+')}${r.generatorBound ? ' (generator-bound)' : ''} pub ${fmt.cores(r.cpu.publisher)} foreign ${fmt.cores(r.cpu.foreign)} busy ${fmt.cores(r.cpu.busy)}  ` +
            `${r.serverUsPerDelivery.toFixed(2)} µs/delivery (kernel ${fmt.pct(r.cpu.serverKernelShare)}; clients' kernel ${fmt.pct(r.cpu.clientKernelShare)})` +
            (r.undelivered + r.dupes + r.closed + r.publishErrors > 0 ? `  UNDELIVERED ${r.undelivered} dupes ${r.dupes} closed ${r.closed} publish errors ${r.publishErrors}${r.firstPublishError ? ` (${r.firstPublishError})` : ''}` : ''));
        }
      }
    }
  } finally {
    for (const set of sets) await stopTarget(set).catch(() => {});
    await stopAll();
  }
  if (o.cpuProfDir) {
    for (const set of sets.filter((s) => s.kind === 'gateway')) {
      for (const s of set.servers) {
        for (const w of s.workers) {
          // The worker's main thread (tid 0); its function threads write profiles of their own.
          const f = readdirSync(o.cpuProfDir).filter((x) => x.endsWith('.cpuprofile') && x.split('.')[3] === String(w) && x.split('.')[4] === '0').sort().pop();
          if (f) rep.cpuProfiles.push({ name: `${s.name} worker ${w} (main thread)`, top: topSelfTime(join(o.cpuProfDir, f), 25) });
        }
      }
    }
  }
  for (const rate of o.rates) {
    for (const set of sets) {
      const s = summarize(rep.runs, set.name, rate);
      if (s) rep.summaries.push(s);
    }
    const g = rep.summaries.find((s) => s.target === 'gateway' && s.rate === rate);
    const b = rep.summaries.find((s) => s.target === 'socket.io' && s.rate === rate);
    if (g && b) rep.ratios.push({ rate, deliveries: g.deliveriesPerS / b.deliveriesPerS, p99: g.p99 / b.p99, usPerDelivery: g.serverUsPerDelivery / b.serverUsPerDelivery });
  }
  if (!quick) rep.verdict = verdict(rep.summaries, o);
  rep.wallS = (performance.now() - t0) / 1000;
  const md = markdown(rep);
  const outDir = str('out') ?? RESULTS_DIR;
  mkdirSync(outDir, { recursive: true });
  const base = join(outDir, `fanout-${timestamp()}`);
  writeFileSync(`${base}.json`, JSON.stringify(rep, null, 2));
  writeFileSync(`${base}.md`, md);
  process.stdout.write(`${md}\n`);
  log(`written: ${base}.md\n         ${base}.json`);
  if (aborted()) return 130;
  // --quick: every message delivered exactly once. A full run overloads socket.io on purpose: what
  // was still undelivered at the drain cap (or dropped as a slow consumer) is a result, reported in
  // the tables; duplicates, garbled frames and failed publishes are always failures.
  const bad = (r: FanRun) => r.dupes + r.publishErrors + r.bad + (quick ? r.undelivered + r.closed : 0) > 0;
  const problems = [
    ...Object.entries(rep.failed).map(([k, v]) => `${k}: ${v}`),
    ...rep.runs.filter(bad)
      .map((r) => `${r.target} round ${r.round} ${rateLabel(r.rate)}: ${r.undelivered} undelivered, ${r.dupes} duplicates, ${r.closed} closed, ${r.bad} unparseable, ${r.publishErrors} publish errors${r.firstPublishError ? ` (${r.firstPublishError})` : ''}`),
  ];
  if (rep.runs.length === 0) problems.push('no run completed');
  if (problems.length > 0) {
    log(`\nFailed:\n${problems.map((p) => `  ${p}`).join('\n')}`);
    return 1;
  }
  const late = rep.runs.filter((r) => r.undelivered + r.closed > 0);
  log(late.length === 0
    ? `\nEvery subscriber got every message exactly once in ${rep.runs.length} runs (${rep.wallS.toFixed(0)} s).`
    : `\nNo duplicates or failed publishes in ${rep.runs.length} runs (${rep.wallS.toFixed(0)} s); ${late.length} overloaded run(s) left messages undelivered at the drain cap: ${late.map((r) => `${r.target} ${rateLabel(r.rate)}`).join(', ')}.`);
  return 0;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await main(process.argv.slice(2));
}
