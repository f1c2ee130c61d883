import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { createAccessLog, formatLine } from '../../src/observability/access-log.js';
import type { AccessLogEntry } from '../../src/observability/access-log.js';
import { clfTime } from '../../src/observability/clock.js';

const MODULE = fileURLToPath(new URL('../../src/observability/access-log.js', import.meta.url));
const FIELDS = [
  'requestId', 'ip', 'requestTime', 'requestTimeEpoch', 'httpMethod', 'routeKey', 'path', 'status', 'protocol',
  'responseLength', 'integrationLatency', 'responseLatency', 'integrationStatus', 'errorMessage', 'userAgent',
];

function entry(i: number, over: Partial<AccessLogEntry> = {}): AccessLogEntry {
  return {
    requestId: `req-${i}`,
    ip: '203.0.113.7',
    requestTimeEpoch: Date.UTC(2026, 10, 24, 10, 0, 0) + i,
    httpMethod: 'GET',
    routeKey: 'GET /pets/{id}',
    path: `/pets/${i}`,
    status: 200,
    protocol: 'HTTP/1.1',
    responseLength: 42,
    integrationLatency: 3,
    responseLatency: 5,
    integrationStatus: 200,
    errorMessage: null,
    userAgent: 'curl/8.5.0',
    ...over,
  };
}

function tmp(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'gw-alog-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const lines = (file: string) => readFileSync(file, 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>);

t.test('line format: AWS $context names, order, types', async (t) => {
  const line = formatLine(entry(7));
  t.ok(line.endsWith('}\n'));
  const o = JSON.parse(line) as Record<string, unknown>;
  t.same(Object.keys(o), FIELDS);
  t.same(o, {
    requestId: 'req-7', ip: '203.0.113.7', requestTime: '24/Nov/2026:10:00:00 +0000', requestTimeEpoch: Date.UTC(2026, 10, 24, 10, 0, 0) + 7,
    httpMethod: 'GET', routeKey: 'GET /pets/{id}', path: '/pets/7', status: 200, protocol: 'HTTP/1.1', responseLength: 42,
    integrationLatency: 3, responseLatency: 5, integrationStatus: 200, errorMessage: null, userAgent: 'curl/8.5.0',
  });

  const none = JSON.parse(formatLine(entry(1, {
    routeKey: '-', status: 404, integrationLatency: null, integrationStatus: undefined, errorMessage: 'Not Found', userAgent: undefined,
  }))) as Record<string, unknown>;
  t.equal(none.integrationLatency, null);
  t.equal(none.integrationStatus, null);
  t.equal(none.userAgent, null);
  t.equal(none.errorMessage, 'Not Found');
  t.equal(none.routeKey, '-');

  const epochs = [0, 999, 1000, 1001, Date.UTC(2026, 0, 1, 0, 0, 0, 5), Date.UTC(2026, 0, 1, 0, 0, 1, 50), 1.5, NaN];
  for (const ep of epochs) {
    const o2 = JSON.parse(formatLine(entry(0, { requestTimeEpoch: ep }))) as Record<string, unknown>;
    t.equal(o2.requestTimeEpoch, Number.isFinite(ep) ? ep : null, `epoch ${ep}`);
    t.equal(o2.requestTime, Number.isFinite(ep) ? clfTime(ep) : null);
  }
  t.equal((JSON.parse(formatLine(entry(0, { requestTime: 'given "x"' }))) as Record<string, unknown>).requestTime, 'given "x"');
});

t.test('escaping: whatever the client sends, every line is one valid JSON object', async (t) => {
  const evil = [
    'a"b', 'back\\slash', 'new\nline', 'cr\rtab\t', '\u0000\u001f\u007f', 'ünïcödé ✓ 😀', 'lone \ud800 surrogate',
    '</script>', '{"inject":1}', '',
  ];
  for (const s of evil) {
    const line = formatLine(entry(0, { path: s, userAgent: s, errorMessage: s, requestId: s, httpMethod: s }));
    t.equal(line.indexOf('\n'), line.length - 1, 'a single line');
    const o = JSON.parse(line) as Record<string, unknown>;
    t.equal(o.path, s, JSON.stringify(s));
    t.equal(o.userAgent, o.path);
  }
});

t.test('file destination: async JSON lines, flush() delivers everything buffered', async (t) => {
  const file = join(tmp(t), 'access.log');
  const log = createAccessLog(file);
  const N = 5000; // ~1.3 MB: many chunks, several writes in flight
  for (let i = 0; i < N; i++) log.log(entry(i, { path: `/pets/${i}?pad=${'x'.repeat(i % 100)}` }));
  await log.flush();
  const got = lines(file);
  t.equal(got.length, N, 'every line on disk after flush()');
  t.same(got.map((o) => o.requestId), Array.from({ length: N }, (_, i) => `req-${i}`), 'in order');
  for (const o of got.slice(0, 3)) t.same(Object.keys(o), FIELDS);

  // A quiet worker: a single line is written without waiting for more traffic (no flush() here).
  // Polled for up to 5 s, not a fixed 100 ms: the write goes through the thread pool, which a busy
  // machine can hold up that long; a line left buffered never arrives.
  log.log(entry(N));
  const complete = () => readFileSync(file, 'utf8').split('\n').length - 1; // complete lines
  for (let i = 0; i < 100 && complete() < N + 1; i++) await new Promise((r) => setTimeout(r, 50));
  t.equal(lines(file).length, N + 1, 'a lone line reaches the file on its own');

  log.log(entry(N + 1));
  await log.flush();
  await log.flush(); // nothing pending: resolves at once
  t.equal(lines(file).length, N + 2);
  await log.close();
  log.log(entry(N + 2)); // after close: dropped, no throw
  await log.flush();
  t.equal(lines(file).length, N + 2);
});

t.test('log() never writes synchronously', async (t) => {
  const file = join(tmp(t), 'a.log');
  const log = createAccessLog(file);
  for (let i = 0; i < 100; i++) log.log(entry(i));
  t.equal(readFileSync(file, 'utf8'), '', 'nothing written during the synchronous burst');
  await log.close();
  t.equal(lines(file).length, 100);
});

t.test('reopen() follows logrotate', async (t) => {
  const dir = tmp(t);
  const file = join(dir, 'access.log');
  const log = createAccessLog(file);
  log.log(entry(1));
  await log.flush();
  renameSync(file, `${file}.1`);
  log.reopen();
  log.log(entry(2));
  await log.flush();
  t.same(lines(`${file}.1`).map((o) => o.requestId), ['req-1']);
  t.same(lines(file).map((o) => o.requestId), ['req-2']);
  await log.close();
});

t.test('bad file path fails at creation, not later', async (t) => {
  t.throws(() => createAccessLog('/nonexistent-dir/x/access.log'), { code: 'ENOENT' });
});

t.test('disabled log is a no-op', async (t) => {
  const log = createAccessLog(false);
  t.doesNotThrow(() => log.log(entry(1)));
  await t.resolves(log.flush());
  t.doesNotThrow(() => log.reopen());
  await t.resolves(log.close());
  t.equal(createAccessLog(false), log, 'one shared object');
});

/** slowReader: keep the pipe full so writers block mid-write, where big writes would interleave. */
function runNode(code: string, dir: string, slowReader = false): Promise<{ stdout: string; stderr: string; code: number | null }> {
  const script = join(dir, `child-${Math.random().toString(36).slice(2)}.mjs`);
  writeFileSync(script, code);
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
      if (slowReader) {
        p.stdout.pause();
        setTimeout(() => p.stdout.resume(), 1);
      }
    });
    p.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    p.on('error', reject);
    p.on('close', (code) => resolve({ stdout, stderr, code }));
  });
}

