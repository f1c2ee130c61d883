import { readFileSync } from 'node:fs';
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';

/** How to reach Redis: one instance, a Sentinel group, or a Cluster (exactly one of url/sentinels/cluster). */
export interface RedisConnectOptions {
  /** redis://[[user]:password@]host:port[/db]; rediss:// turns TLS on (system CAs unless `tls` says otherwise). username/password/db options win over the url's. */
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

/** host/port/credentials/db from a redis:// or rediss:// URL (the explicit options override these). */
function parseUrl(url: string): RedisOptions & { secure: boolean } {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new Error(`redis: url is not a URL: ${url}`);
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw new Error(`redis: url must start with redis:// or rediss:// (got ${u.protocol}//)`);
  if (u.search !== '') throw new Error('redis: url query parameters are not supported; use the options (db, tls, username, password)');
  const path = u.pathname.replace(/^\//, '');
  if (path !== '' && !/^\d+$/.test(path)) throw new Error(`redis: the url path must be a db number (got /${path})`);
  return {
    secure: u.protocol === 'rediss:',
    host: u.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1',
    port: u.port === '' ? 6379 : Number(u.port),
    ...(u.username !== '' ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password !== '' ? { password: decodeURIComponent(u.password) } : {}),
    ...(path !== '' ? { db: Number(path) } : {}),
  };
}

const backoff = (times: number) => Math.min(2000, 50 * 2 ** Math.min(times, 6));

/**
 * An ioredis client that never queues while disconnected and never retries a command: with Redis
 * down every call fails at once, so callers fail open or closed instead of piling up requests.
 * Reconnection runs in the background forever (50 ms doubling to 2 s): Redis coming back is normal.
 * Calls made before the first 'ready' fail too: wait with whenReady() first.
 * username/password/db given as options win over the ones in the url.
 */
export function connectRedis(o: RedisConnectOptions, extra: RedisOptions = {}): RedisClient {
  const modes = [o.url, o.sentinels, o.cluster].filter((x) => x !== undefined).length;
  if (modes !== 1) throw new Error('redis: give exactly one of url, sentinels, cluster');
  const { secure, ...fromUrl } = o.url !== undefined ? parseUrl(o.url) : { secure: false };
  const tls = tlsOptions(o.tls ?? (secure ? true : undefined));
  const base: RedisOptions = {
    ...fromUrl,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: o.commandTimeoutMs ?? 100,
    connectTimeout: o.connectTimeoutMs ?? 1000,
    retryStrategy: backoff,
    // Commands issued in one event-loop turn go out as one pipeline: under load many requests'
    // decisions share a write and a read (bench/scenarios/throttle.ts, redis-exact).
    enableAutoPipelining: true,
    ...(o.username !== undefined ? { username: o.username } : {}),
    ...(o.password !== undefined ? { password: o.password } : {}),
    ...(o.db !== undefined ? { db: o.db } : {}),
    ...(tls !== undefined ? { tls } : {}),
    ...extra,
  };
  if (o.cluster !== undefined) {
    if (o.db !== undefined && o.db !== 0) throw new Error('redis: a cluster has only db 0');
    // Node connections are made by ioredis with its own retryStrategy (none) and an offline queue;
    // the Cluster itself rejects calls while a node is not connected (enableOfflineQueue false), and
    // a node that is down costs at most commandTimeout. keyPrefix in extra is applied cluster-wide.
    const co: ClusterOptions = {
      enableOfflineQueue: false,
      enableAutoPipelining: true,
      maxRedirections: 4,
      clusterRetryStrategy: backoff,
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
      sentinelRetryStrategy: backoff,
      // tls applies to the master (and replicas) found through the sentinels, not to the sentinels.
      ...(tls !== undefined ? { enableTLSForSentinelMode: true } : {}),
    });
  }
  return new Redis(base);
}

// Errors that retrying cannot fix: whenReady reports them at once instead of waiting for the timeout.
const FATAL = /WRONGPASS|NOAUTH|NOPERM|invalid password|invalid username|certificate|self[- ]signed|ERR_TLS|CERT_|wrong version number|ERR unknown command .?auth|DB index is out of range/i;

/**
 * Resolves when the client is ready. Rejects with the reason when it cannot get there: at once for
 * a wrong password, a refused certificate and the like, else after `timeoutMs` with the last error
 * (connection refused, ...). The client keeps reconnecting in the background either way.
 */
export function whenReady(client: RedisClient, timeoutMs = 5000): Promise<void> {
  if (client.status === 'ready') return Promise.resolve();
  if (client.status === 'end') return Promise.reject(new Error('redis: client closed'));
  return new Promise((resolve, reject) => {
    let last = '';
    const done = (err?: Error) => {
      clearTimeout(timer);
      client.off('ready', onReady);
      client.off('end', onEnd);
      client.off('error', onError);
      client.off('node error', onError);
      if (err) reject(err);
      else resolve();
    };
    const onReady = () => done();
    const onEnd = () => done(new Error(`redis: client closed before ready${last ? `: ${last}` : ''}`));
    const onError = (e: Error & { lastNodeError?: Error }) => {
      last = e.lastNodeError !== undefined ? `${e.message} (${e.lastNodeError.message})` : e.message;
      if (FATAL.test(last)) done(new Error(`redis: cannot connect: ${last}`));
    };
    const timer = setTimeout(() => done(new Error(`redis: not ready after ${timeoutMs} ms${last ? `: ${last}` : ''}`)), timeoutMs);
    client.on('ready', onReady);
    client.on('end', onEnd);
    client.on('error', onError);
    client.on('node error', onError);
  });
}
