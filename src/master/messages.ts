import type { Config } from '../config/index.js';
import type { MetricsSnapshot } from '../observability/metrics.js';
import type { ApiKeyRecord } from '../limits/keys.js';
import type { SharedEvent } from '../store/runtime.js';

/** IPC between the master and its workers (structured-clone safe). */

export type ToWorker =
  /** keys: API keys created through the admin API (memory store only: with Redis, workers read them there). */
  | { type: 'start'; config: Config; workerId: string; keys?: ApiKeyRecord[] }
  | { type: 'event'; event: SharedEvent }
  /** Memory store: quota counters live in workers; the master sums their answers. */
  | { type: 'usage'; nonce: number; keys: string[] }
  | { type: 'drain' }
  | { type: 'snapshot'; nonce: number };

export type FromWorker =
  /** Sent once the worker listens for IPC: ESM loads asynchronously, so 'online' comes too early. */
  | { type: 'hello' }
  | { type: 'ready'; port: number; planVersion: string }
  | { type: 'fatal'; message: string }
  | { type: 'metrics'; snapshot: MetricsSnapshot; nonce?: number }
  | { type: 'usage'; nonce: number; counts: number[] }
  /** A worker's cache event for the master to relay to every worker of this node (memory store). */
  | { type: 'event'; event: SharedEvent };