const childEntry = `(i, tag) => ({ requestId: tag + '-' + i, ip: '10.0.0.1', requestTimeEpoch: Date.now(), httpMethod: 'GET',
  routeKey: 'GET /x', path: '/x/' + i + '?' + 'p'.repeat(i % 300), status: 200, protocol: 'HTTP/1.1', responseLength: 1,
  integrationLatency: null, responseLatency: 1, integrationStatus: null, errorMessage: null, userAgent: 'ua' })`;

t.test('process.exit() without flush(): the exit hook writes what is buffered', async (t) => {
  const dir = tmp(t);
  const file = join(dir, 'exit.log');
  const r = await runNode(`
    import { createAccessLog } from ${JSON.stringify(MODULE)};
    const entry = ${childEntry};
    const log = createAccessLog(${JSON.stringify(file)});
    // Let the file open, start a write, then exit with lines still batched and buffered. Waits for
    // sonic-boom's fd, not a fixed 50 ms: before the open completes the exit hook cannot write.
    const go = () => {
      for (let i = 0; i < 3000; i++) log.log(entry(i, 'e'));
      process.exit(3);
    };
    if (log.dest.fd >= 0) go();
    else log.dest.once('ready', go);
  `, dir);
  t.equal(r.code, 3, r.stderr);
  const got = lines(file);
  t.equal(got.length, 3000, 'nothing lost at exit');
  t.same(got.map((o) => o.requestId), Array.from({ length: 3000 }, (_, i) => `e-${i}`));
});

t.test('stdout shared by several processes: lines never interleave', async (t) => {
  const dir = tmp(t);
  const writer = join(dir, 'writer.mjs');
  writeFileSync(writer, `
    import { createAccessLog } from ${JSON.stringify(MODULE)};
    const entry = ${childEntry};
    const log = createAccessLog('stdout');
    const tag = process.argv[2];
    let i = 0;
    (function burst() {
      for (let k = 0; k < 500 && i < 6000; k++) log.log(entry(i++, tag));
      if (i < 6000) setImmediate(burst); else log.flush().then(() => process.exit(0));
    })();
  `);
  // One parent whose children inherit its stdout: all three write the same pipe concurrently.
  const r = await runNode(`
    import { spawn } from 'node:child_process';
    const kids = ['a', 'b', 'c'].map((tag) => spawn(process.execPath, [${JSON.stringify(writer)}, tag], { stdio: 'inherit' }));
    let left = kids.length;
    for (const k of kids) k.on('exit', (c) => { if (c !== 0) process.exitCode = 1; if (--left === 0) process.exit(); });
  `, dir, true);
  t.equal(r.code, 0, r.stderr);
  const out = r.stdout.split('\n');
  t.equal(out.pop(), '', 'ends with a newline');
  t.equal(out.length, 18000);
  let bad = 0;
  const seen = { a: [] as number[], b: [] as number[], c: [] as number[] };
  for (const l of out) {
    try {
      const id = (JSON.parse(l) as { requestId: string }).requestId;
      const [tag, n] = id.split('-') as ['a' | 'b' | 'c', string];
      seen[tag].push(Number(n));
    } catch {
      bad++;
    }
  }
  t.equal(bad, 0, 'every line parses');
  for (const tag of ['a', 'b', 'c'] as const) {
    t.same(seen[tag], Array.from({ length: 6000 }, (_, i) => i), `${tag}: all lines, in order`);
  }
});
