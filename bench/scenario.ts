/**
 * What a benchmark scenario is, and the context it builds its targets with. A scenario is one small
 * file in bench/scenarios/ that default-exports a Scenario: the request the generator sends, the
 * answer every target must give, and a setup() that starts the servers through the context
 * (upstream, baselines, the gateway with a generated config). runScenario() does the rest: checks
 * every target's answer, warms up, runs the targets interleaved for the rounds asked, summarises,
 * computes ratios, and stops every process it started (also on failure or Ctrl-C).
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  NGINX_MISSING, ROOT, type LoadRequest, type Proc, type Run, type Summary, type Target, childPids, findCpuProfile, freePort, httpCall, nginxVersion,
  plannedSeconds, runInterleaved, startGateway, startHelloUws, startNginxProxy, startNginxStatic, startProc, stopAll, stopProc, summarize,
  topSelfTime, waitHttp200,
} from './harness.js';

import { findMyWayRoutes } from './router.js';

const PEERS_JS = fileURLToPath(new URL('./peers.js', import.meta.url));

export interface Scenario {
  /** Short id for --scenario (file name without extension). */
  name: string;
  title: string;
  /** One or two sentences for the report: what is measured and against what. */
  about: string;
  /** Path every target is asked for, and what the generator sends (GET without a body by default). */
  path: string;
  request?: LoadRequest;
  /** What every target must answer before it is measured; a target that answers otherwise fails. */
  expect: { status: number; body: string };
  setup(ctx: ScenarioContext): Promise<void>;
}

export type Role = 'subject' | 'baseline';

export interface TargetInfo {
  name: string;
  role: Role;
  /** How this target stands to the subject: what its ratio means. */
  note: string;
}

/** Another build of the gateway (--compare REF), measured as an extra subject. */
export interface GatewayBuild {
  /** Target name, e.g. gateway@main. */
  name: string;
  cli: string;
}

export interface ScenarioOptions {
  durationS: number;
  rounds: number;
  connections: number;
  warmupS: number;
  wrk: boolean;
  /** wrk cross-check rounds (<= rounds). */
  wrkRounds: number;
  compare: GatewayBuild[];
  cpuProfDir: string | null;
  log: (line: string) => void;
  progress?: (what: string, seconds: number) => void;
  /** Called once the targets are known, with the load seconds ahead (warm-ups included). */
  onPlan?: (seconds: number) => void;
}

export interface Ratio {
  subject: string;
  baseline: string;
  tool: 'autocannon' | 'wrk';
  /** subject / baseline of the medians. */
  rps: number;
  p99: number;
  cpuUsPerReq: number;
  /** Either side's median run was generator-bound: its req/s is a floor, the req/s ratio is not a limit. */
  generatorBound: boolean;
}

export interface ScenarioResult {
  name: string;
  title: string;
  about: string;
  request: { method: string; path: string; bodyBytes: number };
  options: { durationS: number; rounds: number; connections: number; warmupS: number; wrkRounds: number };
  targets: TargetInfo[];
  /** Targets not run, with why: a missing optional baseline (nginx not installed). */
  skipped: Record<string, string>;
  /** Targets that did not start or answered wrongly: the scenario's check fails. */
  failed: Record<string, string>;
  runs: Run[];
  summaries: Summary[];
  ratios: Ratio[];
  cpuProfileTop: { label: string; ms: number; share: number }[] | null;
  /** Wall seconds the scenario took, setup and teardown included. */
  wallS: number;
}

export interface Server {
  port: number;
  proc: Proc;
  /** Processes doing the work (nginx's worker, the gateway's worker, the server itself). */
  pids: () => number[];
}

