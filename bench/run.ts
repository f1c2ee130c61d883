/**
 * The benchmark suite: `npm run bench [-- options]` or `gateway bench [options]` (USAGE below).
 * Writes bench/results/<timestamp>.{json,md,svg}. Exit 1 when a target failed to start, answered
 * wrongly, or had errors or non-2xx responses during the load; a baseline that is not installed
 * (nginx) is skipped with how to install it. Pinning the generator and targets to cores was
 * measured and rejected (harness.ts, "No pinning"): on shared cores unpinned runs were more stable.
 */
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { buildRef, type RefBuild } from './compare.js';
import { RESULTS_DIR, ROOT, cliNumber, installCleanupHandlers, aborted, machineInfo, stopAll, timestamp, which } from './harness.js';
import { type BenchReport, markdownReport, svgChart, updateReadme } from './report.js';
import { type Scenario, type ScenarioOptions, runScenario } from './scenario.js';

const USAGE = `Usage: npm run bench -- [options]   (or: gateway bench [options])
  --scenario NAME[,NAME]  only these (default: all; --list shows them)
  --duration S            seconds per measured run (default 4; --quick 1)
  --rounds N              interleaved autocannon rounds (default 3; --quick 1)
  --connections C         concurrent connections (default 50)
  --warmup S              warm-up seconds per target (default 1; --quick 0: none)
  --wrk-rounds N          wrk cross-check rounds when wrk is installed (default 1; --quick 0)
  --no-wrk                no wrk cross-check
  --compare REF           also run the gateway built from git REF (temporary worktree)
  --cpu-prof DIR          profile the gateway worker (node --cpu-prof), report its top functions
  --update-readme         write the results table into README.md's Performance section
  --quick                 short runs that check every target answers (CI); ratios not meaningful
  --list                  list the scenarios`;

const SCENARIO_DIR = fileURLToPath(new URL('./scenarios/', import.meta.url));

export async function loadScenarios(): Promise<Scenario[]> {
  const files = readdirSync(SCENARIO_DIR).filter((f) => f.endsWith('.js')).sort();
  const out: Scenario[] = [];
  for (const f of files) {
    const mod = (await import(pathToFileURL(join(SCENARIO_DIR, f)).href)) as { default?: Scenario };
    if (mod.default?.setup === undefined) throw new Error(`bench/scenarios/${f}: no default-exported scenario`);
    out.push(mod.default);
  }
  // Cheapest first, so a broken target shows early.
  const order = ['mock-small', 'proxy-small', 'proxy-64k', 'proxy-1m-post', 'routes-1000', 'function', 'throttle', 'jwt', 'cache'];
  const rank = (s: Scenario) => (order.includes(s.name) ? order.indexOf(s.name) : order.length);
  return out.sort((a, b) => rank(a) - rank(b));
}

/** A one-line progress bar on a terminal; plain lines otherwise. Log lines go above the bar. */
class Progress {
  private total = 0;
  private done = 0;
  private stepStart = 0;
  private stepSeconds = 0;
  private what = '';
  private scenario = '';
  private timer: NodeJS.Timeout | null = null;
  private readonly tty = process.stderr.isTTY === true;

  begin(scenario: string): void {
    this.scenario = scenario;
    this.total = 0;
    this.done = 0;
    this.what = 'starting targets';
    if (this.tty && this.timer === null) this.timer = setInterval(() => this.draw(), 200);
    this.draw();
  }
  plan(seconds: number): void {
    this.total = seconds;
    if (!this.tty) process.stderr.write(`[${this.scenario}] ${seconds.toFixed(0)} s of load ahead\n`);
  }
  step(what: string, seconds: number): void {
    if (this.stepSeconds > 0) this.done += this.stepSeconds;
    this.what = what;
    this.stepSeconds = seconds;
    this.stepStart = performance.now();
    this.draw();
  }
  log(line: string): void {
    if (this.tty) process.stderr.write('\r\x1b[2K');
    process.stderr.write(`${line}\n`);
    this.draw();
  }
  end(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    if (this.tty) process.stderr.write('\r\x1b[2K');
    this.stepSeconds = 0;
  }
  private draw(): void {
    if (!this.tty) return;
    const cur = this.stepSeconds > 0 ? Math.min(this.stepSeconds, (performance.now() - this.stepStart) / 1000) : 0;
    const frac = this.total > 0 ? Math.min(1, (this.done + cur) / this.total) : 0;
    const width = 30;
    const fill = Math.round(frac * width);
    const left = this.total > 0 ? Math.max(0, this.total - this.done - cur) : NaN;
    const eta = Number.isFinite(left) ? ` ~${Math.floor(left / 60)}m${String(Math.round(left % 60)).padStart(2, '0')}s left` : '';
    process.stderr.write(`\r\x1b[2K[${this.scenario}] [${'#'.repeat(fill)}${'.'.repeat(width - fill)}] ${(frac * 100).toFixed(0).padStart(3)}%${eta}  ${this.what}`.slice(0, (process.stderr.columns || 120) - 1));
  }
}

