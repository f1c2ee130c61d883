/**
 * Shared pieces of the HTTP load benchmarks (proxy.ts, mock.ts): child processes that are always
 * cleaned up, CPU accounting from /proc, autocannon and wrk runners, CPU pinning, nginx in a temp
 * prefix, the gateway through its CLI, medians and markdown.
 */
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { cpus, loadavg, release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const RESULTS_DIR = join(ROOT, 'bench', 'results');
const HELLO_JS = fileURLToPath(new URL('./hello-uws.js', import.meta.url));
const CLI_JS = join(ROOT, 'dist', 'src', 'cli.js');

// ---------------------------------------------------------------------------------------------
// Processes

export interface Proc {
  name: string;
  pid: number;
  child: ChildProcess;
  /** Last 64 KB of stdout+stderr. */
  output(): string;
  exited: Promise<number | null>;
  isAlive(): boolean;
}

const live = new Set<Proc>();

/**
 * Spawns in its own process group (detached) so cleanup can kill the whole tree (gateway workers,
 * nginx workers) and a terminal Ctrl-C does not hit the servers before we stop them in order.
 */
export function startProc(name: string, cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Proc {
  const child = spawn(cmd, args, { cwd: opts.cwd, detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: opts.env ?? process.env });
  let out = '';
  const keep = (d: Buffer) => {
    out += d.toString();
    if (out.length > 65536) out = out.slice(-65536);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  let alive = true;
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => { alive = false; live.delete(p); resolve(code); });
    child.once('error', (e) => { alive = false; out += String(e); live.delete(p); resolve(null); });
  });
  const p: Proc = { name, pid: child.pid ?? -1, child, output: () => out, exited, isAlive: () => alive };
  if (child.pid !== undefined) live.add(p);
  return p;
}

function killGroup(pid: number, sig: NodeJS.Signals): void {
  try { process.kill(-pid, sig); } catch { /* gone */ }
}

/** SIGTERM to the leader only (the gateway master drains its workers), then SIGKILL the group. */
export async function stopProc(p: Proc, graceMs = 5000): Promise<void> {
  if (p.isAlive()) {
    try { process.kill(p.pid, 'SIGTERM'); } catch { /* gone */ }
    const t = setTimeout(() => killGroup(p.pid, 'SIGKILL'), graceMs);
    await p.exited;
    clearTimeout(t);
  }
  // Leftovers in the group (a worker whose master died first) must not outlive the bench.
  killGroup(p.pid, 'SIGKILL');
  live.delete(p);
}

export async function stopAll(): Promise<void> {
  await Promise.all([...live].map((p) => stopProc(p, 3000)));
}

let signalled = false;
let onAbort: (() => void) | null = null;
/** Ctrl-C / SIGTERM: stop the current load run, stop every child, exit 130. Exit: SIGKILL leftovers. */
export function installCleanupHandlers(): void {
  const handler = (sig: NodeJS.Signals) => {
    if (signalled) return;
    signalled = true;
    process.stderr.write(`\n${sig}: stopping everything...\n`);
    onAbort?.();
    void stopAll().finally(() => process.exit(130));
  };
  process.once('SIGINT', handler);
  process.once('SIGTERM', handler);
  process.once('exit', () => { for (const p of live) killGroup(p.pid, 'SIGKILL'); });
}
export function aborted(): boolean {
  return signalled;
}

// ---------------------------------------------------------------------------------------------
// Small utilities

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export function httpGet(port: number, path: string, timeoutMs = 2000): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  return httpCall(port, path, {}, timeoutMs);
}

/** One request as the load generator would send it (method, headers, body). */
export function httpCall(port: number, path: string, spec: LoadRequest, timeoutMs = 5000): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, agent: false, method: spec.method ?? 'GET', headers: firstHeaders(spec) }, (res) => {
      let body = '';
      res.on('data', (c) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.setTimeout(timeoutMs, () => req.destroy(new Error('timeout')));
    req.end(spec.body);
  });
}

