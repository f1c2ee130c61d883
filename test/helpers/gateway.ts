import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { request as httpRequest } from 'node:http';

/** Test harness: real gateway processes started through the CLI, on free ports. */

// One free-port helper for tests and benchmarks.
import { freePort } from '../../bench/harness.js';
export { freePort };

export const CLI = fileURLToPath(new URL('../../src/cli.js', import.meta.url));

export interface Gateway {
  port: number;
  adminPort: number;
  url: string;
  proc: ChildProcess;
  configFile: string;
  /** Everything the process wrote to stdout/stderr so far. */
  output(): string;
  /** Rewrites the config file (for SIGHUP reload tests). */
  writeConfig(doc: object): void;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export interface StartOptions {
  workers?: number;
  /** Extra env for the gateway process. */
  env?: Record<string, string>;
  /** Wait for /ready (default true). */
  waitReady?: boolean;
  /** Serve this file as it is (e.g. an OpenAPI document) instead of writing `config`; ports come from flags. */
  configFile?: string;
  /** Extra CLI arguments after `start --config FILE`. */
  args?: string[];
  adminPort?: number;
}

/**
 * Starts `gateway start` with the given config object (listen/admin ports filled in when absent).
 * Tries fresh ports when the ones freePort picked were taken meanwhile (test files run in parallel):
 * the admin listener says EADDRINUSE, a uWS worker only "cannot listen on" (uWS gives no errno).
 * Any other failure is thrown.
 */
export async function startGateway(config: Record<string, unknown>, opts: StartOptions = {}): Promise<Gateway> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startGatewayOnce(config, opts);
    } catch (e) {
      if (attempt >= 3 || opts.adminPort !== undefined || !/EADDRINUSE|cannot listen on/.test((e as Error).message)) throw e;
    }
  }
}

async function startGatewayOnce(config: Record<string, unknown>, opts: StartOptions): Promise<Gateway> {
  const port = await freePort();
  const adminPort = opts.adminPort ?? await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'gw-test-'));
  const configFile = opts.configFile ?? join(dir, 'gateway.json');
  const full = {
    listen: { host: '127.0.0.1', port },
    admin: { host: '127.0.0.1', port: adminPort },
    workers: opts.workers ?? 1,
    accessLog: { enabled: false },
    ...config,
  };
  if (opts.configFile === undefined) writeFileSync(configFile, JSON.stringify(full, null, 2));
  const portArgs = opts.configFile === undefined ? [] : ['--port', String(port), '--admin-port', String(adminPort), '--workers', String(opts.workers ?? 1)];
  const proc = spawn(process.execPath, [CLI, 'start', '--config', configFile, ...portArgs, ...(opts.args ?? [])], {
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout!.on('data', (d) => { out += d; });
  proc.stderr!.on('data', (d) => { out += d; });
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  const gw: Gateway = {
    port, adminPort, url: `http://127.0.0.1:${port}`, proc, configFile,
    output: () => out,
    writeConfig: (doc) => writeFileSync(configFile, JSON.stringify({ ...full, ...doc }, null, 2)),
    stop: async (signal = 'SIGTERM') => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      return exited;
    },
  };
  if (opts.waitReady !== false) {
    const ok = await Promise.race([
      waitFor(async () => (await get(adminPort, '/ready')).status === 200, 20_000),
      exited.then(() => false),
    ]);
    if (!ok) {
      await gw.stop('SIGKILL');
      throw new Error(`gateway did not become ready:\n${out}`);
    }
  }
  return gw;
}

export async function waitFor(fn: () => Promise<boolean> | boolean, timeoutMs: number, everyMs = 50): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await fn()) return true;
    } catch { /* not yet */ }
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export interface SimpleResponse { status: number; headers: Record<string, string | string[] | undefined>; body: string; raw: Buffer }

/** One request with node:http (no keep-alive), body as string (and raw bytes). `host` sets the Host header. */
export function get(port: number, path: string, opts: { method?: string; headers?: Record<string, string>; body?: string | Buffer; host?: string } = {}): Promise<SimpleResponse> {
  return new Promise((resolve, reject) => {
    const headers = opts.host === undefined ? opts.headers : { ...opts.headers, host: opts.host };
    const req = httpRequest({ host: '127.0.0.1', port, path, method: opts.method ?? 'GET', headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const raw = Buffer.concat(chunks);
        resolve({ status: res.statusCode!, headers: res.headers, body: raw.toString(), raw });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.setTimeout(30_000, () => req.destroy(new Error('client timeout')));
    if (opts.body !== undefined) req.end(opts.body);
    else req.end();
  });
}
