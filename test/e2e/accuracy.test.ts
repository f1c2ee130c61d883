import t, { type Test } from 'tap';
import { get, startGateway, type Gateway } from '../helpers/gateway.js';
import { startRedis } from '../helpers/redis.js';
import { closedLoop, ConnPool, getRequest, paced, serverPids, type PacedAnswer } from '../helpers/pace.js';

/*
 * Accuracy of shared limits: two gateway processes (two "nodes") with two workers each, one Redis.
 *
 * Throttle: a route bucket of 100 req/s, driven at 5x (500 req/s, open loop, split over both nodes
 * and over connections that reach both workers of each). Admitted answers (200) are counted per
 * consecutive 10 s window by the time the request was sent; the first 2 s (the initial burst) are
 * dropped.
 *
 * Why burst 10 makes +-2% a sound requirement in exact mode: a token bucket admits, over any
 * interval T, rate x T + tokens(start) - tokens(end) - (refill lost while full). tokens() lies in
 * [0, burst], so a 10 s window admits 1000 +- 10 (+-1%) as long as demand never pauses long enough
 * for the bucket to fill (burst / rate = 100 ms) and overflow. At 5x, requests reach the gateway
 * every 2 ms, so the bucket is nearly empty at every window edge and the count is ~1000 +- 1;
 * the +-2% leaves room for a load-generator or gateway stall of up to ~100 ms beyond the fill time
 * (10 lost tokens). A larger burst would widen the edge term, a smaller one would lose tokens on
 * every short stall.
 *
 * The lower side of that needs demand. On a busy 2-core machine the load generator itself gets
 * descheduled now and then (pauses of 100-200 ms were seen): while nothing arrives, the bucket fills
 * to its burst in 100 ms and drops the refill after that, so the gateway rightly admits less. That
 * is the client failing to load the gateway, not the limiter miscounting, so each window's lower
 * bound is lowered by the refill its own send pauses could have dropped: the sum over gaps between
 * consecutive sends of (gap - 100 ms) x 100/s, measured, rounded up and printed. The upper bound
 * is never widened. When pauses are worth more than another 2% (20 tokens), or fewer than 90% of
 * the 5x requests went out, the test fails saying the machine could not drive the load.
 *
 * Windows are cut by send time (the client's monotonic clock), while the bucket acts at decision
 * time (Redis TIME). The two differ by the send->decide latency (keep-alive, one request in flight
 * per connection: ~1 ms median, tens of ms at p99 on a loaded machine), which moves ~1 admission
 * (one token per 10 ms) across a window edge. No extra edge slack is added for it.
 *
 * Lease mode, bound from src/limits/limiter.ts: at most one lease per limit per worker is out at a
 * time (lease = ceil(rate x leaseMs / 1000) = 10 tokens), so admissions in a window differ from
 * exact mode by at most (workers on all nodes = 4) x 10 = 40, and exceed the bucket's own bound
 * (burst + rate x window) by at most rate x leaseMs = 10. Exact mode's own window range is
 * 1000 +- burst, so every lease-mode window lies in [1000 - 10 - 40, 1000 + 10 + 10] = [950, 1020].
 *
 * Quotas: a usage plan with a 700/DAY quota and a config API key; 1,000 requests with the key over
 * both nodes, 20 in flight: exactly 700 admitted and 300 refused with Limit Exceeded, and the admin
 * usage API on either node says used 700, remaining 0 (in lease mode once the leases are back).
 */

t.setTimeout(240_000);

const RATE = 100;
const BURST = 10;
const LEASE_MS = 100;
const NODES = 2;
const WORKERS = 2;
const OVERLOAD = 5;
const WINDOW_MS = 10_000;
const WINDOWS = 3;
const WARMUP_MS = 2_000;
const LIMIT = (RATE * WINDOW_MS) / 1000; // 1000 per window
const LEASE = Math.ceil((RATE * LEASE_MS) / 1000); // 10 tokens
const EXACT = { lo: Math.ceil(LIMIT * 0.98), hi: Math.floor(LIMIT * 1.02) }; // [980, 1020]
const LEASED = { lo: LIMIT - BURST - NODES * WORKERS * LEASE, hi: LIMIT + BURST + (RATE * LEASE_MS) / 1000 }; // [950, 1020]
// "Reached 5x": at least 90% of 5 x 1000 requests sent in every window.
const MIN_SENT = 0.9 * OVERLOAD * LIMIT;
// An idle bucket is full after burst / rate; refill during longer pauses in demand is dropped.
const FILL_MS = (BURST * 1000) / RATE; // 100 ms
// At most this much refill (2% of the limit) may be excused by pauses of the load generator.
const MAX_ALLOWANCE = 0.02 * LIMIT;
// Windows the generator drove steadily, of WINDOWS, for the bucket test to count.
const MIN_WINDOWS = 2;

