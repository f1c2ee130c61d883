/**
 * What a function thread does: load handler modules, build the AWS event, run the handler (async or
 * callback style) and map its result to HTTP; validate large bodies. Everything here is off the
 * uWS thread. thread.ts is the message loop around it.
 */
import { pathToFileURL } from 'node:url';
import { buildEventV1, buildEventV2, lambdaContext, mapResultV1, mapResultV2 } from './payload.js';
import { compileModels, compileRouteValidator, type RequestValidator } from '../validation/index.js';
import type { InvokeReply, InvokeRequest, ValidateReply, ValidateTask } from './types.js';

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

export async function invoke(req: InvokeRequest): Promise<InvokeReply> {
  const deadline = Date.now() + req.timeoutMs;
  let fn: Handler;
  try {
    fn = await loadHandler(req.module, req.exportName);
  } catch (e) {
    return { ok: false, failure: { kind: 'load_error', message: errorText(e) } };
  }
  const v2 = req.format === '2.0';
  let result: unknown;
  try {
    const event = v2 ? buildEventV2(req) : buildEventV1(req);
    result = await call(fn, event, lambdaContext(req, deadline));
  } catch (e) {
    return { ok: false, failure: { kind: 'handler_error', message: errorText(e) } };
  }
  const mapped = v2 ? mapResultV2(result) : mapResultV1(result);
  if (!mapped.ok) return { ok: false, failure: { kind: 'bad_result', message: mapped.message } };
  return { ok: true, response: mapped.response };
}
