import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { get, startGateway, waitFor, type Gateway, type SimpleResponse } from '../helpers/gateway.js';
import { startRedis, type PrivateRedis } from '../helpers/redis.js';

// Throttling, usage plans, API keys and the admin key API through real gateway processes, a real
// private redis-server and real sockets. No assertion depends on how fast the machine is: where a
// bucket refills (rate 1/s) the exact count is asserted only when the requests took less than the
// time one token needs, and a bound otherwise; everything that waits for something polls.

const MOCK = { type: 'mock', body: 'ok' } as const;
const TOO_MANY = { message: 'Too Many Requests' };
const LIMIT_EXCEEDED = { message: 'Limit Exceeded' };
const FORBIDDEN = { message: 'Forbidden' };
const UNAVAILABLE = { message: 'Service Unavailable' };

// A function handler that answers with its worker's pid: tells which worker served a request.
const fnDir = mkdtempSync(join(tmpdir(), 'gw-throttle-fn-'));
const PID_HANDLER = join(fnDir, 'pid.mjs');
writeFileSync(PID_HANDLER, 'export const handler = async () => ({ statusCode: 200, body: String(process.pid) });\n');
t.teardown(() => rmSync(fnDir, { recursive: true, force: true }));

// One private Redis for the tests that do not stop it; every gateway on it has its own keyPrefix.
const redis = await startRedis();
t.teardown(() => redis.close());
let prefixes = 0;
const redisStore = (r: PrivateRedis = redis) => ({ type: 'redis', redis: { url: r.url, keyPrefix: `t${++prefixes}:` } });

async function gateway(t: Test, config: Record<string, unknown>, workers = 1): Promise<Gateway> {
  const gw = await startGateway(config, { workers });
  t.teardown(async () => { await gw.stop(); });
  return gw;
}

/** `n` requests one after the other, each on a fresh connection (get uses agent: false). */
async function sequential(port: number, path: string, n: number, headers: Record<string, string> = {}): Promise<{ rs: SimpleResponse[]; ms: number }> {
  const t0 = Date.now();
  const rs: SimpleResponse[] = [];
  for (let i = 0; i < n; i++) rs.push(await get(port, path, { headers }));
  return { rs, ms: Date.now() - t0 };
}

const statuses = (rs: SimpleResponse[]) => rs.map((r) => r.status);
const count = (rs: SimpleResponse[], status: number) => rs.filter((r) => r.status === status).length;

/**
 * A bucket of `burst` with `rate` tokens/s met by sequential requests: exactly `burst` x 200 then
 * 429s when no token can have been refilled meanwhile (elapsed < 1/rate); otherwise (a very slow
 * machine) the first `burst` pass and at most one more per refilled token.
 */
function assertBurst(t: Test, run: { rs: SimpleResponse[]; ms: number }, burst: number, rate: number, what: string): void {
  const { rs, ms } = run;
  if (ms < 1000 / rate) {
    t.same(statuses(rs), [...Array<number>(burst).fill(200), ...Array<number>(rs.length - burst).fill(429)], `${what}: ${burst} x 200, then 429 (${ms} ms)`);
  } else {
    t.same(statuses(rs.slice(0, burst)), Array<number>(burst).fill(200), `${what}: the first ${burst} pass`);
    t.ok(count(rs, 200) <= burst + Math.ceil((ms * rate) / 1000), `${what}: at most burst + refill admitted (${count(rs, 200)} in ${ms} ms)`);
  }
}

function assertThrottled(t: Test, r: SimpleResponse, what: string): void {
  t.equal(r.status, 429, `${what}: 429`);
  t.same(JSON.parse(r.body), TOO_MANY, `${what}: body`);
  t.equal(r.headers['content-type'], 'application/json', `${what}: content-type`);
  const ra = Number(r.headers['retry-after']);
  t.ok(Number.isInteger(ra) && ra >= 1, `${what}: retry-after is whole seconds >= 1 (${r.headers['retry-after']})`);
}

async function metrics(gw: Gateway): Promise<string> {
  return (await get(gw.adminPort, '/metrics')).body;
}

/** The value of one sample line of /metrics (exact labels), or null when absent. */
function sample(text: string, line: string): number | null {
  for (const l of text.split('\n')) if (l.startsWith(`${line} `)) return Number(l.slice(line.length + 1));
  return null;
}

