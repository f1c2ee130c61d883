/**
 * "proxy" scenario: the gateway (1 worker, http_proxy route) against nginx (1 worker, keep-alive
 * upstream) against the upstream itself, all on the same upstream process.
 *
 *   node dist/bench/proxy.js [--duration S] [--rounds N] [--connections C] [--quick]
 *                            [--pin on|off|compare] [--upstream auto|uws|nginx] [--no-wrk]
 *                            [--retry-noisy N] [--cpu-prof DIR]
 *
 * Each target gets a 2 s warm-up, then rounds of A B C with autocannon followed by A B C with wrk
 * (lighter generator, cross-check). Per run: req/s, latency percentiles, errors, the generator's CPU
 * (a run at >= 90% of a core is flagged generator-bound), and the CPU of the target's worker, so
 * the comparison that survives 2 shared cores is CPU per request. Results go to stdout and to
 * bench/results/proxy-<timestamp>.{md,json}.
 *
 * `--pin compare` measures every target both pinned and unpinned, alternating within each round
 * (same background load for both), to re-check DEFAULT_PIN on a given machine.
 */
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import {
  CORE_GEN, CORE_TARGET, DEFAULT_PIN, NGINX_MISSING, type Run, type Summary, type Target, fmt, findCpuProfile, getAffinity, hasTaskset, httpGet,
  installCleanupHandlers, machineInfo, childPids, cliChoice, cliNumber, mdTable, measureRun, median, nginxVersion, runInterleaved, runsTable,
  setAffinity, startGateway, startHelloUws, startNginxProxy, startNginxUpstream, stopAll, stopProc, summarize,
  summaryTable, topSelfTime, which, writeResults, type GatewayHandle, type Proc,
} from './harness.js';

/** ~60-byte JSON, the same from either upstream. */
export const UPSTREAM_BODY = '{"id":"bench","ok":true,"items":[1,2,3],"source":"upstream"}';


export interface ProxyBenchOptions {
  durationS?: number;
  rounds?: number;
  connections?: number;
  warmupS?: number;
  /**
   * Pin the generator (and the upstream when it sits behind a proxy) to core 0 and the server under
   * test to core 1. Default: DEFAULT_PIN (harness.ts, with what was measured). 'compare': both.
   */
  pin?: boolean | 'compare';
  /**
   * Default uws: measured cheaper per request than nginx `return 200` (wrk, each alone on a core:
   * 8.0 vs 8.4 µs CPU/req, and 64k vs 43k req/s), and a fixed choice keeps runs comparable.
   * auto: measure both now and keep the cheaper one.
   */
  upstream?: 'auto' | 'uws' | 'nginx';
  wrk?: boolean;
  /** Re-run a run disturbed by other tenants (foreign CPU >= NOISY) up to N times. Default 0. */
  retryNoisy?: number;
  /** Profile the gateway (node --cpu-prof, inherited by the worker) into this dir and summarize the worker's top self time. */
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

export interface PinComparison {
  target: string;
  tool: 'autocannon' | 'wrk';
  pin: Summary;
  nopin: Summary;
}

export interface ProxyBenchResult {
  machine: Record<string, string | number>;
  options: Required<Omit<ProxyBenchOptions, 'log' | 'cpuProfDir' | 'write'>> & { cpuProfDir: string | null };
  upstream: { chosen: 'uws' | 'nginx'; calibration: UpstreamCalibration[] };
  skipped: Record<string, string>;
  runs: Run[];
  summaries: Summary[];
  ratios: Record<string, { autocannon: number; wrk: number }>;
  /** --pin compare only: pinned vs unpinned per target and tool. */
  pinning: PinComparison[] | null;
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

/** A process and its children (nginx master + worker, gateway master + workers). */
function tree(p: Proc): number[] {
  return [p.pid, ...childPids(p.pid)];
}

function pinAll(pids: number[], core: number | string): void {
  for (const pid of pids) setAffinity(pid, core);
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
    pin: hasTaskset() ? (opts.pin ?? DEFAULT_PIN) : false,
    upstream: opts.upstream ?? 'uws',
    wrk: (opts.wrk ?? true) && which('wrk') !== null,
    retryNoisy: opts.retryNoisy ?? 0,
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
  const anyPin = o.pin !== false;
  let gw: GatewayHandle | null = null;
  try {
    // 1. Upstream: the cheaper of uWS and nginx `return 200`, measured unless forced.
    if (anyPin) setAffinity(process.pid, CORE_GEN);
    const kinds: ('uws' | 'nginx')[] = o.upstream === 'auto' ? (haveNginx ? ['uws', 'nginx'] : ['uws']) : [o.upstream];
    if (kinds.includes('nginx') && !haveNginx) throw new Error(NGINX_MISSING);
    const { best: up, cal } = kinds.length > 1
      ? await calibrate(kinds, anyPin, Math.min(3, o.durationS), o.connections, o.wrk, log)
      : { best: await startUpstream(kinds[0]!, null), cal: [] as UpstreamCalibration[] };
    log(`upstream: ${up.kind} on :${up.port}`);
    const upTree = () => tree(up.proc);

    // 2. nginx reverse proxy, 1 worker, keep-alive upstream.
    const proxies: { name: string; url: string; pids: () => number[]; side: () => number[]; all: () => number[] }[] = [];
    if (haveNginx) {
      const nx = await startNginxProxy(up.port, null);
      proxies.push({ name: 'nginx', url: `http://127.0.0.1:${nx.port}/proxy/x`, pids: nx.pids, side: () => [nx.proc.pid], all: () => tree(nx.proc) });
    }

    // 3. The gateway through its CLI, 1 worker.
    try {
      const nodeArgs = o.cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${o.cpuProfDir}`] : [];
      gw = await startGateway([{
        name: 'bench',
        upstreams: { u: { targets: [`http://127.0.0.1:${up.port}`] } },
        routes: [
          { route: 'GET /proxy/{proxy+}', integration: { type: 'http_proxy', upstream: 'u', path: '/{proxy}' } },
          { route: 'GET /mock', integration: { type: 'mock', status: 200, headers: { 'content-type': 'application/json' }, body: '{"ok":true}' } },
        ],
      }], { core: null, nodeArgs });
      const g = gw;
      // Re-read per run: a restarted worker has a new pid.
      const workers = () => { const c = childPids(g.proc.pid); return c.length > 0 ? c : g.workers; };
      proxies.push({ name: 'gateway', url: `http://127.0.0.1:${g.port}/proxy/x`, pids: workers, side: () => [g.proc.pid], all: () => [g.proc.pid, ...workers()] });
    } catch (e) {
      skipped.gateway = `did not start: ${(e as Error).message.split('\n').slice(0, 6).join(' / ')}`;
      log(`gateway ${skipped.gateway}`);
    }

