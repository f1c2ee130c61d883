import t from 'tap';
import {
  LATENCY_BUCKETS_SECONDS, MetricsAggregator, UPSTREAM_ERROR_KINDS, WorkerMetrics, escapeLabel, isMetricsSnapshot,
  startSnapshotReporter,
} from '../../src/observability/metrics.js';
import type { MetricsSnapshot, RouteSeries } from '../../src/observability/metrics.js';

// ---------------------------------------------------------------------------------------------
// A small, strict parser for text format 0.0.4, so the tests check what Prometheus would accept.

interface Sample { name: string; labels: Record<string, string>; value: number }
interface Family { name: string; help?: string; type?: string; samples: Sample[] }

function parseValue(s: string): number {
  if (s === '+Inf') return Infinity;
  if (s === '-Inf') return -Infinity;
  if (s === 'NaN') return NaN;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(s)) throw new Error(`bad value ${JSON.stringify(s)}`);
  return Number(s);
}

function parseLabels(s: string, at: { i: number }): Record<string, string> {
  const labels: Record<string, string> = {};
  at.i++; // '{'
  while (s[at.i] !== '}') {
    const m = /^[a-zA-Z_][a-zA-Z0-9_]*/.exec(s.slice(at.i));
    if (!m) throw new Error(`bad label name at ${s.slice(at.i)}`);
    const name = m[0];
    at.i += name.length;
    if (s[at.i] !== '=' || s[at.i + 1] !== '"') throw new Error(`expected =" after ${name}`);
    at.i += 2;
    let v = '';
    for (;;) {
      const c = s[at.i++];
      if (c === undefined) throw new Error('unterminated label value');
      if (c === '"') break;
      if (c === '\n') throw new Error('raw newline in label value');
      if (c === '\\') {
        const e = s[at.i++];
        if (e === '\\') v += '\\';
        else if (e === '"') v += '"';
        else if (e === 'n') v += '\n';
        else throw new Error(`bad escape \\${e}`);
      } else v += c;
    }
    if (name in labels) throw new Error(`duplicate label ${name}`);
    labels[name] = v;
    if (s[at.i] === ',') at.i++;
    else if (s[at.i] !== '}') throw new Error(`expected , or } at ${s.slice(at.i)}`);
  }
  at.i++;
  return labels;
}

function familyOf(sample: string, families: Map<string, Family>): Family | undefined {
  if (families.has(sample)) return families.get(sample);
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (sample.endsWith(suffix)) {
      const f = families.get(sample.slice(0, -suffix.length));
      if (f?.type === 'histogram') return f;
    }
  }
  return undefined;
}

