/**
 * Route matching for AWS HTTP API route keys (`GET /pets/{id}`, `ANY /files/{proxy+}`).
 *
 * PATH RULE (quoted by the gateway README)
 *
 * The router matches the raw request path (no query string) exactly as received. It never
 * normalises: no decoding, no merging of slashes, no trailing-slash stripping, no case folding.
 *  - Segments are split on a literal `/` only. `%2F` and `%5C` are ordinary characters inside a
 *    segment. Parameter values are the raw, still percent-encoded text, so the path proxied
 *    upstream is built from exactly what was matched.
 *  - Static segments compare byte for byte: `/Pets` and `/p%65ts` do not match a route `/pets`.
 *  - `//` makes an empty segment. `{param}` needs a non-empty segment, so `/pets//1` does not
 *    match `/pets/{id}/...`; only a route with an empty segment there could, and route keys
 *    allow that only as a trailing slash.
 *  - A trailing slash is a segment of its own: `/pets/` and `/pets` are different paths.
 *    `/pets/` matches a route written `/pets/` (or a greedy route above it), never `/pets` or
 *    `/pets/{id}`.
 *  - `{proxy+}` takes one or more characters, slashes included: `/files/{proxy+}` matches
 *    `/files/a/b` (proxy = `a/b`) but neither `/files/` nor `/files`.
 *
 * checkPath(path) is false, and the caller answers 400, when the path:
 *  - does not start with `/`;
 *  - has a `.` or `..` segment, literal or percent-encoded in any case (`%2e`, `%2E%2e`, `.%2e`).
 *    For this check only, `%2F` and `%5C` also end a segment, so `/a/..%2Fb` is rejected too:
 *    an upstream that decodes them would see a `..` segment;
 *  - contains a literal backslash, a control character (below 0x20, or 0x7F), or `#`;
 *  - contains a `%` not followed by two hex digits.
 * Everything else, including bytes above 0x7F, is left to the routes to match or not.
 */

export type Segment =
  | { kind: 'static'; value: string }
  | { kind: 'param'; name: string }
  | { kind: 'greedy'; name: string };

export interface RouteDef<T> {
  /** Upper-case HTTP method or 'ANY'. */
  method: string;
  path: string;
  data: T;
}

export interface RouteMatch<T> {
  data: T;
  /**
   * Raw (still percent-encoded) values by parameter name. For routes without parameters the
   * object is shared and frozen: treat it as read-only.
   */
  params: Record<string, string>;
}

export interface RouteConflict {
  /** Route keys (`METHOD /path`). For a route that is invalid on its own, a === b. */
  a: string;
  b: string;
  reason: string;
}

export class RouteConflictError extends Error {
  readonly conflicts: RouteConflict[];
  constructor(conflicts: RouteConflict[]) {
    super(
      `${conflicts.length} route conflict${conflicts.length === 1 ? '' : 's'}:\n` +
        conflicts.map((c) => (c.a === c.b ? `  - "${c.a}": ${c.reason}` : `  - "${c.a}" vs "${c.b}": ${c.reason}`)).join('\n'),
    );
    this.name = 'RouteConflictError';
    this.conflicts = conflicts;
  }
}

export const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'] as const;
/** Index of the trie used for methods with no trie of their own: it holds only ANY routes. */
const ANY_ONLY = METHODS.length;

function methodIndex(m: string): number {
  switch (m) {
    case 'GET': return 0;
    case 'POST': return 1;
    case 'PUT': return 2;
    case 'PATCH': return 3;
    case 'DELETE': return 4;
    case 'HEAD': return 5;
    case 'OPTIONS': return 6;
    default: return ANY_ONLY;
  }
}

// ---------------------------------------------------------------------------------------------
// Route key parsing

const PARAM_RE = /^\{([A-Za-z0-9_.-]+)(\+?)\}$/;

function isHex(c: number): boolean {
  return (c >= 48 && c <= 57) || ((c | 32) >= 97 && (c | 32) <= 102);
}

