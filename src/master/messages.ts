import type { ConnectionReply } from '../websocket/runtime.js';
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
  | { type: 'snapshot'; nonce: number }
  /** @connections operation for a connection this worker owns, from another worker of the node (relayed by the master). */
  | { type: 'ws-op'; from: number; reqId: number; op: WireOp }
  | { type: 'ws-reply'; reqId: number; reply: ConnectionReply }
  /** Local broadcast bus: the master's id for this worker's publish, and every message of the node in order. */
  | { type: 'ws-published'; reqId: number; id: string }
  | { type: 'ws-deliver'; id: string; api: string; topic: string; data: string };

export type FromWorker =
  /** Sent once the worker listens for IPC: ESM loads asynchronously, so 'online' comes too early. */
  | { type: 'hello' }
  | { type: 'ready'; port: number; planVersion: string }
  | { type: 'fatal'; message: string }
  | { type: 'metrics'; snapshot: MetricsSnapshot; nonce?: number }
  | { type: 'usage'; nonce: number; counts: number[] }
  /** A worker's cache event for the master to relay to every worker of this node (memory store). */
  | { type: 'event'; event: SharedEvent }
  /** An @connections operation for the worker with serial `to`; its reply comes back as ws-reply. */
  | { type: 'ws-op'; to: number; reqId: number; op: WireOp }
  | { type: 'ws-reply'; to: number; reqId: number; reply: ConnectionReply }
  /** Local broadcast bus: a broadcast for the master to number and send to every worker of the node. */
  | { type: 'ws-publish'; reqId: number; api: string; topic: string; data: string };

/** ConnectionOp over IPC (JSON): post data as base64. */
export type WireOp = { op: 'post'; id: string; data: string } | { op: 'get'; id: string } | { op: 'delete'; id: string } | { op: 'subscribe' | 'unsubscribe'; id: string; topic: string };
