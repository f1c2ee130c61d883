/**
 * "proxy" scenario: the gateway (1 worker, http_proxy route) against nginx (1 worker, keep-alive
 * upstream) against the upstream itself, all on the same upstream process.
 *
 *   node dist/bench/proxy.js [--duration S] [--rounds N] [--connections C] [--quick]
 *                            [--pin on|off] [--upstream auto|uws|nginx] [--no-wrk] [--cpu-prof DIR]
 *
 * Each target gets a 2 s warm-up, then rounds of A B C with autocannon followed by A B C with wrk
 * (lighter generator, cross-check). Per run: req/s, latency percentiles, errors, the generator's CPU
 * (a run at >= 90% of a core is flagged generator-bound), and the CPU of the target's worker, so
 * the comparison that survives 2 shared cores is CPU per request. Results go to stdout and to
 * bench/results/proxy-<timestamp>.{md,json}.
 */
import { rmSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import {
  NGINX_MISSING, type Run, type Summary, type Target, fmt, findCpuProfile, getAffinity, hasTaskset, httpGet,
  installCleanupHandlers, machineInfo, mdTable, measureRun, median, nginxVersion, runInterleaved, runsTable,
  setAffinity, startGateway, startHelloUws, startNginxProxy, startNginxUpstream, stopAll, stopProc, summarize,
  summaryTable, topSelfTime, which, writeResults, type GatewayHandle, type Proc,
} from './harness.js';

/** ~60-byte JSON, the same from either upstream. */
export const UPSTREAM_BODY = '{"id":"bench","ok":true,"items":[1,2,3],"source":"upstream"}';

/** Generator (autocannon in this process, wrk) on one core, the server under test alone on the other. */
const CORE_GEN = 0;
const CORE_TARGET = 1;

export interface ProxyBenchOptions {
  durationS?: number;
  rounds?: number;
  connections?: number;
  warmupS?: number;
  /**
   * Pin the generator (and the upstream when it sits behind a proxy) to core 0 and the server under
   * test to core 1. Default: on. Measured here (2 shared vCPUs, 3 rounds x 10 s, 50 connections):
   * PINNING_NOTE.
   */
  pin?: boolean;
  /** auto: measure CPU per request of both and keep the cheaper one. */
  upstream?: 'auto' | 'uws' | 'nginx';
  wrk?: boolean;
  /** Profile the gateway (NODE_OPTIONS=--cpu-prof) into this dir and summarize the worker's top self time. */
  cpuProfDir?: string | null;
  /** Write bench/results files (default true). */
  write?: boolean;
  log?: (line: string) => void;
}

interface UpstreamHandle {
  kind: 'uws' | 'nginx';
  proc: Proc;
  port: number;
  /** Processes that serve requests (the uWS process; the nginx worker). */
  pids: () => number[];
}

export interface UpstreamCalibration {
  kind: 'uws' | 'nginx';
  tool: 'autocannon' | 'wrk';
  rps: number;
  cpuUsPerReq: number;
}

export interface ProxyBenchResult {
  machine: Record<string, string | number>;
  options: Required<Omit<ProxyBenchOptions, 'log' | 'cpuProfDir' | 'write'>> & { cpuProfDir: string | null };
  upstream: { chosen: 'uws' | 'nginx'; calibration: UpstreamCalibration[] };
  skipped: Record<string, string>;
  runs: Run[];
  summaries: Summary[];
  ratios: Record<string, { autocannon: number; wrk: number }>;
  cpuProfileTop: { label: string; ms: number; share: number }[] | null;
  markdown: string;
  files: { md: string; json: string } | null;
}

async function startUpstream(kind: 'uws' | 'nginx', core: number | null): Promise<UpstreamHandle> {
  if (kind === 'uws') {
    const h = await startHelloUws(UPSTREAM_BODY, core);
    return { kind, proc: h.proc, port: h.port, pids: h.pids };
  }
  const h = await startNginxUpstream(UPSTREAM_BODY, core);
  return { kind, proc: h.proc, port: h.port, pids: h.pids };
}

function pinTree(u: UpstreamHandle, core: number | string): void {
  for (const pid of [u.proc.pid, ...u.pids()]) setAffinity(pid, core);
}

/** Short load on each candidate alone on the target core; the lower CPU per request wins. */
async function calibrate(kinds: ('uws' | 'nginx')[], pin: boolean, seconds: number, connections: number, useWrk: boolean, log: (s: string) => void) {
  const ups: UpstreamHandle[] = [];
  for (const k of kinds) ups.push(await startUpstream(k, pin ? CORE_TARGET : null));
  const tool = useWrk ? 'wrk' : 'autocannon';
  const cal: UpstreamCalibration[] = [];
  // Round 0 is a warm-up (JIT of the uWS handler); two alternating measured rounds after it.
  for (let round = 0; round <= 2; round++) {
    for (const u of ups) {
      const t: Target = { name: `upstream-${u.kind}`, url: `http://127.0.0.1:${u.port}/x`, pids: u.pids };
      const r = await measureRun(t, tool, connections, round === 0 ? 1 : seconds, round);
      if (round > 0) cal.push({ kind: u.kind, tool, rps: r.rps, cpuUsPerReq: r.cpuUsPerReq });
      if (round > 0) log(`upstream calibration ${u.kind}: ${fmt.int(r.rps)} req/s, ${r.cpuUsPerReq.toFixed(2)} µs CPU/req (${tool})`);
    }
  }
  const cost = (k: string) => median(cal.filter((c) => c.kind === k).map((c) => c.cpuUsPerReq));
  const best = [...ups].sort((a, b) => cost(a.kind) - cost(b.kind))[0]!;
  for (const u of ups) if (u !== best) await stopProc(u.proc);
  return { best, cal };
}

function ratio(a: Summary | undefined, b: Summary | undefined, k: keyof Summary): number {
  return a && b ? (a[k] as number) / (b[k] as number) : NaN;
}

export async function runProxyBench(opts: ProxyBenchOptions = {}): Promise<ProxyBenchResult> {
  const log = opts.log ?? (() => {});
  const o = {
    durationS: opts.durationS ?? 10,
    rounds: opts.rounds ?? 3,
    connections: opts.connections ?? 50,
    warmupS: opts.warmupS ?? 2,
    pin: (opts.pin ?? true) && hasTaskset(),
    upstream: opts.upstream ?? 'auto',
    wrk: (opts.wrk ?? true) && which('wrk') !== null,
    cpuProfDir: opts.cpuProfDir ?? null,
  };
  if (opts.wrk !== false && !o.wrk) log('wrk not found (apt-get install wrk): autocannon only.');
  const machine = machineInfo();
  log(`machine: ${JSON.stringify(machine)}`);
  const haveNginx = nginxVersion() !== null;
  const skipped: Record<string, string> = {};
  if (!haveNginx) {
    log(NGINX_MISSING);
    skipped.nginx = NGINX_MISSING;
  }
  const selfAffinity = getAffinity(process.pid);
  let gw: GatewayHandle | null = null;
  try {
    if (o.pin) setAffinity(process.pid, CORE_GEN); // children inherit core 0 unless started with taskset

    // 1. Upstream: the cheaper of uWS and nginx `return 200`, measured unless forced.
    const kinds: ('uws' | 'nginx')[] = o.upstream === 'auto' ? (haveNginx ? ['uws', 'nginx'] : ['uws']) : [o.upstream];
    if (kinds.includes('nginx') && !haveNginx) throw new Error(NGINX_MISSING);
    const { best: up, cal } = kinds.length > 1
      ? await calibrate(kinds, o.pin, Math.min(3, o.durationS), o.connections, o.wrk, log)
      : { best: await startUpstream(kinds[0]!, o.pin ? CORE_TARGET : null), cal: [] as UpstreamCalibration[] };
    log(`upstream: ${up.kind} on :${up.port}`);
    // Behind a proxy the upstream shares the generator's core; moved to the target core when it is the target.
    if (o.pin) pinTree(up, CORE_GEN);

    const targets: Target[] = [{
      name: 'direct',
      url: `http://127.0.0.1:${up.port}/x`,
      pids: up.pids,
      before: o.pin ? () => pinTree(up, CORE_TARGET) : undefined,
      after: o.pin ? () => pinTree(up, CORE_GEN) : undefined,
    }];

    // 2. nginx reverse proxy, 1 worker, keep-alive upstream.
    if (haveNginx) {
      const nx = await startNginxProxy(up.port, o.pin ? CORE_TARGET : null);
      targets.push({ name: 'nginx', url: `http://127.0.0.1:${nx.port}/proxy/x`, pids: nx.pids, sidePids: () => [nx.proc.pid], upstreamPids: up.pids });
    }

    // 3. The gateway through its CLI, 1 worker.
    try {
      const env = o.cpuProfDir ? { ...process.env, NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --cpu-prof --cpu-prof-dir=${o.cpuProfDir}`.trim() } : undefined;
      if (o.cpuProfDir) rmSync(o.cpuProfDir, { recursive: true, force: true });
      gw = await startGateway([{
        name: 'bench',
        upstreams: { u: { targets: [`http://127.0.0.1:${up.port}`] } },
        routes: [
          { route: 'GET /proxy/{proxy+}', integration: { type: 'http_proxy', upstream: 'u', path: '/{proxy}' } },
          { route: 'GET /mock', integration: { type: 'mock', status: 200, headers: { 'content-type': 'application/json' }, body: '{"ok":true}' } },
        ],
      }], { core: o.pin ? CORE_TARGET : null, env });
      const g = gw;
      targets.push({ name: 'gateway', url: `http://127.0.0.1:${g.port}/proxy/x`, pids: () => g.workers, sidePids: () => [g.proc.pid], upstreamPids: up.pids });
    } catch (e) {
      skipped.gateway = `did not start: ${(e as Error).message.split('\n').slice(0, 6).join(' / ')}`;
      log(`gateway ${skipped.gateway}`);
    }

    // Same bytes from every target, else the comparison is off.
    for (const t of targets) {
      const u = new URL(t.url);
      const r = await httpGet(Number(u.port), u.pathname);
      if (r.status !== 200 || r.body !== UPSTREAM_BODY) throw new Error(`${t.name}: GET ${u.pathname} -> ${r.status} ${r.body.slice(0, 200)}`);
    }

    const runs = await runInterleaved(targets, { ...o, log });

    const summaries: Summary[] = [];
    for (const tool of ['autocannon', 'wrk'] as const) {
      for (const t of targets) {
        const s = summarize(runs, tool, t.name);
        if (s) summaries.push(s);
      }
    }
    const get = (tool: string, name: string) => summaries.find((s) => s.tool === tool && s.target === name);
    const both = (a: string, b: string, k: keyof Summary) => ({
      autocannon: ratio(get('autocannon', a), get('autocannon', b), k),
      wrk: ratio(get('wrk', a), get('wrk', b), k),
    });
    const ratios = {
      'gateway / nginx req/s': both('gateway', 'nginx', 'rps'),
      'gateway p99 / nginx p99': both('gateway', 'nginx', 'p99'),
      'gateway / nginx CPU µs per request': both('gateway', 'nginx', 'cpuUsPerReq'),
      'gateway / direct req/s': both('gateway', 'direct', 'rps'),
      'nginx / direct req/s': both('nginx', 'direct', 'rps'),
      'gateway p99 / direct p99': both('gateway', 'direct', 'p99'),
      'nginx p99 / direct p99': both('nginx', 'direct', 'p99'),
    };

    // Stop the gateway first so its worker writes the profile (written at exit).
    let cpuProfileTop: ProxyBenchResult['cpuProfileTop'] = null;
    if (gw !== null) {
      const workers = gw.workers;
      await stopProc(gw.proc);
      gw = null;
      if (o.cpuProfDir) {
        const f = findCpuProfile(o.cpuProfDir, workers[0]!);
        if (f) cpuProfileTop = topSelfTime(f, 25);
        else log(`no worker profile found in ${o.cpuProfDir}`);
      }
    }

    const md = report({ machine, o, up: up.kind, cal, skipped, runs, summaries, ratios, cpuProfileTop });
    const result: ProxyBenchResult = {
      machine, options: o, upstream: { chosen: up.kind, calibration: cal }, skipped, runs, summaries, ratios, cpuProfileTop, markdown: md, files: null,
    };
    if (opts.write !== false) {
      const { markdown: _m, files: _f, ...raw } = result;
      result.files = writeResults('proxy', md, raw);
    }
    return result;
  } finally {
    if (gw !== null) await stopProc(gw.proc);
    await stopAll();
    if (o.pin) setAffinity(process.pid, selfAffinity);
  }
}

