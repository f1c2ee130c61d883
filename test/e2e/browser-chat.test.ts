import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { chromium } from 'playwright-core';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { startGateway } from '../helpers/gateway.js';

// A real browser on a small chat page: headless Chromium (Debian's chromium package, driven by
// playwright-core) loads test/fixtures/chat/index.html from the gateway (an HTTP API's mock route)
// and talks to the gateway's WebSocket API on the same port with the browser's own WebSocket.
// $connect subscribes every connection to the topic 'room'; the 'send' route publishes to it, so
// what one page sends shows up on every page (the sender's too: pages show only what the gateway
// sends back). Waits are on page state (locators, waitForFunction), never on time.

const FIXTURES = fileURLToPath(new URL('../../../test/fixtures/chat/', import.meta.url));
const HANDLERS = `${FIXTURES}chat.mjs`;
const fn = (name: string) => ({ type: 'function', handler: `${HANDLERS}#${name}` });
// The config loader interpolates ${ENV} in strings; $${ keeps a literal ${ (the page has none today).
const PAGE = readFileSync(`${FIXTURES}index.html`, 'utf8').replaceAll('${', '$${');

const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));
if (CHROMIUM === undefined) {
  // Not a skip: CI installs the package (.ci/run), so a missing browser is a broken environment.
  throw new Error('no Chromium binary (/usr/bin/chromium or /usr/bin/chromium-browser): apt-get install chromium');
}

const gw = await startGateway({
  throttling: { gateway: false },
  apis: [
    {
      name: 'web',
      routes: [{ route: 'GET /', integration: { type: 'mock', status: 200, headers: { 'content-type': 'text/html; charset=utf-8' }, body: PAGE } }],
    },
    {
      name: 'chat',
      stage: 'chat', // ws://host/chat
      protocol: 'websocket',
      routes: [
        { route: '$connect', integration: fn('connect') },
        { route: 'send', integration: fn('send') },
        { route: 'echo', integration: fn('echo'), routeResponse: true },
      ],
    },
  ],
});

let browser: Browser | undefined;
t.teardown(async () => {
  await browser?.close();
  await gw.stop();
});
browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'], headless: true });

interface ChatPage { page: Page; context: BrowserContext; consoleErrors: string[]; pageErrors: string[] }

/** A page in its own context (own cookies, own connection), loaded from the gateway. */
async function openPage(query: string): Promise<ChatPage> {
  const context = await browser!.newContext();
  const page = await context.newPage();
  page.setDefaultTimeout(15_000);
  const consoleErrors: string[] = [];
  const pageErrors: string[] = [];
  page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
  page.on('pageerror', (e) => pageErrors.push(e.message));
  const res = await page.goto(`${gw.url}/${query}`);
  if (res === null || res.status() !== 200) throw new Error(`page load: ${res?.status()}`);
  return { page, context, consoleErrors, pageErrors };
}

const waitState = (p: ChatPage, state: string) => p.page.locator(`#status[data-state="${state}"]`).waitFor();
const lines = (p: ChatPage) => p.page.locator('#log li').allTextContents();
/** Waits until the page's log holds exactly `expected` (the messages arrive in order). */
async function waitLines(p: ChatPage, expected: string[]): Promise<void> {
  await p.page.waitForFunction(
    (want) => {
      const got = Array.from(document.querySelectorAll('#log li'), (li) => li.textContent);
      return got.length === want.length && got.every((s, i) => s === want[i]);
    },
    expected,
  ).catch(async (e: Error) => {
    throw new Error(`log is ${JSON.stringify(await lines(p))}, want ${JSON.stringify(expected)}: ${e.message}`);
  });
}
async function say(p: ChatPage, text: string): Promise<void> {
  await p.page.locator('#text').fill(text);
  await p.page.locator('#text').press('Enter');
}

