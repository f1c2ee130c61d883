/**
 * Request-validation benchmark: cost of checkBody (JSON.parse + ajv) by body size, to choose
 * INLINE_BODY_LIMIT (src/validation/index.ts): bodies validated inline on the uWS thread up to it,
 * in the worker-thread pool above it.
 *
 *   node dist/bench/validation.js [--rounds N] [--no-worker]
 *
 * Model: an AWS-style draft-04 Pet (13 fields: integer, uuid, string with length bounds, enum,
 * number range, date, date-time, email, uri, boolean, a nested Category via $ref, an array of Tag
 * objects via $ref with a pattern, an array of uri strings). 200 B and 2 KB bodies are one Pet;
 * 20 KB and up are a PetList (array of Pet, bulk upload). Each size reports the median over rounds
 * of µs per checkBody, split into JSON.parse and ajv, and MB/s. Unless --no-worker, it also times
 * a worker_threads round trip (postMessage of a copied body, reply), the cost that offloading adds.
 */
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { median } from './stats.js';
import { compileModels, compileRouteValidator, INLINE_BODY_LIMIT, type RequestView } from '../src/validation/index.js';

export const PET_MODELS: Record<string, unknown> = {
  Category: {
    $schema: 'http://json-schema.org/draft-04/schema#',
    type: 'object',
    required: ['id', 'name'],
    properties: { id: { type: 'integer', minimum: 1 }, name: { type: 'string', minLength: 1, maxLength: 64 } },
  },
  Tag: {
    $schema: 'http://json-schema.org/draft-04/schema#',
    type: 'object',
    required: ['id', 'name'],
    additionalProperties: false,
    properties: { id: { type: 'integer', minimum: 1 }, name: { type: 'string', pattern: '^[a-z0-9-]{1,32}$' } },
  },
  Pet: {
    $schema: 'http://json-schema.org/draft-04/schema#',
    title: 'Pet',
    type: 'object',
    required: ['id', 'name', 'status', 'category', 'photoUrls'],
    additionalProperties: false,
    properties: {
      id: { type: 'integer', minimum: 1 },
      uuid: { type: 'string', format: 'uuid' },
      name: { type: 'string', minLength: 1, maxLength: 100 },
      status: { type: 'string', enum: ['available', 'pending', 'sold'] },
      price: { type: 'number', minimum: 0, maximum: 100000, exclusiveMinimum: true },
      birthDate: { type: 'string', format: 'date' },
      createdAt: { type: 'string', format: 'date-time' },
      ownerEmail: { type: 'string', format: 'email' },
      website: { type: 'string', format: 'uri' },
      vaccinated: { type: 'boolean' },
      category: { $ref: 'https://apigateway.amazonaws.com/restapis/abc123/models/Category' },
      tags: { type: 'array', items: { $ref: '#/components/schemas/Tag' } },
      photoUrls: { type: 'array', items: { type: 'string', format: 'uri' } },
    },
  },
  PetList: { $schema: 'http://json-schema.org/draft-04/schema#', type: 'array', items: { $ref: 'Pet' } },
};

function pet(i: number, tags: number, photos: number): Record<string, unknown> {
  const hex = (n: number, w: number) => (n >>> 0).toString(16).padStart(w, '0').slice(-w);
  return {
    id: i + 1,
    uuid: `${hex(i * 2654435761, 8)}-${hex(i, 4)}-4${hex(i, 3)}-a${hex(i * 7, 3)}-${hex(i * 13, 12)}`,
    name: `Rex ${i}`,
    status: ['available', 'pending', 'sold'][i % 3],
    price: 10 + (i % 90) + 0.99,
    birthDate: '2019-05-17',
    createdAt: '2024-02-29T13:45:00.123Z',
    ownerEmail: `owner${i}@example.com`,
    website: `https://pets.example.com/p/${i}`,
    vaccinated: i % 2 === 0,
    category: { id: 1 + (i % 5), name: 'dogs' },
    tags: Array.from({ length: tags }, (_, k) => ({ id: k + 1, name: `tag-${k}` })),
    photoUrls: Array.from({ length: photos }, (_, k) => `https://cdn.example.com/pets/${i}/${k}.jpg`),
  };
}

