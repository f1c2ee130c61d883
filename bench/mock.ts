/**
 * "mock" scenario: the gateway's mock integration (1 worker) against a raw uWS hello server with the
 * same response: the per-request cost of the gateway itself, with no upstream.
 *
 *   node dist/bench/mock.js [--duration S] [--rounds N] [--connections C] [--quick] [--pin on|off] [--no-wrk] [--cpu-prof DIR]
 *
 * Same method as proxy.ts (warm-up, interleaved rounds, autocannon then wrk, CPU of the server
 * under test). Both servers can exceed what one generator thread sends, so CPU per request is the
 * number to compare; generator-bound runs are flagged.
 */
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import {
  CORE_GEN, CORE_TARGET, DEFAULT_PIN, type Run, type Summary, type Target, fmt, findCpuProfile, getAffinity, hasTaskset, httpGet, installCleanupHandlers,
  machineInfo, mdTable, childPids, cliChoice, cliNumber, runInterleaved, runsTable, setAffinity, startGateway, startHelloUws, stopAll, stopProc,
  summarize, summaryTable, topSelfTime, which, writeResults, type GatewayHandle,
} from './harness.js';

const BODY = '{"ok":true}';

export interface MockBenchOptions {
  durationS?: number;
  rounds?: number;
  connections?: number;
  warmupS?: number;
  /** Generator on core 0, server under test on core 1 (default: DEFAULT_PIN in harness.ts). */
  pin?: boolean;
  wrk?: boolean;
  cpuProfDir?: string | null;
  write?: boolean;
  log?: (line: string) => void;
}

export interface MockBenchResult {
  machine: Record<string, string | number>;
  options: Required<Omit<MockBenchOptions, 'log' | 'cpuProfDir' | 'write'>> & { cpuProfDir: string | null };
  skipped: Record<string, string>;
  runs: Run[];
  summaries: Summary[];
  ratios: Record<string, { autocannon: number; wrk: number }>;
  cpuProfileTop: { label: string; ms: number; share: number }[] | null;
  markdown: string;
  files: { md: string; json: string } | null;
}

