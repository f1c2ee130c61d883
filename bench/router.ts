/**
 * Router benchmark: our Router against find-my-way on the same 1,000-route table.
 *
 *   node dist/bench/router.js [--rounds N] [--iterations N] [--by-kind]
 *
 * Every lookup gets its own freshly built method and path strings (sequential one-byte strings,
 * what uWS hands over per request), made before the timed loop: reusing one string object would
 * let V8 caches keyed on it (string hash, internalization) hide costs real traffic pays.
 * Rounds alternate (A B C, C B A, ...) after two warm-up rounds; each side's median ns/op is
 * reported. Lookups are timed in batches of the request set, each batch with new strings.
 */
import { pathToFileURL } from 'node:url';
import FindMyWay from 'find-my-way';
import { median } from './stats.js';
import { checkPath, Router, type RouteDef } from '../src/router/index.js';

export interface RouterBenchOptions {
  /** Timed rounds per contender (after two warm-up rounds). Default 10. */
  rounds?: number;
  /** Lookups per contender per round. Default 400,000. */
  iterations?: number;
  /** Also time each kind of request alone, and checkPath. */
  byKind?: boolean;
  log?: (line: string) => void;
}

export interface KindResult {
  ours: number;
  findMyWay: number;
  findMyWayCompiled: number;
}

export interface RouterBenchResult {
  /** Median ns per match(). */
  ours: number;
  /** Median ns per find-my-way find() (default tree-walk mode). */
  findMyWay: number;
  /** findMyWay / ours: above 1 means ours is faster. */
  ratio: number;
  /** find-my-way after compile(), for reference. */
  findMyWayCompiled: number;
  /** Requests on which ours and find-my-way pick different routes (should be 0). */
  disagreements: number;
  byKind?: Partial<Record<BenchRequest['kind'], KindResult>>;
  /** Median ns per checkPath() on the mix. */
  checkPath?: number;
}

// Deterministic PRNG (mulberry32) so every run uses the same table and requests.
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const RESOURCES = [
  'users', 'orders', 'products', 'invoices', 'customers', 'payments', 'shipments', 'carts', 'reviews', 'categories',
  'inventory', 'warehouses', 'suppliers', 'employees', 'teams', 'projects', 'tasks', 'comments', 'attachments', 'notifications',
  'subscriptions', 'plans', 'coupons', 'refunds', 'returns', 'addresses', 'sessions', 'tokens', 'webhooks', 'events',
  'reports', 'dashboards', 'widgets', 'alerts', 'metrics', 'logs', 'jobs', 'queues', 'files', 'folders',
  'images', 'videos', 'playlists', 'tags', 'labels', 'articles', 'pages', 'menus', 'settings', 'roles',
  'permissions', 'groups', 'organizations', 'accounts', 'devices', 'locations', 'vehicles', 'drivers', 'routes', 'schedules',
];
const SUBS = ['items', 'notes', 'history', 'members', 'versions', 'activity', 'links', 'status', 'owners', 'audit'];
const ACTIONS = ['archive', 'restore', 'publish', 'approve', 'cancel', 'refresh'];

export interface BenchRoute {
  method: string;
  path: string;
  id: number;
}

/**
 * A REST-like table of exactly `count` routes: collections, items, nested sub-resources, static
 * siblings of {id} (search, count), actions, a few ANY and greedy routes, top-level statics.
 */
