import { receivedJson } from '../bodies.js';
import { proxyLineUp, type Scenario } from '../scenario.js';

const BYTES = 1024 * 1024;

export default {
  name: 'proxy-1m-post',
  title: 'Proxy, 1 MB POST',
  about: 'POST of a 1 MB body through each proxy; the upstream reads it all and answers with the byte count, so a proxy that loses bytes fails the check.',
  path: '/uploads',
  request: { method: 'POST', body: Buffer.alloc(BYTES, 'a'), headers: { 'content-type': 'application/octet-stream' } },
  expect: { status: 200, body: receivedJson(BYTES) },
  async setup(ctx) {
    await proxyLineUp(ctx, await ctx.upstream('{"ok":true}'));
  },
} satisfies Scenario;
