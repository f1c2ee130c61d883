/**
 * The bench suite's own parts: the wrk request script (method, headers and an awkward body reach a
 * real server byte for byte), a scenario run through real processes (a wrong answer and a target
 * that cannot start are failures, every process is stopped afterwards), and the reports.
 */
import { createServer } from 'node:http';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { type Run, type Summary, runAutocannon, runWrk, which } from '../../bench/harness.js';
import { README_END, README_START, markdownReport, svgChart, updateReadme, type BenchReport } from '../../bench/report.js';
import { type Scenario, type ScenarioResult, runScenario } from '../../bench/scenario.js';
import { loadScenarios } from '../../bench/run.js';

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

t.test('wrk sends the method, headers and body through its Lua script, byte for byte', { skip: which('wrk') ? false : 'wrk not installed (apt-get install wrk)' }, async (t) => {
  // Quotes, backslashes, newlines, NUL and non-ASCII bytes: everything a Lua literal must escape.
  const body = Buffer.concat([Buffer.from('{"a":"b\\\\c"}\n\r\t'), Buffer.from([0, 1, 0x7f, 0x80, 0xff]), Buffer.from('ünï 9')]);
  let requests = 0;
  let bad = '';
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      requests++;
      const got = Buffer.concat(chunks);
      if (req.method !== 'PUT' || req.headers['x-bench'] !== 'a "quoted" \\ value' || !got.equals(body)) {
        bad ||= `${req.method} ${String(req.headers['x-bench'])} ${got.toString('hex')}`;
      }
      res.end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => server.close());
  const port = (server.address() as { port: number }).port;
  const r = await runWrk(`http://127.0.0.1:${port}/x`, 2, 1, { method: 'PUT', body, headers: { 'x-bench': 'a "quoted" \\ value' } });
  t.equal(bad, '', 'every request carried the exact method, header and body');
  t.ok(requests > 10, `server saw ${requests} requests`);
  t.ok(r.requests > 10 && r.non2xx === 0 && r.errors === 0, `wrk: ${r.requests} requests, ${r.non2xx} non-2xx, ${r.errors} errors`);
});

