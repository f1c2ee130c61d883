import type { Config } from '../config/index.js';
import type { MetricsSnapshot } from '../observability/metrics.js';

/** IPC between the master and its workers (structured-clone safe). */

export type ToWorker =
  | { type: 'start'; config: Config; workerId: string }
  | { type: 'drain' }
  | { type: 'snapshot'; nonce: number };

export type FromWorker =
  /** Sent once the worker listens for IPC: ESM loads asynchronously, so 'online' comes too early. */
  | { type: 'hello' }
  | { type: 'ready'; port: number; planVersion: string }
  | { type: 'fatal'; message: string }
  | { type: 'metrics'; snapshot: MetricsSnapshot; nonce?: number };
