/**
 * The fan-out bench's own parts: its latency histogram, a load-generator process counting
 * deliveries against a plain `ws` server (every message once per connection; duplicates, other
 * runs' messages, garbage and what is missing are named), and `--quick` end to end against both
 * targets with either client (every subscriber gets every message). No performance figures.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { WebSocketServer, type WebSocket } from 'ws';
import { ClientProc } from '../../bench/fanout.js';
import { HIST_BUCKETS, bucketOf, histPercentile, makeBody } from '../../bench/fanout-client.js';

const FANOUT_JS = fileURLToPath(new URL('../../bench/fanout.js', import.meta.url));
const noRedis = spawnSync('sh', ['-c', 'command -v redis-server']).status !== 0 ? 'redis-server not installed (apt-get install redis-server)' : false;

t.test('latency histogram: percentiles within its 1% buckets', async (t) => {
  const hist = new Array<number>(HIST_BUCKETS).fill(0);
  for (let ms = 1; ms <= 1000; ms++) hist[bucketOf(ms * 1000)]!++;
  const near = (got: number, want: number) => Math.abs(got - want) / want <= 0.011;
  t.ok(near(histPercentile(hist, 50), 500), `p50 ${histPercentile(hist, 50)}`);
  t.ok(near(histPercentile(hist, 99), 990), `p99 ${histPercentile(hist, 99)}`);
  t.ok(near(histPercentile(hist, 100), 1000), `max ${histPercentile(hist, 100)}`);
  t.ok(Number.isNaN(histPercentile(new Array<number>(HIST_BUCKETS).fill(0), 50)), 'empty: NaN');
  t.equal(bucketOf(-5), 0, 'a negative latency (clock step) lands in the first bucket');
  t.equal(makeBody(3, 7, 1024).length, 1024, 'bodies are padded to the size asked');
});

for (const impl of ['raw', 'lib'] as const) {
  t.test(`client process (${impl}): each delivery counted once per connection; duplicates, strays, garbage and gaps reported`, async (t) => {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise<void>((r) => wss.once('listening', () => r()));
    t.teardown(() => new Promise<void>((r) => { for (const c of wss.clients) c.terminate(); wss.close(() => r()); }));
    const port = (wss.address() as { port: number }).port;
    const paths: string[] = [];
    const socks: WebSocket[] = [];
    wss.on('connection', (ws, req) => { socks.push(ws); paths.push(req.url ?? ''); });

    const c = new ClientProc('test client');
    t.teardown(() => c.kill());
    const opened = await c.ask({ t: 'open', kind: 'gateway', impl, ports: [port], first: 0, count: 6, concurrency: 3, path: '/live?topic=room1', timeoutMs: 5000 }, 'opened', 10_000);
    t.same([opened.ok, opened.failed], [6, 0], 'all 6 connected');
    t.ok(paths.every((p) => p === '/live?topic=room1'), 'on the stage path with the topic');
    const run = await c.ask({ t: 'run', run: 7, maxSeq: 10, t0Ms: Date.now(), ticks: 100 }, 'run-ok');
    t.equal(run.live, 6);
    const done: number[] = [];
    c.onDone = (seqs) => done.push(...seqs);

    const frame = (r: number, seq: number) => JSON.stringify({ topic: 'room1', id: `m${seq}`, data: makeBody(r, seq, 1024) });
    for (let seq = 0; seq < 5; seq++) for (const s of socks) s.send(frame(7, seq));
    for (const s of socks.slice(1)) s.send(frame(7, 5)); // one connection misses seq 5
    socks[1]!.send(frame(7, 2)); // a duplicate
    socks[2]!.send(frame(6, 9)); // the previous run's
    socks[3]!.send('{"topic":"room1","id":"x","data":"not a bench body"}');
    for (let i = 0; i < 100; i++) {
      const st = await c.ask({ t: 'status' }, 'status');
      if (st.received >= 35) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    const { report } = await c.ask({ t: 'report' }, 'report');
    t.equal(report.received, 35, '5 x 6 + 5 deliveries');
    t.same([report.dupes, report.stray, report.bad], [1, 1, 1], 'one duplicate, one stray, one unparseable');
    t.same([report.minPerConn, report.maxPerConn], [5, 6], 'the connection that missed one is visible');
    t.same(report.perSeq, [6, 6, 6, 6, 6, 5], 'per-message counts');
    t.same([...done].sort((a, b) => a - b), [0, 1, 2, 3, 4], 'completion reported for the messages every connection got');
    t.equal(report.hist.reduce((a, b) => a + b, 0), 35, 'a latency per delivery');
    t.equal(report.ticks.reduce((a, b) => a + b, 0), 35, 'every delivery in a tick');
    await c.ask({ t: 'close' }, 'closed');
  });
}

function runQuick(args: string[]): Promise<{ code: number | null; err: string }> {
  const out = mkdtempSync(join(tmpdir(), 'fanout-test-'));
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [FANOUT_JS, '--quick', '--out', out, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    p.stderr.on('data', (d) => { err += d; });
    p.on('exit', (code) => { rmSync(out, { recursive: true, force: true }); resolve({ code, err }); });
  });
}

for (const client of ['raw', 'lib']) {
  t.test(`--quick --client ${client}: gateway and socket.io, every subscriber gets every message`, { skip: noRedis, timeout: 90_000 }, async (t) => {
    const r = await runQuick(['--clients', '120', '--client', client]);
    t.equal(r.code, 0, 'exit 0');
    if (r.code !== 0) t.comment(r.err.slice(-3000));
    t.match(r.err, /gateway: 120\/120 clients connected/);
    t.match(r.err, /socket\.io: 120\/120 clients connected/);
    t.match(r.err, /Every subscriber got every message exactly once in 2 runs/);
  });
}

t.test('--quick --batch: the gateway batching broadcasts (frames of several messages), every subscriber gets every message', { skip: noRedis, timeout: 90_000 }, async (t) => {
  const r = await runQuick(['--clients', '120', '--targets', 'gateway', '--rates', '300', '--batch', '65536']);
  t.equal(r.code, 0, 'exit 0');
  if (r.code !== 0) t.comment(r.err.slice(-3000));
  t.match(r.err, /Every subscriber got every message exactly once in 1 runs?/);
});