t.test('rotate: autocannon and wrk send the next header value on every request, in one rotation over all connections', async (t) => {
  const values = ['v0', 'v1', 'v2', 'v3', 'v4'];
  let seen: string[] = [];
  const server = createServer((req, res) => {
    seen.push(req.headers['x-bench'] === 'kept' ? String(req.headers['x-rot']) : 'the fixed header was lost');
    res.end('ok');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => server.close());
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/x`;
  const req = { headers: { 'x-bench': 'kept' }, rotate: { header: 'x-rot', values } };
  const tools: [string, () => ReturnType<typeof runWrk>][] = [['autocannon', () => runAutocannon(url, 4, 1, req)]];
  if (which('wrk')) tools.push(['wrk', () => runWrk(url, 4, 1, req)]);
  for (const [tool, run] of tools) {
    seen = [];
    const r = await run();
    t.ok(r.requests > 50 && r.errors === 0, `${tool}: ${r.requests} requests`);
    t.same([...new Set(seen)].sort(), values, `${tool}: every value sent, nothing else, the fixed header kept`);
    const counts = values.map((v) => seen.filter((x) => x === v).length);
    // A request built but not answered when the run stops: at most one per connection.
    t.ok(Math.max(...counts) - Math.min(...counts) <= 4 + 1, `${tool}: evenly rotated (${counts.join('/')})`);
  }
});

t.test('a scenario: checked answers, failures named, every process stopped', async (t) => {
  const pids: number[] = [];
  const scenario: Scenario = {
    name: 'test-check',
    title: 'check',
    about: 'test',
    path: '/x',
    expect: { status: 200, body: '{"right":true}' },
    async setup(ctx) {
      const up = await ctx.upstream('{"right":true}');
      pids.push(up.proc.pid);
      ctx.direct(up);
      await ctx.uwsHello('{"right":false}');
      await ctx.gateway([{ name: 'ok', routes: [{ route: 'GET /x', integration: { type: 'mock', status: 200, body: '{"right":true}' } }] }]);
      // A config the gateway refuses: the target fails to start, the scenario goes on.
      await ctx.gateway([{ name: 'bad', routes: [{ route: 'GET /x', integration: { type: 'no_such_type' } }] }], { name: 'broken', role: 'baseline' });
    },
  };
  const lines: string[] = [];
  const r = await runScenario(scenario, {
    durationS: 1, rounds: 2, connections: 4, warmupS: 0, wrk: false, wrkRounds: 0, compare: [], cpuProfDir: null, log: (l) => lines.push(l),
  });
  t.same(r.targets.map((x) => x.name), ['direct', 'uws', 'gateway'], 'targets in call order; the one that did not start is not a target');
  t.match(r.failed.uws, /answered 200 "\{\\"right\\":false\}"/, 'a wrong body is a failure with what it answered');
  t.match(r.failed.broken, /did not start/, 'a target that cannot start is a failure');
  t.notOk(r.failed.gateway, 'the gateway answered right');
  t.notOk(r.failed.direct);
  const measured = [...new Set(r.runs.map((x) => x.target))].sort();
  t.same(measured, ['direct', 'gateway'], 'only targets that answered right are measured');
  t.equal(r.runs.length, 4, '2 rounds x 2 targets');
  t.same(r.runs.map((x) => x.round), [1, 1, 2, 2], 'interleaved: every target once per round');
  const ratio = r.ratios.find((x) => x.subject === 'gateway' && x.baseline === 'direct' && x.tool === 'autocannon');
  t.ok(ratio && Number.isFinite(ratio.rps) && ratio.rps > 0, 'gateway / direct ratio computed');
  const gw = r.summaries.find((x) => x.target === 'gateway')!;
  t.ok(gw.rssMb > 5 && gw.rssMb < 1024, `gateway worker RSS ${gw.rssMb.toFixed(0)} MB read from /proc`);
  t.ok(gw.cpuUsPerReq > 0, 'CPU per request measured');
  await new Promise((res) => setTimeout(res, 200));
  t.notOk(pids.some(alive), 'the upstream was stopped');
});

t.test('every shipped scenario loads and is well-formed', async (t) => {
  const all = await loadScenarios();
  t.same(all.map((s) => s.name), ['mock-small', 'proxy-small', 'proxy-64k', 'proxy-1m-post', 'routes-1000', 'function', 'throttle', 'jwt', 'cache']);
  for (const s of all) {
    t.ok(s.path.startsWith('/') && s.expect.status === 200 && s.expect.body.length > 0, s.name);
  }
  const post = all.find((s) => s.name === 'proxy-1m-post')!;
  t.equal(post.request?.body?.length, 1 << 20, 'the POST scenario sends 1 MB');
});

function summary(target: string, rps: number, p99: number, genBound: boolean): Summary {
  return {
    target, tool: 'autocannon', runs: 3, rps, p50: 1, p90: 1, p99, max: 5, errors: 0, timeouts: 0, non2xx: 0, cv: 0.02,
    genCpu: genBound ? 1 : 0.5, genBoundRuns: genBound ? 3 : 0, foreignCpu: 0, noisyRuns: 0, cpuCv: 0.01, targetCpu: 0.8, sideCpu: 0,
    upstreamCpu: 0.3, cpuUsPerReq: 20, reqPerCpuS: 50_000, rssMb: 80,
  };
}

function fakeReport(): BenchReport {
  const s: ScenarioResult = {
    name: 'proxy-small', title: 'Proxy <small> GET', about: 'About.', request: { method: 'GET', path: '/x', bodyBytes: 0 },
    options: { durationS: 5, rounds: 3, connections: 50, warmupS: 1, wrkRounds: 0 },
    targets: [
      { name: 'direct', role: 'baseline', note: 'limit' },
      { name: 'nginx', role: 'baseline', note: 'nginx' },
      { name: 'gateway', role: 'subject', note: 'this build' },
    ],
    skipped: {}, failed: { nginx: 'answered 502' }, runs: [] as Run[],
    summaries: [summary('direct', 70_000, 1, true), summary('gateway', 40_000, 2, false)],
    ratios: [{ subject: 'gateway', baseline: 'direct', tool: 'autocannon', rps: 40 / 70, p99: 2, cpuUsPerReq: 1, generatorBound: true }],
    cpuProfileTop: null, wallS: 40,
  };
  return {
    startedAt: '2026-11-24T00:00:00Z', machine: { cpu: 'Test CPU', cores: 2, node: 'v20', nginx: '1.22.1' },
    options: { durationS: 5, rounds: 3, connections: 50, warmupS: 1, wrkRounds: 0 }, scenarios: [s], errors: {}, wallS: 41,
  };
}

t.test('markdown report: subject in bold, generator-bound flagged, failures named', async (t) => {
  const md = markdownReport(fakeReport());
  t.match(md, /\| \*\*gateway\*\* \| 40,000 \|/);
  t.match(md, /\| direct \| 70,000 ⚑ \|/, 'generator-bound req/s flagged');
  t.match(md, /Generator-bound \(the load generator, not the target, was the limit\): direct/);
  t.match(md, /\| gateway \/ direct \| autocannon \| 0\.57x ⚑ \| 2\.00x \|/);
  t.match(md, /\*\*FAILED nginx\*\*: answered 502/);
});

t.test('SVG chart: one bar per target and metric, text escaped', async (t) => {
  const svg = svgChart(fakeReport());
  t.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
  t.equal((svg.match(/<rect /g) ?? []).length, 1 + 2 * 2, 'background + 2 targets x (req/s, p99)');
  t.match(svg, /Proxy &lt;small&gt; GET/, 'titles are escaped');
  t.notMatch(svg, /<small>/);
  t.match(svg, /fill-opacity="0\.55"/, 'generator-bound bar is faded');
});

t.test('README section replaced between the markers only', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'bench-readme-'));
  const file = join(dir, 'README.md');
  writeFileSync(file, `# Title\n\n## Performance\n\n${README_START}\nold table\n${README_END}\n\nAfter.\n`);
  t.ok(updateReadme(file, fakeReport()));
  const text = readFileSync(file, 'utf8');
  t.notMatch(text, /old table/);
  t.match(text, /^# Title\n\n## Performance\n\n<!-- bench:start -->\nLatest `npm run bench` \(2026-11-24; Test CPU, 2 cores/);
  t.match(text, /\| Proxy <small> GET \| \*\*gateway\*\* \| 40,000 \| 2\.00 \|.*0\.57x direct/);
  t.match(text, /<!-- bench:end -->\n\nAfter\.\n$/);
  writeFileSync(file, 'no markers\n');
  t.notOk(updateReadme(file, fakeReport()), 'no markers: not touched');
  t.equal(readFileSync(file, 'utf8'), 'no markers\n');
});
