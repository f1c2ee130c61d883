import t from 'tap';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { get, startGateway, waitFor } from '../helpers/gateway.js';
import { startUpstream } from '../helpers/upstream.js';

// Admin listener and access log through a real gateway with two workers.

const up = await startUpstream();
const logFile = join(mkdtempSync(join(tmpdir(), 'gw-log-')), 'access.log');
const gw = await startGateway({
  accessLog: { enabled: true, destination: logFile },
  apis: [{
    name: 'api',
    upstreams: { u: { targets: [up.url] } },
    routes: [
      { route: 'GET /pets/{id}', integration: { type: 'http_proxy', upstream: 'u' } },
      { route: 'GET /ping', integration: { type: 'mock', body: 'pong' } },
    ],
  }],
}, { workers: 2 });
t.teardown(async () => { await gw.stop(); await up.close(); });

const metric = (text: string, name: string) => {
  const line = text.split('\n').find((l) => l.startsWith(name));
  return line === undefined ? NaN : Number(line.slice(line.lastIndexOf(' ') + 1));
};

t.test('/health and /ready', async (t) => {
  const h = await get(gw.adminPort, '/health');
  t.equal(h.status, 200);
  const r = JSON.parse((await get(gw.adminPort, '/ready')).body);
  t.equal(r.ready, true);
  t.equal(r.workers, 2);
  t.equal((await get(gw.adminPort, '/nope')).status, 404);
  t.equal((await get(gw.adminPort, '/metrics', { method: 'POST' })).status, 405);
});

t.test('/metrics sums both workers and survives a worker being killed', async (t) => {
  for (let i = 0; i < 20; i++) await get(gw.port, `/pets/${i}`);
  for (let i = 0; i < 5; i++) await get(gw.port, '/nope');
  // /metrics waits at most 500 ms for each worker's fresh snapshot, else shows its last periodic one
  // (a busy machine): poll until both workers' counts are in, then check them exactly.
  let m = '';
  await waitFor(async () => {
    m = (await get(gw.adminPort, '/metrics')).body;
    return metric(m, 'gateway_requests_total{route="GET /pets/{id}",status="200"}') >= 20 && metric(m, 'gateway_requests_total{route="-",status="404"}') >= 5
      && metric(m, 'gateway_request_duration_seconds_count{route="GET /pets/{id}"}') >= 20 && metric(m, 'gateway_integration_duration_seconds_count{route="GET /pets/{id}"}') >= 20;
  }, 10_000);
  t.equal(metric(m, 'gateway_requests_total{route="GET /pets/{id}",status="200"}'), 20);
  t.equal(metric(m, 'gateway_requests_total{route="-",status="404"}'), 5);
  t.equal(metric(m, 'gateway_request_duration_seconds_count{route="GET /pets/{id}"}'), 20);
  t.equal(metric(m, 'gateway_integration_duration_seconds_count{route="GET /pets/{id}"}'), 20);
  t.equal(metric(m, 'gateway_workers'), 2);
  t.match(m, /# TYPE gateway_request_duration_seconds histogram/);

  const pids: number[] = JSON.parse((await get(gw.adminPort, '/ready')).body).pids;
  process.kill(pids[0]!, 'SIGKILL');
  // Wait for the replacement: right after the kill /ready still counts the dead worker as one of 2.
  await waitFor(async () => {
    const r = JSON.parse((await get(gw.adminPort, '/ready')).body) as { workers: number; pids: number[] };
    return r.workers === 2 && !r.pids.includes(pids[0]!);
  }, 20_000);
  m = (await get(gw.adminPort, '/metrics')).body;
  t.ok(metric(m, 'gateway_requests_total{route="GET /pets/{id}",status="200"}') >= 20, 'counter did not go backwards');
});

t.test('access log: one JSON line per request with AWS-style fields', async (t) => {
  const r = await get(gw.port, '/pets/77', { headers: { 'user-agent': 'tap-test' } });
  const id = r.headers['x-request-id'];
  let entry: Record<string, unknown> | undefined;
  await waitFor(() => {
    entry = readFileSync(logFile, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)).find((e) => e.requestId === id);
    return entry !== undefined;
  }, 5000);
  t.ok(entry, 'line written');
  t.match(entry, {
    requestId: id, ip: '127.0.0.1', httpMethod: 'GET', routeKey: 'GET /pets/{id}', path: '/pets/77',
    status: 200, protocol: 'HTTP/1.1', userAgent: 'tap-test', integrationStatus: 200,
  });
  t.type(entry!.requestTime, 'string');
  t.type(entry!.requestTimeEpoch, 'number');
  t.type(entry!.integrationLatency, 'number');
  t.type(entry!.responseLatency, 'number');
  t.ok((entry!.responseLength as number) > 0);
});