export interface SizeCase {
  label: string;
  model: 'Pet' | 'PetList';
  body: Buffer;
}

/** A body of about `target` bytes (never below it). */
export function makeBody(target: number): SizeCase {
  const label = target >= 1_000_000 ? `${target / 1_000_000} MB` : target >= 1000 ? `${target / 1000} KB` : `${target} B`;
  if (target <= 4000) {
    // one Pet: the required fields plus optional ones, then tags and photos, until the size is reached
    const full = pet(1, 0, 0);
    const order = ['id', 'name', 'status', 'category', 'photoUrls', 'price', 'vaccinated', 'birthDate', 'uuid', 'ownerEmail', 'website', 'createdAt', 'tags'];
    for (let n = 5; n <= order.length; n++) {
      const s = JSON.stringify(Object.fromEntries(order.slice(0, n).map((f) => [f, full[f]])));
      if (Buffer.byteLength(s) >= target) return { label, model: 'Pet', body: Buffer.from(s) };
    }
    for (let extra = 0; ; extra++) {
      const s = JSON.stringify(pet(1, Math.floor(extra / 2), Math.ceil(extra / 2)));
      if (Buffer.byteLength(s) >= target || extra > 1000) return { label, model: 'Pet', body: Buffer.from(s) };
    }
  }
  const pets: unknown[] = [];
  let size = 2;
  for (let i = 0; size < target; i++) {
    const p = pet(i, 3, 2);
    pets.push(p);
    size += Buffer.byteLength(JSON.stringify(p)) + 1;
  }
  return { label, model: 'PetList', body: Buffer.from(JSON.stringify(pets)) };
}

export interface SizeResult {
  label: string;
  bytes: number;
  model: string;
  /** Median µs per checkBody (parse + validate). */
  us: number;
  parseUs: number;
  ajvUs: number;
  mbPerS: number;
}

export interface ValidationBenchResult {
  sizes: SizeResult[];
  /** Median µs of checkParameters (2 query names, 1 header, 1 path parameter, all present). */
  paramsUs: number;
  /** Median worker round trip µs by body label (postMessage copy + reply), when measured. */
  workerRoundTripUs?: Record<string, number>;
  /** Largest body size (bytes) whose inline checkBody stays under 50 µs, by interpolation. */
  crossover50us: number;
}


let sink = 0;