/**
 * Polls /metrics until `line` shows `expected` (the master waits a bounded time for worker
 * snapshots, so a busy machine may show an older one); asserts the last value seen.
 */
async function metricIs(t: Test, gw: Gateway, line: string, expected: number, what: string): Promise<void> {
  let last: number | null = null;
  await waitFor(async () => (last = sample(await metrics(gw), line)) === expected, 10_000, 100);
  t.equal(last, expected, what);
}

async function pids(gw: Gateway): Promise<number[]> {
  return (JSON.parse((await get(gw.adminPort, '/ready')).body) as { pids: number[] }).pids;
}

async function admin(gw: Gateway, method: string, path: string, body?: unknown): Promise<{ status: number; json: any; text: string }> {
  const r = await get(gw.adminPort, path, {
    method,
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
  });
  let json: unknown = null;
  try { json = JSON.parse(r.body); } catch { /* 204, or not JSON */ }
  return { status: r.status, json, text: r.body };
}

const limitedApi = (throttle: Record<string, unknown>) => [{
  name: 'api',
  routes: [
    { route: 'GET /limited', integration: MOCK, throttle },
    { route: 'GET /free', integration: MOCK },
  ],
}];

// Config keys (>= 20 characters).
const GOOD = 'good-key-value-0123456789';
const OFF = 'disabled-key-value-0123456789';
const ELSEWHERE = 'other-api-key-value-0123456789';

// One memory-store gateway (1 worker, no `throttling` key: the AWS gateway-wide default applies)
// for the tests that need no Redis: APIs on their own stages so their buckets never meet.
const mem = await startGateway({
  store: { type: 'memory' },
  usagePlans: {
    gold: { apiStages: [{ api: 'keys' }] },
    side: { apiStages: [{ api: 'side' }] },
  },
  apiKeys: [
    { name: 'good', value: GOOD, usagePlans: ['gold'] },
    { name: 'off', value: OFF, usagePlans: ['gold'], enabled: false },
    { name: 'elsewhere', value: ELSEWHERE, usagePlans: ['side'] },
  ],
  apis: [
    ...limitedApi({ rateLimit: 1, burstLimit: 3 }),
    { name: 'per', stage: 'per', throttle: { rateLimit: 0.001, burstLimit: 2 }, routes: [{ route: 'GET /a', integration: MOCK }, { route: 'GET /b', integration: MOCK }] },
    {
      name: 'keys', stage: 'keys', apiKeyRequired: true,
      routes: [{ route: 'GET /thing', integration: MOCK }, { route: 'GET /public', integration: MOCK, apiKeyRequired: false }],
    },
    { name: 'side', stage: 'side', routes: [{ route: 'GET /thing', integration: MOCK, apiKeyRequired: true }, { route: 'GET /open', integration: MOCK }] },
    {
      name: 'ip', stage: 'ip', clientIpThrottle: { rateLimit: 0.001, burstLimit: 2 },
      routes: [{ route: 'GET /one', integration: MOCK }, { route: 'GET /two', integration: MOCK }],
    },
  ],
}, { workers: 1 });
t.teardown(async () => { await mem.stop(); });

t.test('1. route throttle: burst 3 then 429 Too Many Requests with Retry-After', async (t) => {
  t.test('redis store, 2 workers: one bucket shared by both workers', async (t) => {
    const gw = await gateway(t, { store: redisStore(), apis: limitedApi({ rateLimit: 1, burstLimit: 3 }) }, 2);
    // 12 fresh connections land on both workers: a per-worker bucket would admit 6.
    const run = await sequential(gw.port, '/limited', 12);
    assertBurst(t, run, 3, 1, 'GET /limited');
    assertThrottled(t, run.rs.at(-1)!, 'last');
    t.equal((await get(gw.port, '/free')).status, 200, 'another route without a throttle is not affected');
    await metricIs(t, gw, 'gateway_throttled_requests_total{route="GET /limited",kind="throttle"}', count(run.rs, 429), 'refusals counted by route and kind');
  });

  t.test('memory store, 1 worker', async (t) => {
    const run = await sequential(mem.port, '/limited', 6);
    assertBurst(t, run, 3, 1, 'GET /limited');
    assertThrottled(t, run.rs.at(-1)!, 'last');
    await metricIs(t, mem, 'gateway_throttled_requests_total{route="GET /limited",kind="throttle"}', count(run.rs, 429), 'refusals counted');
  });

  t.test('API-level throttle: every route gets its own bucket', async (t) => {
    t.same(statuses((await sequential(mem.port, '/per/a', 3)).rs), [200, 200, 429], 'GET /a: its own burst of 2');
    t.same(statuses((await sequential(mem.port, '/per/b', 3)).rs), [200, 200, 429], 'GET /b: a full bucket of its own');
  });
});