export async function runMockBench(opts: MockBenchOptions = {}): Promise<MockBenchResult> {
  const log = opts.log ?? (() => {});
  const o = {
    durationS: opts.durationS ?? 10,
    rounds: opts.rounds ?? 3,
    connections: opts.connections ?? 50,
    warmupS: opts.warmupS ?? 2,
    pin: (opts.pin ?? DEFAULT_PIN) && hasTaskset(),
    wrk: (opts.wrk ?? true) && which('wrk') !== null,
    cpuProfDir: opts.cpuProfDir ?? null,
  };
  if (opts.wrk !== false && !o.wrk) log('wrk not found (apt-get install wrk): autocannon only.');
  const machine = machineInfo();
  log(`machine: ${JSON.stringify(machine)}`);
  const skipped: Record<string, string> = {};
  const selfAffinity = getAffinity(process.pid);
  let gw: GatewayHandle | null = null;
  try {
    if (o.pin) setAffinity(process.pid, CORE_GEN);
    const core = o.pin ? CORE_TARGET : null;
    const hello = await startHelloUws(BODY, core);
    const targets: Target[] = [{ name: 'uws', url: `http://127.0.0.1:${hello.port}/mock`, pids: hello.pids }];
    try {
      const nodeArgs = o.cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${o.cpuProfDir}`] : [];
      gw = await startGateway([{
        name: 'bench',
        routes: [{ route: 'GET /mock', integration: { type: 'mock', status: 200, headers: { 'content-type': 'application/json' }, body: BODY } }],
      }], { core, nodeArgs });
      const g = gw;
      // Re-read per run: a restarted worker has a new pid.
      const workers = () => { const c = childPids(g.proc.pid); return c.length > 0 ? c : g.workers; };
      targets.push({ name: 'gateway', url: `http://127.0.0.1:${g.port}/mock`, pids: workers, sidePids: () => [g.proc.pid] });
    } catch (e) {
      skipped.gateway = `did not start: ${(e as Error).message.split('\n').slice(0, 6).join(' / ')}`;
      log(`gateway ${skipped.gateway}`);
    }
    for (const t of targets) {
      const u = new URL(t.url);
      const r = await httpGet(Number(u.port), u.pathname);
      if (r.status !== 200 || r.body !== BODY) throw new Error(`${t.name}: GET ${u.pathname} -> ${r.status} ${r.body.slice(0, 200)}`);
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
    const r = (k: keyof Summary) => {
      const one = (tool: string) => {
        const a = get(tool, 'gateway');
        const b = get(tool, 'uws');
        return a && b ? (a[k] as number) / (b[k] as number) : NaN;
      };
      return { autocannon: one('autocannon'), wrk: one('wrk') };
    };
    const ratios = {
      'gateway / uws req/s': r('rps'),
      'gateway p99 / uws p99': r('p99'),
      'gateway / uws CPU µs per request': r('cpuUsPerReq'),
    };

    let cpuProfileTop: MockBenchResult['cpuProfileTop'] = null;
    if (gw !== null) {
      const workers = gw.workers;
      await stopProc(gw.proc);
      gw = null;
      if (o.cpuProfDir) {
        const f = findCpuProfile(o.cpuProfDir, workers[0]!);
        if (f) cpuProfileTop = topSelfTime(f, 25);
      }
    }

    const lines: string[] = [`# mock benchmark — ${new Date().toISOString()}`, ''];
    lines.push(mdTable(['machine', ''], Object.entries(machine).map(([k, v]) => [k, String(v)])), '');
    lines.push(
      `Setup: ${o.rounds} round(s) x ${o.durationS} s per target and tool, ${o.connections} connections, ${o.warmupS} s warm-up; ` +
        `pinning ${o.pin ? `on (generator core ${CORE_GEN}, server under test core ${CORE_TARGET})` : 'off'}. ` +
        `Targets: uws = raw uWS hello, gateway = 1 worker, mock integration; both answer GET /mock with ${BODY}.`,
      '',
    );
    for (const [k, v] of Object.entries(skipped)) lines.push(`**${k} skipped:** ${v}`, '');
    for (const tool of ['autocannon', 'wrk'] as const) {
      const ss = summaries.filter((s) => s.tool === tool);
      if (ss.length === 0) continue;
      lines.push(`## ${tool} — medians of ${o.rounds} round(s)`, '', summaryTable(ss), '');
    }
    lines.push('## Ratios (medians)', '');
    lines.push(mdTable(['', 'autocannon', 'wrk'], Object.entries(ratios).map(([k, v]) => [k, fmt.ratio(v.autocannon), fmt.ratio(v.wrk)])), '');
    if (cpuProfileTop) {
      lines.push('## Gateway worker CPU profile — top self time (busy time only)', '');
      lines.push('The gateway ran with --cpu-prof in this run: its numbers above include the profiler\'s overhead.', '');
      lines.push(mdTable(['function', 'self ms', 'share'], cpuProfileTop.map((f) => [`\`${f.label}\``, f.ms.toFixed(0), fmt.pct(f.share)])), '');
    }
    lines.push('## All runs', '', runsTable(runs), '');
    const md = lines.join('\n');
    const result: MockBenchResult = { machine, options: o, skipped, runs, summaries, ratios, cpuProfileTop, markdown: md, files: null };
    if (opts.write !== false) {
      const { markdown: _m, files: _f, ...raw } = result;
      result.files = writeResults('mock', md, raw);
    }
    return result;
  } finally {
    if (gw !== null) await stopProc(gw.proc);
    await stopAll();
    if (o.pin) setAffinity(process.pid, selfAffinity);
  }
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
      'no-wrk': { type: 'boolean', default: false },
      'cpu-prof': { type: 'string' },
    },
  });
  installCleanupHandlers();
  const quick = values.quick === true;
  const pin = cliChoice('pin', values.pin, ['on', 'off'] as const);
  try {
    const r = await runMockBench({
      durationS: cliNumber('duration', values.duration, quick ? 3 : 10, 1),
      rounds: cliNumber('rounds', values.rounds, quick ? 1 : 3, 1),
      connections: cliNumber('connections', values.connections, 50, 1),
      warmupS: cliNumber('warmup', values.warmup, quick ? 1 : 2, 1),
      pin: pin === undefined ? undefined : pin === 'on',
      wrk: !values['no-wrk'],
      cpuProfDir: values['cpu-prof'] ?? null,
      log: (s) => process.stderr.write(`${s}\n`),
    });
    process.stdout.write(`${r.markdown}\n`);
    if (r.files) process.stderr.write(`written: ${r.files.md}\n         ${r.files.json}\n`);
  } catch (e) {
    process.stderr.write(`mock bench failed: ${(e as Error).stack ?? e}\n`);
    await stopAll();
    process.exitCode = 1;
  }
}