/** Polls until GET answers 200 (any status when `anyStatus`) or the process dies / time runs out. */
export async function waitHttp200(p: Proc, port: number, path: string, timeoutMs = 20_000, anyStatus = false): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!p.isAlive()) throw new Error(`${p.name} exited before it was ready:\n${p.output().slice(-4000)}`);
    try {
      const st = (await httpGet(port, path)).status;
      if (st === 200 || anyStatus) return;
    } catch { /* not yet */ }
    if (Date.now() > deadline) throw new Error(`${p.name} not ready on :${port}${path} after ${timeoutMs} ms:\n${p.output().slice(-4000)}`);
    await sleep(100);
  }
}

export function which(cmd: string): string | null {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

export { cv, median } from './stats.js';
import { cv, median } from './stats.js';

/** CLI number flag: the default when absent, exit 2 on anything but a number >= min. */
export function cliNumber(flag: string, v: string | undefined, dflt: number, min: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isFinite(n) || n < min) {
    process.stderr.write(`--${flag}: expected a number >= ${min}, got "${v}"\n`);
    process.exit(2);
  }
  return n;
}

export function timestamp(): string {
  return new Date().toISOString().replace(/[:.]/g, '-').replace('Z', '');
}

// ---------------------------------------------------------------------------------------------
// CPU accounting

const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

/** utime+stime of a process in seconds (0 when it is gone). /proc is in clock ticks (10 ms). */
export function procCpuSeconds(pid: number): number {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    // f[0] is field 3 (state): utime is field 14, stime 15.
    return (Number(f[11]) + Number(f[12])) / CLK_TCK;
  } catch {
    return 0;
  }
}

export function cpuOf(pids: number[]): number {
  let t = 0;
  for (const p of pids) t += procCpuSeconds(p);
  return t;
}

/** Busy CPU seconds of the whole machine (all cores; idle and iowait excluded), from /proc/stat. */
export function systemBusySeconds(): number {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal (guest is already inside user)
  return (f[0]! + f[1]! + f[2]! + f[5]! + f[6]! + f[7]!) / CLK_TCK;
}