t.test('2. gateway-wide throttle', async (t) => {
  t.test('no throttling key: the default gateway bucket admits ordinary traffic', async (t) => {
    const { rs } = await sequential(mem.port, '/free', 20);
    t.same(statuses(rs), Array<number>(20).fill(200));
    t.equal(rs[0]!.body, 'ok');
  });

  t.test('gateway {rateLimit 1, burstLimit 2} is shared by all routes', async (t) => {
    const gw = await gateway(t, {
      throttling: { gateway: { rateLimit: 1, burstLimit: 2 } },
      apis: [{ name: 'api', routes: [{ route: 'GET /a', integration: MOCK }, { route: 'GET /b', integration: MOCK }] }],
    });
    const t0 = Date.now();
    const rs = [await get(gw.port, '/a'), await get(gw.port, '/b'), await get(gw.port, '/a'), await get(gw.port, '/b')];
    const ms = Date.now() - t0;
    if (ms < 1000) {
      t.same(statuses(rs), [200, 200, 429, 429], `third and fourth requests refused across both routes (${ms} ms)`);
      assertThrottled(t, rs[3]!, 'GET /b');
    } else {
      t.same(statuses(rs.slice(0, 2)), [200, 200]);
      t.ok(count(rs, 200) <= 2 + Math.ceil(ms / 1000), `bounded (${ms} ms)`);
    }
  });
});

t.test('3. API keys', async (t) => {
  t.test('missing, unknown, disabled, or not in a plan for this stage: 403 Forbidden', async (t) => {
    const cases: [string, Record<string, string>][] = [
      ['missing', {}],
      ['empty', { 'x-api-key': '' }],
      ['unknown', { 'x-api-key': 'no-such-key-value-0123456789' }],
      ['disabled', { 'x-api-key': OFF }],
      ['plan for another API', { 'x-api-key': ELSEWHERE }],
    ];
    for (const [what, headers] of cases) {
      const r = await get(mem.port, '/keys/thing', { headers });
      t.equal(r.status, 403, what);
      t.same(JSON.parse(r.body), FORBIDDEN, `${what}: body`);
    }
    await metricIs(t, mem, 'gateway_throttled_requests_total{route="GET /thing",kind="forbidden"}', cases.length, 'refusals counted as forbidden');
  });

  t.test('a valid key passes; the key of the other API passes there', async (t) => {
    const r = await get(mem.port, '/keys/thing', { headers: { 'x-api-key': GOOD } });
    t.equal(r.status, 200);
    t.equal(r.body, 'ok');
    t.equal((await get(mem.port, '/side/thing', { headers: { 'x-api-key': ELSEWHERE } })).status, 200, 'ELSEWHERE on its own API');
    t.equal((await get(mem.port, '/side/thing', { headers: { 'x-api-key': GOOD } })).status, 403, 'GOOD on the API its plan does not cover');
  });

  t.test('apiKeyRequired per route overrides the API default', async (t) => {
    t.equal((await get(mem.port, '/keys/public')).status, 200, 'route says false in an API that requires keys');
    t.equal((await get(mem.port, '/side/open')).status, 200, 'API default false');
    t.equal((await get(mem.port, '/side/thing')).status, 403, 'route says true');
  });
});

