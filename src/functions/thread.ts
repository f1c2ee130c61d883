/**
 * Function thread entry (worker_threads). Messages from the uWS thread are batches of tasks (one
 * message per event-loop turn of the uWS thread); the tasks run concurrently and their results go
 * back batched too: one message per microtask checkpoint, bodies in the transfer list.
 */
import { parentPort } from 'node:worker_threads';
import { authorize, invoke, invokeEvent, load, validate } from './runner.js';
import type { ThreadResult, ThreadTask } from './types.js';

const port = parentPort!;
let out: ThreadResult[] = [];
let transfer: ArrayBuffer[] = [];
let scheduled = false;

function flush(): void {
  scheduled = false;
  const results = out;
  const list = transfer;
  out = [];
  transfer = [];
  port.postMessage(results, list);
}

function done(r: ThreadResult, buf: ArrayBuffer | null): void {
  out.push(r);
  if (buf !== null && buf.byteLength > 0) transfer.push(buf);
  if (!scheduled) {
    scheduled = true;
    queueMicrotask(flush);
  }
}

function run(t: ThreadTask): void {
  switch (t.kind) {
    case 'invoke':
      invoke(t.req).then(
        (reply) => done({ id: t.id, reply }, reply.ok ? reply.response.body : null),
        (e: Error) => done({ id: t.id, reply: { ok: false, failure: { kind: 'handler_error', message: String(e?.message ?? e) } } }, null),
      );
      break;
    case 'authorize':
      authorize(t.req).then(
        (authorized) => done({ id: t.id, authorized }, null),
        (e: Error) => done({ id: t.id, authorized: { ok: false, unauthorized: false, failure: { kind: 'handler_error', message: String(e?.message ?? e) } } }, null),
      );
      break;
    case 'event':
      invokeEvent(t.req).then(
        (evented) => done({ id: t.id, evented }, null),
        (e: Error) => done({ id: t.id, evented: { ok: false, failure: { kind: 'handler_error', message: String(e?.message ?? e) } } }, null),
      );
      break;
    case 'validate':
      try {
        const v = validate(t.task);
        done({ id: t.id, validated: v }, v.body);
      } catch (e) {
        done({ id: t.id, error: (e as Error).message }, null);
      }
      break;
    case 'load':
      load(t.handlers).then((failed) => done({ id: t.id, loaded: failed }, null), (e: Error) => done({ id: t.id, error: e.message }, null));
      break;
  }
}

// A handler's stray rejection or timer exception would end the thread and every invocation running on
// it (up to concurrencyPerThread); Lambda fails only the invocation at fault. Log it and go on: that
// invocation still answers, or meets its timeout.
process.on('unhandledRejection', (e) => console.error('function thread: unhandled rejection:', e));
process.on('uncaughtException', (e) => console.error('function thread: uncaught exception:', e));

port.on('message', (batch: ThreadTask[]) => {
  for (let i = 0; i < batch.length; i++) run(batch[i]!);
});
