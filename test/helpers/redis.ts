import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RedisConnectOptions } from '../../src/store/connect.js';
import { freePort } from './gateway.js';

export const REDIS_MISSING = 'redis-server not found: the tests start a private one; install it with `apt-get install redis-server` (Debian/Ubuntu) or `brew install redis`';

export interface PrivateRedis {
  port: number;
  url: string;
  /** Stops the server (SIGKILL when `hard`, like a crash); start() brings it back on the same port. */
  stop(hard?: boolean): Promise<void>;
  start(): Promise<void>;
  close(): Promise<void>;
}

/** A private topology: what to pass to connectRedis, and close() that kills every process and removes the temp files. */
export interface RedisTopology {
  connect: RedisConnectOptions;
  close(): Promise<void>;
}

export interface PrivateSentinel extends RedisTopology {
  /** The master group name the sentinel monitors (also connect.name). */
  name: string;
  /** The master redis-server: stop() it to take Redis down, start() brings it back on the same port. */
  master: PrivateRedis;
  sentinel: PrivateRedis;
}

export interface PrivateCluster extends RedisTopology {
  /** The three masters (slots split by redis-cli --cluster create); each can be stopped and restarted with its node id and slots. */
  nodes: PrivateRedis[];
}

export interface PrivateTlsRedis extends RedisTopology {
  /** The TLS-only server (port is its tls-port, url is rediss://). */
  server: PrivateRedis;
  /** PEM files of the throwaway CA (what connect.tls.ca points at). */
  caFile: string;
}

// Every live child and temp dir: SIGKILLed / removed if the test process exits without closing them (a thrown error).
const live = new Set<ChildProcess>();
const dirs = new Set<string>();
let exitHookSet = false;
function onExit(): void {
  if (exitHookSet) return;
  exitHookSet = true;
  process.once('exit', () => {
    for (const c of live) c.kill('SIGKILL');
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });
}
function track(p: ChildProcess): void {
  onExit();
  live.add(p);
  p.once('exit', () => live.delete(p));
}
function tempDir(prefix: string): { dir: string; remove(): void } {
  onExit();
  const dir = mkdtempSync(join(tmpdir(), prefix));
  dirs.add(dir);
  return { dir, remove: () => { rmSync(dir, { recursive: true, force: true }); dirs.delete(dir); } };
}

function requireRedis(): void {
  if (spawnSync('sh', ['-c', 'command -v redis-server']).status !== 0) throw new Error(REDIS_MISSING);
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `check` every 20 ms until it returns true; throws `what` (plus the last error) after `timeoutMs`. */
async function waitFor(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<void> {
  const end = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    try {
      if (await check()) return;
    } catch (e) {
      last = (e as Error).message;
    }
    if (Date.now() > end) throw new Error(`${what} (not after ${timeoutMs} ms)${last ? `: ${last}` : ''}`);
    await sleep(20);
  }
}

/** redis-cli against 127.0.0.1:port; resolves with stdout, rejects on a non-zero exit or an (error) reply. */
function cli(port: number, args: string[], timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], { timeout: timeoutMs }, (err, stdout, stderr) => {
      if (err) reject(new Error(`redis-cli ${args.join(' ')}: ${err.message}\n${stdout}${stderr}`));
      else if (/^(\(error\)|ERR|WRONGTYPE|NOAUTH|Could not connect)/m.test(stdout)) reject(new Error(`redis-cli ${args.join(' ')}: ${stdout.trim()}`));
      else resolve(stdout);
    });
  });
}

interface ServerSpec {
  port: number;
  /** Arguments after `redis-server` (a config file, --port, ...). */
  args: string[];
  /** The log line that says it is serving. */
  readyText: string;
  scheme?: 'redis' | 'rediss';
}