    // Affinity is set before every run (taskset -p on the live processes), so pinned and unpinned
    // runs can alternate in one session: pinned = generator and upstream on CORE_GEN, the server
    // under test alone on CORE_TARGET (for direct that is the upstream itself).
    const layout = (pinned: boolean, direct: boolean) => () => {
      setAffinity(process.pid, pinned ? CORE_GEN : selfAffinity);
      pinAll(upTree(), pinned ? (direct ? CORE_TARGET : CORE_GEN) : selfAffinity);
      for (const p of proxies) pinAll(p.all(), pinned ? CORE_TARGET : selfAffinity);
    };
    const variants: { pinned: boolean; tag: string }[] = o.pin === 'compare'
      ? [{ pinned: true, tag: 'pin' }, { pinned: false, tag: 'nopin' }]
      : [{ pinned: o.pin, tag: '' }];
    const targets: Target[] = [];
    for (const v of variants) {
      const before = anyPin ? layout(v.pinned, false) : undefined;
      targets.push({ name: 'direct', variant: v.tag, url: `http://127.0.0.1:${up.port}/x`, pids: up.pids, before: anyPin ? layout(v.pinned, true) : undefined });
      for (const p of proxies) targets.push({ name: p.name, variant: v.tag, url: p.url, pids: p.pids, sidePids: p.side, upstreamPids: up.pids, before });
    }

    // Same bytes from every target, else the comparison is off.
    for (const t of targets.filter((x) => x.variant === variants[0]!.tag)) {
      const u = new URL(t.url);
      const r = await httpGet(Number(u.port), u.pathname);
      if (r.status !== 200 || r.body !== UPSTREAM_BODY) throw new Error(`${t.name}: GET ${u.pathname} -> ${r.status} ${r.body.slice(0, 200)}`);
    }

    const runs = await runInterleaved(targets, { ...o, log });

    const summaries: Summary[] = [];
    for (const tool of ['autocannon', 'wrk'] as const) {
      for (const t of targets) {
        const s = summarize(runs, tool, t.name, t.variant);
        if (s) summaries.push(s);
      }
    }
    const get = (tool: string, name: string, variant: string) => summaries.find((s) => s.tool === tool && s.target === name && s.variant === variant);
    const ratios: ProxyBenchResult['ratios'] = {};
    for (const { tag } of variants) {
      const both = (a: string, b: string, k: keyof Summary) => ({
        autocannon: ratio(get('autocannon', a, tag), get('autocannon', b, tag), k),
        wrk: ratio(get('wrk', a, tag), get('wrk', b, tag), k),
      });
      const sfx = tag ? ` (${tag})` : '';
      Object.assign(ratios, {
        [`gateway / nginx req/s${sfx}`]: both('gateway', 'nginx', 'rps'),
        [`gateway p99 / nginx p99${sfx}`]: both('gateway', 'nginx', 'p99'),
        [`gateway / nginx CPU µs per request${sfx}`]: both('gateway', 'nginx', 'cpuUsPerReq'),
        [`gateway / direct req/s${sfx}`]: both('gateway', 'direct', 'rps'),
        [`nginx / direct req/s${sfx}`]: both('nginx', 'direct', 'rps'),
        [`gateway p99 / direct p99${sfx}`]: both('gateway', 'direct', 'p99'),
        [`nginx p99 / direct p99${sfx}`]: both('nginx', 'direct', 'p99'),
      });
    }
    let pinning: PinComparison[] | null = null;
    if (o.pin === 'compare') {
      pinning = [];
      for (const tool of ['autocannon', 'wrk'] as const) {
        for (const name of ['direct', ...proxies.map((p) => p.name)]) {
          const pin = get(tool, name, 'pin');
          const nopin = get(tool, name, 'nopin');
          if (pin && nopin) pinning.push({ target: name, tool, pin, nopin });
        }
      }
    }

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

