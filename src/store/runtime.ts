import type { Config } from '../config/index.js';
import { L1Cache } from '../cache/l1.js';
import { derivedKeyId, hashKey, KeyRegistry, type ApiKeyRecord } from '../limits/keys.js';
import { Limiter } from '../limits/limiter.js';
import { compilePlans, type CompiledPlan } from '../limits/phase.js';
import { MemoryStore } from './memory.js';
import { RedisStore } from './redis.js';
import type { Store } from './types.js';

/** Everything a worker shares across its routes for throttling, keys and caching. */
export interface SharedState {
  store: Store;
  limiter: Limiter;
  keys: KeyRegistry;
  plans: Map<string, CompiledPlan>;
  l1: L1Cache | null;
  close(): Promise<void>;
}

export interface SharedOptions {
  /** false (the master's dry run, validation): never connect to Redis. */
  connect: boolean;
  onStateChange?: (up: boolean, reason: string) => void;
  onStoreError?: () => void;
}

/** Pub/sub channel for cache flushes and API key changes. */
export const EVENTS_CHANNEL = 'events';
export type SharedEvent =
  | { type: 'cache-flush'; prefix: string }
  /** One refreshed entry: workers drop their L1 copy (the refreshing worker keeps its new one). */
  | { type: 'cache-evict'; key: string; from: string }
  | { type: 'key-changed'; hash: string; record: ApiKeyRecord | null };

export function configKeyRecords(config: Config): ApiKeyRecord[] {
  return config.apiKeys.map((k) => {
    const hash = hashKey(k.value);
    return {
      id: k.id ?? derivedKeyId(hash), name: k.name, usagePlans: k.usagePlans, enabled: k.enabled,
      invalidateCache: k.invalidateCache, source: 'config', createdDate: '', hash,
    };
  });
}

export function createStore(config: Config, o: SharedOptions): Store {
  if (config.store.type === 'redis' && o.connect) {
    const { keyPrefix, ...connect } = config.store.redis!;
    return new RedisStore({ ...connect, keyPrefix, ...(o.onStateChange ? { onStateChange: o.onStateChange } : {}) });
  }
  return new MemoryStore();
}

export function createSharedState(config: Config, o: SharedOptions): SharedState {
  const store = createStore(config, o);
  const t = config.throttling;
  const limiter = new Limiter(store, { mode: t.mode, failMode: t.failMode, leaseMs: t.leaseMs, ...(o.onStoreError ? { onStoreError: o.onStoreError } : {}) });
  const keys = new KeyRegistry(configKeyRecords(config), store.kind === 'redis' ? store : null);
  const stageOf = new Map(config.apis.map((a) => [a.name, a.stage]));
  const plans = compilePlans(config.usagePlans, (api) => stageOf.get(api) ?? '$default');
  const c = config.cache;
  const l1 = c.l1MaxBytes > 0 ? new L1Cache({ maxBytes: c.l1MaxBytes, maxEntries: c.l1MaxEntries }) : null;
  return {
    store, limiter, keys, plans, l1,
    close: async () => {
      await limiter.close();
      await store.close();
    },
  };
}