function isDotSegment(s: string): boolean {
  // Decode only %2e, the one escape that matters here.
  const d = s.replace(/%2e/gi, '.');
  return d === '.' || d === '..';
}

/** Parses a route path (`/pets/{id}`) into segments; throws Error on bad syntax. */
export function parseRoutePath(path: string): Segment[] {
  if (path.charCodeAt(0) !== 47) throw new Error(`path "${path}" must start with '/'`);
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i);
    // Requests never carry these raw (checkPath or the HTTP parser refuses them), so a route with
    // one could never match: visible ASCII only, percent-encode the rest.
    if (c <= 0x20 || c >= 0x7f || c === 35 || c === 63 || c === 92) {
      throw new Error(`path "${path}" has an invalid character ${JSON.stringify(path[i])} at ${i}`);
    }
    if (c === 37 && !(isHex(path.charCodeAt(i + 1)) && isHex(path.charCodeAt(i + 2)))) {
      throw new Error(`path "${path}" has an invalid percent-escape at ${i}`);
    }
  }
  const parts = path.slice(1).split('/');
  const segments: Segment[] = [];
  const names = new Set<string>();
  for (let k = 0; k < parts.length; k++) {
    const part = parts[k]!;
    const last = k === parts.length - 1;
    if (part === '' && !last) throw new Error(`path "${path}" has an empty segment ('//')`);
    if (part.includes('{') || part.includes('}')) {
      const m = PARAM_RE.exec(part);
      if (m === null) {
        throw new Error(`path "${path}": segment "${part}" is not a valid {param}; a parameter must be a whole segment named with [A-Za-z0-9_.-]`);
      }
      const name = m[1]!;
      const greedy = m[2] === '+';
      if (name === '__proto__') throw new Error(`path "${path}": parameter name "__proto__" is not allowed`);
      if (greedy && !last) throw new Error(`path "${path}": greedy {${name}+} must be the last segment`);
      if (names.has(name)) throw new Error(`path "${path}": duplicate parameter name {${name}}`);
      names.add(name);
      segments.push(greedy ? { kind: 'greedy', name } : { kind: 'param', name });
    } else {
      if (isDotSegment(part)) throw new Error(`path "${path}" has a dot segment "${part}"`);
      segments.push({ kind: 'static', value: part });
    }
  }
  return segments;
}

function checkMethod(method: string): void {
  if (method !== 'ANY' && methodIndex(method) === ANY_ONLY) {
    throw new Error(`invalid method "${method}" (expected ${METHODS.join(', ')} or ANY, upper-case)`);
  }
}

/** Parses `METHOD /path`; throws Error with a clear message on bad syntax. */
export function parseRouteKey(key: string): { method: string; path: string; segments: Segment[] } {
  if (key === '$default') throw new Error(`"$default" is not a path route; the caller handles it`);
  const sp = key.indexOf(' ');
  if (sp <= 0 || key.indexOf(' ', sp + 1) !== -1) throw new Error(`route key "${key}" must be "METHOD /path"`);
  const method = key.slice(0, sp);
  const path = key.slice(sp + 1);
  checkMethod(method);
  return { method, path, segments: parseRoutePath(path) };
}

// ---------------------------------------------------------------------------------------------
// checkPath

/**
 * The path encoding rule (see the top of this file): false means answer 400.
 * One charCodeAt pass; the dot-segment and escape checks only run when a `.` or `%` was seen.
 */
export function checkPath(path: string): boolean {
  const len = path.length;
  if (len === 0 || path.charCodeAt(0) !== 47) return false;
  let suspicious = false;
  for (let i = 1; i < len; i++) {
    const c = path.charCodeAt(i);
    if (c < 0x30) {
      // All characters of interest are below '0' except '\\' and DEL.
      if (c < 0x20 || c === 35) return false;
      if (c === 37 || c === 46) suspicious = true;
    } else if (c === 92 || c === 0x7f) {
      return false;
    }
  }
  return suspicious ? checkDotsAndEscapes(path) : true;
}

