/**
 * The JSONPath subset that API Gateway mapping templates use in `$input.json(x)` / `$input.path(x)`.
 *
 * AWS: "$input.json(x) ... evaluates a JSONPath expression ... For more information about JSONPath, see
 * JSONPath (goessner.net) or JSONPath for Java (github.com/jayway/JsonPath)"
 * (https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-mapping-template-reference.html#input-variable-reference).
 * So the semantics follow Jayway JsonPath:
 *  - a *definite* path (only `.name`, `['name']`, `[n]`) yields one value, or nothing when it does not resolve;
 *  - an *indefinite* path (`*`, `..`, `[a,b]`, `[i,j]`, `[s:e]`) yields the list of every match (possibly empty);
 *  - a path not starting with `$` is read as `$.` + path; `[-1]` counts from the end.
 * Supported: `$`, `.name`, `['name']` / `["name"]`, `['a','b']`, `[0]`, `[-1]`, `[0,2]`, `[1:3]` / `[::2]`,
 * `.*` / `[*]`, `..name` / `..*` / `..[0]`. Filters (`[?(...)]`), scripts and functions (`.length()`) are rejected
 * when the path is compiled, so a template using them fails at config load, not per request.
 */

export type Segment =
  | { readonly t: 'name'; readonly name: string }
  | { readonly t: 'index'; readonly index: number }
  | { readonly t: 'wild' }
  | { readonly t: 'names'; readonly names: readonly string[] }
  | { readonly t: 'indexes'; readonly indexes: readonly number[] }
  | { readonly t: 'slice'; readonly start: number | undefined; readonly end: number | undefined; readonly step: number }
  | { readonly t: 'desc'; readonly sel: Segment };

export interface JsonPath {
  readonly source: string;
  readonly segments: readonly Segment[];
  /** True when the path can match at most one value (Jayway "definite path"). */
  readonly definite: boolean;
}

export class JsonPathError extends Error {
  constructor(readonly path: string, readonly position: number, reason: string) {
    super(`invalid JSONPath ${JSON.stringify(path)} at character ${position + 1}: ${reason}`);
    this.name = 'JsonPathError';
  }
}

/** Returned by evaluate() for a definite path that does not resolve. */
export const MISSING: unique symbol = Symbol('jsonpath.missing');

const NAME_STOP = new Set(['.', '[', ']', '(', ')', '?', '@', "'", '"', ',', ' ', '\t', '\n', '\r']);