const QUOTA = 700;
const QUOTA_REQUESTS = 1000;
const KEY = 'accuracy-test-key-0123456789abcdef';
const TOO_MANY = { message: 'Too Many Requests' };
const LIMIT_EXCEEDED = { message: 'Limit Exceeded' };

const redis = await startRedis();
t.teardown(() => redis.close());

function config(mode: 'exact' | 'lease'): Record<string, unknown> {
  return {
    // Own key prefix per mode: the lease run starts from empty buckets and counters.
    store: { type: 'redis', redis: { url: redis.url, keyPrefix: `acc-${mode}:` } },
    throttling: { gateway: false, mode, leaseMs: LEASE_MS },
    usagePlans: { plan: { quota: { limit: QUOTA, period: 'DAY' }, throttle: { rateLimit: 1000, burstLimit: 1000 }, apiStages: [{ api: 'acc' }] } },
    apiKeys: [{ name: 'accuracy', value: KEY, usagePlans: ['plan'] }],
    apis: [{
      name: 'acc',
      routes: [
        // Named by api/stage/route key: one bucket in Redis shared by both nodes.
        { route: 'GET /r', throttle: { rateLimit: RATE, burstLimit: BURST }, integration: { type: 'mock', body: 'ok' } },
        { route: 'GET /q', apiKeyRequired: true, integration: { type: 'mock', body: 'ok' } },
      ],
    }],
  };
}

interface Node { gw: Gateway; pool: ConnPool; pids: number[]; pidOfConn: (number | null)[] }

/**
 * Keep-alive connections to a node until both of its workers hold some (the kernel spreads
 * SO_REUSEPORT connections by hash): 8 first, 4 more at a time, at most 32.
 */
async function connectNode(t: Test, gw: Gateway): Promise<Node> {
  const pids = (JSON.parse((await get(gw.adminPort, '/ready')).body) as { pids: number[] }).pids;
  t.equal(pids.length, WORKERS, `node :${gw.port} runs ${WORKERS} workers`);
  const pool = await ConnPool.open(gw.port, 8);
  let pidOfConn = await mapConns(gw.port, pool, pids);
  while (pidOfConn.length < 32 && pidOfConn.every((p) => p !== null) && !pids.every((p) => pidOfConn.includes(p))) {
    await pool.add(4);
    pidOfConn = await mapConns(gw.port, pool, pids);
  }
  return { gw, pool, pids, pidOfConn };
}

/** serverPids, retried for up to 2 s: a connection is only in a worker's fd table once that worker has accepted it. */
async function mapConns(port: number, pool: ConnPool, pids: number[]): Promise<(number | null)[]> {
  let m = serverPids(port, pool.localPorts, pids);
  for (let i = 0; i < 40 && m.some((p) => p === null); i++) {
    await new Promise((r) => setTimeout(r, 50));
    m = serverPids(port, pool.localPorts, pids);
  }
  return m;
}

/** Answers that are neither 200 "ok" nor 429 with `refusal` as body, as readable lines. */
function badAnswers(answers: PacedAnswer[], refusal: object): string[] {
  const bad: string[] = [];
  const want = JSON.stringify(refusal);
  for (const a of answers) {
    if (a.error !== undefined) bad.push(`node ${a.pool}: ${a.error}`);
    else if (a.status === 200 && a.body === 'ok') continue;
    else if (a.status === 429) {
      let same = false;
      try { same = JSON.stringify(JSON.parse(a.body)) === want; } catch { /* not JSON */ }
      if (!same) bad.push(`node ${a.pool}: 429 ${JSON.stringify(a.body)}`);
    } else bad.push(`node ${a.pool}: ${a.status} ${JSON.stringify(a.body.slice(0, 200))}`);
  }
  return bad;
}