t.test('4. usage plans: quota and per-route plan throttles (redis, 2 workers)', async (t) => {
  const QK = 'quota-key-value-0123456789';
  const TK = 'tight-key-value-0123456789';
  const RK1 = 'route-key-one-0123456789';
  const RK2 = 'route-key-two-0123456789';
  const gw = await gateway(t, {
    store: redisStore(),
    usagePlans: {
      q: { throttle: { rateLimit: 1000, burstLimit: 1000 }, quota: { limit: 5, period: 'DAY' }, apiStages: [{ api: 'qapi' }] },
      q2: { quota: { limit: 100, period: 'DAY' }, apiStages: [{ api: 'qapi' }] },
      r: { apiStages: [{ api: 'rapi', throttle: { 'GET /slow': { rateLimit: 0.001, burstLimit: 2 } } }] },
    },
    apiKeys: [
      { name: 'quota', id: 'quota-key', value: QK, usagePlans: ['q'] },
      { name: 'tight', id: 'tight-key', value: TK, usagePlans: ['q2'] },
      { name: 'r1', value: RK1, usagePlans: ['r'] },
      { name: 'r2', value: RK2, usagePlans: ['r'] },
    ],
    apis: [
      {
        name: 'qapi', stage: 'q', apiKeyRequired: true,
        routes: [{ route: 'GET /x', integration: MOCK }, { route: 'GET /tight', integration: MOCK, throttle: { rateLimit: 0.001, burstLimit: 2 } }],
      },
      { name: 'rapi', stage: 'r', apiKeyRequired: true, routes: [{ route: 'GET /slow', integration: MOCK }, { route: 'GET /fast', integration: MOCK }] },
    ],
  }, 2);
  const today = new Date().toISOString().slice(0, 10);

  t.test('quota 5 per DAY: 5 x 200, then 429 Limit Exceeded until the end of the UTC day', async (t) => {
    const { rs } = await sequential(gw.port, '/q/x', 8, { 'x-api-key': QK });
    t.same(statuses(rs), [200, 200, 200, 200, 200, 429, 429, 429]);
    const r = rs[5]!;
    t.same(JSON.parse(r.body), LIMIT_EXCEEDED);
    const now = Date.now();
    const toMidnight = Math.ceil((Date.UTC(new Date(now).getUTCFullYear(), new Date(now).getUTCMonth(), new Date(now).getUTCDate() + 1) - now) / 1000);
    const ra = Number(r.headers['retry-after']);
    t.ok(Number.isInteger(ra) && Math.abs(ra - toMidnight) <= 120, `retry-after ${ra} ~ seconds to the end of the UTC day (${toMidnight})`);

    const usage = await admin(gw, 'GET', '/apikeys/quota-key/usage');
    t.equal(usage.status, 200);
    const tomorrow = new Date(Date.parse(`${today}T00:00:00Z`) + 86_400_000).toISOString().slice(0, 10);
    t.same(usage.json, { keyId: 'quota-key', items: [{ usagePlan: 'q', period: 'DAY', start: today, end: tomorrow, used: 5, limit: 5, remaining: 0 }] });

    const more = await sequential(gw.port, '/q/x', 5, { 'x-api-key': QK });
    t.same(statuses(more.rs), [429, 429, 429, 429, 429], 'still refused');
    const after = await admin(gw, 'GET', '/apikeys/quota-key/usage');
    t.equal(after.json.items[0].used, 5, 'refused requests are not counted against the quota');
    const yesterday = new Date(Date.parse(`${today}T00:00:00Z`) - 86_400_000).toISOString().slice(0, 10);
    const past = await admin(gw, 'GET', `/apikeys/quota-key/usage?date=${yesterday}`);
    t.equal(past.json.items[0].used, 0, 'another day: nothing used');
    t.equal(past.json.items[0].start, yesterday);
    t.equal((await admin(gw, 'GET', '/apikeys/quota-key/usage?date=tomorrow')).status, 400, 'bad date: 400');
    await metricIs(t, gw, 'gateway_throttled_requests_total{route="GET /x",kind="quota"}', 8, 'quota refusals counted');
  });

  t.test('a request refused by a throttle is not counted against the quota (all or nothing)', async (t) => {
    const { rs } = await sequential(gw.port, '/q/tight', 6, { 'x-api-key': TK });
    t.same(statuses(rs), [200, 200, 429, 429, 429, 429]);
    t.same(JSON.parse(rs[2]!.body), TOO_MANY);
    const usage = await admin(gw, 'GET', '/apikeys/tight-key/usage');
    t.equal(usage.json.items[0].used, 2, 'only the two admitted requests are used');
    t.equal(usage.json.items[0].remaining, 98);
  });

  t.test('per-route plan throttle: limits that route, per key', async (t) => {
    const slow = await sequential(gw.port, '/r/slow', 4, { 'x-api-key': RK1 });
    t.same(statuses(slow.rs), [200, 200, 429, 429], 'GET /slow: burst 2 for key r1');
    assertThrottled(t, slow.rs[2]!, 'GET /slow');
    const fast = await sequential(gw.port, '/r/fast', 10, { 'x-api-key': RK1 });
    t.same(statuses(fast.rs), Array<number>(10).fill(200), 'GET /fast: not limited by the plan');
    const other = await sequential(gw.port, '/r/slow', 3, { 'x-api-key': RK2 });
    t.same(statuses(other.rs), [200, 200, 429], 'another key of the plan: its own bucket');
  });
});

