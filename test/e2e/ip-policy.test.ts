import t from 'tap';
import { get, startGateway } from '../helpers/gateway.js';
import { issuesOf, y } from '../config/helpers.js';
import { clientIpOf, blockListOf } from '../../src/policy/ip.js';

// IP resource policies and trusted proxies, through a real gateway (the test client is 127.0.0.1).

const mock = (body: string) => ({ type: 'mock', body });
const base = (trustedProxies: string[]) => ({
  throttling: { gateway: false },
  trustedProxies,
  apis: [
    { name: 'allow', stage: 'allow', ipPolicy: { allow: ['127.0.0.0/8'] }, routes: [
      { route: 'GET /open', integration: mock('open') },
      { route: 'GET /deny-me', ipPolicy: { deny: ['127.0.0.1'] }, integration: mock('never') },
    ] },
    { name: 'other', stage: 'other', ipPolicy: { allow: ['10.0.0.0/8', '2001:db8::/32'] }, routes: [{ route: 'GET /x', integration: mock('x') }] },
    { name: 'ipt', stage: 'ipt', clientIpThrottle: { rateLimit: 0.001, burstLimit: 1 }, routes: [{ route: 'GET /x', integration: mock('x') }] },
  ],
});

t.test('no trusted proxies (default): X-Forwarded-For is never believed', async (t) => {
  const gw = await startGateway(base([]));
  t.teardown(() => gw.stop());
  t.equal((await get(gw.port, '/allow/open')).status, 200, 'allowed range');
  const denied = await get(gw.port, '/allow/deny-me');
  t.equal(denied.status, 403, 'route deny wins over the API allow');
  t.same(JSON.parse(denied.body), { Message: 'User: anonymous is not authorized to perform: execute-api:Invoke on resource: allow/allow/GET/deny-me with an explicit deny' });
  const other = await get(gw.port, '/other/x');
  t.equal(other.status, 403, 'not in the allow list');
  t.match(JSON.parse(other.body).Message, /because no resource-based policy allows the execute-api:Invoke action$/);
  const spoofed = await get(gw.port, '/other/x', { headers: { 'x-forwarded-for': '10.1.2.3' } });
  t.equal(spoofed.status, 403, 'a spoofed X-Forwarded-For from an untrusted peer changes nothing');
  // Per-IP throttling keys on the peer too: spoofing does not buy a fresh bucket.
  t.equal((await get(gw.port, '/ipt/x', { headers: { 'x-forwarded-for': '10.0.0.1' } })).status, 200);
  t.equal((await get(gw.port, '/ipt/x', { headers: { 'x-forwarded-for': '10.0.0.2' } })).status, 429);
});

t.test('a trusted proxy: the client address comes from X-Forwarded-For', async (t) => {
  const gw = await startGateway(base(['127.0.0.1/32']));
  t.teardown(() => gw.stop());
  t.equal((await get(gw.port, '/other/x', { headers: { 'x-forwarded-for': '10.1.2.3' } })).status, 200, 'the client 10.1.2.3 is allowed');
  t.equal((await get(gw.port, '/other/x', { headers: { 'x-forwarded-for': '10.1.2.3, 192.0.2.7' } })).status, 403, 'the right-most untrusted hop is the client');
  t.equal((await get(gw.port, '/other/x', { headers: { 'x-forwarded-for': 'junk, 10.1.2.3' } })).status, 200);
  t.equal((await get(gw.port, '/other/x', { headers: { 'x-forwarded-for': '10.1.2.3, not-an-ip' } })).status, 403, 'garbage: fall back to the peer');
  t.equal((await get(gw.port, '/other/x', { headers: { 'x-forwarded-for': '2001:db8::1' } })).status, 200, 'IPv6 client');
  t.equal((await get(gw.port, '/allow/open', { headers: { 'x-forwarded-for': '10.1.2.3' } })).status, 403, 'the client, not the proxy, is checked');
  t.equal((await get(gw.port, '/ipt/x', { headers: { 'x-forwarded-for': '10.0.0.1' } })).status, 200);
  t.equal((await get(gw.port, '/ipt/x', { headers: { 'x-forwarded-for': '10.0.0.2' } })).status, 200, 'another client, another bucket');
  t.equal((await get(gw.port, '/ipt/x', { headers: { 'x-forwarded-for': '10.0.0.1' } })).status, 429);
});

t.test('clientIpOf: right to left, skipping trusted hops', async (t) => {
  const trusted = blockListOf(['127.0.0.1', '10.0.0.0/8']);
  t.equal(clientIpOf('127.0.0.1', '203.0.113.9, 10.0.0.5', trusted), '203.0.113.9', 'a second trusted hop is skipped');
  t.equal(clientIpOf('127.0.0.1', '10.0.0.5, 10.0.0.6', trusted), '127.0.0.1', 'only trusted hops: the peer');
  t.equal(clientIpOf('192.0.2.1', '203.0.113.9', trusted), '192.0.2.1', 'untrusted peer');
  t.equal(clientIpOf('127.0.0.1', undefined, trusted), '127.0.0.1');
  t.equal(clientIpOf('127.0.0.1', '203.0.113.9', null), '127.0.0.1');
});

t.test('config: bad addresses and prefixes are errors with their path', async (t) => {
  const issues = issuesOf(y`
    trustedProxies: ["10.0.0.0/33"]
    apis:
      - name: a
        ipPolicy: { allow: ["not-an-ip"], deny: ["::1/129"] }
        routes: [{ route: GET /x, ipPolicy: { deny: ["1.2.3.4/x"] }, integration: { type: mock } }]
  `).map((i) => `${i.path}: ${i.message}`);
  t.same(issues, [
    'trustedProxies[0]: "10.0.0.0/33": prefix length must be 0-32',
    'apis[0].ipPolicy.allow[0]: "not-an-ip" is not an IP address or CIDR block',
    'apis[0].ipPolicy.deny[0]: "::1/129": prefix length must be 0-128',
    'apis[0].routes[0].ipPolicy.deny[0]: "1.2.3.4/x": prefix length must be 0-32',
  ]);
});