export async function runValidationBench(opts: { rounds?: number; worker?: boolean; log?: (s: string) => void } = {}): Promise<ValidationBenchResult> {
  const rounds = opts.rounds ?? 7;
  const log = opts.log ?? (() => {});
  const models = compileModels(PET_MODELS, { draft: '04' });
  const targets = [200, 2000, 20_000, 200_000, 2_000_000];
  const sizes: SizeResult[] = [];

  for (const target of targets) {
    const c = makeBody(target);
    const v = compileRouteValidator({ bodyModels: { 'application/json': c.model }, validator: { validateRequestBody: true, validateRequestParameters: false } }, models);
    const fn = models.get(c.model);
    const req: RequestView = { query: '', headers: [], pathParameters: null, contentType: 'application/json; charset=utf-8', body: c.body };
    if (v.checkBody(req) !== null) throw new Error(`bench body ${c.label} does not validate`);
    // ~150 ms of work per round, at least 5 iterations
    const iters = Math.max(5, Math.round(150_000_000 / (c.body.length * 4 + 2000)));
    const total: number[] = [];
    const parse: number[] = [];
    const ajv: number[] = [];
    for (let r = 0; r < rounds + 2; r++) {
      let t0 = process.hrtime.bigint();
      for (let k = 0; k < iters; k++) if (v.checkBody(req) === null) sink++;
      const dTotal = Number(process.hrtime.bigint() - t0) / iters / 1000;
      t0 = process.hrtime.bigint();
      let parsed: unknown = null;
      for (let k = 0; k < iters; k++) parsed = JSON.parse(c.body.toString('utf8'));
      const dParse = Number(process.hrtime.bigint() - t0) / iters / 1000;
      t0 = process.hrtime.bigint();
      for (let k = 0; k < iters; k++) if (fn(parsed)) sink++;
      const dAjv = Number(process.hrtime.bigint() - t0) / iters / 1000;
      if (r >= 2) { total.push(dTotal); parse.push(dParse); ajv.push(dAjv); }
    }
    const us = median(total);
    const res: SizeResult = { label: c.label, bytes: c.body.length, model: c.model, us, parseUs: median(parse), ajvUs: median(ajv), mbPerS: c.body.length / us };
    sizes.push(res);
    log(`${res.label.padStart(7)} ${String(res.bytes).padStart(8)} B ${res.model.padEnd(7)} checkBody ${res.us.toFixed(2).padStart(9)} µs  (parse ${res.parseUs.toFixed(2)}, ajv ${res.ajvUs.toFixed(2)})  ${res.mbPerS.toFixed(0)} MB/s`);
  }

  // checkParameters on a typical request
  const pv = compileRouteValidator({ required: { querystring: ['limit', 'q'], header: ['x-api-version'], path: ['petId'] }, validator: { validateRequestBody: false, validateRequestParameters: true } }, models);
  const preq: RequestView = {
    query: 'q=rex&limit=20&offset=40&sort=name',
    headers: ['host', 'api.example.com', 'user-agent', 'curl/8.5', 'accept', '*/*', 'x-api-version', '2024-01-01', 'content-type', 'application/json'],
    pathParameters: { petId: '42' },
    contentType: 'application/json',
    body: null,
  };
  if (pv.checkParameters(preq) !== null) throw new Error('bench params do not validate');
  const ps: number[] = [];
  for (let r = 0; r < rounds + 2; r++) {
    const n = 1_000_000;
    const t0 = process.hrtime.bigint();
    for (let k = 0; k < n; k++) if (pv.checkParameters(preq) === null) sink++;
    if (r >= 2) ps.push(Number(process.hrtime.bigint() - t0) / n / 1000);
  }
  const paramsUs = median(ps);
  log(`checkParameters (2 query, 1 header, 1 path; all present): ${(paramsUs * 1000).toFixed(0)} ns`);

  let workerRoundTripUs: Record<string, number> | undefined;
  if (opts.worker !== false) {
    workerRoundTripUs = {};
    const w = new Worker(`const { parentPort } = require('node:worker_threads'); parentPort.on('message', (b) => parentPort.postMessage(b.byteLength));`, { eval: true });
    const once = (buf: Buffer) =>
      new Promise<void>((resolve) => {
        w.once('message', () => resolve());
        // what the gateway must do: copy the body out of uWS memory, transfer the copy
        const copy = new Uint8Array(buf.length);
        copy.set(buf);
        w.postMessage(copy, [copy.buffer]);
      });
    for (const target of [200, 20_000, 200_000]) {
      const c = makeBody(target);
      const ts: number[] = [];
      for (let k = 0; k < 2000; k++) {
        const t0 = process.hrtime.bigint();
        await once(c.body);
        if (k >= 200) ts.push(Number(process.hrtime.bigint() - t0) / 1000);
      }
      workerRoundTripUs[c.label] = median(ts);
      log(`worker round trip, ${c.label} body: ${median(ts).toFixed(1)} µs (median of 1800, idle worker)`);
    }
    await w.terminate();
  }

  // size at which checkBody crosses 50 µs, interpolated on the log-log curve
  let crossover50us = sizes[sizes.length - 1]!.bytes;
  for (let k = 1; k < sizes.length; k++) {
    const a = sizes[k - 1]!;
    const b = sizes[k]!;
    if (a.us <= 50 && b.us > 50) {
      const f = (Math.log(50) - Math.log(a.us)) / (Math.log(b.us) - Math.log(a.us));
      crossover50us = Math.round(Math.exp(Math.log(a.bytes) + f * (Math.log(b.bytes) - Math.log(a.bytes))));
      break;
    }
  }
  log(`inline checkBody reaches 50 µs at ~${crossover50us} B; INLINE_BODY_LIMIT = ${INLINE_BODY_LIMIT} B`);
  if (sink === -1) log('');
  return { sizes, paramsUs, workerRoundTripUs, crossover50us };
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const args = process.argv.slice(2);
  const k = args.indexOf('--rounds');
  await runValidationBench({ rounds: k === -1 ? 7 : Number(args[k + 1]), worker: !args.includes('--no-worker'), log: console.log });
}