function parseProm(text: string): Map<string, Family> {
  if (!text.endsWith('\n')) throw new Error('exposition must end with a newline');
  const families = new Map<string, Family>();
  const closed = new Set<string>();
  let current: Family | null = null;
  for (const line of text.slice(0, -1).split('\n')) {
    if (line === '') throw new Error('empty line');
    const meta = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
    if (meta) {
      const [, kind, name, rest] = meta as unknown as [string, string, string, string];
      let f = families.get(name);
      if (f && closed.has(name)) throw new Error(`family ${name} is not contiguous`);
      if (!f) families.set(name, (f = { name, samples: [] }));
      if (current && current !== f) closed.add(current.name);
      current = f;
      if (kind === 'HELP') {
        if (f.help !== undefined) throw new Error(`second HELP for ${name}`);
        f.help = rest.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
      } else {
        if (f.type !== undefined) throw new Error(`second TYPE for ${name}`);
        if (f.samples.length > 0) throw new Error(`TYPE after samples for ${name}`);
        if (!['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(rest)) throw new Error(`bad type ${rest}`);
        f.type = rest;
      }
      continue;
    }
    if (line.startsWith('#')) throw new Error(`unexpected comment ${line}`);
    const m = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line);
    if (!m) throw new Error(`bad sample line ${JSON.stringify(line)}`);
    const name = m[0];
    const at = { i: name.length };
    const labels = line[at.i] === '{' ? parseLabels(line, at) : {};
    if (line[at.i] !== ' ') throw new Error(`expected space in ${JSON.stringify(line)}`);
    const value = parseValue(line.slice(at.i + 1));
    const f = familyOf(name, families);
    if (!f || f.type === undefined) throw new Error(`sample ${name} before its TYPE`);
    if (f !== current) throw new Error(`sample ${name} outside its family block`);
    f.samples.push({ name, labels, value });
  }
  return families;
}

const key = (labels: Record<string, string>, drop = 'le') =>
  JSON.stringify(Object.entries(labels).filter(([k]) => k !== drop).sort());

/** Checks histogram invariants; returns per-series { buckets: [le, cumulative][], sum, count }. */
function histograms(f: Family) {
  const out = new Map<string, { labels: Record<string, string>; buckets: [number, number][]; sum?: number; count?: number }>();
  for (const s of f.samples) {
    const k = key(s.labels);
    let h = out.get(k);
    if (!h) {
      const labels = { ...s.labels };
      delete labels.le;
      out.set(k, (h = { labels, buckets: [] }));
    }
    if (s.name.endsWith('_bucket')) {
      if (s.labels.le === undefined) throw new Error('bucket without le');
      h.buckets.push([parseValue(s.labels.le), s.value]);
    } else if (s.name.endsWith('_sum')) h.sum = s.value;
    else if (s.name.endsWith('_count')) h.count = s.value;
  }
  for (const h of out.values()) {
    for (let i = 1; i < h.buckets.length; i++) {
      if (!(h.buckets[i]![0] > h.buckets[i - 1]![0])) throw new Error('le not increasing');
      if (h.buckets[i]![1] < h.buckets[i - 1]![1]) throw new Error('buckets not cumulative');
    }
    const last = h.buckets[h.buckets.length - 1];
    if (!last || last[0] !== Infinity) throw new Error('no +Inf bucket');
    if (h.count !== last[1]) throw new Error('_count != +Inf bucket');
    if (h.sum === undefined) throw new Error('no _sum');
  }
  return out;
}

function sampleValue(fams: Map<string, Family>, family: string, labels: Record<string, string>, name = family): number | undefined {
  return fams.get(family)?.samples.find((s) => s.name === name && key(s.labels, '') === key(labels, ''))?.value;
}

// ---------------------------------------------------------------------------------------------

const NB = LATENCY_BUCKETS_SECONDS.length + 1;

function route(snap: MetricsSnapshot, k: string): RouteSeries {
  const r = snap.routes.find((x) => x.route === k);
  if (!r) throw new Error(`no series for ${k}`);
  return r;
}

t.test('histogram bucket math: upper bounds are inclusive, overflow goes to +Inf', async (t) => {
  const m = new WorkerMetrics(['-', 'GET /a'], []);
  const cases: [number, number][] = [
    [0, 0], [0.2, 0], [1, 0], [1.0001, 1], [2.5, 1], [5, 2], [9.99, 3], [10, 3], [25, 4], [50, 5], [100, 6],
    [250, 7], [500, 8], [1000, 9], [2500, 10], [5000, 11], [10000, 12], [30000, 13], [30000.5, 14], [1e9, 14],
  ];
  for (const [ms, bucket] of cases) {
    const one = new WorkerMetrics(['x'], []);
    one.request(0, 200, ms, 0);
    const b = route(one.snapshot(), 'x').duration.buckets;
    t.equal(b.length, NB);
    t.equal(b.indexOf(1), bucket, `${ms} ms -> bucket ${bucket}`);
    m.request(1, 200, ms, 0);
  }
  const d = route(m.snapshot(), 'GET /a').duration;
  t.equal(d.buckets.reduce((a, b) => a + b, 0), cases.length);
  t.equal(d.sum, cases.reduce((a, [ms]) => a + ms, 0) / 1000, 'sum is in seconds');

  const bad = new WorkerMetrics(['x'], []);
  bad.request(0, 200, NaN, 0);
  bad.request(0, 200, -5, 0);
  const bd = route(bad.snapshot(), 'x').duration;
  t.equal(bd.buckets[0], 2, 'NaN and negative latencies count as 0');
  t.equal(bd.sum, 0, 'and do not poison the sum');
});

t.test('counts by exact status per route, bytes, integration latency, connections', async (t) => {
  const m = new WorkerMetrics(['-', 'GET /pets', 'GET /pets/{id}'], ['pets']);
  for (let i = 0; i < 5; i++) m.request(1, 200, 3, 100);
  m.request(1, 404, 1, 10);
  m.request(2, 200, 3, 7);
  m.request(2, 502, 40, 0);
  m.request(0, 404, 0.1, 23);
  m.integrationLatency(1, 2);
  m.integrationLatency(1, 20);
  m.requestStarted();
  m.requestStarted();
  m.requestStarted();
  m.requestEnded();
  const s = m.snapshot();
  t.ok(isMetricsSnapshot(s));
  t.same(route(s, 'GET /pets').status, [[200, 5], [404, 1]]);
  t.same(route(s, 'GET /pets/{id}').status.sort((a, b) => a[0] - b[0]), [[200, 1], [502, 1]]);
  t.same(route(s, '-').status, [[404, 1]]);
  t.equal(route(s, 'GET /pets').bytes, 510);
  t.equal(route(s, 'GET /pets/{id}').bytes, 7);
  t.equal(route(s, 'GET /pets').integration?.buckets.reduce((a, b) => a + b, 0), 2);
  t.equal(route(s, 'GET /pets').integration?.sum, 0.022);
  t.equal(route(s, 'GET /pets/{id}').integration, null, 'no integration observed -> null');
  t.equal(s.inflight, 2);
  t.same(s.routeKeys, ['-', 'GET /pets', 'GET /pets/{id}']);
});

t.test('many distinct status codes grow the status columns without losing counts', async (t) => {
  const m = new WorkerMetrics(['a', 'b'], []);
  const codes = [200, 201, 202, 204, 301, 302, 304, 400, 401, 403, 404, 405, 409, 413, 429, 500, 501, 502, 503, 504, 599];
  for (const [i, c] of codes.entries()) {
    for (let k = 0; k <= i; k++) m.request(0, c, 1, 0);
    m.request(1, c, 1, 0);
  }
  m.request(1, 1234, 1, 0); // out of range: counted under status 0
  m.request(1, 200.7, 1, 0); // non-integer: truncated
  const s = m.snapshot();
  const a = new Map(route(s, 'a').status);
  const b = new Map(route(s, 'b').status);
  for (const [i, c] of codes.entries()) {
    t.equal(a.get(c), i + 1, `a ${c}`);
  }
  t.equal(b.get(0), 1);
  t.equal(b.get(200), 2);
});

t.test('upstream errors by kind; unknown kinds fold into other', async (t) => {
  const m = new WorkerMetrics(['-'], ['users', 'orders']);
  m.upstreamError(0, 'connect_refused');
  m.upstreamError(0, 'connect_refused');
  m.upstreamError(1, 'timeout');
  m.upstreamError(1, 'weird');
  for (const k of UPSTREAM_ERROR_KINDS) m.upstreamError(1, k);
  const s = m.snapshot();
  t.same(s.upstreams.find((u) => u.upstream === 'users')?.errors, { connect_refused: 2 });
  const o = s.upstreams.find((u) => u.upstream === 'orders')!.errors;
  t.equal(o.timeout, 2);
  t.equal(o.other, 2);
  t.equal(o.pool_full, 1);
});

t.test('snapshot is plain data: survives JSON and structured clone unchanged', async (t) => {
  const m = new WorkerMetrics(['-', 'GET /x'], ['u']);
  m.request(1, 200, 3.5, 12);
  m.integrationLatency(1, 1.25);
  m.upstreamError(0, 'reset');
  const s = m.snapshot();
  t.same(JSON.parse(JSON.stringify(s)), s);
  t.same(structuredClone(s), s);
  t.same(m.snapshot().routes, s.routes, 'snapshot() does not reset anything');
  t.notOk(isMetricsSnapshot({ v: 2 }));
  t.notOk(isMetricsSnapshot(null));
});

t.test('reconfigure: counters follow the route key, removed keys are retired and come back', async (t) => {
  const m = new WorkerMetrics(['-', 'GET /a', 'GET /b'], ['u1', 'u2']);
  m.request(1, 200, 1, 10);
  m.request(2, 200, 1, 20);
  m.request(2, 500, 1, 20);
  m.upstreamError(1, 'reset');
  m.reconfigure(['-', 'GET /c', 'GET /b'], ['u2']); // /a removed, /b keeps id 2, /c new
  m.request(2, 200, 1, 1);
  m.request(1, 201, 1, 1);
  m.upstreamError(0, 'reset');
  let s = m.snapshot();
  t.same(s.routeKeys, ['-', 'GET /c', 'GET /b']);
  t.same(route(s, 'GET /a').status, [[200, 1]], 'retired route still reported');
  t.same(new Map(route(s, 'GET /b').status), new Map([[200, 2], [500, 1]]));
  t.same(route(s, 'GET /c').status, [[201, 1]]);
  t.same(s.upstreams.find((u) => u.upstream === 'u2')?.errors, { reset: 2 });

  m.reconfigure(['GET /b', 'GET /a', '-'], ['u1', 'u2']); // ids shuffled, /a back, /c retired
  m.request(1, 200, 1, 10);
  s = m.snapshot();
  t.same(route(s, 'GET /a').status, [[200, 2]], 'restored key continues from its retired counts');
  t.same(route(s, 'GET /c').status, [[201, 1]]);
  t.equal(route(s, 'GET /b').bytes, 41);
  t.equal(s.routes.filter((r) => r.route === 'GET /a').length, 1, 'no duplicate series');

  // Duplicate keys (the same route key in two APIs): counted once on reconfigure, not copied twice.
  const d = new WorkerMetrics(['-', 'GET /x', 'GET /x'], []);
  d.request(1, 200, 1, 0);
  d.request(2, 200, 1, 0);
  d.reconfigure(['-', 'GET /x', 'GET /x'], []);
  const agg = new MetricsAggregator();
  agg.update('w', d.snapshot());
  const fams = parseProm(agg.render());
  t.equal(sampleValue(fams, 'gateway_requests_total', { route: 'GET /x', status: '200' }), 2);
});

t.test('aggregator sums workers; removal keeps counters monotonic', async (t) => {
  const routes = ['-', 'GET /pets/{id}'];
  const w1 = new WorkerMetrics(routes, ['pets']);
  const w2 = new WorkerMetrics(routes, ['pets']);
  w1.request(1, 200, 2, 100);
  w1.request(1, 200, 7, 100);
  w2.request(1, 200, 0.5, 50);
  w2.request(1, 503, 0.5, 0);
  w1.upstreamError(0, 'timeout');
  w2.upstreamError(0, 'timeout');
  w1.requestStarted();
  w2.requestStarted();
  w2.requestStarted();
  const agg = new MetricsAggregator();
  agg.update('1', w1.snapshot());
  agg.update('2', w2.snapshot());

  let f = parseProm(agg.render());
  const ok = { route: 'GET /pets/{id}', status: '200' };
  t.equal(sampleValue(f, 'gateway_requests_total', ok), 3);
  t.equal(sampleValue(f, 'gateway_requests_total', { route: 'GET /pets/{id}', status: '503' }), 1);
  t.equal(sampleValue(f, 'gateway_response_bytes_total', { route: 'GET /pets/{id}' }), 250);
  t.equal(sampleValue(f, 'gateway_upstream_errors_total', { upstream: 'pets', kind: 'timeout' }), 2);
  t.equal(sampleValue(f, 'gateway_inflight_requests', {}), 3);
  t.equal(sampleValue(f, 'gateway_workers', {}), 2);
  const h = histograms(f.get('gateway_request_duration_seconds')!).get(key({ route: 'GET /pets/{id}' }))!;
  t.equal(h.count, 4);
  t.same(h.buckets.slice(0, 4), [[0.001, 2], [0.0025, 3], [0.005, 3], [0.01, 4]]);
  t.ok(Math.abs(h.sum! - 0.01) < 1e-12, 'sum in seconds');
  t.equal(sampleValue(f, 'gateway_request_duration_seconds', { route: '-' }, 'gateway_request_duration_seconds_count'), 0,
    'configured routes without traffic are exported as zero');

  // Worker 2 dies: its totals stay; its connections and worker count go.
  agg.removeWorker('2');
  f = parseProm(agg.render());
  t.equal(sampleValue(f, 'gateway_requests_total', ok), 3);
  t.equal(sampleValue(f, 'gateway_upstream_errors_total', { upstream: 'pets', kind: 'timeout' }), 2);
  t.equal(sampleValue(f, 'gateway_inflight_requests', {}), 1);
  t.equal(sampleValue(f, 'gateway_workers', {}), 1);

  // A snapshot of the dead worker still in flight is not counted twice.
  agg.update('2', w2.snapshot());
  t.equal(sampleValue(parseProm(agg.render()), 'gateway_requests_total', ok), 3);
  t.equal(agg.workerCount, 1);

  // Its replacement starts from zero under a new id: totals keep growing from the folded base.
  const w3 = new WorkerMetrics(routes, ['pets']);
  w3.request(1, 200, 1, 1);
  agg.update('3', w3.snapshot());
  f = parseProm(agg.render());
  t.equal(sampleValue(f, 'gateway_requests_total', ok), 4);
  t.equal(histograms(f.get('gateway_request_duration_seconds')!).get(key({ route: 'GET /pets/{id}' }))!.count, 5);

  // Same worker id, new process (new instance): the old instance is folded, not replaced.
  const w1b = new WorkerMetrics(routes, ['pets']);
  w1b.request(1, 200, 1, 1);
  agg.update('1', w1b.snapshot());
  t.equal(sampleValue(parseProm(agg.render()), 'gateway_requests_total', ok), 5);

  agg.removeWorker('nope'); // unknown id: no-op
  t.equal(agg.workerCount, 2);
});

t.test('route table change across snapshots: aggregated by route key, not id', async (t) => {
  const agg = new MetricsAggregator();
  const a = new WorkerMetrics(['-', 'GET /old', 'GET /both'], []);
  const b = new WorkerMetrics(['-', 'GET /both', 'POST /new'], []); // already reloaded: ids differ
  a.request(2, 200, 1, 0); // GET /both is id 2 in a
  b.request(1, 200, 1, 0); // and id 1 in b
  a.request(1, 200, 1, 0);
  b.request(2, 201, 1, 0);
  agg.update('a', a.snapshot());
  agg.update('b', b.snapshot());
  let f = parseProm(agg.render());
  t.equal(sampleValue(f, 'gateway_requests_total', { route: 'GET /both', status: '200' }), 2);
  t.equal(sampleValue(f, 'gateway_requests_total', { route: 'GET /old', status: '200' }), 1);
  t.equal(sampleValue(f, 'gateway_requests_total', { route: 'POST /new', status: '201' }), 1);

  // Worker a reloads too: nothing goes backwards, /old stays as it was.
  a.reconfigure(['-', 'GET /both', 'POST /new'], []);
  a.request(1, 200, 1, 0);
  agg.update('a', a.snapshot());
  f = parseProm(agg.render());
  t.equal(sampleValue(f, 'gateway_requests_total', { route: 'GET /both', status: '200' }), 3);
  t.equal(sampleValue(f, 'gateway_requests_total', { route: 'GET /old', status: '200' }), 1);
});

t.test('Prometheus text: HELP/TYPE, label escaping, histogram layout', async (t) => {
  const nasty = 'GET /a"b\\c\nd/{id}';
  const m = new WorkerMetrics(['-', nasty, 'GET /pets/{id}'], ['up"\\\nstream']);
  m.request(1, 200, 3, 1);
  m.request(2, 200, 0.3, 1);
  m.integrationLatency(2, 0.2);
  m.upstreamError(0, 'reset');
  m.functionError('GET /pets/{id}', 'timeout');
  m.functionError('GET /pets/{id}', 'timeout');
  const m2 = new WorkerMetrics(['-', 'GET /pets/{id}'], []);
  m2.functionError('GET /pets/{id}', 'timeout');
  m2.functionError('GET /pets/{id}', 'handler_error');
  const agg = new MetricsAggregator();
  agg.update('w', m.snapshot());
  agg.update('w2', m2.snapshot());
  const text = agg.render({
    gauges: {
      gateway_config_generation: [{ help: 'Config generation.\nSecond line \\ backslash', value: 7 }],
      gateway_upstream_healthy_targets: [
        { help: 'Healthy targets per upstream.', value: 2, labels: { upstream: 'a"b' } },
        { help: 'ignored', value: 0, labels: { upstream: 'c', 'bad-label': 'x' } },
      ],
      'bad name!': [{ help: 'sanitized', value: 1 }],
      gateway_requests_total: [{ help: 'collides with a counter: skipped', value: 99 }],
      gateway_workers: [{ help: 'Workers ready to serve.', value: 5 }],
      empty: [],
    },
  });
  t.ok(text.includes('route="GET /a\\"b\\\\c\\nd/{id}"'), 'escaped on the wire');
  const f = parseProm(text);

  const expectTypes: Record<string, string> = {
    gateway_requests_total: 'counter',
    gateway_request_duration_seconds: 'histogram',
    gateway_integration_duration_seconds: 'histogram',
    gateway_response_bytes_total: 'counter',
    gateway_upstream_errors_total: 'counter',
    gateway_function_errors_total: 'counter',
    gateway_throttled_requests_total: 'counter',
    gateway_cache_requests_total: 'counter',
    gateway_store_errors_total: 'counter',
    gateway_websocket_events_total: 'counter',
    gateway_inflight_requests: 'gauge',
    gateway_workers: 'gauge',
    gateway_config_generation: 'gauge',
    gateway_upstream_healthy_targets: 'gauge',
    bad_name_: 'gauge',
  };
  t.same(Object.fromEntries([...f.values()].map((x) => [x.name, x.type])), expectTypes);
  for (const fam of f.values()) t.ok(fam.help && fam.help.length > 0, `${fam.name} has HELP`);
  t.equal(f.get('gateway_config_generation')!.help, 'Config generation.\nSecond line \\ backslash');

  t.equal(sampleValue(f, 'gateway_requests_total', { route: nasty, status: '200' }), 1, 'escaped route key parses back exactly');
  t.equal(sampleValue(f, 'gateway_upstream_errors_total', { upstream: 'up"\\\nstream', kind: 'reset' }), 1);
  t.equal(sampleValue(f, 'gateway_function_errors_total', { route: 'GET /pets/{id}', kind: 'timeout' }), 3, 'summed across workers');
  t.equal(sampleValue(f, 'gateway_function_errors_total', { route: 'GET /pets/{id}', kind: 'handler_error' }), 1);
  t.equal(sampleValue(f, 'gateway_workers', {}), 5, 'caller-supplied gauge replaces the built-in one');
  t.equal(f.get('gateway_workers')!.samples.length, 1);
  t.equal(f.get('gateway_requests_total')!.samples.every((s) => s.value !== 99), true);
  t.equal(sampleValue(f, 'gateway_upstream_healthy_targets', { upstream: 'a"b' }), 2);
  t.equal(sampleValue(f, 'gateway_upstream_healthy_targets', { upstream: 'c', bad_label: 'x' }), 0);

  const dur = histograms(f.get('gateway_request_duration_seconds')!);
  t.equal(dur.size, 3, 'one histogram per configured route');
  for (const h of dur.values()) {
    t.same(h.buckets.map(([le]) => le), [...LATENCY_BUCKETS_SECONDS, Infinity]);
  }
  const les = f.get('gateway_request_duration_seconds')!.samples.filter((s) => s.name.endsWith('_bucket')).map((s) => s.labels.le);
  t.ok(les.includes('0.0025') && les.includes('30') && les.includes('+Inf'), 'le values printed like the Go client');
  const integ = histograms(f.get('gateway_integration_duration_seconds')!);
  t.equal(integ.size, 1, 'integration histogram only where an integration ran');
  t.equal([...integ.values()][0]!.labels.route, 'GET /pets/{id}');

  t.equal(escapeLabel('plain'), 'plain');
  t.equal(escapeLabel('a"b\\c\nd'), 'a\\"b\\\\c\\nd');
});

t.test('empty aggregator renders valid text', async (t) => {
  const f = parseProm(new MetricsAggregator().render());
  t.equal(sampleValue(f, 'gateway_workers', {}), 0);
  t.equal(sampleValue(f, 'gateway_inflight_requests', {}), 0);
  t.equal(f.get('gateway_requests_total')!.samples.length, 0);
});

t.test('snapshot reporter sends on its interval and on demand', async (t) => {
  const m = new WorkerMetrics(['-'], []);
  const got: MetricsSnapshot[] = [];
  const r = startSnapshotReporter(m, (s) => got.push(s), 20);
  r.sendNow();
  t.equal(got.length, 1);
  await new Promise((res) => setTimeout(res, 70));
  r.stop();
  const n = got.length;
  t.ok(n >= 2, `interval sends (${n})`);
  await new Promise((res) => setTimeout(res, 50));
  t.equal(got.length, n, 'stop() stops');
});

t.test('the test parser itself rejects malformed exposition', async (t) => {
  const bad = [
    'x 1', // no trailing newline
    'x 1\n', // sample before TYPE
    '# TYPE x counter\n# TYPE x counter\nx 1\n',
    '# TYPE x counter\nx{a="b"c"} 1\n',
    '# TYPE x counter\nx{a="b\\q"} 1\n',
    '# TYPE x counter\nx{a="b} 1\n',
    '# TYPE x counter\nx one\n',
    '# TYPE x counter\nx 1\n# TYPE y counter\ny 1\nx 2\n',
    '# TYPE x counter\nx 1\n\n',
  ];
  for (const text of bad) t.throws(() => parseProm(text), JSON.stringify(text));
  const h = (b: string) => parseProm(`# TYPE h histogram\n${b}`).get('h')!;
  t.throws(() => histograms(h('h_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n')));
  t.throws(() => histograms(h('h_bucket{le="1"} 1\nh_sum 1\nh_count 1\n')));
  t.throws(() => histograms(h('h_bucket{le="+Inf"} 2\nh_sum 1\nh_count 1\n')));
  t.doesNotThrow(() => histograms(h('h_bucket{le="1"} 1\nh_bucket{le="+Inf"} 2\nh_sum 1.5\nh_count 2\n')));
});

t.test('throttling, cache and store counters add up across workers; gateway_store_up is the worst worker', async (t) => {
  const a = new WorkerMetrics(['-', 'GET /x'], []);
  const b = new WorkerMetrics(['-', 'GET /x'], []);
  a.count('throttle', 'GET /x', 'quota');
  a.count('throttle', 'GET /x', 'quota');
  b.count('throttle', 'GET /x', 'quota');
  b.count('cache', 'GET /x', 'hit');
  b.count('store', 'redis', 'error');
  a.storeUp = true;
  b.storeUp = false;
  const agg = new MetricsAggregator();
  agg.update('a', a.snapshot());
  agg.update('b', b.snapshot());
  const text = agg.render();
  t.match(text, /gateway_throttled_requests_total\{route="GET \/x",kind="quota"\} 3\n/);
  t.match(text, /gateway_cache_requests_total\{route="GET \/x",kind="hit"\} 1\n/);
  t.match(text, /gateway_store_errors_total\{store="redis",kind="error"\} 1\n/);
  t.match(text, /gateway_store_up 0\n/, 'one worker cannot reach Redis');
  b.storeUp = true;
  agg.update('b', b.snapshot());
  t.match(agg.render(), /gateway_store_up 1\n/);
  const mem = new MetricsAggregator();
  mem.update('m', new WorkerMetrics(['-'], []).snapshot());
  t.notMatch(mem.render(), /gateway_store_up/, 'memory store: no such gauge');
});
