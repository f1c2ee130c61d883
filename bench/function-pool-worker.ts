/**
 * Function thread for bench/function-pool.ts (the hand-written pools). It does what
 * src/functions/runner.ts does per invocation (load-cache lookup, buildEventV2/V1, lambdaContext,
 * the handler, mapResultV2/V1, reply body as an ArrayBuffer) and differs only in how requests and
 * replies cross the thread boundary, chosen by workerData.mode:
 *
 *   single   one message per invocation: { id, req } in, { id, reply } out (body transferred)
 *   batch    one message per main-thread turn: [id, req, id, req, ...] (full InvokeRequest objects);
 *            replies collected and posted back as one [id, reply, ...] message per thread turn
 *   compact  as batch, but each invocation is a run of positional fields (route index instead of
 *            the ~11 per-route fields); replies positional, all response bodies in one buffer
 *   msgpack  compact, encoded with msgpackr into one transferred buffer each way
 *
 * Also exports runOne() so the main thread can run the same work inline (the floor).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { Packr, Unpackr } from 'msgpackr';
import type { InvokeRequest } from '../src/functions/types.js';

/** Per-route constants a compact request refers to by index. */
export interface RouteInfo {
  module: string;
  exportName: string;
  format: '1.0' | '2.0';
  timeoutMs: number;
  functionName: string;
  memoryLimitInMB: number;
  routeKey: string;
  stage: string;
  stageVariables: Record<string, string> | null;
  apiId: string;
  accountId: string;
}

/** Positional fields per invocation in compact/msgpack modes (after id and route index). */
export const COMPACT_FIELDS = 11; // id, route, method, rawPath, query, headers, sourceIp, requestId, time, pathParameters, domainName  (+ body)
export const COMPACT_STRIDE = COMPACT_FIELDS + 1;

/** The gateway's own invocation (src/functions/runner.ts): load, event, handler, result mapping. */
export { invoke as runOne } from '../src/functions/runner.js';
import { invoke as runOne, load } from '../src/functions/runner.js';

/** Rebuilds the InvokeRequest from compact fields (a[i] is the id). */
function fromCompact(routes: RouteInfo[], a: unknown[], i: number): InvokeRequest {
  const r = routes[a[i + 1] as number]!;
  const body = a[i + 11] as ArrayBuffer | Uint8Array | null;
  return {
    module: r.module, exportName: r.exportName, format: r.format, timeoutMs: r.timeoutMs,
    functionName: r.functionName, memoryLimitInMB: r.memoryLimitInMB,
    method: a[i + 2] as string, rawPath: a[i + 3] as string, query: a[i + 4] as string, headers: a[i + 5] as string[],
    sourceIp: a[i + 6] as string, requestId: a[i + 7] as string, requestTimeEpochMs: a[i + 8] as number,
    routeKey: r.routeKey, stage: r.stage, pathParameters: a[i + 9] as Record<string, string> | null,
    stageVariables: r.stageVariables, domainName: a[i + 10] as string, apiId: r.apiId, accountId: r.accountId,
    body: body === null ? null : body instanceof ArrayBuffer ? body
      : (body.byteOffset === 0 && body.byteLength === body.buffer.byteLength ? body.buffer : body.slice().buffer) as ArrayBuffer,
  };
}

function start(): void {
  const port = parentPort!;
  const wd = workerData as { fpBench: true; mode: string; flush: 'micro' | 'immediate'; routes: RouteInfo[] };
  const routes = wd.routes;
  const mode = wd.mode;
  const schedule: (f: () => void) => void = wd.flush === 'micro' ? queueMicrotask : (f) => { setImmediate(f); };

  if (mode === 'single') {
    port.on('message', (m: { id: number; req: InvokeRequest }) => {
      void runOne(m.req).then((reply) => {
        const b = reply.ok ? reply.response.body : null;
        port.postMessage({ id: m.id, reply }, b !== null ? [b] : undefined);
      });
    });
    return;
  }

  if (mode === 'batch') {
    let out: unknown[] = [];
    let transfer: ArrayBuffer[] = [];
    const flush = (): void => {
      const o = out, t = transfer;
      out = []; transfer = [];
      port.postMessage(o, t);
    };
    port.on('message', (m: unknown[]) => {
      for (let i = 0; i < m.length; i += 2) {
        const id = m[i] as number;
        void runOne(m[i + 1] as InvokeRequest).then((reply) => {
          if (out.length === 0) schedule(flush);
          out.push(id, reply);
          if (reply.ok && reply.response.body !== null) transfer.push(reply.response.body);
        });
      }
    });
    return;
  }

  // compact / msgpack: replies are [id, 1, status, headers, bodyStart, bodyEnd] or [id, 0, kind, message, 0, 0];
  // the bodies of one turn go back concatenated in one buffer (last element of the message).
  const packr = mode === 'msgpack' ? new Packr({ useRecords: false }) : null;
  const unpackr = mode === 'msgpack' ? new Unpackr({ useRecords: false }) : null;
  let out: unknown[] = [];
  let bodies: Uint8Array[] = [];
  let bodyBytes = 0;
  const flush = (): void => {
    const all = new Uint8Array(bodyBytes);
    let off = 0;
    for (const b of bodies) { all.set(b, off); off += b.byteLength; }
    out.push(all);
    const o = out;
    out = []; bodies = []; bodyBytes = 0;
    if (packr !== null) {
      const packed = packr.pack(o);
      const copy = new Uint8Array(packed.byteLength);
      copy.set(packed);
      port.postMessage(copy, [copy.buffer]);
    } else {
      port.postMessage(o, [all.buffer]);
    }
  };
  port.on('message', (m: unknown) => {
    const a: unknown[] = unpackr !== null ? (unpackr.unpack(m as Uint8Array) as unknown[]) : (m as unknown[]);
    for (let i = 0; i < a.length; i += COMPACT_STRIDE) {
      const id = a[i] as number;
      void runOne(fromCompact(routes, a, i)).then((reply) => {
        if (out.length === 0) schedule(flush);
        if (reply.ok) {
          const r = reply.response;
          const start = bodyBytes;
          if (r.body !== null) { bodies.push(new Uint8Array(r.body)); bodyBytes += r.body.byteLength; }
          out.push(id, 1, r.status, r.headers, start, bodyBytes);
        } else {
          out.push(id, 0, reply.failure.kind, reply.failure.message, 0, 0);
        }
      });
    }
  });
}

if (parentPort !== null && (workerData as { fpBench?: boolean } | null)?.fpBench === true) {
  // Preload every route's handler, then say so.
  const wd = workerData as { routes: RouteInfo[] };
  void load(wd.routes.map((r) => ({ module: r.module, exportName: r.exportName }))).then(() => {
    start();
    parentPort!.postMessage('ready');
  });
}
