import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Config } from '../config/index.js';
import { decodeKey, derivedKeyId, encodeKey, hashKey, KEYS_HASH, newKeyValue, type ApiKeyRecord } from '../limits/keys.js';
import { usageKey } from '../limits/phase.js';
import { periodEnd, periodLabel, periodStart, type Period } from '../limits/periods.js';
import type { Logger } from '../observability/log.js';
import { RedisStore } from '../store/redis.js';
import { configKeyRecords, createStore, EVENTS_CHANNEL, type SharedEvent } from '../store/runtime.js';
import type { Store } from '../store/types.js';

/**
 * Admin API for shared state, on the master's admin listener:
 *   POST   /apikeys                {name, usagePlans, value?, enabled?, invalidateCache?} -> 201, the value shown once
 *   GET    /apikeys                every key (config and API), never a value
 *   GET    /apikeys/{id}
 *   DELETE /apikeys/{id}           revoke -> 204 (config keys are changed in the config)
 *   GET    /apikeys/{id}/usage?date=YYYY-MM-DD   used/limit/remaining per usage plan for the period holding date
 *   DELETE /cache/{api}/{stage}    flush a stage's cache (AWS FlushStageCache) -> 202
 * Keys live hashed in the store; with Redis every node sees them at once (workers cache answers for
 * KEY_CACHE_MS and drop them on the pub/sub change event), with the memory store the master keeps
 * them and pushes them to its workers.
 */
export class SharedAdmin {
  private store: Store;
  private config: Config;

  constructor(
    config: Config,
    private readonly log: Logger,
    /** Sends an event to every local worker (IPC). */
    private readonly toWorkers: (ev: SharedEvent) => void,
    /** Memory store: sums counters held by the workers. */
    private readonly workerCounts: (keys: string[]) => Promise<number[]>,
  ) {
    this.config = config;
    this.store = this.connect(config);
  }

  private connect(config: Config): Store {
    return createStore(config, {
      connect: true,
      onStateChange: (up, reason) => (up ? this.log.info({ store: 'redis' }, 'admin: redis reachable') : this.log.warn({ store: 'redis', reason }, 'admin: redis unreachable')),
    });
  }

  /** After a reload; a changed `store` section gets a new connection (the workers were replaced too). */
  setConfig(config: Config): void {
    const changed = JSON.stringify(config.store) !== JSON.stringify(this.config.store);
    this.config = config;
    if (changed) {
      void this.store.close();
      this.store = this.connect(config);
    }
  }

  /** API keys made through this API (memory store), for a worker that starts. */
  async memoryKeys(): Promise<ApiKeyRecord[]> {
    if (this.store.kind !== 'memory') return [];
    return [...(await this.store.hgetall(KEYS_HASH)).values()].map(decodeKey).filter((r): r is ApiKeyRecord => r !== null);
  }

  close(): Promise<void> {
    return this.store.close();
  }

  /** Answers the request when it is ours; false otherwise. */
  handle(req: IncomingMessage, res: ServerResponse, path: string, query: URLSearchParams): boolean {
    const parts = path.split('/').filter(Boolean).map((p) => decodeURIComponent(p));
    if (parts[0] === 'apikeys') {
      void this.keys(req, res, parts.slice(1), query).catch((e: Error) => this.fail(res, e));
      return true;
    }
    if (parts[0] === 'cache') {
      void this.cache(req, res, parts.slice(1)).catch((e: Error) => this.fail(res, e));
      return true;
    }
    return false;
  }

  private fail(res: ServerResponse, e: Error): void {
    const unavailable = e.name === 'StoreUnavailableError';
    if (!unavailable) this.log.error({ error: e.stack ?? e.message }, 'admin API error');
    if (!res.headersSent) json(res, unavailable ? 503 : 500, { message: unavailable ? 'Store unavailable' : 'Internal Server Error' });
  }

  private async allKeys(): Promise<ApiKeyRecord[]> {
    const stored = [...(await this.store.hgetall(KEYS_HASH)).values()].map(decodeKey).filter((r): r is ApiKeyRecord => r !== null);
    return [...configKeyRecords(this.config), ...stored];
  }

  private async keys(req: IncomingMessage, res: ServerResponse, rest: string[], query: URLSearchParams): Promise<void> {
    const m = req.method;
    if (rest.length === 0) {
      if (m === 'GET') return json(res, 200, { items: (await this.allKeys()).map(view) });
      if (m === 'POST') return this.create(req, res);
      return json(res, 405, { message: 'Method Not Allowed' }, { allow: 'GET, POST' });
    }
    const rec = (await this.allKeys()).find((k) => k.id === rest[0]);
    if (rec === undefined) return json(res, 404, { message: `API key ${rest[0]} not found` });
    if (rest.length === 1) {
      if (m === 'GET') return json(res, 200, view(rec));
      if (m === 'DELETE') {
        if (rec.source === 'config') return json(res, 409, { message: 'this key comes from the config file: remove it there and reload' });
        await this.store.hdel(KEYS_HASH, rec.hash);
        this.announce({ type: 'key-changed', hash: rec.hash, record: null });
        this.log.info({ keyId: rec.id }, 'API key revoked');
        res.writeHead(204).end();
        return;
      }
      return json(res, 405, { message: 'Method Not Allowed' }, { allow: 'GET, DELETE' });
    }
    if (rest.length === 2 && rest[1] === 'usage' && m === 'GET') return this.usage(res, rec, query);
    return json(res, 404, { message: 'Not Found' });
  }