/** Sum of VmRSS of live processes, MB. */
export function rssMbOf(pids: number[]): number {
  let kb = 0;
  for (const pid of pids) {
    try {
      kb += Number(/^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
    } catch { /* gone */ }
  }
  return kb / 1024;
}

export function childPids(pid: number): number[] {
  const r = spawnSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' });
  return r.stdout.split('\n').filter(Boolean).map(Number);
}

// ---------------------------------------------------------------------------------------------
// No pinning. Every process runs unpinned: measured with the earlier proxy bench's `--pin compare`
// (pinned = generator on core 0, server under test alone on core 1; pinned and unpinned runs
// alternating in one session, 3 x 10 s, 50 connections):
// - 0.4-1 core of other tenants' load: req/s CV pinned 14-47% vs unpinned 7-43% (unpinned lower
//   for 4 of 6 target/tool pairs), p99 pinned 9-30 ms vs unpinned 2-7 ms (all 6); a pinned process
//   stalls whenever another tenant runs on its core, unpinned the scheduler moves it.
// - quiet machine: req/s CV pinned 4-15% vs unpinned 3-7% (unpinned lower for 5 of 6).
// CPU per request was the same either way.

// ---------------------------------------------------------------------------------------------
// Load generators

interface AutocannonHist { mean: number; p50: number; p90: number; p99: number; max: number; total: number; average: number }
interface AutocannonResult {
  requests: AutocannonHist;
  latency: AutocannonHist;
  throughput: AutocannonHist;
  errors: number;
  timeouts: number;
  non2xx: number;
  duration: number;
}
type AutocannonFn = (opts: Record<string, unknown>, cb: (err: Error | null, r: AutocannonResult) => void) => { stop(): void };
// No @types/autocannon; a local signature avoids an ambient `declare module` that could clash with test/.
const autocannon = require('autocannon') as AutocannonFn;
export const AUTOCANNON_VERSION = (require('autocannon/package.json') as { version: string }).version;

/** What the load generator sends: GET by default; POST bodies are sent as they are on every request. */
export interface LoadRequest {
  method?: 'GET' | 'POST' | 'PUT';
  body?: Buffer;
  headers?: Record<string, string>;
  /**
   * Each request carries the next of `values` in `header` (over `headers`): one rotation shared by
   * all connections, so consecutive requests differ and a value comes back only after all the others
   * (more values than a server-side cache holds: every request misses it). Single-line values.
   */
  rotate?: { header: string; values: string[] };
}

/** The headers of the first request (the rotation's first value), for a one-off check. */
export function firstHeaders(req: LoadRequest): Record<string, string> | undefined {
  if (req.rotate === undefined) return req.headers;
  return { ...req.headers, [req.rotate.header]: req.rotate.values[0]! };
}

export interface LoadResult {
  tool: 'autocannon' | 'wrk';
  rps: number;
  /** Latencies in ms. autocannon records whole milliseconds; wrk has microsecond resolution. */
  p50: number;
  p90: number;
  p99: number;
  max: number;
  requests: number;
  errors: number;
  timeouts: number;
  non2xx: number;
  wallS: number;
  /** Load generator CPU in cores (CPU seconds / wall seconds). */
  genCpu: number;
}

/** One autocannon run in this process; its CPU is this process's cpuUsage over the run. */
export function runAutocannon(url: string, connections: number, durationS: number, req: LoadRequest = {}): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    const opts: Record<string, unknown> = { url, connections, duration: durationS, pipelining: 1, method: req.method ?? 'GET', body: req.body, headers: req.headers };
    if (req.rotate !== undefined) {
      // One request template rebuilt per request; the counter is shared by every connection.
      const { header, values } = req.rotate;
      let i = 0;
      opts.requests = [{
        setupRequest: (r: { headers: Record<string, string> }) => {
          r.headers[header] = values[i]!;
          i = (i + 1) % values.length;
          return r;
        },
      }];
    }
    const inst = autocannon(opts, (err, r) => {
      onAbort = null;
      const wallS = (performance.now() - t0) / 1000;
      const c = process.cpuUsage(c0);
      if (err) return reject(err);
      resolve({
        tool: 'autocannon',
        rps: r.requests.mean,
        p50: r.latency.p50,
        p90: r.latency.p90,
        p99: r.latency.p99,
        max: r.latency.max,
        requests: r.requests.total,
        errors: r.errors,
        timeouts: r.timeouts,
        non2xx: r.non2xx,
        wallS,
        genCpu: (c.user + c.system) / 1e6 / wallS,
      });
    });
    onAbort = () => inst.stop();
  });
}

function wrkMs(v: string): number {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(v.trim());
  if (m === null) return NaN;
  const n = Number(m[1]);
  return m[2] === 'us' ? n / 1000 : m[2] === 'ms' ? n : m[2] === 's' ? n * 1000 : n * 60_000;
}

export function parseWrk(out: string): Omit<LoadResult, 'wallS' | 'genCpu' | 'tool'> {
  const pct = (p: string) => wrkMs(new RegExp(`^\\s*${p}%\\s+(\\S+)`, 'm').exec(out)?.[1] ?? '');
  const lat = /^\s*Latency\s+(\S+)\s+(\S+)\s+(\S+)/m.exec(out);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  return {
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN),
    p50: pct('50'),
    p90: pct('90'),
    p99: pct('99'),
    max: lat ? wrkMs(lat[3]!) : NaN,
    requests: Number(/(\d+) requests in/.exec(out)?.[1] ?? NaN),
    errors: sock ? Number(sock[1]) + Number(sock[2]) + Number(sock[3]) : 0,
    timeouts: sock ? Number(sock[4]) : 0,
    non2xx: Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0),
  };
}

/**
 * `wrk -t1 -cC -dDs --latency`. Its CPU comes from the wrapping shell's cutime/cstime (which
 * include a waited-for child), printed after wrk exits: exact, with no polling.
 */