export function generateRoutes(count = 1000, seed = 1): BenchRoute[] {
  const rand = rng(seed);
  const out: { method: string; path: string }[] = [
    { method: 'GET', path: '/health' },
    { method: 'GET', path: '/ready' },
    { method: 'GET', path: '/metrics' },
    { method: 'GET', path: '/' },
    { method: 'GET', path: '/docs' },
    { method: 'GET', path: '/docs/openapi.json' },
    { method: 'GET', path: '/static/{file+}' },
    { method: 'ANY', path: '/legacy/{proxy+}' },
    { method: 'POST', path: '/auth/login' },
    { method: 'POST', path: '/auth/logout' },
    { method: 'POST', path: '/auth/refresh' },
    { method: 'GET', path: '/auth/me' },
  ];
  const seen = new Set(out.map((r) => `${r.method} ${r.path}`));
  const add = (method: string, path: string) => {
    const k = `${method} ${path}`;
    if (!seen.has(k)) {
      seen.add(k);
      out.push({ method, path });
    }
  };
  for (const prefix of ['/v1', '/v2']) {
    for (let ri = 0; ri < RESOURCES.length; ri++) {
      const r = `${prefix}/${RESOURCES[ri]}`;
      add('GET', r);
      add('POST', r);
      add('GET', `${r}/search`);
      add('GET', `${r}/count`);
      add('GET', `${r}/{id}`);
      add('PUT', `${r}/{id}`);
      add('PATCH', `${r}/{id}`);
      add('DELETE', `${r}/{id}`);
      add('POST', `${r}/{id}/${ACTIONS[ri % ACTIONS.length]}`);
      const nSubs = 1 + Math.floor(rand() * 2);
      for (let s = 0; s < nSubs; s++) {
        const sub = SUBS[(ri + s * 3) % SUBS.length];
        add('GET', `${r}/{id}/${sub}`);
        add('POST', `${r}/{id}/${sub}`);
        add('GET', `${r}/{id}/${sub}/{subId}`);
        add('DELETE', `${r}/{id}/${sub}/{subId}`);
      }
      if (ri % 7 === 0) add('ANY', `${r}/{id}/raw/{proxy+}`);
      if (ri % 5 === 0) add('GET', `${r}/{id}/files/{path+}`);
      if (ri % 4 === 0) add('ANY', `${r}/{id}/callback`);
    }
  }
  if (out.length < count) throw new Error(`generated only ${out.length} routes`);
  // ids from 1: find-my-way turns a falsy store into null.
  return out.slice(0, count).map((r, k) => ({ ...r, id: k + 1 }));
}

export interface BenchRequest {
  method: string;
  path: string;
  kind: 'static' | 'param' | 'greedy' | 'miss';
}

function fill(path: string, rand: () => number): string {
  return path.replace(/\{([^}]+)\}/g, (_, name: string) => {
    if (name.endsWith('+')) {
      const depth = 1 + Math.floor(rand() * 3);
      const parts: string[] = [];
      for (let d = 0; d < depth; d++) parts.push(`p${Math.floor(rand() * 1000)}`);
      return `${parts.join('/')}.js`;
    }
    return rand() < 0.3 ? crypto.randomUUID() : String(Math.floor(rand() * 1_000_000));
  });
}

/** Shuffled requests: about 40% static hits, 35% param hits, 10% greedy hits, 15% misses. */
export function generateRequests(routes: BenchRoute[], count = 4096, seed = 2): BenchRequest[] {
  const rand = rng(seed);
  const pick = <X>(xs: X[]): X => xs[Math.floor(rand() * xs.length)]!;
  const statics = routes.filter((r) => !r.path.includes('{'));
  const params = routes.filter((r) => r.path.includes('{') && !r.path.includes('+}'));
  const greedy = routes.filter((r) => r.path.includes('+}'));
  const concrete = (m: string) => (m === 'ANY' ? pick(['GET', 'POST', 'PUT', 'DELETE']) : m);
  const out: BenchRequest[] = [];
  for (let k = 0; k < count; k++) {
    const x = rand();
    if (x < 0.4) {
      const r = pick(statics);
      out.push({ method: concrete(r.method), path: r.path, kind: 'static' });
    } else if (x < 0.75) {
      const r = pick(params);
      out.push({ method: concrete(r.method), path: fill(r.path, rand), kind: 'param' });
    } else if (x < 0.85) {
      const r = pick(greedy);
      out.push({ method: concrete(r.method), path: fill(r.path, rand), kind: 'greedy' });
    } else {
      const y = rand();
      const res = pick(RESOURCES);
      let path: string;
      let method = 'GET';
      if (y < 0.25) path = `/v1/${res}x/${Math.floor(rand() * 1000)}`;
      else if (y < 0.5) path = `/v1/${res}/${Math.floor(rand() * 1000)}/bogus/1`;
      else if (y < 0.75) {
        path = `/v2/${res}`;
        method = 'DELETE';
      } else path = `/v3/${res}/${Math.floor(rand() * 1000)}`;
      out.push({ method, path, kind: 'miss' });
    }
  }
  // Fisher-Yates with the seeded PRNG: a fixed order, but not grouped by kind.
  for (let k = out.length - 1; k > 0; k--) {
    const j = Math.floor(rand() * (k + 1));
    [out[k], out[j]] = [out[j]!, out[k]!];
  }
  return out;
}

type Fmw = {
  on(method: string | string[], path: string, handler: (...a: unknown[]) => void, store?: unknown): void;
  find(method: string, path: string): { store: unknown } | null;
  compile(): unknown;
};

