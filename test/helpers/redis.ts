import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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

/** A private redis-server on its own free port, nothing on disk. Throws REDIS_MISSING when the binary is absent. */
export async function startRedis(): Promise<PrivateRedis> {
  if (spawnSync('sh', ['-c', 'command -v redis-server']).status !== 0) throw new Error(REDIS_MISSING);
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'redis-test-'));
  let proc: ChildProcess | null = null;
  const start = () => new Promise<void>((resolve, reject) => {
    const p = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    proc = p;
    let out = '';
    const timer = setTimeout(() => reject(new Error(`redis-server did not start on :${port}:\n${out}`)), 10_000);
    p.stdout!.on('data', (d) => {
      out += d;
      if (out.includes('Ready to accept connections')) { clearTimeout(timer); resolve(); }
    });
    p.stderr!.on('data', (d) => { out += d; });
    p.once('exit', (code) => { clearTimeout(timer); if (!out.includes('Ready to accept')) reject(new Error(`redis-server exited (${code}):\n${out}`)); });
  });
  const stop = async (hard = false) => {
    const p = proc;
    proc = null;
    if (p === null || p.exitCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill(hard ? 'SIGKILL' : 'SIGTERM');
    await exited;
  };
  await start();
  return { port, url: `redis://127.0.0.1:${port}`, stop, start, close: async () => { await stop(true); rmSync(dir, { recursive: true, force: true }); } };
}
