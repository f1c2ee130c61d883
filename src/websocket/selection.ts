/**
 * WebSocket route selection (https://docs.aws.amazon.com/apigateway/latest/developerguide/websocket-api-develop-routes.html):
 * the API's routeSelectionExpression is evaluated against each incoming message, read as JSON.
 * Two forms:
 * - `$request.body.action`: the value at that (dotted) path of the message;
 * - `${request.body.service}/${request.body.action}`: a template; every `${request.body.X}` is replaced
 *   by its value (the whole key fails to select when one of them is missing).
 * A message that is not JSON, a missing property, or a key no route has selects `$default`.
 * Strings are used as they are; numbers and booleans as their JSON text; objects, arrays and null
 * select nothing.
 */

/** Returns the selected route key, or null (the caller falls back to $default). */
export type RouteSelector = (message: string) => string | null;

const BODY_PATH = /^\$request\.body\.([A-Za-z0-9_$-]+(?:\.[A-Za-z0-9_$-]+)*)$/;
const TEMPLATE_PART = /\$\{request\.body\.([A-Za-z0-9_$-]+(?:\.[A-Za-z0-9_$-]+)*)\}/g;

function at(doc: unknown, path: readonly string[]): string | null {
  let v = doc;
  for (const p of path) {
    if (typeof v !== 'object' || v === null || Array.isArray(v) || !Object.hasOwn(v, p)) return null;
    v = (v as Record<string, unknown>)[p];
  }
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return JSON.stringify(v);
  return null;
}

function parse(message: string): unknown {
  // Cheap refusal first: only an object can hold the property.
  let i = 0;
  while (i < message.length && (message.charCodeAt(i) === 32 || message.charCodeAt(i) === 9 || message.charCodeAt(i) === 10 || message.charCodeAt(i) === 13)) i++;
  if (message.charCodeAt(i) !== 123 /* { */) return undefined;
  try {
    return JSON.parse(message);
  } catch {
    return undefined;
  }
}

/** Compiles an expression; throws with a message for one it cannot evaluate. */
export function compileRouteSelection(expr: string): RouteSelector {
  const m = BODY_PATH.exec(expr);
  if (m !== null) {
    const path = m[1]!.split('.');
    return (message) => {
      const doc = parse(message);
      return doc === undefined ? null : at(doc, path);
    };
  }
  const parts: (string | string[])[] = [];
  let last = 0;
  for (const t of expr.matchAll(TEMPLATE_PART)) {
    if (t.index! > last) parts.push(expr.slice(last, t.index));
    parts.push(t[1]!.split('.'));
    last = t.index! + t[0].length;
  }
  if (last < expr.length) parts.push(expr.slice(last));
  if (!parts.some((p) => Array.isArray(p)) || parts.some((p) => typeof p === 'string' && p.includes('$'))) {
    throw new Error(`"${expr}": use $request.body.<property> or a template of \${request.body.<property>} parts`);
  }
  return (message) => {
    const doc = parse(message);
    if (doc === undefined) return null;
    let out = '';
    for (const p of parts) {
      if (typeof p === 'string') out += p;
      else {
        const v = at(doc, p);
        if (v === null) return null;
        out += v;
      }
    }
    return out;
  };
}