export async function runWrk(url: string, connections: number, durationS: number, req: LoadRequest = {}): Promise<LoadResult> {
  // Method, headers and body go through a Lua script (wrk has no flag for a body).
  let lua: string | null = null;
  if (req.method !== undefined || req.body !== undefined || req.headers !== undefined || req.rotate !== undefined) {
    lua = join(mkdtempSync(join(tmpdir(), 'bench-wrk-')), 'request.lua');
    // Lua string literal: printable ASCII as is, everything else as a 3-digit decimal escape.
    const str = (b: Buffer | string) => {
      let out = '';
      for (const c of Buffer.from(b)) out += c >= 0x20 && c < 0x7f && c !== 0x22 && c !== 0x5c ? String.fromCharCode(c) : `\\${String(c).padStart(3, '0')}`;
      return `"${out}"`;
    };
    const lines = [`wrk.method = "${req.method ?? 'GET'}"`];
    if (req.body !== undefined) lines.push(`wrk.body = ${str(req.body)}`);
    for (const [k, v] of Object.entries(req.headers ?? {})) lines.push(`wrk.headers[${str(k)}] = ${str(v)}`);
    if (req.rotate !== undefined) {
      // The values one a line in a file beside the script; wrk calls request() for every request (-t1: one rotation).
      const { header, values } = req.rotate;
      if (values.length === 0 || values.some((v) => /[\r\n]/.test(v))) throw new Error('rotate: values must be a non-empty list of single-line strings');
      const file = join(lua, '..', 'values.txt');
      writeFileSync(file, `${values.join('\n')}\n`);
      lines.push(
        'local values = {}', `for line in io.lines(${str(file)}) do values[#values + 1] = line end`, 'local n, i = #values, 0',
        `request = function() i = i % n + 1; wrk.headers[${str(header)}] = values[i]; return wrk.format() end`,
      );
    }
    writeFileSync(lua, `${lines.join('\n')}\n`);
  }
  const script = `wrk -t1 -c${connections} -d${durationS}s --latency ${lua ? `-s '${lua}' ` : ''}'${url}'; s=$?; echo "__STAT__ $(cat /proc/$$/stat)"; exit $s`;
  const t0 = performance.now();
  const p = startProc('wrk', 'sh', ['-c', script]);
  onAbort = () => killGroup(p.pid, 'SIGKILL');
  const code = await p.exited;
  onAbort = null;
  if (lua) rmSync(join(lua, '..'), { recursive: true, force: true });
  const wallS = (performance.now() - t0) / 1000;
  const out = p.output();
  if (code !== 0) throw new Error(`wrk failed (${code}):\n${out}`);
  const stat = /__STAT__ .*\)\s(.*)$/m.exec(out)?.[1]?.split(' ') ?? [];
  // Fields 16/17 (cutime/cstime) are f[13], f[14] counted from field 3.
  const cpuS = (Number(stat[13]) + Number(stat[14])) / CLK_TCK;
  return { tool: 'wrk', ...parseWrk(out), wallS, genCpu: cpuS / wallS };
}

// ---------------------------------------------------------------------------------------------
// Servers

/** A raw uWS server answering every request with `body` (Content-Length, keep-alive: uWS defaults). */
export async function startHelloUws(body: string | { bytes: number }): Promise<{ proc: Proc; port: number; pids: () => number[] }> {
  const port = await freePort();
  const bodyArgs = typeof body === 'string' ? ['--body', body] : ['--body-bytes', String(body.bytes)];
  const proc = startProc('uws-hello', process.execPath, [HELLO_JS, '--port', String(port), ...bodyArgs]);
  await waitHttp200(proc, port, '/x');
  return { proc, port, pids: () => [proc.pid] };
}

export function nginxVersion(): string | null {
  if (which('nginx') === null) return null;
  const r = spawnSync('nginx', ['-v'], { encoding: 'utf8' });
  return (r.stderr || r.stdout).trim().replace(/^nginx version:\s*/, '');
}

export const NGINX_MISSING = 'nginx not found: install it with `apt-get install nginx-light` (Debian/Ubuntu); skipping the nginx targets.';

/**
 * nginx with 1 worker in a temp prefix (pid, logs, temp paths inside it, so it runs as root without
 * touching /var). `http` is the body of the http{} block.
 */