function checkDotsAndEscapes(path: string): boolean {
  const len = path.length;
  // Per segment: dots counts `.`/`%2e` tokens, other is set by anything else.
  let dots = 0;
  let other = false;
  let i = 1;
  while (i <= len) {
    const c = i < len ? path.charCodeAt(i) : 47;
    if (c === 47) {
      if (!other && (dots === 1 || dots === 2)) return false;
      dots = 0;
      other = false;
      i++;
    } else if (c === 37) {
      const h1 = path.charCodeAt(i + 1);
      const h2 = path.charCodeAt(i + 2);
      if (!isHex(h1) || !isHex(h2)) return false;
      const lo = h2 | 32;
      if (h1 === 50 && lo === 101) dots++; // %2e / %2E
      else if ((h1 === 50 && lo === 102) || (h1 === 53 && lo === 99)) {
        // %2F / %5C: a segment boundary for an upstream that decodes them.
        if (!other && (dots === 1 || dots === 2)) return false;
        dots = 0;
        other = false;
      } else other = true;
      i += 3;
    } else {
      if (c === 46) dots++;
      else other = true;
      i++;
    }
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// Trie

interface Leaf<T> {
  exact: boolean;
  data: T;
  /** Parameter names in path order; the k-th is bound to offsets offs[2k], offs[2k + 1]. */
  names: string[];
  /** The shared, frozen match of a route without parameters, else null. */
  fixed: RouteMatch<T> | null;
  /** Builds the match of a route with parameters from the offsets. */
  build: Build<T>;
}

type Build<T> = (path: string, offs: Int32Array) => RouteMatch<T>;

const EMPTY_PARAMS: Record<string, string> = Object.freeze(Object.create(null));

function makeLeaf<T>(exact: boolean, data: T, names: string[]): Leaf<T> {
  if (names.length === 0) {
    const fixed: RouteMatch<T> = Object.freeze({ data, params: EMPTY_PARAMS });
    return { exact, data, names, fixed, build: () => fixed };
  }
  // One generated function per route: its object literal gives all params objects of the route
  // one hidden class, where keyed stores by name would go megamorphic. Names are [A-Za-z0-9_.-]+
  // and never __proto__ (checked by parseRoutePath), and only reach the source JSON-quoted.
  const body = names.map((n, k) => `${JSON.stringify(n)}: p.slice(o[${2 * k}], o[${2 * k + 1}])`).join(', ');
  const build = new Function('d', `'use strict'; return function build(p, o) { return { data: d, params: { ${body} } }; };`)(data) as Build<T>;
  return { exact, data, names, fixed: null, build };
}

/** Char codes of every static label, one after the other; a node's label is codes[off, off + len). */
class LabelPool {
  codes = new Uint8Array(256);
  used = 0;
  add(label: string): number {
    while (this.used + label.length > this.codes.length) {
      const bigger = new Uint8Array(this.codes.length * 2);
      bigger.set(this.codes);
      this.codes = bigger;
    }
    const off = this.used;
    // Route labels are visible ASCII (parseRoutePath), so one byte per char.
    for (let k = 0; k < label.length; k++) this.codes[off + k] = label.charCodeAt(k);
    this.used += label.length;
    return off;
  }
}

class Node<T> {
  /** Static segment this node matches (never contains `/`); its codes are pool[off, off + len). */
  readonly label: string;
  off = 0;
  len = 0;
  /**
   * Static children sorted by first char: those starting with char c are kids[start[c - lo]]
   * up to kids[start[c - lo + 1]]. Candidates are picked by the first char, filtered by the char
   * after the label being `/` or the end, and confirmed by comparing the rest; no segment is
   * scanned or hashed in full before its static child is known.
   */
  kids: Node<T>[] = [];
  start: Int32Array = NO_KIDS;
  lo = 0;
  /** Child for an empty segment (trailing slash). */
  empty: Node<T> | null = null;
  param: Node<T> | null = null;
  greedy: Leaf<T> | null = null;
  leaf: Leaf<T> | null = null;
  /** Build-time only. */
  byLabel: Map<string, Node<T>> | null = null;

  constructor(label: string) {
    this.label = label;
  }

  staticChild(label: string): Node<T> {
    if (label === '') return (this.empty ??= new Node<T>(''));
    this.byLabel ??= new Map();
    let n = this.byLabel.get(label);
    if (n === undefined) this.byLabel.set(label, (n = new Node<T>(label)));
    return n;
  }

  freeze(pool: LabelPool): void {
    this.off = pool.add(this.label);
    this.len = this.label.length;
    if (this.byLabel !== null) {
      const kids = [...this.byLabel.values()].sort((a, b) => (a.label < b.label ? -1 : 1));
      const lo = kids[0]!.label.charCodeAt(0);
      const hi = kids[kids.length - 1]!.label.charCodeAt(0);
      const start = new Int32Array(hi - lo + 2);
      let k = 0;
      for (let c = lo; c <= hi + 1; c++) {
        while (k < kids.length && kids[k]!.label.charCodeAt(0) < c) k++;
        start[c - lo] = k;
      }
      this.kids = kids;
      this.start = start;
      this.lo = lo;
      this.byLabel = null;
      for (const kid of kids) kid.freeze(pool);
    }
    this.empty?.freeze(pool);
    this.param?.freeze(pool);
  }
}

const NO_KIDS = new Int32Array(1);

/**
 * Depth-first walk with backtracking; i is the start of the current segment (just after a `/`).
 * Order at each node: static child, then {param}, then {greedy+}. Parameter offsets are written
 * while unwinding from the matched leaf, so failed branches never leave stale offsets.
 *
 * Measured on the bench box with fresh strings (ns): comparing a 6-char label against a Uint8Array
 * 10, startsWith 13-19, a JS scan 0.75/char, indexOf('/') about 7 whatever the length. Hence a
 * typed-array compare for labels and indexOf to find the end of a {param}.
 */
function walk<T>(node: Node<T>, path: string, i: number, len: number, pc: number, offs: Int32Array, codes: Uint8Array): Leaf<T> | null {
  let kid: Node<T> | null = null;
  let e = i;
  const c0 = i < len ? path.charCodeAt(i) : 47;
  if (c0 === 47) kid = node.empty;
  else {
    const start = node.start;
    const x = c0 - node.lo;
    if (x >= 0 && x < start.length - 1) {
      const kids = node.kids;
      for (let k = start[x]!, end = start[x + 1]!; k < end; k++) {
        const cand = kids[k]!;
        e = i + cand.len;
        // The label must end the segment: `/` or the end of the path follows it.
        if (e > len || (e < len && path.charCodeAt(e) !== 47)) continue;
        let q = 1;
        const off = cand.off - i;
        while (i + q < e && path.charCodeAt(i + q) === codes[off + i + q]) q++;
        if (i + q === e) {
          kid = cand;
          break;
        }
      }
    }
  }
  if (kid !== null) {
    if (e === len) {
      if (kid.leaf !== null) return kid.leaf;
    } else {
      const r = walk(kid, path, e + 1, len, pc, offs, codes);
      if (r !== null) return r;
    }
  }
  const p = node.param;
  if (p !== null && c0 !== 47) {
    let j = path.indexOf('/', i);
    if (j === -1) j = len;
    const r = j === len ? p.leaf : walk(p, path, j + 1, len, pc + 1, offs, codes);
    if (r !== null) {
      offs[2 * pc] = i;
      offs[2 * pc + 1] = j;
      return r;
    }
  }
  if (node.greedy !== null && i < len) {
    offs[2 * pc] = i;
    offs[2 * pc + 1] = len;
    return node.greedy;
  }
  return null;
}

function insert<T>(root: Node<T>, r: ParsedRoute<T>): void {
  let node = root;
  const names: string[] = [];
  const exact = r.method !== 'ANY';
  for (const seg of r.segments) {
    if (seg.kind === 'static') node = node.staticChild(seg.value);
    else if (seg.kind === 'param') {
      node = node.param ??= new Node<T>('');
      names.push(seg.name);
    } else {
      names.push(seg.name);
      node.greedy = pick(node.greedy, exact, r.data, names);
      return;
    }
  }
  node.leaf = pick(node.leaf, exact, r.data, names);
}

/** At the same place an exact method beats ANY (same-method duplicates were rejected earlier). */
function pick<T>(prev: Leaf<T> | null, exact: boolean, data: T, names: string[]): Leaf<T> {
  return prev !== null && prev.exact ? prev : makeLeaf(exact, data, names);
}

interface ParsedRoute<T> {
  key: string;
  method: string;
  segments: Segment[];
  data: T;
}

function shapeOf(segments: Segment[]): string {
  return segments.map((s) => (s.kind === 'static' ? s.value : s.kind === 'param' ? '{}' : '{+}')).join('/');
}

export class Router<T> {
  /** One trie per method (its routes plus ANY routes), then one of ANY routes for other methods. */
  private readonly roots: Node<T>[];
  private readonly offs: Int32Array;
  private readonly codes: Uint8Array;

  constructor(routes: RouteDef<T>[]) {
    const conflicts: RouteConflict[] = [];
    const parsed: ParsedRoute<T>[] = [];
    const byShape = new Map<string, ParsedRoute<T>>();
    let maxParams = 1;
    for (const def of routes) {
      const key = `${def.method} ${def.path}`;
      let segments: Segment[];
      try {
        checkMethod(def.method);
        segments = parseRoutePath(def.path);
      } catch (e) {
        conflicts.push({ a: key, b: key, reason: (e as Error).message });
        continue;
      }
      const route: ParsedRoute<T> = { key, method: def.method, segments, data: def.data };
      const shape = `${def.method} /${shapeOf(segments)}`;
      const prev = byShape.get(shape);
      if (prev !== undefined) {
        const greedy = segments[segments.length - 1]!.kind === 'greedy';
        conflicts.push({
          a: prev.key,
          b: key,
          reason: greedy
            ? `duplicate greedy parameter at the same place for ${def.method}`
            : `same method and path shape (parameter names do not distinguish routes)`,
        });
        continue;
      }
      byShape.set(shape, route);
      parsed.push(route);
      maxParams = Math.max(maxParams, segments.filter((x) => x.kind !== 'static').length);
    }
    if (conflicts.length > 0) throw new RouteConflictError(conflicts);

    // A trie per method means a leaf never needs a per-method lookup, and a path that exists
    // without the method (nor ANY) backtracks exactly like a missing path.
    const pool = new LabelPool();
    this.roots = [];
    for (let mi = 0; mi <= ANY_ONLY; mi++) {
      const method = mi < ANY_ONLY ? METHODS[mi] : null;
      const root = new Node<T>('');
      for (const r of parsed) if (r.method === 'ANY' || r.method === method) insert(root, r);
      root.freeze(pool);
      this.roots.push(root);
    }
    this.codes = pool.codes;
    this.offs = new Int32Array(2 * maxParams);
  }

  /**
   * Matches a raw path (no query string; run checkPath first) for a case-sensitive method
   * (`GET`, not `get`). Unknown methods only match ANY routes.
   */
  match(method: string, path: string): RouteMatch<T> | null {
    const len = path.length;
    if (len === 0 || path.charCodeAt(0) !== 47) return null;
    const leaf = walk(this.roots[methodIndex(method)]!, path, 1, len, 0, this.offs, this.codes);
    if (leaf === null) return null;
    return leaf.fixed !== null ? leaf.fixed : leaf.build(path, this.offs);
  }
}