  private async create(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let body: Record<string, unknown>;
    try {
      body = JSON.parse((await readBody(req, 64 * 1024)).toString('utf8')) as Record<string, unknown>;
      if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new Error('not an object');
    } catch (e) {
      return json(res, 400, { message: 'Invalid API key', errors: [`request body must be a JSON object: ${(e as Error).message}`] });
    }
    const problems: string[] = [];
    const name = body['name'];
    if (typeof name !== 'string' || name.length < 1 || name.length > 128) problems.push('name: a string of 1-128 characters');
    const plans = body['usagePlans'];
    if (!Array.isArray(plans) || plans.length === 0 || !plans.every((p) => typeof p === 'string')) problems.push('usagePlans: a non-empty array of plan names');
    else {
      const stages = new Map<string, string>();
      for (const p of plans as string[]) {
        const plan = this.config.usagePlans[p];
        if (plan === undefined) { problems.push(`usagePlans: unknown plan "${p}"`); continue; }
        for (const as of plan.apiStages) {
          const st = `${as.api}/${as.stage ?? this.config.apis.find((a) => a.name === as.api)?.stage ?? '$default'}`;
          const other = stages.get(st);
          if (other !== undefined && other !== p) problems.push(`usagePlans: "${other}" and "${p}" both cover ${st}; a key may use one plan per stage`);
          stages.set(st, p);
        }
      }
    }
    const value = body['value'] ?? newKeyValue();
    if (typeof value !== 'string' || !/^[\x21-\x7e]{20,128}$/.test(value)) problems.push('value: 20-128 printable ASCII characters');
    for (const k of ['enabled', 'invalidateCache']) if (body[k] !== undefined && typeof body[k] !== 'boolean') problems.push(`${k}: a boolean`);
    for (const k of Object.keys(body)) if (!['name', 'usagePlans', 'value', 'enabled', 'invalidateCache'].includes(k)) problems.push(`${k}: unknown field`);
    if (problems.length > 0) return json(res, 400, { message: 'Invalid API key', errors: problems });
    const hash = hashKey(value as string);
    const all = await this.allKeys();
    if (all.some((k) => k.hash === hash)) return json(res, 409, { message: 'an API key with this value exists' });
    const rec: ApiKeyRecord = {
      id: derivedKeyId(hash), name: name as string, usagePlans: plans as string[], enabled: body['enabled'] !== false,
      invalidateCache: body['invalidateCache'] === true, source: 'api', createdDate: new Date().toISOString(), hash,
    };
    await this.store.hset(KEYS_HASH, hash, encodeKey(rec));
    this.announce({ type: 'key-changed', hash, record: rec });
    this.log.info({ keyId: rec.id, name: rec.name }, 'API key created');
    json(res, 201, { ...view(rec), value });
  }

  private async usage(res: ServerResponse, rec: ApiKeyRecord, query: URLSearchParams): Promise<void> {
    const date = query.get('date');
    const at = date === null ? Date.now() : Date.parse(`${date}T00:00:00Z`);
    if (date !== null && (!/^\d{4}-\d{2}-\d{2}$/.test(date) || Number.isNaN(at))) return json(res, 400, { message: 'date must be YYYY-MM-DD' });
    const rows: { usagePlan: string; period: Period; limit: number | null; start: number; key: string }[] = [];
    for (const p of rec.usagePlans) {
      const plan = this.config.usagePlans[p];
      if (plan === undefined) continue;
      const period = plan.quota?.period ?? 'DAY';
      const start = periodStart(period, at);
      rows.push({ usagePlan: p, period, limit: plan.quota?.limit ?? null, start, key: usageKey(p, rec.id, start) });
    }
    const counts = this.store.kind === 'memory' ? await this.workerCounts(rows.map((r) => r.key)) : await Promise.all(rows.map((r) => this.store.count(r.key)));
    json(res, 200, {
      keyId: rec.id,
      items: rows.map((r, i) => ({
        usagePlan: r.usagePlan, period: r.period, start: periodLabel(r.start), end: periodLabel(periodEnd(r.period, r.start)),
        used: counts[i]!, limit: r.limit, remaining: r.limit === null ? null : Math.max(0, r.limit - counts[i]!),
      })),
    });
  }

  private async cache(req: IncomingMessage, res: ServerResponse, rest: string[]): Promise<void> {
    if (req.method !== 'DELETE' || rest.length !== 2) return json(res, req.method === 'DELETE' ? 404 : 405, { message: 'use DELETE /cache/{api}/{stage}' });
    const [api, stage] = rest as [string, string];
    if (!this.config.apis.some((a) => a.name === api && a.stage === stage)) return json(res, 404, { message: `no API "${api}" with stage "${stage}"` });
    const prefix = `c:${api}/${stage}:`;
    const deleted = this.store.kind === 'redis' ? await this.store.delPrefix(prefix) : 0;
    this.announce({ type: 'cache-flush', prefix });
    this.log.info({ api, stage, deleted }, 'stage cache flushed');
    json(res, 202, { message: 'flushed', api, stage, deleted });
  }

  /** Local workers by IPC at once; other nodes' workers by Redis pub/sub. */
  private announce(ev: SharedEvent): void {
    this.toWorkers(ev);
    if (this.store instanceof RedisStore) void this.store.publish(EVENTS_CHANNEL, JSON.stringify(ev)).catch(() => {});
  }
}

/** What the API shows of a key: never the value or its hash. */
function view(r: ApiKeyRecord): Record<string, unknown> {
  return { id: r.id, name: r.name, usagePlans: r.usagePlans, enabled: r.enabled, invalidateCache: r.invalidateCache, source: r.source, createdDate: r.createdDate || null };
}

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
}

function readBody(req: IncomingMessage, max: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let n = 0;
    req.on('data', (c: Buffer) => {
      n += c.length;
      if (n > max) { reject(new Error(`body over ${max} bytes`)); req.destroy(); return; }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