function report(x: {
  machine: Record<string, string | number>;
  o: ProxyBenchResult['options'];
  up: string;
  cal: UpstreamCalibration[];
  skipped: Record<string, string>;
  runs: Run[];
  summaries: Summary[];
  ratios: ProxyBenchResult['ratios'];
  cpuProfileTop: ProxyBenchResult['cpuProfileTop'];
}): string {
  const { o } = x;
  const lines: string[] = [];
  lines.push(`# proxy benchmark — ${new Date().toISOString()}`, '');
  lines.push(mdTable(['machine', ''], Object.entries(x.machine).map(([k, v]) => [k, String(v)])), '');
  lines.push(
    `Setup: ${o.rounds} round(s) x ${o.durationS} s per target and tool, ${o.connections} connections, ${o.warmupS} s warm-up; ` +
      `pinning ${o.pin ? `on (generator core ${CORE_GEN}, server under test core ${CORE_TARGET}, upstream core ${CORE_GEN} when behind a proxy)` : 'off'}; ` +
      `upstream ${x.up} (${x.up === 'uws' ? 'raw uWS hello' : 'nginx return 200'}, ${UPSTREAM_BODY.length}-byte JSON). ` +
      `Targets: direct = upstream GET /x; nginx = 1 worker, keepalive 64 upstream, GET /proxy/x; gateway = 1 worker, http_proxy, GET /proxy/x.`,
    '',
  );
  for (const [k, v] of Object.entries(x.skipped)) lines.push(`**${k} skipped:** ${v}`, '');
  if (x.cal.length > 0) {
    lines.push('## Upstream choice (CPU per request, lower is cheaper)', '');
    const kinds = [...new Set(x.cal.map((c) => c.kind))];
    lines.push(mdTable(['upstream', 'req/s (median)', 'CPU µs/req (median)', 'tool'], kinds.map((k) => {
      const cs = x.cal.filter((c) => c.kind === k);
      return [k, fmt.int(median(cs.map((c) => c.rps))), median(cs.map((c) => c.cpuUsPerReq)).toFixed(2), cs[0]!.tool];
    })), '');
  }
  for (const tool of ['autocannon', 'wrk'] as const) {
    const ss = x.summaries.filter((s) => s.tool === tool);
    if (ss.length === 0) continue;
    lines.push(`## ${tool} — medians of ${o.rounds} round(s)`, '');
    if (tool === 'autocannon') lines.push('autocannon records latency in whole milliseconds; see wrk for finer percentiles.', '');
    lines.push(summaryTable(ss), '');
  }
  lines.push('## Ratios (medians)', '');
  lines.push(mdTable(['', 'autocannon', 'wrk'], Object.entries(x.ratios).map(([k, v]) => [k, fmt.ratio(v.autocannon), fmt.ratio(v.wrk)])), '');
  lines.push(
    '"target CPU" is the CPU of the process doing the work (gateway worker, nginx worker, or the upstream for direct) in cores; ' +
      'µs/req and req per CPU-second come from it. On 2 shared cores the generator, proxy and upstream compete, so CPU per request ' +
      'is the fairest comparison; req/s of a generator-bound run is a floor, not the target\'s limit.',
    '',
  );
  if (x.cpuProfileTop) {
    lines.push('## Gateway worker CPU profile — top self time (busy time only)', '');
    lines.push(mdTable(['function', 'self ms', 'share'], x.cpuProfileTop.map((f) => [`\`${f.label}\``, f.ms.toFixed(0), fmt.pct(f.share)])), '');
  }
  lines.push('## All runs', '', runsTable(x.runs), '');
  return lines.join('\n');
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string' },
      rounds: { type: 'string' },
      connections: { type: 'string' },
      warmup: { type: 'string' },
      quick: { type: 'boolean', default: false },
      pin: { type: 'string' },
      upstream: { type: 'string', default: 'auto' },
      'no-wrk': { type: 'boolean', default: false },
      'cpu-prof': { type: 'string' },
    },
  });
  const num = (v: string | undefined, d: number) => (v === undefined ? d : Number(v));
  installCleanupHandlers();
  const quick = values.quick === true;
  try {
    const r = await runProxyBench({
      durationS: num(values.duration, quick ? 3 : 10),
      rounds: num(values.rounds, quick ? 1 : 3),
      connections: num(values.connections, 50),
      warmupS: num(values.warmup, quick ? 1 : 2),
      pin: values.pin === undefined ? undefined : values.pin === 'on',
      upstream: values.upstream as 'auto' | 'uws' | 'nginx',
      wrk: !values['no-wrk'],
      cpuProfDir: values['cpu-prof'] ?? null,
      log: (s) => process.stderr.write(`${s}\n`),
    });
    process.stdout.write(`${r.markdown}\n`);
    if (r.files) process.stderr.write(`written: ${r.files.md}\n         ${r.files.json}\n`);
  } catch (e) {
    process.stderr.write(`proxy bench failed: ${(e as Error).stack ?? e}\n`);
    await stopAll();
    process.exitCode = 1;
  }
}