t.test('5. admin API keys', async (t) => {
  const CONFIG_KEY = 'config-key-value-0123456789';
  const config = (store: Record<string, unknown>) => ({
    store,
    functions: { threads: 1 },
    usagePlans: {
      basic: { apiStages: [{ api: 'svc' }] },
      other: { apiStages: [{ api: 'svc' }] },
      elsewhere: { apiStages: [{ api: 'side' }] },
    },
    apiKeys: [{ name: 'from-config', id: 'cfg', value: CONFIG_KEY, usagePlans: ['basic'] }],
    apis: [
      { name: 'svc', stage: 'svc', apiKeyRequired: true, routes: [{ route: 'GET /who', integration: { type: 'function', handler: PID_HANDLER } }] },
      { name: 'side', stage: 'side', routes: [{ route: 'GET /x', integration: MOCK }] },
    ],
  });

  for (const [label, store] of [['redis', () => redisStore()], ['memory', () => ({ type: 'memory' })]] as const) {
    t.test(`${label} store, 2 workers`, async (t) => {
      const gw = await gateway(t, config(store()), 2);
      const workers = await pids(gw);
      t.equal(workers.length, 2, 'two workers');

      const created = await admin(gw, 'POST', '/apikeys', { name: 'made', usagePlans: ['basic'] });
      t.equal(created.status, 201, 'created');
      const value = created.json?.value as string;
      const id = created.json?.id as string;
      t.ok(typeof value === 'string' && value.length >= 20, 'the value is returned once');
      t.match(created.json, { id: String, name: 'made', usagePlans: ['basic'], enabled: true, source: 'api' });
      const key = { 'x-api-key': value };

      // Fresh connections spread over both workers: every answer is 200, from both pids.
      let admitted = 0;
      const accepted = await waitFor(async () => {
        if ((await get(gw.port, '/svc/who', { headers: key })).status !== 200) return false;
        admitted++;
        return true;
      }, 5000);
      t.ok(accepted, 'the new key is accepted');
      const seen = new Set<number>();
      const bad: number[] = [];
      for (let i = 0; i < 100 && (i < 20 || seen.size < 2); i++) {
        const r = await get(gw.port, '/svc/who', { headers: key });
        if (r.status === 200) { seen.add(Number(r.body)); admitted++; } else bad.push(r.status);
      }
      t.same(bad, [], 'no request with the new key refused');
      t.same([...seen].sort(), [...workers].sort(), 'served by both workers');
      // Usage is counted per key even without a quota, summed over the workers.
      // (memory store: the master asks every worker with a bounded wait, so poll for the sum.)
      let usage = await admin(gw, 'GET', `/apikeys/${id}/usage`);
      await waitFor(async () => (usage = await admin(gw, 'GET', `/apikeys/${id}/usage`)).json?.items?.[0]?.used === admitted, 10_000, 100);
      t.equal(usage.status, 200);
      t.match(usage.json, { keyId: id, items: [{ usagePlan: 'basic', period: 'DAY', used: admitted, limit: null, remaining: null }] }, `usage: ${admitted} used`);

      const list = await admin(gw, 'GET', '/apikeys');
      t.equal(list.status, 200);
      t.match(list.json.items, [{ id: 'cfg', name: 'from-config', source: 'config' }, { id, name: 'made', source: 'api' }]);
      t.equal(list.json.items.length, 2);
      t.notOk(list.json.items.some((k: Record<string, unknown>) => 'value' in k || 'hash' in k), 'no value or hash in the list');
      t.notOk(list.text.includes(value) || list.text.includes(CONFIG_KEY), 'no key value anywhere in the list');
      const one = await admin(gw, 'GET', `/apikeys/${id}`);
      t.equal(one.status, 200);
      t.match(one.json, { id, name: 'made' });
      t.notOk(one.text.includes(value), 'GET /apikeys/{id} shows no value');

      t.test('bad bodies: 400 with the reasons', async (t) => {
        const notJson = await admin(gw, 'POST', '/apikeys', '{name: ');
        t.equal(notJson.status, 400, 'not JSON');
        t.match(notJson.json, { message: 'Invalid API key', errors: [/must be a JSON object/] }, 'not JSON: the reason in errors');
        const cases: [string, unknown, RegExp][] = [
          ['unknown plan', { name: 'x', usagePlans: ['nope'] }, /unknown plan "nope"/],
          ['short value', { name: 'x', usagePlans: ['basic'], value: 'short' }, /value/],
          ['unknown field', { name: 'x', usagePlans: ['basic'], colour: 'red' }, /colour: unknown field/],
          ['two plans covering one stage', { name: 'x', usagePlans: ['basic', 'other'] }, /both cover svc\/svc/],
          ['no plans', { name: 'x', usagePlans: [] }, /usagePlans/],
          ['no name', { usagePlans: ['basic'] }, /name/],
          ['enabled not a boolean', { name: 'x', usagePlans: ['basic'], enabled: 'yes' }, /enabled/],
          ['array body', [], /object/],
        ];
        for (const [what, body, reason] of cases) {
          const r = await admin(gw, 'POST', '/apikeys', body);
          t.equal(r.status, 400, what);
          t.type(r.json?.message, 'string', `${what}: message`);
          t.ok(Array.isArray(r.json?.errors) && r.json.errors.some((e: string) => reason.test(e)), `${what}: errors say why (${JSON.stringify(r.json?.errors)})`);
        }
        const dup = await admin(gw, 'POST', '/apikeys', { name: 'dup', usagePlans: ['basic'], value: CONFIG_KEY });
        t.equal(dup.status, 409, 'a value that exists: 409');
        t.same((await admin(gw, 'GET', '/apikeys')).json.items.length, 2, 'nothing was created');
      });

      t.test('a key made disabled, or in a plan for another API, is refused', async (t) => {
        const off = await admin(gw, 'POST', '/apikeys', { name: 'off', usagePlans: ['basic'], enabled: false, value: `${label}-disabled-key-0123456789` });
        t.equal(off.status, 201);
        const el = await admin(gw, 'POST', '/apikeys', { name: 'el', usagePlans: ['elsewhere'], value: `${label}-elsewhere-key-0123456789` });
        t.equal(el.status, 201);
        for (let i = 0; i < 6; i++) {
          t.equal((await get(gw.port, '/svc/who', { headers: { 'x-api-key': off.json.value } })).status, 403, 'disabled');
          t.equal((await get(gw.port, '/svc/who', { headers: { 'x-api-key': el.json.value } })).status, 403, 'plan for another API');
        }
      });

      t.test('revoke: 204, then every request with the key is 403; config keys: 409', async (t) => {
        t.equal((await admin(gw, 'DELETE', '/apikeys/cfg')).status, 409, 'config key: 409');
        t.equal((await get(gw.port, '/svc/who', { headers: { 'x-api-key': CONFIG_KEY } })).status, 200, 'config key still works');
        const del = await admin(gw, 'DELETE', `/apikeys/${id}`);
        t.equal(del.status, 204);
        t.equal(del.text, '');
        const revoked = await waitFor(async () => {
          const rs = await sequential(gw.port, '/svc/who', 10, key);
          return rs.rs.every((r) => r.status === 403);
        }, 8000);
        t.ok(revoked, 'within the cache time every request is 403');
        const { rs } = await sequential(gw.port, '/svc/who', 20, key);
        t.same(statuses(rs), Array<number>(20).fill(403), 'and stays so');
        t.same(JSON.parse(rs[0]!.body), FORBIDDEN);
        t.equal((await admin(gw, 'GET', `/apikeys/${id}`)).status, 404, 'gone from the API');
        t.equal((await admin(gw, 'DELETE', `/apikeys/${id}`)).status, 404, 'a second revoke: 404');
      });

      t.test('unknown ids: 404', async (t) => {
        t.equal((await admin(gw, 'GET', '/apikeys/nope/usage')).status, 404, 'usage');
        t.equal((await admin(gw, 'GET', '/apikeys/nope')).status, 404, 'get');
        t.equal((await admin(gw, 'DELETE', '/apikeys/nope')).status, 404, 'delete');
      });
    });
  }
});