/**
 * The table as find-my-way routes: {id} → :id, {proxy+} → *, and ANY (which find-my-way lacks)
 * as every method that has no exact route of the same shape.
 */
export function findMyWayRoutes(routes: { method: string; path: string; id?: number }[]): { methods: string[]; path: string; id: number }[] {
  const shape = (p: string) => p.replace(/\{[^}]+\+\}/g, '*').replace(/\{([^}]+)\}/g, ':$1');
  const exact = new Set(routes.filter((r) => r.method !== 'ANY').map((r) => `${r.method} ${shape(r.path).replace(/:[^/]+/g, ':')}`));
  return routes.map((r, k) => {
    const path = shape(r.path);
    const methods = r.method === 'ANY'
      ? ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'].filter((m) => !exact.has(`${m} ${path.replace(/:[^/]+/g, ':')}`))
      : [r.method];
    return { methods, path, id: r.id ?? k + 1 };
  });
}

function buildFindMyWay(routes: BenchRoute[], compile: boolean): Fmw {
  const fmw = (FindMyWay as unknown as () => Fmw)();
  const noop = () => {};
  for (const r of findMyWayRoutes(routes)) for (const m of r.methods) fmw.on(m, r.path, noop, r.id);
  if (compile) fmw.compile();
  return fmw;
}

// Fresh strings per lookup, made outside the timed loop (see the header comment).
function freshBatch(codes: number[][], mcodes: number[][]): { methods: string[]; paths: string[] } {
  const n = codes.length;
  const methods = new Array<string>(n);
  const paths = new Array<string>(n);
  for (let k = 0; k < n; k++) {
    methods[k] = String.fromCharCode.apply(null, mcodes[k]!);
    paths[k] = String.fromCharCode.apply(null, codes[k]!);
  }
  return { methods, paths };
}

let sink = 0;

// Separate loops per contender so they never share inline-cache feedback. Each returns total ns.
function timeOurs(router: Router<number>, methods: string[], paths: string[]): number {
  const n = paths.length;
  let hits = 0;
  const t0 = process.hrtime.bigint();
  for (let k = 0; k < n; k++) {
    const m = router.match(methods[k]!, paths[k]!);
    if (m !== null) hits += m.data;
  }
  const dt = Number(process.hrtime.bigint() - t0);
  sink += hits;
  return dt;
}

function timeFmw(fmw: Fmw, methods: string[], paths: string[]): number {
  const n = paths.length;
  let hits = 0;
  const t0 = process.hrtime.bigint();
  for (let k = 0; k < n; k++) {
    const m = fmw.find(methods[k]!, paths[k]!);
    if (m !== null) hits += m.store as number;
  }
  const dt = Number(process.hrtime.bigint() - t0);
  sink += hits;
  return dt;
}

function timeFmwCompiled(fmw: Fmw, methods: string[], paths: string[]): number {
  const n = paths.length;
  let hits = 0;
  const t0 = process.hrtime.bigint();
  for (let k = 0; k < n; k++) {
    const m = fmw.find(methods[k]!, paths[k]!);
    if (m !== null) hits += m.store as number;
  }
  const dt = Number(process.hrtime.bigint() - t0);
  sink += hits;
  return dt;
}


type Contender = [name: string, run: (methods: string[], paths: string[]) => number];

/**
 * Median ns/op of each contender over `rounds` rounds (after two warm-up rounds), each round
 * timing about `iterations` lookups in batches of the request set. Every batch has fresh strings,
 * made untimed: the live set stays small, as in a server, instead of a pool of strings that every
 * scavenge would copy.
 */
function measure(reqs: BenchRequest[], contenders: Contender[], rounds: number, iterations: number, log: (line: string) => void): number[] {
  const codes = reqs.map((q) => Array.from(q.path, (ch) => ch.charCodeAt(0)));
  const mcodes = reqs.map((q) => Array.from(q.method, (ch) => ch.charCodeAt(0)));
  const batches = Math.max(1, Math.round(iterations / reqs.length));
  const samples = contenders.map((): number[] => []);
  const forward = contenders.map((_, c) => c);
  const backward = [...forward].reverse();
  for (let round = -2; round < rounds; round++) {
    // A B C, then C B A: no contender always runs right after the same one.
    const order = round % 2 === 0 ? forward : backward;
    const ns = contenders.map(() => 0);
    for (const c of order) {
      let total = 0;
      for (let k = 0; k < batches; k++) {
        const batch = freshBatch(codes, mcodes);
        total += contenders[c]![1](batch.methods, batch.paths);
      }
      ns[c] = total / (batches * reqs.length);
    }
    if (round >= 0) {
      ns.forEach((x, c) => samples[c]!.push(x));
      log(`  round ${round + 1}: ${contenders.map(([name], c) => `${name} ${ns[c]!.toFixed(1)}`).join(', ')}`);
    }
  }
  return samples.map(median);
}