export function compileJsonPath(source: string): JsonPath {
  let src = source.trim();
  if (src === '') src = '$';
  else if (src[0] !== '$') src = src[0] === '[' || src[0] === '.' ? '$' + src : '$.' + src;
  const segments: Segment[] = [];
  let i = 1;
  const fail = (reason: string): never => {
    throw new JsonPathError(source, i, reason);
  };

  const readName = (): string => {
    const start = i;
    while (i < src.length && !NAME_STOP.has(src[i]!)) i++;
    if (i === start) fail('expected a property name');
    if (src[i] === '(') fail('JSONPath functions are not supported');
    return src.slice(start, i);
  };

  const readQuoted = (): string => {
    const q = src[i]!;
    i++;
    let out = '';
    while (i < src.length && src[i] !== q) {
      if (src[i] === '\\' && i + 1 < src.length) i++;
      out += src[i];
      i++;
    }
    if (i >= src.length) fail('unterminated quoted name');
    i++;
    return out;
  };

  const skipSpaces = (): void => {
    while (src[i] === ' ') i++;
  };

  const readInt = (): number | undefined => {
    const m = /^-?\d+/.exec(src.slice(i));
    if (!m) return undefined;
    i += m[0].length;
    return Number(m[0]);
  };

  const readBracket = (): Segment => {
    i++; // '['
    skipSpaces();
    const c = src[i];
    let seg: Segment;
    if (c === '*') {
      i++;
      seg = { t: 'wild' };
    } else if (c === "'" || c === '"') {
      const names = [readQuoted()];
      skipSpaces();
      while (src[i] === ',') {
        i++;
        skipSpaces();
        if (src[i] !== "'" && src[i] !== '"') fail('expected a quoted name');
        names.push(readQuoted());
        skipSpaces();
      }
      seg = names.length === 1 ? { t: 'name', name: names[0]! } : { t: 'names', names };
    } else if (c === '?' || c === '(') {
      return fail('filter and script expressions are not supported');
    } else {
      const first = readInt();
      skipSpaces();
      if (src[i] === ':') {
        i++;
        skipSpaces();
        const end = readInt();
        skipSpaces();
        let step = 1;
        if (src[i] === ':') {
          i++;
          skipSpaces();
          step = readInt() ?? 1;
          if (step === 0) fail('slice step cannot be 0');
        }
        seg = { t: 'slice', start: first, end, step };
      } else {
        if (first === undefined) return fail('expected an index, a quoted name, * or a slice');
        const indexes = [first];
        while (src[i] === ',') {
          i++;
          skipSpaces();
          const n = readInt();
          if (n === undefined) fail('expected an index');
          indexes.push(n!);
          skipSpaces();
        }
        seg = indexes.length === 1 ? { t: 'index', index: first } : { t: 'indexes', indexes };
      }
    }
    skipSpaces();
    if (src[i] !== ']') fail("expected ']'");
    i++;
    return seg;
  };

  while (i < src.length) {
    const c = src[i];
    if (c === '.' && src[i + 1] === '.') {
      i += 2;
      let sel: Segment;
      if (src[i] === '*') {
        i++;
        sel = { t: 'wild' };
      } else if (src[i] === '[') sel = readBracket();
      else sel = { t: 'name', name: readName() };
      segments.push({ t: 'desc', sel });
    } else if (c === '.') {
      i++;
      if (src[i] === '*') {
        i++;
        segments.push({ t: 'wild' });
      } else if (src[i] === '[') segments.push(readBracket()); // Jayway tolerates `$.['a']`
      else segments.push({ t: 'name', name: readName() });
    } else if (c === '[') {
      segments.push(readBracket());
    } else {
      fail(`unexpected ${JSON.stringify(c)}`);
    }
  }
  const definite = segments.every((s) => s.t === 'name' || s.t === 'index');
  return { source, segments, definite };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function select(node: unknown, seg: Segment, out: unknown[]): void {
  switch (seg.t) {
    case 'name':
      if (isObject(node) && Object.prototype.hasOwnProperty.call(node, seg.name)) out.push(node[seg.name]);
      return;
    case 'names':
      if (isObject(node)) for (const n of seg.names) if (Object.prototype.hasOwnProperty.call(node, n)) out.push(node[n]);
      return;
    case 'index':
      if (Array.isArray(node)) {
        const i = seg.index < 0 ? node.length + seg.index : seg.index;
        if (i >= 0 && i < node.length) out.push(node[i]);
      }
      return;
    case 'indexes':
      if (Array.isArray(node)) {
        for (const idx of seg.indexes) {
          const i = idx < 0 ? node.length + idx : idx;
          if (i >= 0 && i < node.length) out.push(node[i]);
        }
      }
      return;
    case 'wild':
      if (Array.isArray(node)) for (const v of node) out.push(v);
      else if (isObject(node)) for (const k in node) out.push(node[k]);
      return;
    case 'slice': {
      if (!Array.isArray(node)) return;
      const len = node.length;
      const norm = (n: number): number => (n < 0 ? Math.max(0, len + n) : Math.min(n, len));
      if (seg.step > 0) {
        const s = seg.start === undefined ? 0 : norm(seg.start);
        const e = seg.end === undefined ? len : norm(seg.end);
        for (let i = s; i < e; i += seg.step) out.push(node[i]);
      } else {
        const s = seg.start === undefined ? len - 1 : Math.min(seg.start < 0 ? len + seg.start : seg.start, len - 1);
        const e = seg.end === undefined ? -1 : seg.end < 0 ? Math.max(-1, len + seg.end) : seg.end;
        for (let i = s; i > e; i += seg.step) out.push(node[i]);
      }
      return;
    }
    case 'desc': {
      // Pre-order walk of the node and every descendant; the selector applies at each level.
      const stack: unknown[] = [node];
      while (stack.length > 0) {
        const n = stack.pop();
        select(n, seg.sel, out);
        if (Array.isArray(n)) for (let i = n.length - 1; i >= 0; i--) stack.push(n[i]);
        else if (isObject(n)) {
          const keys = Object.keys(n);
          for (let i = keys.length - 1; i >= 0; i--) stack.push(n[keys[i]!]);
        }
      }
      return;
    }
  }
}

/**
 * Definite path: the value, or MISSING. Indefinite path: a new array of every match (Jayway returns a list).
 */
export function evaluate(path: JsonPath, root: unknown): unknown {
  const segs = path.segments;
  if (path.definite) {
    let cur: unknown = root;
    for (const seg of segs) {
      if (seg.t === 'name') {
        if (!isObject(cur) || !Object.prototype.hasOwnProperty.call(cur, seg.name)) return MISSING;
        cur = cur[seg.name];
      } else if (seg.t === 'index') {
        if (!Array.isArray(cur)) return MISSING;
        const i = seg.index < 0 ? cur.length + seg.index : seg.index;
        if (i < 0 || i >= cur.length) return MISSING;
        cur = cur[i];
      }
    }
    return cur;
  }
  let nodes: unknown[] = [root];
  for (const seg of segs) {
    const next: unknown[] = [];
    for (const n of nodes) select(n, seg, next);
    nodes = next;
  }
  return nodes;
}

const cache = new Map<string, JsonPath>();
const CACHE_MAX = 2048;

/** compileJsonPath with a bounded cache: templates pass the same literal paths on every request. */
export function jsonPath(source: string): JsonPath {
  let p = cache.get(source);
  if (p === undefined) {
    p = compileJsonPath(source);
    if (cache.size >= CACHE_MAX) cache.clear();
    cache.set(source, p);
  }
  return p;
}