/** One redis-server process that can be stopped and started again on the same port with the same arguments. */
async function server(spec: ServerSpec): Promise<PrivateRedis> {
  let proc: ChildProcess | null = null;
  const start = () => new Promise<void>((resolve, reject) => {
    const p = spawn('redis-server', spec.args, { stdio: ['ignore', 'pipe', 'pipe'] });
    proc = p;
    track(p);
    let out = '';
    let ready = false;
    const timer = setTimeout(() => { p.kill('SIGKILL'); reject(new Error(`redis-server did not start on :${spec.port}:\n${out}`)); }, 10_000);
    p.stdout!.on('data', (d) => {
      out += d;
      if (!ready && out.includes(spec.readyText)) { ready = true; clearTimeout(timer); resolve(); }
    });
    p.stderr!.on('data', (d) => { out += d; });
    p.once('error', (e) => { clearTimeout(timer); reject(e); });
    // 'close', not 'exit': by then all of its output (a config error on stderr) has been read.
    p.once('close', (code) => { clearTimeout(timer); if (!ready) reject(new Error(`redis-server exited (${code}) on :${spec.port}:\n${out}`)); });
  });
  const stop = async (hard = false) => {
    const p = proc;
    proc = null;
    if (p === null || p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill(hard ? 'SIGKILL' : 'SIGTERM');
    await exited;
  };
  await start();
  return { port: spec.port, url: `${spec.scheme ?? 'redis'}://127.0.0.1:${spec.port}`, stop, start, close: () => stop(true) };
}

// Nothing on disk, loopback only.
const EPHEMERAL = ['--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'];

/** A private redis-server on its own free port, nothing on disk. Throws REDIS_MISSING when the binary is absent. */
export async function startRedis(): Promise<PrivateRedis> {
  requireRedis();
  const port = await freePort();
  const { dir, remove } = tempDir('redis-test-');
  try {
    const s = await server({ port, args: ['--port', String(port), ...EPHEMERAL, '--dir', dir], readyText: 'Ready to accept connections' });
    return { ...s, close: async () => { await s.close(); remove(); } };
  } catch (e) {
    remove();
    throw e;
  }
}

/** Runs `fn` with a temp dir and a list of servers to kill; on failure kills what started and removes the dir. */
async function withCleanup<T>(prefix: string, fn: (dir: string, started: PrivateRedis[]) => Promise<T>): Promise<T & { close(): Promise<void> }> {
  const { dir, remove } = tempDir(prefix);
  const started: PrivateRedis[] = [];
  const close = async () => {
    await Promise.all(started.map((s) => s.close()));
    remove();
  };
  try {
    return { ...(await fn(dir, started)), close };
  } catch (e) {
    await close();
    throw e;
  }
}

/**
 * A private master plus one sentinel (`redis-server <conf> --sentinel`, quorum 1) monitoring it as
 * `name`. Resolves once the sentinel has seen the master (flags exactly "master"). With no replica
 * a stopped master is never failed over: start() it again and clients reconnect through the sentinel.
 */
export async function startRedisSentinel(name = 'gwmaster'): Promise<PrivateSentinel> {
  requireRedis();
  return withCleanup('redis-sentinel-test-', async (dir, started) => {
    const [mport, sport] = [await freePort(), await freePort()];
    const master = await server({ port: mport, args: ['--port', String(mport), ...EPHEMERAL, '--dir', dir], readyText: 'Ready to accept connections' });
    started.push(master);
    const conf = join(dir, 'sentinel.conf'); // sentinel rewrites its config: it must be a writable file
    writeFileSync(conf, [
      `port ${sport}`,
      'bind 127.0.0.1',
      `dir ${dir}`,
      `sentinel monitor ${name} 127.0.0.1 ${mport} 1`,
      `sentinel down-after-milliseconds ${name} 1000`,
      `sentinel failover-timeout ${name} 10000`,
      '',
    ].join('\n'));
    const sentinel = await server({ port: sport, args: [conf, '--sentinel'], readyText: '+monitor master' });
    started.push(sentinel);
    await waitFor(`sentinel :${sport} did not see master ${name} at :${mport}`, 10_000, async () => {
      // redis-cli without a tty prints one field per line: name, value, name, value...
      const lines = (await cli(sport, ['sentinel', 'master', name])).split('\n');
      const i = lines.indexOf('flags');
      return i >= 0 && lines[i + 1] === 'master';
    });
    return { name, master, sentinel, connect: { sentinels: [{ host: '127.0.0.1', port: sport }], name } };
  });
}

/**
 * Three cluster-enabled masters (explicit --cluster-port bus ports, so no port+10000 clash), joined
 * by `redis-cli --cluster create --cluster-replicas 0`; resolves when every node says cluster_state:ok
 * and knows all three nodes. nodes.conf files live in the temp dir, so a restarted node keeps its slots.
 */
export async function startRedisCluster(): Promise<PrivateCluster> {
  requireRedis();
  return withCleanup('redis-cluster-test-', async (dir, started) => {
    const ports: number[] = [];
    const buses: number[] = [];
    while (ports.length < 3) {
      const [p, b] = [await freePort(), await freePort()];
      if (ports.includes(p) || buses.includes(p) || ports.includes(b) || buses.includes(b) || p === b) continue;
      ports.push(p);
      buses.push(b);
    }
    const nodes = await Promise.all(ports.map(async (port, i) => {
      const s = await server({
        port,
        args: ['--port', String(port), '--cluster-port', String(buses[i]), ...EPHEMERAL, '--dir', dir,
          '--cluster-enabled', 'yes', '--cluster-config-file', join(dir, `nodes-${port}.conf`), '--cluster-node-timeout', '1000'],
        readyText: 'Ready to accept connections',
      });
      started.push(s);
      return s;
    }));
    await cli(ports[0]!, ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes'], 20_000);
    await waitFor('cluster did not reach cluster_state:ok on every node', 10_000, async () => {
      for (const p of ports) {
        const info = await cli(p, ['cluster', 'info']);
        if (!info.includes('cluster_state:ok') || !info.includes('cluster_known_nodes:3') || !info.includes('cluster_slots_ok:16384')) return false;
      }
      return true;
    });
    return { nodes, connect: { cluster: ports.map((port) => ({ host: '127.0.0.1', port })) } };
  });
}

/** Thrown by startRedisTls when this redis-server was built without TLS (BUILD_TLS=no). */
export const REDIS_NO_TLS = 'this redis-server was built without TLS support (it rejects --tls-port); the TLS test needs a build with BUILD_TLS=yes (Debian/Ubuntu redis-server 6+ has it)';

function openssl(dir: string, args: string[]): void {
  const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
  if (r.error) throw new Error(`openssl not runnable (needed for the TLS test certificates): ${r.error.message}`);
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')} failed:\n${r.stderr}`);
}

/**
 * A TLS-only redis-server (--port 0 --tls-port P, no client certificates) with a throwaway CA and a
 * server certificate for 127.0.0.1/localhost made by the openssl CLI in a temp dir; `password` sets
 * requirepass. Throws REDIS_NO_TLS when redis-server has no TLS support.
 */
export async function startRedisTls(opts: { password?: string } = {}): Promise<PrivateTlsRedis> {
  requireRedis();
  return withCleanup('redis-tls-test-', async (dir, started) => {
    const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
    openssl(dir, ['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=gateway test CA',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
    openssl(dir, ['req', '-new', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost']);
    writeFileSync(join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
    openssl(dir, ['x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.crt', '-days', '2', '-extfile', 'server.ext']);
    const port = await freePort();
    const args = ['--port', '0', '--tls-port', String(port), ...EPHEMERAL, '--dir', dir,
      '--tls-cert-file', join(dir, 'server.crt'), '--tls-key-file', join(dir, 'server.key'), '--tls-ca-cert-file', join(dir, 'ca.crt'),
      '--tls-auth-clients', 'no', ...(opts.password !== undefined ? ['--requirepass', opts.password] : [])];
    let s: PrivateRedis;
    try {
      s = await server({ port, args, readyText: 'Ready to accept connections', scheme: 'rediss' });
    } catch (e) {
      const msg = (e as Error).message;
      // A build without TLS stops at the config: "Bad directive or wrong number of arguments" on tls-port.
      if (/tls-port/i.test(msg) && /Bad directive|FATAL CONFIG/i.test(msg)) throw new Error(`${REDIS_NO_TLS}\n${msg}`);
      throw e;
    }
    started.push(s);
    const caFile = join(dir, 'ca.crt');
    return {
      server: s,
      caFile,
      connect: { url: s.url, tls: { ca: caFile }, ...(opts.password !== undefined ? { password: opts.password } : {}) },
    };
  });
}