export async function runRouterBench(opts: RouterBenchOptions = {}): Promise<RouterBenchResult> {
  const rounds = opts.rounds ?? 10;
  const iterations = opts.iterations ?? 400_000;
  const log = opts.log ?? (() => {});
  const routes = generateRoutes(1000);
  const reqs = generateRequests(routes);
  const ours = new Router<number>(routes.map((r): RouteDef<number> => ({ method: r.method, path: r.path, data: r.id })));
  const fmw = buildFindMyWay(routes, false);
  const fmwc = buildFindMyWay(routes, true);

  let disagreements = 0;
  for (const q of reqs) {
    const a = ours.match(q.method, q.path);
    const b = fmw.find(q.method, q.path);
    if ((a === null ? -1 : a.data) !== (b === null ? -1 : (b.store as number))) disagreements++;
  }
  const kinds = reqs.reduce<Record<string, number>>((acc, q) => ((acc[q.kind] = (acc[q.kind] ?? 0) + 1), acc), {});
  log(`routes ${routes.length}, requests ${reqs.length} ${JSON.stringify(kinds)}, disagreements ${disagreements}`);

  const contenders: Contender[] = [
    ['ours', (m, p) => timeOurs(ours, m, p)],
    ['find-my-way', (m, p) => timeFmw(fmw, m, p)],
    ['find-my-way compiled', (m, p) => timeFmwCompiled(fmwc, m, p)],
  ];
  log('ns/op, shuffled mix:');
  const [a, b, c] = measure(reqs, contenders, rounds, iterations, log) as [number, number, number];
  const result: RouterBenchResult = { ours: a, findMyWay: b, ratio: b / a, findMyWayCompiled: c, disagreements };

  if (opts.byKind === true) {
    result.byKind = {};
    for (const kind of ['static', 'param', 'greedy', 'miss'] as const) {
      log(`ns/op, ${kind} only:`);
      const [x, y, z] = measure(reqs.filter((q) => q.kind === kind), contenders, Math.max(3, rounds >> 1), iterations >> 1, log) as [number, number, number];
      result.byKind[kind] = { ours: x, findMyWay: y, findMyWayCompiled: z };
    }
    log('ns/op, checkPath on the mix:');
    result.checkPath = measure(reqs, [['checkPath', (_m, p) => timeCheckPath(p)]], Math.max(3, rounds >> 1), iterations >> 1, log)[0]!;
  }
  if (sink === 0.5) log(''); // makes the results observable, so no loop is dead code
  return result;
}

function timeCheckPath(paths: string[]): number {
  const n = paths.length;
  let ok = 0;
  const t0 = process.hrtime.bigint();
  for (let k = 0; k < n; k++) if (checkPath(paths[k]!)) ok++;
  const dt = Number(process.hrtime.bigint() - t0);
  sink += ok;
  return dt;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const args = process.argv.slice(2);
  const num = (flag: string, dflt: number) => {
    const k = args.indexOf(flag);
    return k === -1 ? dflt : Number(args[k + 1]);
  };
  const r = await runRouterBench({
    rounds: num('--rounds', 10),
    iterations: num('--iterations', 400_000),
    byKind: args.includes('--by-kind'),
    log: console.log,
  });
  const f = (x: number) => x.toFixed(1);
  console.log(
    `median ns/op on the mix: ours ${f(r.ours)}, find-my-way ${f(r.findMyWay)} (${r.ratio.toFixed(2)}x ours), ` +
      `find-my-way compiled ${f(r.findMyWayCompiled)} (${(r.findMyWayCompiled / r.ours).toFixed(2)}x ours)`,
  );
  for (const [kind, k] of Object.entries(r.byKind ?? {})) {
    console.log(`  ${kind.padEnd(6)} ours ${f(k.ours)}, find-my-way ${f(k.findMyWay)}, find-my-way compiled ${f(k.findMyWayCompiled)}`);
  }
  if (r.checkPath !== undefined) console.log(`  checkPath ${f(r.checkPath)}`);
}
