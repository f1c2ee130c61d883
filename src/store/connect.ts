import { readFileSync } from 'node:fs';
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';

/** How to reach Redis: one instance, a Sentinel group, or a Cluster (exactly one of url/sentinels/cluster). */
export interface RedisConnectOptions {
  /** redis://[[user]:password@]host:port[/db]; rediss:// turns TLS on. */
  url?: string;
  /** Sentinel mode: the sentinels to ask, and the master group name. */
  sentinels?: { host: string; port: number }[];
  name?: string;
  sentinelPassword?: string;
  /** Cluster mode: seed nodes (any subset of the cluster). */
  cluster?: { host: string; port: number }[];
  username?: string;
  password?: string;
  db?: number;
  /** true: TLS with the system CAs; or files for a private CA / client certificate. */
  tls?: boolean | { ca?: string; cert?: string; key?: string; rejectUnauthorized?: boolean; servername?: string };
  /** Every command fails after this many ms (then the caller falls back). */
  commandTimeoutMs?: number;
  connectTimeoutMs?: number;
}

export type RedisClient = Redis | Cluster;

function tlsOptions(t: RedisConnectOptions['tls']): RedisOptions['tls'] | undefined {
  if (t === undefined || t === false) return undefined;
  if (t === true) return {};
  return {
    ...(t.ca !== undefined ? { ca: readFileSync(t.ca) } : {}),
    ...(t.cert !== undefined ? { cert: readFileSync(t.cert) } : {}),
    ...(t.key !== undefined ? { key: readFileSync(t.key) } : {}),
    ...(t.rejectUnauthorized !== undefined ? { rejectUnauthorized: t.rejectUnauthorized } : {}),
    ...(t.servername !== undefined ? { servername: t.servername } : {}),
  };
}

/**
 * An ioredis client that never queues while disconnected and never retries a command: with Redis
 * down every call fails at once, so callers fail open or closed instead of piling up requests.
 * Reconnection runs in the background forever (50 ms doubling to 2 s): Redis coming back is normal.
 */
export function connectRedis(o: RedisConnectOptions, extra: RedisOptions = {}): RedisClient {
  const modes = [o.url, o.sentinels, o.cluster].filter((x) => x !== undefined).length;
  if (modes !== 1) throw new Error('redis: give exactly one of url, sentinels, cluster');
  const tls = tlsOptions(o.tls);
  const base: RedisOptions = {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: o.commandTimeoutMs ?? 100,
    connectTimeout: o.connectTimeoutMs ?? 1000,
    retryStrategy: (times) => Math.min(2000, 50 * 2 ** Math.min(times, 6)),
    ...(o.username !== undefined ? { username: o.username } : {}),
    ...(o.password !== undefined ? { password: o.password } : {}),
    ...(o.db !== undefined ? { db: o.db } : {}),
    ...(tls !== undefined ? { tls } : {}),
    ...extra,
  };
  if (o.cluster !== undefined) {
    const co: ClusterOptions = {
      enableOfflineQueue: false,
      maxRedirections: 4,
      clusterRetryStrategy: (times) => Math.min(2000, 50 * 2 ** Math.min(times, 6)),
      redisOptions: base,
    };
    return new Cluster(o.cluster, co);
  }
  if (o.sentinels !== undefined) {
    if (o.name === undefined) throw new Error('redis: sentinels need the master group name (name)');
    return new Redis({
      ...base,
      sentinels: o.sentinels,
      name: o.name,
      ...(o.sentinelPassword !== undefined ? { sentinelPassword: o.sentinelPassword } : {}),
      sentinelRetryStrategy: (times) => Math.min(2000, 50 * 2 ** Math.min(times, 6)),
      ...(tls !== undefined ? { enableTLSForSentinelMode: true } : {}),
    });
  }
  return new Redis(o.url!, base);
}
