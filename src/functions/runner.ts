/**
 * What a function thread does: load handler modules, build the AWS event, run the handler (async or
 * callback style) and map its result to HTTP; validate large bodies. Everything here is off the
 * uWS thread. thread.ts is the message loop around it.
 */
import { pathToFileURL } from 'node:url';
import { buildEventV1, buildEventV2, lambdaContext, mapResultV1, mapResultV2 } from './payload.js';
import { compileModels, compileRouteValidator, type RequestValidator } from '../validation/index.js';
import { buildAuthorizerEvent, isUnauthorizedError, parseAuthorizerResult } from './authorizer.js';
import type { AuthorizeReply, AuthorizeRequest, EventInvokeReply, EventInvokeRequest, InvokeReply, InvokeRequest, ValidateReply, ValidateTask } from './types.js';

type Handler = (event: unknown, context: unknown, callback?: (err?: unknown, result?: unknown) => void) => unknown;

/** Loaded handlers by "module#export"; a failed load is remembered too (same error each time, no re-import storm). */
const handlers = new Map<string, Promise<Handler>>();

function loadHandler(module: string, exportName: string): Promise<Handler> {
  const key = `${module}#${exportName}`;
  let p = handlers.get(key);
  if (p === undefined) {
    p = import(pathToFileURL(module).href).then((mod: Record<string, unknown>) => {
      // CommonJS modules arrive as { default: module.exports, ...named exports Node could detect }.
      const fn = mod[exportName] ?? (mod.default as Record<string, unknown> | undefined)?.[exportName];
      if (typeof fn !== 'function') throw new Error(`${module} has no exported function "${exportName}"`);
      return fn as Handler;
    });
    handlers.set(key, p);
  }
  return p;
}

/** Runs the handler; callback-style handlers (3 parameters) settle through the callback or a returned promise. */
function call(fn: Handler, event: unknown, context: unknown): Promise<unknown> {
  if (fn.length < 3) return Promise.resolve().then(() => fn(event, context));
  return new Promise((resolve, reject) => {
    const r = fn(event, context, (err, result) => (err != null ? reject(err) : resolve(result)));
    if (r !== null && typeof r === 'object' && typeof (r as Promise<unknown>).then === 'function') (r as Promise<unknown>).then(resolve, reject);
  });
}

function errorText(e: unknown): string {
  if (e instanceof Error) return `${e.name}: ${e.message}`;
  try { return JSON.stringify(e) ?? String(e); } catch { return String(e); }
}

/** Validators by task key: compiled on first use in this thread. */
const validators = new Map<string, RequestValidator>();

/** A large body against its route's model; the body goes back (moved) with the verdict. */
export function validate(t: ValidateTask): ValidateReply {
  let v = validators.get(t.key);
  if (v === undefined) {
    v = compileRouteValidator(t.spec, compileModels(t.models, { draft: t.draft }));
    validators.set(t.key, v);
  }
  const error = v.checkBody({ query: '', headers: [], pathParameters: null, contentType: t.contentType, body: Buffer.from(t.body) });
  return { error, body: t.body };
}

/** Imports every handler up front so a missing file or export shows at startup. */
export async function load(list: { module: string; exportName: string }[]): Promise<{ module: string; exportName: string; error: string }[]> {
  const out: { module: string; exportName: string; error: string }[] = [];
  for (const h of list) {
    try {
      await loadHandler(h.module, h.exportName);
    } catch (e) {
      out.push({ ...h, error: errorText(e) });
    }
  }
  return out;
}

/** Loads the handler and runs it on `event`; `failed` when the import or the handler failed. */
async function run(req: Pick<InvokeRequest, 'module' | 'exportName' | 'timeoutMs' | 'functionName' | 'memoryLimitInMB' | 'requestId' | 'accountId'>, event: () => unknown): Promise<{ result: unknown } | { failed: 'load_error' | 'handler_error'; error: unknown }> {
  const deadline = Date.now() + req.timeoutMs;
  let fn: Handler;
  try {
    fn = await loadHandler(req.module, req.exportName);
  } catch (e) {
    return { failed: 'load_error', error: e };
  }
  try {
    return { result: await call(fn, event(), lambdaContext(req, deadline)) };
  } catch (e) {
    return { failed: 'handler_error', error: e };
  }
}

export async function invoke(req: InvokeRequest): Promise<InvokeReply> {
  const v2 = req.format === '2.0';
  const r = await run(req, () => (v2 ? buildEventV2(req) : buildEventV1(req)));
  if ('failed' in r) return { ok: false, failure: { kind: r.failed, message: errorText(r.error) } };
  const mapped = v2 ? mapResultV2(r.result) : mapResultV1(r.result);
  if (!mapped.ok) return { ok: false, failure: { kind: 'bad_result', message: mapped.message } };
  return { ok: true, response: mapped.response };
}

/** A Lambda authorizer: its event, its answer checked (authorizer.ts). */
export async function authorize(req: AuthorizeRequest): Promise<AuthorizeReply> {
  const r = await run(req, () => buildAuthorizerEvent(req));
  if ('failed' in r) return { ok: false, unauthorized: r.failed === 'handler_error' && isUnauthorizedError(r.error), failure: { kind: r.failed, message: errorText(r.error) } };
  return parseAuthorizerResult(r.result, req);
}

/** A handler on an event built by the caller (WebSocket routes); the result goes back as JSON data. */
export async function invokeEvent(req: EventInvokeRequest): Promise<EventInvokeReply> {
  const r = await run(req, () => req.event);
  if ('failed' in r) return { ok: false, failure: { kind: r.failed, message: errorText(r.error) } };
  try {
    // Plain data only (no functions, class instances or cycles can cross back).
    return { ok: true, result: r.result === undefined ? null : JSON.parse(JSON.stringify(r.result)) };
  } catch (e) {
    return { ok: false, failure: { kind: 'bad_result', message: `the result is not JSON data: ${errorText(e)}` } };
  }
}
