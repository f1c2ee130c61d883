import { fileURLToPath } from 'node:url';
import t from 'tap';
import aws4 from 'aws4';
import { get, startGateway, waitFor } from '../helpers/gateway.js';
import { openWs } from '../helpers/ws.js';

// WebSocket limits through a real gateway: an idle client is closed; a client that stops reading
// gets 429 on @connections before its queue fills and is dropped once broadcasts pass
// maxBackpressureBytes; the management API accepts requests signed by the aws4 package too.

const WS = fileURLToPath(new URL('../../../test/fixtures/functions/ws.mjs', import.meta.url));
const KEY = { accessKeyId: 'AKIDWSLIMITSTEST001', secretAccessKey: 'ws-limits-test-secret-0123456789abc' };
const gw = await startGateway({
  throttling: { gateway: false },
  iam: { credentials: [{ ...KEY, routes: ['lim/live/*'] }] },
  apis: [{
    name: 'lim', stage: 'live', protocol: 'websocket',
    // The smallest limits the schema allows, so the test neither waits ten minutes nor sends megabytes for long.
    websocket: { idleTimeoutSeconds: 8, maxBackpressureBytes: 16384, maxMessageBytes: 65536 },
    routes: [
      { route: '$connect', integration: { type: 'function', handler: `${WS}#connect` } },
      { route: '$default', integration: { type: 'function', handler: `${WS}#echo` }, routeResponse: true },
    ],
  }],
});
t.teardown(() => gw.stop());

/** A management call signed by aws4 (`secret` overrides the key's secret to forge a bad signature). */
function signed(method: string, path: string, body?: string, secret = KEY.secretAccessKey) {
  const req = { host: `127.0.0.1:${gw.port}`, method, path, service: 'execute-api', region: 'us-east-1', headers: {} as Record<string, string>, ...(body !== undefined ? { body } : {}) };
  if (body !== undefined) req.headers['content-type'] = 'application/octet-stream';
  const opts = aws4.sign(req, { accessKeyId: KEY.accessKeyId, secretAccessKey: secret });
  return get(gw.port, path, { method, headers: opts.headers as Record<string, string>, ...(body !== undefined ? { body } : {}) });
}

t.test('aws4-signed @connections: POST reaches the client; unknown ids 410; a wrong signature 403', async (t) => {
  const c = await openWs(`ws://127.0.0.1:${gw.port}/live`);
  c.send('who am i');
  const id = JSON.parse(await c.next()).connectionId as string;
  const r = await signed('POST', `/live/@connections/${id}`, 'signed by aws4');
  t.equal(r.status, 200, r.body);
  t.equal(await c.next(), 'signed by aws4');
  const gone = await signed('GET', '/live/@connections/AAAAAAAAAAAAAAAA');
  t.equal(gone.status, 410);
  t.equal(gone.headers['x-amzn-errortype'], 'GoneException');
  t.equal((await signed('GET', `/live/@connections/${id}`, undefined, 'wrong-secret-wrong-secret-wrong-1234')).status, 403);
  c.ws.close();
});

t.test('a client that stops reading: 429 LimitExceededException before its queue fills, then dropped by broadcasts past the limit', async (t) => {
  const c = await openWs(`ws://127.0.0.1:${gw.port}/live?topics=firehose`);
  c.send('id please');
  const id = JSON.parse(await c.next()).connectionId as string;
  (c.ws as unknown as { _socket: { pause(): void } })._socket.pause();
  const chunk = 'x'.repeat(60_000);
  let limited = null;
  // The kernel's socket buffers take a few MB first; then the gateway's queue for this client grows.
  for (let i = 0; i < 2000 && limited === null; i++) {
    const r = await signed('POST', `/live/@connections/${id}`, chunk);
    if (r.status === 429) limited = r;
    else t.equal(r.status, 200, 'accepted until the queue is half full');
  }
  t.ok(limited !== null, '429 came');
  t.equal(limited?.headers['x-amzn-errortype'], 'LimitExceededException');
  // Broadcasts do not wait: past maxBackpressureBytes the gateway drops the slow consumer.
  const b = await signed('POST', '/live/@broadcast/firehose', chunk);
  t.equal(b.status, 200);
  await signed('POST', '/live/@broadcast/firehose', chunk);
  t.ok(await waitFor(async () => (await signed('GET', `/live/@connections/${id}`)).status === 410, 10_000), 'the connection is gone');
  c.ws.terminate();
});

t.test('a client that sends nothing for idleTimeoutSeconds is closed (no server pings keep it alive)', async (t) => {
  const c = await openWs(`ws://127.0.0.1:${gw.port}/live`);
  const { code } = await c.closed;
  t.not(code, 0, `closed by the gateway (${code})`);
});