export async function startNginx(name: string, http: string, port: number, readyPath: string): Promise<{ proc: Proc; port: number; pids: () => number[]; dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), `bench-${name}-`));
  const conf = `worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  # nginx closes client connections after 1000 requests by default; the other servers never do.
  keepalive_requests 1000000;
  keepalive_timeout 75s;
${http}
}
`;
  writeFileSync(join(dir, 'nginx.conf'), conf);
  const proc = startProc(name, 'nginx', ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log'), '-g', 'daemon off;']);
  proc.exited.then(() => rmSync(dir, { recursive: true, force: true }), () => {});
  await waitHttp200(proc, port, readyPath);
  return { proc, port, dir, pids: () => childPids(proc.pid) };
}

/** nginx `return 200 body` on every path. */
export async function startNginxStatic(body: string) {
  const port = await freePort();
  const escaped = body.replace(/\\/g, '\\\\').replace(/'/g, "\\'");
  return startNginx('nginx-static', `  server {
    listen 127.0.0.1:${port} reuseport;
    location / { default_type application/json; return 200 '${escaped}'; }
  }`, port, '/x');
}

/**
 * nginx as a reverse proxy with a keep-alive upstream pool; the path is passed on as it came.
 * Request bodies stream (proxy_request_buffering off), as the gateway's do; responses use nginx's
 * default buffering.
 */
export async function startNginxProxy(upstreamPort: number) {
  const port = await freePort();
  return startNginx('nginx-proxy', `  upstream up {
    server 127.0.0.1:${upstreamPort};
    keepalive 64;
    keepalive_requests 1000000;
  }
  server {
    listen 127.0.0.1:${port};
    client_max_body_size 0;
    location / {
      proxy_pass http://up;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_request_buffering off;
    }
  }`, port, '/');
}

export interface GatewayHandle {
  proc: Proc;
  port: number;
  adminPort: number;
  /** Worker pids (from /ready, else the master's children). */
  workers: number[];
  configFile: string;
}

/** `node dist/src/cli.js start --config FILE`; ready when the admin /ready answers 200. */
export async function startGateway(
  apis: unknown[],
  opts: {
    nodeArgs?: string[];
    /** Another build's dist/src/cli.js (--compare). */
    cli?: string;
    name?: string;
    /** Top-level config keys merged over the bench defaults. */
    config?: Record<string, unknown>;
    /** A build from before throttling existed: it rejects the `throttling` key. */
    legacy?: boolean;
  },
): Promise<GatewayHandle> {
  const cli = opts.cli ?? CLI_JS;
  if (!existsSync(cli)) throw new Error(`${cli} missing: run \`npx tsc -p .\``);
  const port = await freePort();
  const adminPort = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'bench-gateway-'));
  const configFile = join(dir, 'gateway.json');
  writeFileSync(configFile, JSON.stringify({
    listen: { host: '127.0.0.1', port },
    workers: 1,
    admin: { host: '127.0.0.1', port: adminPort },
    accessLog: { enabled: false },
    // Idle keep-alive clients are all that is left at stop time; do not wait the default 30 s.
    shutdown: { drainTimeoutMs: 2000 },
    // The AWS-like gateway-wide default (10,000 req/s) would measure the limit, not the gateway.
    ...(opts.legacy ? {} : { throttling: { gateway: false } }),
    ...opts.config,
    apis,
  }, null, 2));
  // Node flags (e.g. --cpu-prof, which NODE_OPTIONS refuses) reach the workers too: cluster forks with the master's execArgv.
  const proc = startProc(opts.name ?? 'gateway', process.execPath, [...(opts.nodeArgs ?? []), cli, 'start', '--config', configFile]);
  proc.exited.then(() => rmSync(dir, { recursive: true, force: true }), () => {});
  await waitHttp200(proc, adminPort, '/ready', 30_000);
  let workers: number[] = [];
  try {
    const info = JSON.parse((await httpGet(adminPort, '/ready')).body) as { pids?: number[] };
    if (Array.isArray(info.pids)) workers = info.pids;
  } catch { /* fall back below */ }
  if (workers.length === 0) workers = childPids(proc.pid);
  if (workers.length === 0) throw new Error('gateway: cannot find the worker pid');
  return { proc, port, adminPort, workers, configFile };
}