t.test('the page comes from the gateway as HTML', async (t) => {
  const res = await fetch(`${gw.url}/`);
  t.equal(res.status, 200);
  t.match(res.headers.get('content-type'), /^text\/html/);
  t.equal(await res.text(), readFileSync(`${FIXTURES}index.html`, 'utf8'), 'served byte for byte');
});

t.test('two browsers chat through the room; the other leaves and the first still chats', async (t) => {
  const a = await openPage('?name=alice');
  const b = await openPage('?name=bob');
  await Promise.all([waitState(a, 'connected'), waitState(b, 'connected')]);

  await say(a, 'hello bob');
  await Promise.all([waitLines(b, ['alice: hello bob']), waitLines(a, ['alice: hello bob'])]);

  await say(b, 'hi alice');
  const both = ['alice: hello bob', 'bob: hi alice'];
  await Promise.all([waitLines(a, both), waitLines(b, both)]);
  t.same(await lines(b), both, 'bob sees both messages, in order');
  t.same(await lines(a), both, 'alice sees both messages, her own from the gateway');

  // What reached the browser: broadcast frames {"topic","id","data"}, the same id on both pages.
  const frames = async (p: ChatPage) => p.page.evaluate(() => (window as unknown as { chatFrames: unknown[] }).chatFrames);
  const fa = await frames(a) as { topic: string; id: string; data: string }[];
  const fb = await frames(b) as typeof fa;
  t.same(fa.map((f) => Object.keys(f).sort()), [['data', 'id', 'topic'], ['data', 'id', 'topic']], 'frames are {topic, id, data}');
  t.same(fa.map((f) => [f.topic, f.data]), [['room', 'alice: hello bob'], ['room', 'bob: hi alice']], 'topic room, the text as data');
  t.same(fb, fa, 'both pages got the same frames, ids included');
  t.not(fa[0]!.id, fa[1]!.id, 'each message has its own id');

  await b.context.close();
  await say(a, 'still here?');
  await waitLines(a, [...both, 'alice: still here?']);
  t.equal(await a.page.locator('#status').getAttribute('data-state'), 'connected', 'alice is still connected after bob left');

  // A newcomer gets what is said from now on.
  const c = await openPage('?name=carol');
  await waitState(c, 'connected');
  await say(c, 'hi all');
  await Promise.all([waitLines(c, ['carol: hi all']), waitLines(a, [...both, 'alice: still here?', 'carol: hi all'])]);
  t.same(await lines(c), ['carol: hi all'], 'carol sees nothing from before she joined');

  for (const p of [a, b, c]) {
    t.same(p.pageErrors, [], 'no script errors');
    t.same(p.consoleErrors, [], 'no console errors');
  }
  await a.context.close();
  await c.context.close();
});

t.test('a two-way route answers the sender only', async (t) => {
  const a = await openPage('?name=alice&action=echo');
  const b = await openPage('?name=bob');
  await Promise.all([waitState(a, 'connected'), waitState(b, 'connected')]);
  await say(a, 'just me');
  await waitLines(a, ['alice: just me']);
  // b proves the echo was not broadcast: its next broadcast is the first thing in its log.
  await say(b, 'and me');
  await Promise.all([waitLines(b, ['bob: and me']), waitLines(a, ['alice: just me', 'bob: and me'])]);
  t.same(await lines(b), ['bob: and me'], 'the echo did not reach bob');
  t.same(await lines(a), ['alice: just me', 'bob: and me'], 'alice got her echo, then the broadcast');
  await a.context.close();
  await b.context.close();
});

t.test('$connect refusing the handshake shows as a connection error in the page', async (t) => {
  const d = await openPage('?name=mallory&deny=1');
  await waitState(d, 'error');
  t.equal(await d.page.locator('#status').textContent(), 'connection failed (code 1006)', 'the page shows the failure');
  t.equal(await d.page.locator('#text').isDisabled(), true, 'nothing can be sent');
  t.match(d.consoleErrors.join('\n'), /403/, 'Chromium logs the 403 answer to the handshake');
  t.same(d.pageErrors, [], 'no script errors');
  await d.context.close();
});