    const md = report({ machine, o, up: up.kind, cal, skipped, runs, summaries, ratios, pinning, cpuProfileTop });
    const result: ProxyBenchResult = {
      machine, options: o, upstream: { chosen: up.kind, calibration: cal }, skipped, runs, summaries, ratios, pinning, cpuProfileTop, markdown: md, files: null,
    };
    if (opts.write !== false) {
      const { markdown: _m, files: _f, ...raw } = result;
      result.files = writeResults('proxy', md, raw);
    }
    return result;
  } finally {
    if (gw !== null) await stopProc(gw.proc);
    await stopAll();
    if (anyPin) setAffinity(process.pid, selfAffinity);
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
  pinning: PinComparison[] | null;
  cpuProfileTop: ProxyBenchResult['cpuProfileTop'];
}): string {
  const { o } = x;
  const lines: string[] = [];
  lines.push(`# proxy benchmark — ${new Date().toISOString()}`, '');
  lines.push(mdTable(['machine', ''], Object.entries(x.machine).map(([k, v]) => [k, String(v)])), '');
  lines.push(
    `Setup: ${o.rounds} round(s) x ${o.durationS} s per target and tool, ${o.connections} connections, ${o.warmupS} s warm-up; ` +
      `pinning ${o.pin === 'compare' ? 'compared (@pin / @nopin, alternating)' : o.pin ? 'on' : 'off'}` +
      `${o.pin !== false ? ` (pinned: generator core ${CORE_GEN}, server under test core ${CORE_TARGET}, upstream core ${CORE_GEN} when behind a proxy)` : ''}; ` +
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
  if (x.pinning) {
    lines.push('## Pinning: pinned vs unpinned (medians; CV = spread between rounds, lower is more stable)', '');
    lines.push(mdTable(
      ['target', 'tool', 'req/s pin', 'req/s nopin', 'req/s CV pin', 'req/s CV nopin', 'µs/req pin', 'µs/req nopin', 'µs/req CV pin', 'µs/req CV nopin', 'p99 pin', 'p99 nopin', 'foreign CPU pin', 'foreign CPU nopin'],
      x.pinning.map((c) => [
        c.target, c.tool, fmt.int(c.pin.rps), fmt.int(c.nopin.rps), fmt.pct(c.pin.cv), fmt.pct(c.nopin.cv),
        c.pin.cpuUsPerReq.toFixed(1), c.nopin.cpuUsPerReq.toFixed(1), fmt.pct(c.pin.cpuCv), fmt.pct(c.nopin.cpuCv),
        fmt.ms(c.pin.p99), fmt.ms(c.nopin.p99), fmt.cores(c.pin.foreignCpu), fmt.cores(c.nopin.foreignCpu),
      ]),
    ), '');
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
    lines.push('The gateway ran with --cpu-prof in this run: its numbers above include the profiler\'s overhead.', '');
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
      upstream: { type: 'string' },
      'no-wrk': { type: 'boolean', default: false },
      'retry-noisy': { type: 'string' },
      'cpu-prof': { type: 'string' },
    },
  });
  installCleanupHandlers();
  const quick = values.quick === true;
  const pin = cliChoice('pin', values.pin, ['on', 'off', 'compare'] as const);
  try {
    const r = await runProxyBench({
      durationS: cliNumber('duration', values.duration, quick ? 3 : 10, 1),
      rounds: cliNumber('rounds', values.rounds, quick ? 1 : 3, 1),
      connections: cliNumber('connections', values.connections, 50, 1),
      warmupS: cliNumber('warmup', values.warmup, quick ? 1 : 2, 1),
      pin: pin === undefined ? undefined : pin === 'compare' ? 'compare' : pin === 'on',
      retryNoisy: cliNumber('retry-noisy', values['retry-noisy'], 0, 0),
      upstream: cliChoice('upstream', values.upstream, ['auto', 'uws', 'nginx'] as const),
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