export interface ScenarioContext {
  /** A raw uWS server answering every path with `body` (or a JSON body of `bytes`); bodies are read and counted. */
  upstream(body: string | { bytes: number }): Promise<Server>;
  /** The upstream measured alone: the limit for proxying. */
  direct(up: Server): void;
  /** A raw uWS server answering `body`: the limit for anything the gateway answers itself. */
  uwsHello(body: string): Promise<void>;
  nginxProxy(up: Server): Promise<void>;
  nginxStatic(body: string): Promise<void>;
  fastGateway(up: Server): Promise<void>;
  fastifyProxy(up: Server): Promise<void>;
  /** uWS.js + the gateway's upstream client and nothing else (bench/peers.ts uws-pool): the stack's floor, GET only. */
  uwsPool(up: Server): Promise<void>;
  /**
   * serverless-offline (serverless 3, the Lambda emulator users run locally) serving `handler`
   * ('/abs/module.mjs#export') as an HTTP API route on `path`.
   */
  serverlessOffline(handler: string, path: string): Promise<void>;
  /** fastify answering `body` on each of these AWS-style routes. */
  fastifyMock(routes: { method: string; path: string }[], body: string): Promise<void>;
  /**
   * The gateway (1 worker) on these `apis`; the subject unless `role` says otherwise. As a subject it
   * also starts every --compare build on the same config. `request`: what the generator sends this
   * target (and its --compare builds) instead of the scenario's request, on the same path.
   */
  gateway(
    apis: unknown[],
    opts?: {
      name?: string; role?: Role; note?: string; config?: Record<string, unknown>; sidePids?: () => number[]; request?: LoadRequest;
      /** A subject also run from the --compare builds (default true; one such subject per scenario). */
      compare?: boolean;
    },
  ): Promise<void>;
  /** A private redis-server for this scenario (null when redis-server is not installed: the caller skips its targets). */
  redis(): Promise<{ url: string; pids: () => number[] } | null>;
}

interface Registered extends TargetInfo {
  /** Call order of the context method that made it: targets may start in parallel, they report in call order. */
  slot: number;
  url: string;
  pids: () => number[];
  sidePids?: () => number[];
  upstreamPids?: () => number[];
  /** Instead of the scenario's request. */
  request?: LoadRequest;
}

