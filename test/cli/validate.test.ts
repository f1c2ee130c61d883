import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CLI } from '../helpers/gateway.js';

// `gateway validate` and `gateway start` argument handling, through the real CLI.

const root = fileURLToPath(new URL('../../../', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'gw-cli-'));
const run = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', cwd: root });

t.test('the shipped config and the full example validate', async (t) => {
  for (const f of ['config/gateway.yaml', 'config/examples/full.yaml']) {
    const r = run('validate', '--config', f);
    t.equal(r.status, 0, `${f}: ${r.stderr}`);
    t.match(r.stdout, /ok/);
  }
});

t.test('schema errors: exit 1, each as file:line: path: message', async (t) => {
  const f = join(dir, 'bad.yaml');
  writeFileSync(f, [
    'listen: { host: 127.0.0.1, port: 99999 }',
    'apis:',
    '  - name: shop',
    '    routes:',
    '      - route: GET /pets/{id}',
    '        integration: { type: http_proxy, upstream: nope, timeout: 5 }',
    '',
  ].join('\n'));
  const r = run('validate', '--config', f);
  t.equal(r.status, 1);
  t.match(r.stderr, new RegExp(`${f.replace(/\//g, '\\/')}:1: listen\\.port: `));
  t.match(r.stderr, /:6: apis\[0\]\.routes\[0\]\.integration\.timeout: unknown property.*timeoutMs/);
  t.match(r.stderr, /upstream.*nope/);
});

t.test('route conflicts are config errors naming both routes', async (t) => {
  const f = join(dir, 'conflict.json');
  writeFileSync(f, JSON.stringify({
    apis: [{
      name: 'a',
      routes: [
        { route: 'GET /pets/{id}', integration: { type: 'mock' } },
        { route: 'GET /pets/{petId}', integration: { type: 'mock' } },
      ],
    }],
  }));
  const r = run('validate', '--config', f);
  t.equal(r.status, 1);
  t.match(r.stderr, /GET \/pets\/\{id\}/);
  t.match(r.stderr, /GET \/pets\/\{petId\}/);
});

t.test('bad flags and commands: exit 2 with usage', async (t) => {
  t.equal(run('frobnicate').status, 2);
  t.equal(run('validate').status, 2);
  const r = run('start', '--config', 'config/gateway.yaml', '--workers', 'many');
  t.equal(r.status, 2);
  t.match(r.stderr, /--workers/);
});

t.test('start refuses a port already in use with a clear message', async (t) => {
  const { createServer } = await import('node:net');
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as { port: number }).port;
  const f = join(dir, 'busy.json');
  writeFileSync(f, JSON.stringify({ listen: { host: '127.0.0.1', port }, admin: { enabled: false }, workers: 1, apis: [{ name: 'a', routes: [{ route: 'GET /x', integration: { type: 'mock' } }] }] }));
  const r = run('start', '--config', f);
  s.close();
  t.equal(r.status, 1);
  t.match(r.stderr, /already in use/);
});

t.test('environment overrides: GATEWAY_CONFIG', async (t) => {
  const r = spawnSync(process.execPath, [CLI, 'validate'], { encoding: 'utf8', cwd: root, env: { ...process.env, GATEWAY_CONFIG: 'config/gateway.yaml' } });
  t.equal(r.status, 0);
});