export async function main(argv: string[]): Promise<number> {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        scenario: { type: 'string' },
        duration: { type: 'string' },
        rounds: { type: 'string' },
        connections: { type: 'string' },
        warmup: { type: 'string' },
        'wrk-rounds': { type: 'string' },
        'no-wrk': { type: 'boolean' },
        compare: { type: 'string' },
        'cpu-prof': { type: 'string' },
        'update-readme': { type: 'boolean' },
        quick: { type: 'boolean' },
        list: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n\n${USAGE}\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const all = await loadScenarios();
  if (values.list) {
    for (const s of all) process.stdout.write(`${s.name.padEnd(16)} ${s.title}\n`);
    return 0;
  }
  let chosen = all;
  if (typeof values.scenario === 'string') {
    const names = values.scenario.split(',').map((x) => x.trim()).filter(Boolean);
    const unknown = names.filter((n) => !all.some((s) => s.name === n));
    if (unknown.length > 0) {
      process.stderr.write(`--scenario: unknown ${unknown.join(', ')}; known: ${all.map((s) => s.name).join(', ')}\n`);
      return 2;
    }
    chosen = all.filter((s) => names.includes(s.name));
  }
  const quick = values.quick === true;
  const str = (k: string) => (typeof values[k] === 'string' ? (values[k] as string) : undefined);
  const haveWrk = which('wrk') !== null;
  const rounds = cliNumber('rounds', str('rounds'), quick ? 1 : 3, 1);
  const wrkRounds = values['no-wrk'] ? 0 : Math.min(rounds, cliNumber('wrk-rounds', str('wrk-rounds'), quick ? 0 : 1, 0));
  const progress = new Progress();
  const log = (l: string) => progress.log(l);
  if (wrkRounds > 0 && !haveWrk) log('wrk not found (apt-get install wrk): no wrk cross-check.');

  installCleanupHandlers();
  let ref: RefBuild | null = null;
  if (typeof values.compare === 'string') {
    try {
      ref = buildRef(values.compare, log);
    } catch (e) {
      process.stderr.write(`${(e as Error).message}\n`);
      return 1;
    }
  }
  const o: ScenarioOptions = {
    // autocannon counts whole seconds.
    // 4 s: six scenarios (26 targets) took 589 s at 5 s; the default run must stay under 10 minutes.
    durationS: Math.round(cliNumber('duration', str('duration'), quick ? 1 : 4, 1)),
    rounds,
    connections: cliNumber('connections', str('connections'), 50, 1),
    warmupS: Math.round(cliNumber('warmup', str('warmup'), quick ? 0 : 1, 0)),
    wrk: wrkRounds > 0 && haveWrk,
    wrkRounds,
    compare: ref ? [ref.build] : [],
    cpuProfDir: str('cpu-prof') ?? null,
    log,
    progress: (what, s) => progress.step(what, s),
    onPlan: (s) => progress.plan(s),
  };
  const t0 = performance.now();
  const rep: BenchReport = {
    startedAt: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    machine: machineInfo(),
    options: {
      durationS: o.durationS, rounds: o.rounds, connections: o.connections, warmupS: o.warmupS, wrkRounds: o.wrk ? o.wrkRounds : 0,
      quick, compare: values.compare ?? null, scenarios: chosen.map((s) => s.name),
    },
    scenarios: [],
    errors: {},
    wallS: 0,
  };
  try {
    for (const s of chosen) {
      if (aborted()) break;
      progress.begin(s.name);
      try {
        const r = await runScenario(s, o);
        rep.scenarios.push(r);
        progress.end();
        log(`[${s.name}] done in ${r.wallS.toFixed(0)} s${Object.keys(r.failed).length > 0 ? `; FAILED: ${Object.keys(r.failed).join(', ')}` : ''}`);
      } catch (e) {
        progress.end();
        rep.errors[s.name] = (e as Error).stack ?? String(e);
        log(`[${s.name}] failed: ${(e as Error).message}`);
        await stopAll();
      }
    }
  } finally {
    progress.end();
    ref?.cleanup();
  }
  rep.wallS = (performance.now() - t0) / 1000;
  const md = markdownReport(rep);
  mkdirSync(RESULTS_DIR, { recursive: true });
  const base = join(RESULTS_DIR, timestamp());
  writeFileSync(`${base}.json`, JSON.stringify(rep, null, 2));
  writeFileSync(`${base}.md`, md);
  writeFileSync(`${base}.svg`, svgChart(rep));
  process.stdout.write(`${md}\n`);
  process.stderr.write(`written: ${base}.md\n         ${base}.json\n         ${base}.svg (open in a browser)\n`);
  if (values['update-readme']) {
    const readme = join(ROOT, 'README.md');
    if (existsSync(readme) && updateReadme(readme, rep)) process.stderr.write('README.md Performance section updated\n');
    else process.stderr.write('README.md has no <!-- bench:start --> / <!-- bench:end --> markers: not updated\n');
  }
  const failures = rep.scenarios.flatMap((s) => Object.entries(s.failed).map(([t, why]) => `${s.name}/${t}: ${why}`));
  failures.push(...Object.keys(rep.errors).map((k) => `${k}: scenario failed`));
  if (aborted()) return 130;
  if (failures.length > 0) {
    process.stderr.write(`\nNot every target answered correctly:\n${failures.map((f) => `  ${f}`).join('\n')}\n`);
    return 1;
  }
  process.stderr.write(`\nAll ${rep.scenarios.reduce((n, s) => n + s.targets.length, 0)} targets in ${rep.scenarios.length} scenario(s) answered correctly (${rep.wallS.toFixed(0)} s).\n`);
  return 0;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await main(process.argv.slice(2));
}