// ---------------------------------------------------------------------------------------------
// Reporting

export function machineInfo(): Record<string, string | number> {
  const c = cpus();
  const wrk = which('wrk') ? (spawnSync('wrk', ['-v'], { encoding: 'utf8' }).stdout.split('\n')[0] ?? '').trim() : 'not installed';
  const git = spawnSync('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).stdout.trim();
  const dirty = spawnSync('git', ['-C', ROOT, 'status', '--porcelain'], { encoding: 'utf8' }).stdout.trim() !== '';
  return {
    cpu: c[0]?.model ?? 'unknown',
    cores: c.length,
    node: process.version,
    nginx: nginxVersion() ?? 'not installed',
    wrk,
    autocannon: AUTOCANNON_VERSION,
    kernel: release(),
    loadavgAtStart: loadavg().map((x) => x.toFixed(2)).join(' '),
    git: `${git}${dirty ? ' (dirty)' : ''}`,
  };
}

export function mdTable(head: string[], rows: (string | number)[][]): string {
  const line = (cells: (string | number)[]) => `| ${cells.join(' | ')} |`;
  return [line(head), line(head.map(() => '---')), ...rows.map(line)].join('\n');
}

export const fmt = {
  int: (x: number) => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '-'),
  ms: (x: number) => (Number.isFinite(x) ? (x >= 10 ? x.toFixed(0) : x.toFixed(2)) : '-'),
  ratio: (x: number) => (Number.isFinite(x) ? `${x.toFixed(2)}x` : '-'),
  pct: (x: number) => (Number.isFinite(x) ? `${(x * 100).toFixed(1)}%` : '-'),
  cores: (x: number) => (Number.isFinite(x) ? x.toFixed(2) : '-'),
};

// ---------------------------------------------------------------------------------------------
// CPU profiles (--cpu-prof of the gateway worker)

interface ProfNode { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; }
interface CpuProfile { nodes: ProfNode[]; samples: number[]; timeDeltas: number[] }

/** Top self-time functions of a .cpuprofile: [label, ms, share]. */
export function topSelfTime(file: string, n = 20): { label: string; ms: number; share: number }[] {
  const prof = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(prof.nodes.map((x) => [x.id, x]));
  const self = new Map<string, number>();
  let total = 0;
  for (let i = 0; i < prof.samples.length; i++) {
    const node = byId.get(prof.samples[i]!);
    const dt = prof.timeDeltas[i] ?? 0;
    if (node === undefined) continue;
    const cf = node.callFrame;
    const where = cf.url === '' ? '' : ` ${cf.url.replace(/^file:\/\//, '').replace(ROOT, '')}:${cf.lineNumber + 1}`;
    const label = `${cf.functionName || '(anonymous)'}${where}`;
    self.set(label, (self.get(label) ?? 0) + dt);
    total += dt;
  }
  // Idle time (waiting in epoll) is not work; shares are of busy time.
  total -= self.get('(idle)') ?? 0;
  self.delete('(idle)');
  return [...self.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([label, us]) => ({ label, ms: us / 1000, share: us / total }));
}

/** Newest .cpuprofile written by `pid` in `dir` (Node names them CPU.<date>.<pid>.<tid>.<seq>). */
export function findCpuProfile(dir: string, pid: number): string | null {
  if (!existsSync(dir)) return null;
  const f = readdirSync(dir).filter((x) => x.endsWith('.cpuprofile') && x.split('.')[3] === String(pid)).sort().pop();
  return f === undefined ? null : join(dir, f);
}

// ---------------------------------------------------------------------------------------------
// Interleaved runs

export interface Target {
  name: string;
  /** Layout tag (e.g. pinned / unpinned) when one target is measured several ways. */
  variant?: string;
  url: string;
  request?: LoadRequest;
  /** Processes doing the work under test: the proxy's worker, or the server itself. */
  pids: () => number[];
  /** Side processes of the target (gateway master, nginx master), reported apart. */
  sidePids?: () => number[];
  /** The upstream behind a proxy (nothing for the upstream itself). */
  upstreamPids?: () => number[];
}