async function usage(adminPort: number): Promise<{ used: number; remaining: number | null; limit: number | null }> {
  const keys = JSON.parse((await get(adminPort, '/apikeys')).body) as { items: { id: string; name: string }[] };
  const id = keys.items.find((k) => k.name === 'accuracy')?.id;
  if (id === undefined) throw new Error(`key "accuracy" not listed by GET /apikeys: ${JSON.stringify(keys)}`);
  const r = await get(adminPort, `/apikeys/${encodeURIComponent(id)}/usage`);
  if (r.status !== 200) throw new Error(`GET /apikeys/${id}/usage: ${r.status} ${r.body}`);
  const item = (JSON.parse(r.body) as { items: { usagePlan: string; used: number; remaining: number | null; limit: number | null }[] }).items.find((i) => i.usagePlan === 'plan');
  if (item === undefined) throw new Error(`no usage row for plan "plan": ${r.body}`);
  return item;
}

for (const mode of ['exact', 'lease'] as const) {
  t.test(`${mode} mode: ${NODES} nodes x ${WORKERS} workers, one Redis`, async (t) => {
    const gws = await Promise.all(Array.from({ length: NODES }, () => startGateway(config(mode), { workers: WORKERS })));
    t.teardown(() => Promise.all(gws.map((g) => g.stop())));
    const nodes: Node[] = [];
    for (const gw of gws) nodes.push(await connectNode(t, gw));
    t.teardown(() => { for (const n of nodes) n.pool.close(); });
    const pools = nodes.map((n) => n.pool);

    await t.test(`route bucket ${RATE}/s burst ${BURST}, driven at ${OVERLOAD}x: admitted per ${WINDOW_MS / 1000} s window`, async (t) => {
      const run = await paced(pools, getRequest('/r'), RATE * OVERLOAD, WARMUP_MS + WINDOWS * WINDOW_MS);
      const { answers } = run;

      const bad = badAnswers(answers, TOO_MANY);
      t.same(bad.slice(0, 10), [], `every answer is 200 "ok" or 429 Too Many Requests (${bad.length} others)`);

      // Both workers of each node served part of the load (when /proc tells which worker holds a connection).
      nodes.forEach((n, i) => {
        if (n.pidOfConn.some((p) => p === null)) {
          t.comment(`node ${i}: cannot tell workers' connections apart (no /proc): worker spread not checked`);
          return;
        }
        const per = new Map<number, number>(n.pids.map((p) => [p, 0]));
        for (const a of answers) if (a.pool === i && a.conn >= 0) per.set(n.pidOfConn[a.conn]!, per.get(n.pidOfConn[a.conn]!)! + 1);
        const shares = [...per].map(([pid, c]) => `${pid}: ${c}`).join(', ');
        t.comment(`node ${i} (${n.pidOfConn.length} connections): requests per worker ${shares}`);
        for (const [pid, c] of per) t.ok(c > 0, `node ${i} worker ${pid} got traffic (${shares})`);
      });

      const range = mode === 'exact' ? EXACT : LEASED;
      // Refill a full bucket may have dropped while nothing was sent (see the header): in a pause
      // between two sends, from FILL_MS after the first on; split over the windows it overlaps.
      const lostIn = Array.from({ length: WINDOWS }, () => 0);
      const longest = Array.from({ length: WINDOWS }, () => 0);
      for (let i = 1; i < answers.length; i++) {
        const a = answers[i - 1]!.sentMs;
        const b = answers[i]!.sentMs;
        for (let w = 0; w < WINDOWS; w++) {
          const from = WARMUP_MS + w * WINDOW_MS;
          const to = from + WINDOW_MS;
          if (b > from && a < to) longest[w] = Math.max(longest[w]!, Math.min(b, to) - Math.max(a, from));
          lostIn[w]! += (Math.max(0, Math.min(b, to) - Math.max(a + FILL_MS, from)) * RATE) / 1000;
        }
      }
      const rows: string[] = [];
      const unsteady: string[] = [];
      for (let w = 0; w < WINDOWS; w++) {
        const from = WARMUP_MS + w * WINDOW_MS;
        const to = from + WINDOW_MS;
        let sent = 0;
        let admitted = 0;
        const perNode = nodes.map(() => 0);
        for (const a of answers) {
          if (a.sentMs < from || a.sentMs >= to) continue;
          sent++;
          if (a.status === 200) { admitted++; perNode[a.pool]!++; }
        }
        const pause = longest[w]!;
        const lost = lostIn[w]!;
        const allowance = Math.ceil(lost);
        const lo = range.lo - allowance;
        rows.push(`window ${w} [${from / 1000}s, ${to / 1000}s): sent ${sent}, admitted ${admitted} (by node: ${perNode.join(' + ')}); ` +
          `longest send pause ${pause.toFixed(0)} ms, refill lost to pauses <= ${allowance}`);
        if (sent < MIN_SENT || allowance > MAX_ALLOWANCE) {
          // A stall of this machine (seen: one 277 ms pause with another process hogging a core) says
          // nothing about the limiter: that window is left out, and enough others must be measured.
          unsteady.push(`window ${w}: ${sent} requests sent (need >= ${MIN_SENT}), pauses over ${FILL_MS} ms worth ${allowance} tokens (at most ${MAX_ALLOWANCE})`);
          continue;
        }
        t.ok(admitted >= lo && admitted <= range.hi,
          `${mode} window ${w}: ${admitted} admitted, within [${lo}, ${range.hi}] ` +
          `(${OVERLOAD}x load: ${sent} sent; longest send pause ${pause.toFixed(0)} ms, lower bound lowered by ${allowance} for it)`);
      }
      for (const u of unsteady) t.comment(`left out, the load generator could not drive ${OVERLOAD}x steadily: ${u}`);
      t.ok(WINDOWS - unsteady.length >= MIN_WINDOWS,
        `${WINDOWS - unsteady.length} of ${WINDOWS} windows driven steadily (need ${MIN_WINDOWS}; fewer means this machine is too slow or too busy for this test)`);
      const lat = answers.filter((a) => a.latencyMs >= 0).map((a) => a.latencyMs).sort((a, b) => a - b);
      const q = (f: number) => (lat[Math.min(lat.length - 1, Math.floor(f * lat.length))] ?? 0).toFixed(1);
      t.comment(`${mode} mode, limit ${LIMIT} per window, bound [${range.lo}, ${range.hi}]; send->answer ms p50 ${q(0.5)} p99 ${q(0.99)} max ${q(1)}; ` +
        `load timer late by up to ${run.maxLateMs.toFixed(1)} ms`);
      for (const r of rows) t.comment(r);
    });

    await t.test(`quota ${QUOTA}/DAY counted exactly over both nodes`, async (t) => {
      const answers = await closedLoop(pools, getRequest('/q', { 'x-api-key': KEY }), QUOTA_REQUESTS, 20);
      const bad = badAnswers(answers, LIMIT_EXCEEDED);
      t.same(bad.slice(0, 10), [], `every answer is 200 "ok" or 429 Limit Exceeded (${bad.length} others)`);
      const ok = answers.filter((a) => a.status === 200).length;
      const refused = answers.filter((a) => a.status === 429).length;
      const byNode = nodes.map((_, i) => answers.filter((a) => a.pool === i && a.status === 200).length);
      t.equal(ok, QUOTA, `exactly ${QUOTA} admitted (by node: ${byNode.join(' + ')})`);
      t.equal(refused, QUOTA_REQUESTS - QUOTA, `exactly ${QUOTA_REQUESTS - QUOTA} refused`);

      // Exact mode counts as it admits. Lease mode holds up to a lease per worker until leaseMs has
      // passed and the sweeper (every leaseMs / 2) gives the unused units back: let every lease
      // expire and be returned, then poll both nodes for a few seconds.
      const seen: string[] = [];
      const read = async () => {
        const us = await Promise.all(gws.map((g) => usage(g.adminPort)));
        seen.push(us.map((u) => u.used).join('/'));
        return us;
      };
      let us = await read();
      if (mode === 'lease') {
        await new Promise((r) => setTimeout(r, 3 * LEASE_MS + 200));
        const deadline = Date.now() + 5000;
        for (us = await read(); us.some((u) => u.used !== QUOTA) && Date.now() < deadline; us = await read()) await new Promise((r) => setTimeout(r, 100));
      }
      us.forEach((u, i) => {
        t.same({ used: u.used, remaining: u.remaining, limit: u.limit }, { used: QUOTA, remaining: 0, limit: QUOTA },
          `node ${i} admin API: used ${QUOTA}, remaining 0 (used as read by node 0/node 1, in turn: ${[...new Set(seen)].join(', ')})`);
      });
    });
  });
}
