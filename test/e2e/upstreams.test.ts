import t from 'tap';
import { get, startGateway, waitFor } from '../helpers/gateway.js';
import { startUpstream } from '../helpers/upstream.js';
import type { Upstream } from '../helpers/upstream.js';

// Balancing, health checks, circuit breaker and retries, against real upstream servers.

let aHealthy = true;
const tagged = (name: string, delayMs = 0) => startUpstream((req, res) => {
  if (req.url === '/health') {
    res.writeHead(name === 'a' && !aHealthy ? 500 : 200).end();
    return;
  }
  setTimeout(() => res.end(name), delayMs);
});
const a = await tagged('a');
const b = await tagged('b');
const c = await tagged('c');
const slow = await tagged('slow', 300);
const dead = await startUpstream();
await dead.close();
const deadUrl = `http://127.0.0.1:${dead.port}`;

const gw = await startGateway({
  apis: [{
    name: 'api',
    upstreams: {
      rr: { targets: [a.url, b.url, c.url] },
      weighted: { targets: [{ url: a.url, weight: 3 }, { url: b.url, weight: 1 }], balance: 'weighted' },
      least: { targets: [slow.url, b.url], balance: 'least_outstanding' },
      health: {
        targets: [a.url, b.url],
        // timeoutMs 1000 (the most allowed, at most intervalMs): with 100 ms, two checks of a healthy
        // target delayed on a busy machine could take it out and break the exact split below.
        healthCheck: { path: '/health', intervalMs: 1000, timeoutMs: 1000, healthyThreshold: 2, unhealthyThreshold: 2 },
      },
      retryGet: { targets: [deadUrl, b.url], retries: 1 },
      retryPost: { targets: [deadUrl, b.url], retries: 1 },
      breaker: { targets: [deadUrl], retries: 0, circuitBreaker: { failureThreshold: 2, openMs: 60000 } },
    },
    routes: [
      { route: 'GET /rr', integration: { type: 'http_proxy', upstream: 'rr' } },
      { route: 'GET /weighted', integration: { type: 'http_proxy', upstream: 'weighted' } },
      { route: 'GET /least', integration: { type: 'http_proxy', upstream: 'least' } },
      { route: 'GET /health-checked', integration: { type: 'http_proxy', upstream: 'health' } },
      { route: 'GET /retry', integration: { type: 'http_proxy', upstream: 'retryGet' } },
      { route: 'POST /retry', integration: { type: 'http_proxy', upstream: 'retryPost' } },
      { route: 'GET /breaker', integration: { type: 'http_proxy', upstream: 'breaker' } },
    ],
  }],
}, { workers: 1 });
t.teardown(async () => { await gw.stop(); await Promise.all([a, b, c, slow].map((u: Upstream) => u.close())); });

/** n requests from `parallel` closed loops (each sends its next request when the last one ends). */
async function tally(path: string, n: number, parallel = 1): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  let left = n;
  await Promise.all(Array.from({ length: parallel }, async () => {
    while (left > 0) {
      left--;
      const r = await get(gw.port, path);
      out[r.body] = (out[r.body] ?? 0) + 1;
    }
  }));
  return out;
}

t.test('round robin spreads evenly', async (t) => {
  t.same(await tally('/rr', 30), { a: 10, b: 10, c: 10 });
});

t.test('weighted 3:1', async (t) => {
  t.same(await tally('/weighted', 40), { a: 30, b: 10 });
});

t.test('least outstanding avoids the slow target under concurrency', async (t) => {
  const r = await tally('/least', 40, 8);
  t.ok((r.b ?? 0) > (r.slow ?? 0) * 2, `fast target took most: ${JSON.stringify(r)}`);
});

t.test('active health check removes a failing target and restores it', async (t) => {
  t.same(await tally('/health-checked', 10), { a: 5, b: 5 }, 'both serve');
  aHealthy = false;
  t.ok(await waitFor(async () => JSON.stringify(await tally('/health-checked', 6)) === '{"b":6}', 15_000), 'a removed');
  aHealthy = true;
  t.ok(await waitFor(async () => ((await tally('/health-checked', 6)).a ?? 0) > 0, 15_000), 'a restored');
});

t.test('connection failure is retried on another target for GET', async (t) => {
  for (let i = 0; i < 4; i++) {
    const r = await get(gw.port, '/retry');
    t.equal(r.status, 200);
    t.equal(r.body, 'b');
  }
});

t.test('POST is not retried: the request that hit the dead target fails', async (t) => {
  const statuses = [];
  for (let i = 0; i < 2; i++) statuses.push((await get(gw.port, '/retry', { method: 'POST', body: 'x' })).status);
  t.same(statuses.sort(), [200, 502]);
});

t.test('circuit breaker opens after consecutive failures', async (t) => {
  t.equal((await get(gw.port, '/breaker')).status, 502);
  t.equal((await get(gw.port, '/breaker')).status, 502);
  const r = await get(gw.port, '/breaker');
  t.equal(r.status, 503, 'open: no attempt, Service Unavailable');
  t.same(JSON.parse(r.body), { message: 'Service Unavailable' });
});

t.test('upstream errors are counted in /metrics', async (t) => {
  const errors = /gateway_upstream_errors_total\{upstream="api\/breaker",kind="connect_refused"\} 2/;
  const served = /gateway_requests_total\{route="GET \/rr",status="200"\} 30/;
  // /metrics waits at most 500 ms for the worker's fresh snapshot (a busy machine may show an older one): poll.
  let m = '';
  await waitFor(async () => errors.test(m = (await get(gw.adminPort, '/metrics')).body) && served.test(m), 10_000);
  t.match(m, errors);
  t.match(m, served);
});