// The workers' log lines (pino JSON) when Redis goes away and comes back.
const WORKER_UNREACHABLE = (mode: string) => new RegExp(`"role":"worker".*"msg":"redis unreachable: throttling fails ${mode}`);
const WORKER_REACHABLE = /"role":"worker".*"msg":"redis reachable/;
const lines = (out: string, re: RegExp) => out.split('\n').filter((l) => re.test(l)).length;

t.test('6. Redis failure', async (t) => {
  const api = limitedApi({ rateLimit: 0.001, burstLimit: 3 });

  t.test('failMode open: admits while Redis is down, throttles again when it is back', async (t) => {
    const r = await startRedis();
    t.teardown(() => r.close());
    const gw = await gateway(t, { store: redisStore(r), throttling: { failMode: 'open' }, apis: api }, 2);
    const workers = await pids(gw);
    await metricIs(t, gw, 'gateway_store_up', 1, 'gateway_store_up 1');
    const before = await sequential(gw.port, '/limited', 5);
    t.same(statuses(before.rs), [200, 200, 200, 429, 429], 'throttled through Redis');

    await r.stop(true);
    const down = await sequential(gw.port, '/limited', 10);
    t.same(statuses(down.rs), Array<number>(10).fill(200), 'Redis down: requests admitted (fail open)');
    t.ok(await waitFor(() => lines(gw.output(), WORKER_UNREACHABLE('open')) === 2, 10_000), 'each worker logged: redis unreachable, failing open');
    await metricIs(t, gw, 'gateway_store_up', 0, 'gateway_store_up 0');
    t.same(statuses((await sequential(gw.port, '/limited', 5)).rs), Array<number>(5).fill(200), 'still admitted');

    const mark = gw.output().length;
    await r.start();
    // The restarted Redis is empty: a fresh bucket of 3, then 429 again.
    t.ok(await waitFor(async () => (await get(gw.port, '/limited')).status === 429, 15_000), 'throttling works again (a 429 after the burst)');
    await metricIs(t, gw, 'gateway_store_up', 1, 'gateway_store_up 1 again');
    t.ok(await waitFor(() => lines(gw.output().slice(mark), WORKER_REACHABLE) === 2, 10_000), 'each worker logged: redis reachable');
    t.equal(gw.proc.exitCode, null, 'gateway alive');
    t.equal((await get(gw.adminPort, '/health')).status, 200, '/health 200');
    t.same((await pids(gw)).sort(), workers.sort(), 'no worker crashed');
  });

  t.test('failMode closed: 503 Service Unavailable while Redis is down', async (t) => {
    const r = await startRedis();
    t.teardown(() => r.close());
    const gw = await gateway(t, { store: redisStore(r), throttling: { failMode: 'closed' }, apis: api }, 1);
    const workers = await pids(gw);
    t.equal((await get(gw.port, '/limited')).status, 200, 'Redis up: admitted');
    await r.stop(true);
    const rs = (await sequential(gw.port, '/limited', 5)).rs;
    t.same(statuses(rs), Array<number>(5).fill(503), 'Redis down: 503');
    t.same(JSON.parse(rs[0]!.body), UNAVAILABLE);
    t.equal((await get(gw.port, '/free')).status, 503, 'the gateway-wide bucket is in Redis too');
    t.ok(await waitFor(() => lines(gw.output(), WORKER_UNREACHABLE('closed')) === 1, 10_000), 'logged: redis unreachable, failing closed');
    t.ok(await waitFor(async () => {
      const m = await metrics(gw);
      return sample(m, 'gateway_store_up') === 0 && (sample(m, 'gateway_throttled_requests_total{route="GET /limited",kind="unavailable"}') ?? 0) >= 5;
    }, 10_000), 'gateway_store_up 0 and refusals counted as unavailable');
    await r.start();
    t.ok(await waitFor(async () => (await get(gw.port, '/limited')).status === 200, 15_000), 'Redis back: admitted again');
    t.equal(gw.proc.exitCode, null, 'gateway alive');
    t.equal((await get(gw.adminPort, '/health')).status, 200, '/health 200');
    t.same(await pids(gw), workers, 'no worker crashed');
  });
});