export interface Run extends LoadResult {
  target: string;
  round: number;
  /** CPU in cores (CPU seconds / wall seconds) of the target's worker(s), side processes, upstream. */
  targetCpu: number;
  sideCpu: number;
  upstreamCpu: number;
  /** Target worker CPU microseconds per request, and its inverse in requests per CPU-second. */
  cpuUsPerReq: number;
  reqPerCpuS: number;
  /** The load generator used >= 90% of a core: the number is a floor of what the target can do. */
  genBound: boolean;
  /**
   * Busy CPU (cores) that none of our processes used: other tenants of the shared machine plus
   * loopback softirq work the kernel does not charge to a process. High values mean a noisy run.
   */
  foreignCpu: number;
  noisy: boolean;
  /** Resident memory of the target's worker(s) at the end of the run, MB. */
  rssMb: number;
}

export const GEN_BOUND = 0.9;
/** Foreign CPU (cores) from which a run counts as disturbed by other tenants. */
export const NOISY = 0.3;

export async function measureRun(t: Target, tool: 'autocannon' | 'wrk', connections: number, durationS: number, round: number): Promise<Run> {
  {
    const pids = t.pids();
    const side = t.sidePids?.() ?? [];
    const ups = t.upstreamPids?.() ?? [];
    const c0 = [cpuOf(pids), cpuOf(side), cpuOf(ups), systemBusySeconds()];
    const r = tool === 'wrk' ? await runWrk(t.url, connections, durationS, t.request) : await runAutocannon(t.url, connections, durationS, t.request);
    const c1 = [cpuOf(pids), cpuOf(side), cpuOf(ups), systemBusySeconds()];
    const d = c1.map((x, i) => x - c0[i]!);
    const foreign = Math.max(0, (d[3]! - d[0]! - d[1]! - d[2]!) / r.wallS - r.genCpu);
    return {
      ...r,
      target: t.name,
      round,
      targetCpu: d[0]! / r.wallS,
      sideCpu: d[1]! / r.wallS,
      upstreamCpu: d[2]! / r.wallS,
      cpuUsPerReq: (d[0]! * 1e6) / r.requests,
      reqPerCpuS: r.requests / d[0]!,
      genBound: r.genCpu >= GEN_BOUND,
      foreignCpu: foreign,
      noisy: foreign >= NOISY,
      rssMb: rssMbOf(pids),
    };
  }
}

export interface InterleaveOptions {
  rounds: number;
  durationS: number;
  warmupS: number;
  connections: number;
  wrk: boolean;
  /** wrk rounds (cross-check), at most `rounds`; default all of them. */
  wrkRounds?: number;
  log: (s: string) => void;
  /** Called before each load run (warm-ups included) with what is about to run and for how long. */
  progress?: (what: string, seconds: number) => void;
}

/** Load seconds runInterleaved will spend (warm-ups included), for a progress bar. */
export function plannedSeconds(targets: number, o: Pick<InterleaveOptions, 'rounds' | 'durationS' | 'warmupS' | 'wrk' | 'wrkRounds'>): number {
  const wrkRounds = o.wrk ? Math.min(o.rounds, o.wrkRounds ?? o.rounds) : 0;
  return targets * (o.warmupS + (o.rounds + wrkRounds) * o.durationS);
}

