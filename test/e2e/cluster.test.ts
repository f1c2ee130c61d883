import { spawnSync } from 'node:child_process';
import t from 'tap';
import autocannon from 'autocannon';
import { get, startGateway, waitFor } from '../helpers/gateway.js';
import { startUpstream } from '../helpers/upstream.js';

// Supervision through real processes: crash restart, rolling reload under load, drain on SIGTERM.

const up = await startUpstream();
const apis = (body: string) => [{
  name: 'api',
  upstreams: { u: { targets: [up.url] } },
  routes: [
    { route: 'GET /proxy/{id}', integration: { type: 'http_proxy', upstream: 'u' } },
    { route: 'GET /version', integration: { type: 'mock', body } },
  ],
}];
t.teardown(() => up.close());

async function readyInfo(adminPort: number): Promise<{ ready: boolean; pids: number[] }> {
  return JSON.parse((await get(adminPort, '/ready')).body);
}

// The AWS-like gateway-wide default (10,000 req/s per worker here) would throttle the load below.
const UNTHROTTLED = { gateway: false };

function load(url: string, seconds: number) {
  return autocannon({ url, connections: 16, duration: seconds, pipelining: 1 });
}

t.test('kill -9 of a worker under load: restarted and serving', async (t) => {
  const gw = await startGateway({ apis: apis('v1'), throttling: UNTHROTTLED }, { workers: 2 });
  t.teardown(() => gw.stop());
  const before = await readyInfo(gw.adminPort);
  t.equal(before.pids.length, 2);
  const running = load(`${gw.url}/proxy/1`, 4);
  await new Promise((r) => setTimeout(r, 1000));
  process.kill(before.pids[0]!, 'SIGKILL');
  const result = await running;
  t.ok(result.requests.total > 0, 'load ran');
  const back = await waitFor(async () => {
    const info = await readyInfo(gw.adminPort);
    return info.ready && info.pids.length === 2 && !info.pids.includes(before.pids[0]!);
  }, 10_000);
  t.ok(back, 'a new worker replaced the killed one');
  const r = await get(gw.port, '/proxy/2');
  t.equal(r.status, 200);
  t.match(gw.output(), /worker died; restarting/);
});

t.test('SIGHUP under load: workers roll with zero failed requests', async (t) => {
  const gw = await startGateway({ apis: apis('v1'), throttling: UNTHROTTLED }, { workers: 2 });
  t.teardown(() => gw.stop());
  const before = await readyInfo(gw.adminPort);
  const running = load(`${gw.url}/proxy/1`, 6);
  await new Promise((r) => setTimeout(r, 1500));
  gw.writeConfig({ apis: apis('v2'), throttling: UNTHROTTLED });
  gw.proc.kill('SIGHUP');
  const result = await running;
  t.ok(result.requests.total > 1000, `load ran (${result.requests.total} requests)`);
  t.equal(result.errors, 0, 'no connection errors');
  t.equal(result.timeouts, 0, 'no timeouts');
  t.equal(result.non2xx, 0, 'no non-2xx');
  // The first rolled worker serves v2 before the second is replaced: wait for the master's word.
  t.ok(await waitFor(() => /reload complete/.test(gw.output()), 15_000), 'reload complete');
  t.equal((await get(gw.port, '/version')).body, 'v2', 'new config served');
  const after = await readyInfo(gw.adminPort);
  t.equal(after.pids.length, 2);
  t.notOk(after.pids.some((p) => before.pids.includes(p)), 'every worker replaced');
});

t.test('SIGHUP with an invalid config keeps serving the old one and says why', async (t) => {
  const gw = await startGateway({ apis: apis('v1'), throttling: UNTHROTTLED }, { workers: 1 });
  t.teardown(() => gw.stop());
  gw.writeConfig({ apis: [{ name: 'api', routes: [{ route: 'GET /x', integration: { type: 'http_proxy', upstream: 'missing' } }] }] });
  gw.proc.kill('SIGHUP');
  const logged = await waitFor(() => /reload rejected/.test(gw.output()), 5000);
  t.ok(logged, 'logged the rejection');
  t.match(gw.output(), /missing/);
  const r = await get(gw.port, '/version');
  t.equal(r.body, 'v1');
});

t.test('SIGTERM drains in-flight requests and exits 0', async (t) => {
  let seen = false;
  const slow = await startUpstream((_req, res) => { seen = true; setTimeout(() => res.end('done'), 800); });
  t.teardown(() => slow.close());
  const gw = await startGateway({
    apis: [{ name: 'api', upstreams: { s: { targets: [slow.url] } }, routes: [{ route: 'GET /slow', integration: { type: 'http_proxy', upstream: 's' } }] }],
  }, { workers: 1 });
  const inflight = get(gw.port, '/slow');
  // SIGTERM once the request is in flight (reached the upstream), not after a fixed wait.
  t.ok(await waitFor(() => seen, 10_000), 'request in flight');
  const code = gw.stop('SIGTERM');
  const r = await inflight;
  t.equal(r.status, 200, 'in-flight request completed');
  t.equal(r.body, 'done');
  t.equal(await code, 0, 'exit code 0');
  await t.rejects(get(gw.port, '/slow'), 'no longer accepting');
});

t.test('SIGTERM while a killed worker is being replaced: the replacement drains too (exit 0, no drain timeout)', { timeout: 40_000 }, async (t) => {
  // A drain timeout far beyond this test's timeout: a replacement that missed its 'drain' would hold the stop that long.
  const gw = await startGateway({ apis: apis('v1'), throttling: UNTHROTTLED, shutdown: { drainTimeoutMs: 120_000 } }, { workers: 1 });
  const before = await readyInfo(gw.adminPort);
  process.kill(before.pids[0]!, 'SIGKILL');
  // SIGTERM as soon as the master has forked the replacement, while it is still loading its modules.
  const children = () => spawnSync('pgrep', ['-P', String(gw.proc.pid)], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean).map(Number);
  t.ok(await waitFor(() => children().some((p) => p !== before.pids[0]), 10_000, 5), 'replacement forked');
  t.equal(await gw.stop('SIGTERM'), 0, 'exit code 0');
});

t.test('crash loop: a slot that keeps dying is given up, and with none left the master exits 1', { timeout: 60_000 }, async (t) => {
  const gw = await startGateway({ apis: apis('v1'), throttling: UNTHROTTLED }, { workers: 1 });
  t.teardown(() => gw.stop('SIGKILL'));
  const killed = new Set<number>();
  const exited = new Promise<number | null>((r) => gw.proc.once('exit', (code) => r(code)));
  let done = false;
  void exited.then(() => { done = true; });
  // Kill every worker as soon as it reports ready (each one dies young: a crash loop).
  while (!done) {
    try {
      const info = await readyInfo(gw.adminPort);
      for (const pid of info.pids) if (!killed.has(pid)) { killed.add(pid); process.kill(pid, 'SIGKILL'); }
    } catch { /* admin closed while exiting */ }
    await new Promise((r) => setTimeout(r, 20));
  }
  t.equal(await exited, 1, 'master exits 1');
  t.equal(killed.size, 8, 'gave up after 8 consecutive quick crashes');
  t.match(gw.output(), /crash loop/);
  t.match(gw.output(), /restartInMs":1600/, 'backoff doubled');
});