export async function runScenario(s: Scenario, o: ScenarioOptions): Promise<ScenarioResult> {
  const t0 = Date.now();
  const targets: Registered[] = [];
  const skipped: Record<string, string> = {};
  const failed: Record<string, string> = {};
  const gateways: { name: string; proc: Proc; workers: number[] }[] = [];
  let upstreamPids: (() => number[]) | undefined;
  const origin = (port: number) => `http://127.0.0.1:${port}`;

  let slots = 0;
  const add = (r: Omit<Registered, 'slot'>, slot: number) => targets.push({ ...r, slot });
  const tryStart = async (name: string, fn: () => Promise<void>) => {
    try {
      await fn();
    } catch (e) {
      failed[name] = `did not start: ${(e as Error).message.split('\n').slice(0, 8).join(' / ')}`;
      o.log(`${s.name}: ${name} ${failed[name]}`);
    }
  };
  const peer = async (kind: string, args: string[]): Promise<Server> => {
    const port = await freePort();
    const proc = startProc(kind, process.execPath, [PEERS_JS, '--kind', kind, '--port', String(port), ...args]);
    // Any answer means it listens: a mock peer has no route at /.
    await waitHttp200(proc, port, '/', 20_000, true);
    return { port, proc, pids: () => [proc.pid] };
  };
  const proxyTarget = (name: string, sv: Server, note: string, slot: number) =>
    add({ name, role: 'baseline', note, url: origin(sv.port), pids: sv.pids, upstreamPids }, slot);

  const ctx: ScenarioContext = {
    async upstream(body) {
      const h = await startHelloUws(body);
      upstreamPids = h.pids;
      return { port: h.port, proc: h.proc, pids: h.pids };
    },
    direct(up) {
      add({ name: 'direct', role: 'baseline', note: 'the upstream alone: the limit for any proxy', url: origin(up.port), pids: up.pids }, slots++);
    },
    async uwsHello(body) {
      const slot = slots++;
      await tryStart('uws', async () => {
        const h = await startHelloUws(body);
        add({ name: 'uws', role: 'baseline', note: 'raw uWS answering the same bytes: the limit for the gateway answering itself', url: origin(h.port), pids: h.pids }, slot);
      });
    },
    async nginxProxy(up) {
      const slot = slots++;
      if (nginxVersion() === null) { skipped.nginx = NGINX_MISSING; return; }
      await tryStart('nginx', async () => {
        const n = await startNginxProxy(up.port);
        add({ name: 'nginx', role: 'baseline', note: 'nginx 1 worker, keep-alive upstream pool', url: origin(n.port), pids: n.pids, sidePids: () => [n.proc.pid], upstreamPids }, slot);
      });
    },
    async nginxStatic(body) {
      const slot = slots++;
      if (nginxVersion() === null) { skipped.nginx = NGINX_MISSING; return; }
      await tryStart('nginx', async () => {
        const n = await startNginxStatic(body);
        add({ name: 'nginx', role: 'baseline', note: 'nginx 1 worker, `return 200` with the same body', url: origin(n.port), pids: n.pids, sidePids: () => [n.proc.pid] }, slot);
      });
    },
    async fastGateway(up) {
      const slot = slots++;
      await tryStart('fast-gateway', async () => void proxyTarget('fast-gateway', await peer('fast-gateway', ['--upstream', origin(up.port)]), 'fast-gateway 3.4.7 (Node peer), 1 process', slot));
    },
    async fastifyProxy(up) {
      const slot = slots++;
      await tryStart('fastify', async () => void proxyTarget('fastify', await peer('fastify', ['--upstream', origin(up.port)]), 'fastify 5 + @fastify/reply-from (Node peer), 1 process', slot));
    },
    async uwsPool(up) {
      const slot = slots++;
      await tryStart('uws-pool', async () => void proxyTarget('uws-pool', await peer('uws-pool', ['--upstream', origin(up.port)]), 'uWS.js + the gateway\'s upstream client, no gateway features: the floor of this stack', slot));
    },
    async serverlessOffline(handler, path) {
      const slot = slots++;
      await tryStart('serverless-offline', async () => {
        const [module, exportName] = handler.split('#') as [string, string];
        const dir = mkdtempSync(join(tmpdir(), 'bench-sls-'));
        // The service dir needs the plugin in reach: link the repo's node_modules; copy the handler beside it.
        symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
        copyFileSync(module, join(dir, basename(module)));
        writeFileSync(join(dir, 'serverless.yml'), [
          'service: bench', "frameworkVersion: '3'", 'provider: { name: aws, runtime: nodejs20.x }', 'plugins: [serverless-offline]',
          'functions:', '  fn:', `    handler: ${basename(module).replace(/\.[cm]?js$/, '')}.${exportName}`,
          `    events: [{ httpApi: { path: '${path}', method: get } }]`, '',
        ].join('\n'));
        const port = await freePort();
        const lambdaPort = await freePort();
        const proc = startProc('serverless-offline', process.execPath, [
          join(ROOT, 'node_modules', 'serverless', 'bin', 'serverless.js'), 'offline', 'start', '--httpPort', String(port), '--lambdaPort', String(lambdaPort),
          '--host', '127.0.0.1', '--noPrependStageInUrl',
        ], { env: { ...process.env, SLS_TELEMETRY_DISABLED: '1', SLS_NOTIFICATIONS_MODE: 'off', SLS_DEPRECATION_DISABLE: '*' }, cwd: dir });
        proc.exited.then(() => rmSync(dir, { recursive: true, force: true }), () => {});
        await waitHttp200(proc, port, path, 60_000);
        // Its handlers run in worker threads of the same process: the whole process is the target.
        add({ name: 'serverless-offline', role: 'baseline', note: 'serverless 3 + serverless-offline 13 running the same handler', url: origin(port), pids: () => [proc.pid, ...childPids(proc.pid)] }, slot);
      });
    },
    async fastifyMock(routes, body) {
      const slot = slots++;
      await tryStart('fastify', async () => {
        const dir = mkdtempSync(join(tmpdir(), 'bench-routes-'));
        const file = join(dir, 'routes.json');
        writeFileSync(file, JSON.stringify(findMyWayRoutes(routes)));
        const sv = await peer('fastify-mock', ['--routes', file, '--body', body]);
        sv.proc.exited.then(() => rmSync(dir, { recursive: true, force: true }), () => {});
        add({ name: 'fastify', role: 'baseline', note: `fastify 5 (find-my-way) with the same ${routes.length} routes (Node peer)`, url: origin(sv.port), pids: sv.pids }, slot);
      });
    },
    async redis() {
      if (spawnSync('sh', ['-c', 'command -v redis-server']).status !== 0) return null;
      const port = await freePort();
      const proc = startProc('redis', 'redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no']);
      for (let i = 0; i < 100 && !proc.output().includes('Ready to accept'); i++) await new Promise((r) => setTimeout(r, 50));
      if (!proc.output().includes('Ready to accept')) throw new Error(`redis-server did not start:\n${proc.output()}`);
      return { url: `redis://127.0.0.1:${port}`, pids: () => [proc.pid] };
    },
    async gateway(apis, g = {}) {
      const role = g.role ?? 'subject';
      const builds: GatewayBuild[] = [{ name: g.name ?? 'gateway', cli: '' }, ...(role === 'subject' && g.compare !== false ? o.compare : [])];
      const first = slots;
      slots += builds.length;
      for (const [k, b] of builds.entries()) {
        const slot = first + k;
        const isMain = b.cli === '';
        const start = async (legacy = false) => {
          const nodeArgs = isMain && role === 'subject' && o.cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${o.cpuProfDir}`] : [];
          const h = await startGateway(apis, { nodeArgs, cli: isMain ? undefined : b.cli, name: b.name, config: g.config, legacy });
          gateways.push({ name: b.name, proc: h.proc, workers: h.workers });
          // Re-read per run: a restarted worker has a new pid.
          const workers = () => { const c = childPids(h.proc.pid); return c.length > 0 ? c : h.workers; };
          add({
            name: b.name, role, url: origin(h.port), pids: workers, sidePids: () => [h.proc.pid, ...(g.sidePids?.() ?? [])], upstreamPids, request: g.request,
            note: g.note ?? (isMain ? 'this build, 1 worker' : `build of ${b.name.split('@')[1]}, 1 worker, same config`),
          }, slot);
        };
        if (isMain) await tryStart(b.name, start);
        else {
          // An older build may not know this scenario's config: skipped, not failed.
          try { await start(); } catch {
            try { await start(true); } catch (e) { skipped[b.name] = `did not start: ${(e as Error).message.split('\n').slice(0, 4).join(' / ')}`; }
          }
        }
      }
    },
  };

  const method = s.request?.method ?? 'GET';
  const base = {
    name: s.name, title: s.title, about: s.about,
    request: { method, path: s.path, bodyBytes: s.request?.body?.length ?? 0 },
    options: { durationS: o.durationS, rounds: o.rounds, connections: o.connections, warmupS: o.warmupS, wrkRounds: o.wrk ? o.wrkRounds : 0 },
  };
  try {
    await s.setup(ctx);
    targets.sort((a, b) => a.slot - b.slot);
    // Every target must give the expected answer before it is measured.
    const ok: Registered[] = [];
    for (const t of targets) {
      try {
        const r = await httpCall(Number(new URL(t.url).port), s.path, t.request ?? s.request ?? {});
        if (r.status !== s.expect.status || r.body !== s.expect.body) {
          failed[t.name] = `answered ${r.status} ${JSON.stringify(r.body.slice(0, 200))}, expected ${s.expect.status} ${JSON.stringify(s.expect.body.slice(0, 80))}${s.expect.body.length > 80 ? '…' : ''}`;
        } else ok.push(t);
      } catch (e) {
        failed[t.name] = `request failed: ${(e as Error).message}`;
      }
      if (failed[t.name]) o.log(`${s.name}: ${t.name} ${failed[t.name]}`);
    }
    o.onPlan?.(plannedSeconds(ok.length, o));
    const runTargets: Target[] = ok.map((t) => ({ name: t.name, url: `${t.url}${s.path}`, request: t.request ?? s.request, pids: t.pids, sidePids: t.sidePids, upstreamPids: t.upstreamPids }));
    const runs = runTargets.length > 0 ? await runInterleaved(runTargets, { ...o, log: (l) => o.log(`${s.name}: ${l}`) }) : [];
    // Non-2xx or errors during the load count as a wrong answer too.
    const summaries: Summary[] = [];
    for (const tool of ['autocannon', 'wrk'] as const) {
      for (const t of ok) {
        const sm = summarize(runs, tool, t.name);
        if (sm === null) continue;
        summaries.push(sm);
        if (sm.errors + sm.timeouts + sm.non2xx > 0) {
          failed[t.name] ??= `${tool}: ${sm.errors} errors, ${sm.timeouts} timeouts, ${sm.non2xx} non-2xx during the runs`;
        }
      }
    }
    // This build against everything else (baselines and --compare builds); a compare build against the baselines.
    const ratios: Ratio[] = [];
    const subjects = ok.filter((t) => t.role === 'subject');
    for (const tool of ['autocannon', 'wrk'] as const) {
      const get = (n: string) => summaries.find((x) => x.tool === tool && x.target === n);
      for (const [i, sub] of subjects.entries()) {
        const a = get(sub.name);
        if (!a) continue;
        for (const b of ok) {
          const bs = get(b.name);
          if (b === sub || !bs || (i > 0 && b.role === 'subject')) continue;
          ratios.push({
            subject: sub.name, baseline: b.name, tool, rps: a.rps / bs.rps, p99: a.p99 / bs.p99, cpuUsPerReq: a.cpuUsPerReq / bs.cpuUsPerReq,
            generatorBound: a.genBoundRuns * 2 > a.runs || bs.genBoundRuns * 2 > bs.runs,
          });
        }
      }
    }
    // Stop the gateways first so a profiled worker writes its profile (at exit).
    let cpuProfileTop: ScenarioResult['cpuProfileTop'] = null;
    for (const g of gateways.splice(0)) {
      await stopProc(g.proc);
      if (o.cpuProfDir && g.name === 'gateway') {
        const f = findCpuProfile(o.cpuProfDir, g.workers[0]!);
        if (f) cpuProfileTop = topSelfTime(f, 25);
      }
    }
    return {
      ...base,
      targets: targets.map(({ name, role, note }) => ({ name, role, note })),
      skipped, failed, runs, summaries, ratios, cpuProfileTop, wallS: (Date.now() - t0) / 1000,
    };
  } finally {
    for (const g of gateways) await stopProc(g.proc);
    await stopAll();
  }
}


/**
 * The proxy line-up on one upstream: direct (the limit), nginx, the Node peers, and the gateway
 * (subject) with one greedy http_proxy route that passes the path on unchanged.
 */
/** Upstream pipelining depth of the `gateway-pipelined` target: 16 measured 1.38x nginx under autocannon, 8 1.28x (proxy-small, 2026-11-25). */
export const BENCH_PIPELINING = 16;

/**
 * The proxy baselines and the gateway with its defaults; with `pipelined` (GET scenarios) also
 * `gateway-pipelined`: the same with the upstream's keepAlive.pipelining on.
 */
export async function proxyLineUp(ctx: ScenarioContext, up: Server, opts: { pipelined?: boolean } = {}): Promise<void> {
  ctx.direct(up);
  const api = (keepAlive?: Record<string, unknown>) => [{
    name: 'bench',
    upstreams: { u: { targets: [`http://127.0.0.1:${up.port}`], ...(keepAlive ? { keepAlive } : {}) } },
    routes: [{ route: 'ANY /{proxy+}', integration: { type: 'http_proxy', upstream: 'u', path: '/{proxy}' } }],
  }];
  await Promise.all([
    ctx.nginxProxy(up),
    ctx.fastGateway(up),
    ctx.fastifyProxy(up),
    ctx.gateway(api()),
    opts.pipelined === true
      ? ctx.gateway(api({ pipelining: BENCH_PIPELINING }), {
        name: 'gateway-pipelined', compare: false,
        note: `this build, 1 worker, upstream keepAlive.pipelining: ${BENCH_PIPELINING} (off by default)`,
      })
      : Promise.resolve(),
  ]);
}
