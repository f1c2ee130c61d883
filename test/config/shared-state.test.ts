import t from 'tap';
import { issuesOf, y } from './helpers.js';

// Store, usage plans and API keys: references must resolve, AWS's one-plan-per-stage rule holds.

const APIS = y`
  apis:
    - name: shop
      routes:
        - route: GET /pets/{id}
          integration: { type: mock }
    - name: admin
      stage: v1
      routes:
        - route: GET /x
          integration: { type: mock }
`;
const messages = (text: string) => issuesOf(text).map((i) => `${i.path}: ${i.message}`);

t.test('a complete shared-state config is valid', async (t) => {
  t.same(messages(y`
    store: { type: redis, redis: { url: "redis://127.0.0.1:6379" } }
    throttling: { gateway: false, mode: lease }
    usagePlans:
      basic: { throttle: { rateLimit: 5, burstLimit: 10 }, quota: { limit: 100, period: WEEK }, apiStages: [{ api: shop, throttle: { "GET /pets/{id}": { rateLimit: 1, burstLimit: 1 } } }] }
      ops: { apiStages: [{ api: admin, stage: v1 }] }
    apiKeys:
      - { name: a, value: "aaaaaaaaaaaaaaaaaaaaaaaa", usagePlans: [basic, ops] }
  ` + APIS), []);
});

t.test('redis store needs exactly one way to connect', async (t) => {
  t.match(messages('store: { type: redis }\n' + APIS), [/store\.redis: store\.type redis needs store\.redis/]);
  t.match(messages('store: { type: redis, redis: { url: "redis://a:1", cluster: [{ host: a, port: 1 }] } }\n' + APIS), [/exactly one of url, sentinels, cluster \(got url, cluster\)/]);
  t.match(messages('store: { type: redis, redis: { sentinels: [{ host: a, port: 1 }] } }\n' + APIS), [/name: sentinels need the master group name/]);
  t.match(messages('store: { type: redis, redis: { url: "http://a:1" } }\n' + APIS), [/url/]);
});

t.test('usage plans: unknown API, wrong stage, unknown route key', async (t) => {
  const m = messages(y`
    usagePlans:
      p: { apiStages: [{ api: shopp }, { api: admin, stage: v2 }, { api: shop, throttle: { "GET /nope": { rateLimit: 1, burstLimit: 1 } } }] }
  ` + APIS);
  t.match(m.join('\n'), /apiStages\[0\]\.api: unknown API "shopp" \(did you mean shop\?\)/);
  t.match(m.join('\n'), /apiStages\[1\]\.stage: API "admin" is deployed to stage "v1"/);
  t.match(m.join('\n'), /no route "GET \/nope" in API "shop"/);
});

t.test('API keys: unknown plan, short value, duplicate value and id, two plans on one stage', async (t) => {
  const m = messages(y`
    usagePlans:
      a: { apiStages: [{ api: shop }] }
      b: { apiStages: [{ api: shop }] }
    apiKeys:
      - { name: k1, value: "kkkkkkkkkkkkkkkkkkkkkkkk", usagePlans: [c] }
      - { name: k2, value: "short", usagePlans: [a] }
      - { name: k3, id: same, value: "kkkkkkkkkkkkkkkkkkkkkkkk", usagePlans: [a] }
      - { name: k4, id: same, value: "llllllllllllllllllllllll", usagePlans: [a, b] }
  ` + APIS).join('\n');
  t.match(m, /apiKeys\[0\]\.usagePlans\[0\]: unknown usage plan "c" \(defined: a, b\)/);
  t.match(m, /apiKeys\[1\]\.value: must be 20-128 printable ASCII characters/);
  t.match(m, /apiKeys\[2\]\.value: same value as apiKeys\[0\]/);
  t.match(m, /apiKeys\[3\]\.id: same id as apiKeys\[2\]/);
  t.match(m, /apiKeys\[3\]\.usagePlans\[1\]: plans "a" and "b" both cover API "shop" stage "\$default"/);
});

t.test('throttle and cache values are bounded as AWS bounds them', async (t) => {
  const m = messages(y`
    apis:
      - name: shop
        throttle: { rateLimit: 0, burstLimit: 0 }
        cache: { enabled: true, ttlSeconds: 3601, unauthorizedCacheControlHeaderStrategy: NOPE }
        routes:
          - route: GET /x
            cache: { ttlSeconds: -1 }
            integration: { type: mock }
  `).join('\n');
  t.match(m, /throttle\.rateLimit/);
  t.match(m, /throttle\.burstLimit/);
  t.match(m, /cache\.ttlSeconds/);
  t.match(m, /unauthorizedCacheControlHeaderStrategy/);
  t.match(m, /routes\[0\]\.cache\.ttlSeconds/);
});