/** Warm-up per target, then rounds of A B C (autocannon) followed by A B C (wrk). */
export async function runInterleaved(targets: Target[], o: InterleaveOptions): Promise<Run[]> {
  for (const t of o.warmupS > 0 ? targets : []) {
    if (aborted()) break;
    o.progress?.(`warm-up ${t.name}`, o.warmupS);
    const w = await runAutocannon(t.url, o.connections, o.warmupS, t.request);
    o.log(`warm-up ${t.name}: ${fmt.int(w.rps)} req/s, errors ${w.errors}, non2xx ${w.non2xx}`);
  }
  const runs: Run[] = [];
  const tools: ('autocannon' | 'wrk')[] = o.wrk ? ['autocannon', 'wrk'] : ['autocannon'];
  for (let round = 1; round <= o.rounds; round++) {
    for (const tool of tools) {
      if (tool === 'wrk' && round > (o.wrkRounds ?? o.rounds)) continue;
      for (const t of targets) {
        if (aborted()) return runs;
        await sleep(300); // let the previous run's sockets close
        o.progress?.(`round ${round}/${o.rounds} ${tool} ${t.name}`, o.durationS);
        const r = await measureRun(t, tool, o.connections, o.durationS, round);
        runs.push(r);
        o.log(
          `round ${round} ${tool.padEnd(10)} ${t.name.padEnd(14)} ${fmt.int(r.rps).padStart(8)} req/s  p50 ${fmt.ms(r.p50)}  p99 ${fmt.ms(r.p99)} ms  ` +
            `gen ${fmt.cores(r.genCpu)}${r.genBound ? ' (generator-bound)' : ''}  ${t.name} ${fmt.cores(r.targetCpu)} cores, ${r.cpuUsPerReq.toFixed(1)} µs/req  foreign ${fmt.cores(r.foreignCpu)}` +
            (r.errors + r.timeouts + r.non2xx > 0 ? `  errors ${r.errors} timeouts ${r.timeouts} non2xx ${r.non2xx}` : ''),
        );
      }
    }
  }
  return runs;
}

export interface Summary {
  target: string;
  tool: 'autocannon' | 'wrk';
  runs: number;
  rps: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  errors: number;
  timeouts: number;
  non2xx: number;
  /** Round-to-round spread of req/s. */
  cv: number;
  genCpu: number;
  genBoundRuns: number;
  foreignCpu: number;
  noisyRuns: number;
  /** Round-to-round spread of CPU per request. */
  cpuCv: number;
  targetCpu: number;
  sideCpu: number;
  upstreamCpu: number;
  cpuUsPerReq: number;
  reqPerCpuS: number;
  /** Largest end-of-run RSS of the target's worker(s), MB. */
  rssMb: number;
}

export function summarize(runs: Run[], tool: 'autocannon' | 'wrk', target: string): Summary | null {
  const rs = runs.filter((r) => r.tool === tool && r.target === target);
  if (rs.length === 0) return null;
  const m = (k: keyof Run) => median(rs.map((r) => r[k] as number));
  const sum = (k: keyof Run) => rs.reduce((a, r) => a + (r[k] as number), 0);
  return {
    target, tool, runs: rs.length,
    rps: m('rps'), p50: m('p50'), p90: m('p90'), p99: m('p99'), max: m('max'),
    errors: sum('errors'), timeouts: sum('timeouts'), non2xx: sum('non2xx'),
    cv: cv(rs.map((r) => r.rps)),
    genCpu: m('genCpu'), genBoundRuns: rs.filter((r) => r.genBound).length, foreignCpu: m('foreignCpu'),
    noisyRuns: rs.filter((r) => r.noisy).length, cpuCv: cv(rs.map((r) => r.cpuUsPerReq)),
    targetCpu: m('targetCpu'), sideCpu: m('sideCpu'), upstreamCpu: m('upstreamCpu'),
    cpuUsPerReq: m('cpuUsPerReq'), reqPerCpuS: m('reqPerCpuS'),
    rssMb: Math.max(...rs.map((r) => r.rssMb)),
  };
}

export function runsTable(runs: Run[]): string {
  return mdTable(
    ['round', 'tool', 'target', 'req/s', 'p50 ms', 'p99 ms', 'max ms', 'err/to/non2xx', 'generator CPU', 'target CPU', 'side CPU', 'upstream CPU', 'foreign CPU', 'µs/req'],
    runs.map((r) => [
      r.round, r.tool, r.target, fmt.int(r.rps), fmt.ms(r.p50), fmt.ms(r.p99), fmt.ms(r.max), `${r.errors}/${r.timeouts}/${r.non2xx}`,
      `${fmt.cores(r.genCpu)}${r.genBound ? ' (bound)' : ''}`, fmt.cores(r.targetCpu), fmt.cores(r.sideCpu), fmt.cores(r.upstreamCpu), `${fmt.cores(r.foreignCpu)}${r.noisy ? ' (noisy)' : ''}`, r.cpuUsPerReq.toFixed(1),
    ]),
  );
}
