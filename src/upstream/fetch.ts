import type { Exchange, ResponseSink, UpstreamError } from './pool.js';
import type { Target, UpstreamGroup } from './group.js';

export interface BufferedResponse {
  status: number;
  /** Flat [name, value, ...], names lower-case. */
  headers: string[];
  body: Buffer;
}

export interface FetchOptions {
  method: string;
  path: string;
  /** "name: value\r\n" lines without Host (the target's is added). */
  headers: string;
  body: Buffer | null;
  connectTimeoutMs: number;
  timeoutMs: number;
  /** Larger responses fail with kind 'too_large'. */
  maxResponseBytes: number;
  onUpstreamError(kind: string): void;
  /** Set to the current exchange's abort, so a client that leaves releases the upstream socket at once. */
  abortable?: { abort(): void };
}

export class FetchError extends Error {
  constructor(readonly kind: UpstreamError['kind'] | 'unavailable' | 'too_large', message: string) {
    super(message);
  }
}

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);

/**
 * One request whose whole response is needed before answering (non-proxy integrations that map
 * the response): the same target choice, breaker accounting and connect-failure retries as the
 * streaming proxy, the response collected into one buffer.
 */
export function fetchBuffered(group: UpstreamGroup, o: FetchOptions): Promise<BufferedResponse> {
  return new Promise((resolve, reject) => {
    const idempotent = IDEMPOTENT.has(o.method);
    let attempts = 0;
    let last: Target | null = null;
    const attempt = () => {
      const target = group.pick(last, Date.now());
      if (target === null) {
        o.onUpstreamError('unavailable');
        return reject(new FetchError('unavailable', 'no healthy target'));
      }
      last = target;
      attempts++;
      let status = 0;
      let headers: string[] = [];
      const chunks: Buffer[] = [];
      let size = 0;
      const sink: ResponseSink = {
        onHead(s, h) {
          status = s;
          headers = h;
          group.success(target);
        },
        onData(chunk) {
          size += chunk.length;
          if (size > o.maxResponseBytes) {
            ex.abort();
            reject(new FetchError('too_large', `upstream response over ${o.maxResponseBytes} bytes`));
            return true;
          }
          chunks.push(Buffer.from(chunk)); // the chunk is a view into a shared read buffer
          return true;
        },
        onEnd() {
          resolve({ status, headers, body: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks) });
        },
        onError(err) {
          o.onUpstreamError(err.kind);
          if (err.kind !== 'pool_full' && err.kind !== 'invalid_request') group.failure(target, Date.now());
          const connectFailure = err.kind === 'connect_refused' || err.kind === 'connect_timeout' || err.kind === 'pool_full';
          if (status === 0 && idempotent && connectFailure && attempts <= group.retries) return attempt();
          reject(new FetchError(err.kind, err.message));
        },
      };
      const ex: Exchange = target.pool.request({
        method: o.method, path: o.path, headers: target.hostLine + o.headers, body: o.body, idempotent,
        connectTimeoutMs: o.connectTimeoutMs, timeoutMs: o.timeoutMs, head: o.method === 'HEAD',
      }, sink);
      if (o.abortable !== undefined) o.abortable.abort = () => ex.abort();
    };
    attempt();
  });
}