// Regression (fixed in 308c50d): concurrent requests racing for one lease fell to the fail mode after
// three rounds with Redis up (failMode open admitted 30 of 30 on a bucket of 10; closed answered 503).
t.test('7. lease mode (redis, 2 workers): never more than the bucket admits', async (t) => {
  const gw = await gateway(t, {
    store: redisStore(),
    throttling: { mode: 'lease', leaseMs: 100 },
    apis: [{
      name: 'api',
      routes: [
        { route: 'GET /seq', integration: MOCK, throttle: { rateLimit: 0.001, burstLimit: 10 } },
        { route: 'GET /burst', integration: MOCK, throttle: { rateLimit: 0.001, burstLimit: 10 } },
      ],
    }],
  }, 2);

  t.test('sequential requests over both workers: exactly 10 admitted, then and later', async (t) => {
    const { rs } = await sequential(gw.port, '/seq', 25);
    t.same(statuses(rs), [...Array<number>(10).fill(200), ...Array<number>(15).fill(429)], '10 x 200, then 429');
    assertThrottled(t, rs.at(-1)!, 'last');
    // Leases run out after 100 ms and what they did not use goes back: keep asking a while.
    let later = 0;
    const deadline = Date.now() + 1000;
    while (Date.now() < deadline) later += count((await sequential(gw.port, '/seq', 5)).rs, 200);
    t.equal(later, 0, 'no more admitted after the leases expired');
  });

  t.test('concurrent bursts spread over both workers', async (t) => {
    let admitted = 0;
    const others: number[] = [];
    const tally = (rs: SimpleResponse[]) => {
      for (const r of rs) {
        if (r.status === 200) admitted++;
        else if (r.status !== 429) others.push(r.status);
      }
    };
    for (let i = 0; i < 3; i++) tally(await Promise.all(Array.from({ length: 15 }, () => get(gw.port, '/burst'))));
    t.ok(admitted <= 10, `at most 10 admitted by 3 x 15 concurrent requests (${admitted})`);
    t.same(others, [], 'only 200 and 429');
    // Unused lease tokens go back to Redis after leaseMs: keep asking until all 10 are used.
    const used = await waitFor(async () => {
      tally(await Promise.all([get(gw.port, '/burst'), get(gw.port, '/burst')]));
      return admitted >= 10;
    }, 15_000, 100);
    t.ok(used, `every token of the bucket is used in the end (${admitted})`);
    tally(await Promise.all(Array.from({ length: 20 }, () => get(gw.port, '/burst'))));
    t.equal(admitted, 10, 'exactly the burst admitted over the whole run');
  });

  t.test('failMode closed: no 503 while Redis is up', async (t) => {
    const closed = await gateway(t, {
      store: redisStore(),
      throttling: { mode: 'lease', leaseMs: 100, failMode: 'closed' },
      apis: limitedApi({ rateLimit: 0.001, burstLimit: 10 }),
    }, 1);
    const rs = await Promise.all(Array.from({ length: 30 }, () => get(closed.port, '/limited')));
    t.ok(count(rs, 200) <= 10, `at most 10 admitted (${count(rs, 200)})`);
    t.equal(count(rs, 503), 0, `no 503 Service Unavailable with Redis up (${count(rs, 503)} of 30)`);
  });
});

t.test('8. clientIpThrottle burst 2: the third request from 127.0.0.1 is refused, on any route of the stage', async (t) => {
  const rs = [await get(mem.port, '/ip/one'), await get(mem.port, '/ip/two'), await get(mem.port, '/ip/one'), await get(mem.port, '/ip/two')];
  t.same(statuses(rs), [200, 200, 429, 429]);
  assertThrottled(t, rs[2]!, 'third');
  await metricIs(t, mem, 'gateway_throttled_requests_total{route="GET /one",kind="throttle"}', 1, 'counted');
  t.equal((await get(mem.port, '/side/open')).status, 200, 'another stage has no IP bucket');
});
