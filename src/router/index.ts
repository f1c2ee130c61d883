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
   * Raw (still percent-encoded) values by parameter name, in an object without prototype. For
   * routes without parameters the object is shared and frozen: treat it as read-only.
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

/** Parses a route path (`/pets/{id}`) into segments; throws Error on bad syntax. */
export function parseRoutePath(path: string): Segment[] {
  if (path.charCodeAt(0) !== 47) throw new Error(`path "${path}" must start with '/'`);
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i);
    // Visible ASCII only: space, `?`, `#`, `\` and control characters never reach the router
    // (the HTTP parser or checkPath stops them), and anything else must be written
    // percent-encoded, as requests carry it, since matching is byte for byte.
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
      // Characters and escapes are valid by now, so checkPath can only fail on a dot segment.
      if (!checkPath(`/${part}`)) throw new Error(`path "${path}" has a dot segment "${part}"`);
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

// Per char below 0x80: 1 = reject outright, 2 = needs the dot/escape pass. Chars above pass.
const CHAR_CLASS = new Uint8Array(128);
for (let c = 0; c < 0x20; c++) CHAR_CLASS[c] = 1;
CHAR_CLASS[0x7f] = 1;
CHAR_CLASS[35] = 1; // #
CHAR_CLASS[92] = 1; // backslash
CHAR_CLASS[37] = 2; // %
CHAR_CLASS[46] = 2; // .

/**
 * The path encoding rule (see the top of this file): false means answer 400.
 * One charCodeAt pass with a class table; the dot-segment and escape pass only runs when a `.`
 * or `%` was seen. Control characters need a per-char look anyway, so indexOf fast exits for
 * `%`, `.`, `\` and `#` cost more than they save: measured on the bench mix, 37 ns for the four
 * indexOf plus 62 ns for a bare control-char scan, against 90 ns for this pass (99 ns with
 * if-chains instead of the table).
 */
export function checkPath(path: string): boolean {
  const len = path.length;
  if (len === 0 || path.charCodeAt(0) !== 47) return false;
  let seen = 0;
  for (let i = 1; i < len; i++) {
    const c = path.charCodeAt(i);
    if (c < 0x80) {
      const k = CHAR_CLASS[c]!;
      if (k === 1) return false;
      seen |= k;
    }
  }
  return seen === 0 ? true : checkDotsAndEscapes(path);
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
  /** The shared, frozen match of a route without parameters, else null. */
  fixed: RouteMatch<T> | null;
  /** Builds the match from the path and the parameter offsets (s0, e0, s1, e1, ...). */
  build: Build<T>;
}

type Build<T> = (path: string, offs: Int32Array, data: T) => RouteMatch<T>;

const EMPTY_PARAMS: Record<string, string> = Object.freeze(Object.create(null));

/**
 * Builders are generated per list of parameter names (`new Function`), each with a constructor
 * whose instances have one hidden class and no prototype chain (no inherited `toString` or
 * `constructor` to mistake for a parameter). Measured on the bench box: a shared builder per
 * name list beat one per route by 40% on the bench mix (less code and fewer hidden classes to
 * keep in cache) and keyed stores by name by 25%; the constructor costs the same as an object
 * literal, where a `{ __proto__: null }` literal was 6x slower (dictionary mode).
 * Names are [A-Za-z0-9_.-]+ and never __proto__ (parseRoutePath) and reach the source JSON-quoted.
 */
const BUILDERS = new Map<string, Build<unknown>>();

function builder<T>(names: string[]): Build<T> {
  const sig = names.join('/');
  let build = BUILDERS.get(sig);
  if (build === undefined) {
    const args = names.map((_, k) => `a${k}`).join(', ');
    const sets = names.map((n, k) => `this[${JSON.stringify(n)}] = a${k};`).join(' ');
    const slices = names.map((_, k) => `p.slice(o[${2 * k}], o[${2 * k + 1}])`).join(', ');
    build = new Function(
      `'use strict';
      function Params(${args}) { ${sets} }
      Params.prototype = Object.create(null);
      return function build(p, o, d) { return { data: d, params: new Params(${slices}) }; };`,
    )() as Build<unknown>;
    BUILDERS.set(sig, build);
  }
  return build as Build<T>;
}

function makeLeaf<T>(exact: boolean, data: T, names: string[]): Leaf<T> {
  if (names.length === 0) {
    const fixed: RouteMatch<T> = Object.freeze({ data, params: EMPTY_PARAMS });
    return { exact, data, fixed, build: () => fixed };
  }
  return { exact, data, fixed: null, build: builder<T>(names) };
}

/** Build-time trie node. */
class Node<T> {
  kids = new Map<string, Node<T>>();
  /** Child for an empty segment (trailing slash). */
  empty: Node<T> | null = null;
  param: Node<T> | null = null;
  greedy: Leaf<T> | null = null;
  leaf: Leaf<T> | null = null;
  id = -1;
  label = '';
}

function insert<T>(root: Node<T>, r: ParsedRoute<T>): void {
  let node = root;
  const names: string[] = [];
  const exact = r.method !== 'ANY';
  for (const seg of r.segments) {
    if (seg.kind === 'static') {
      if (seg.value === '') node = node.empty ??= new Node<T>();
      else {
        let next = node.kids.get(seg.value);
        if (next === undefined) {
          node.kids.set(seg.value, (next = new Node<T>()));
          next.label = seg.value;
        }
        node = next;
      }
    } else if (seg.kind === 'param') {
      node = node.param ??= new Node<T>();
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

/*
 * Run-time trie: all nodes of all method tries flattened into one Int32Array, STRIDE ints per
 * node, so a lookup walks a few contiguous cache lines instead of chasing node objects (measured:
 * node objects were 25-40% slower on the bench mix, where lookups spread over the whole table).
 * The static children of a node have consecutive ids, sorted by label; those whose label starts
 * with char c are ids S[T[START] + c - T[LO]] up to S[T[START] + c - T[LO] + 1].
 *
 * Tried and measured slower on the 1,000-route bench (ns/op, fresh strings):
 *  - code generated per trie node (new Function, as find-my-way's compile()): about 1,000
 *    functions that each warm up and deoptimize on their own; param lookups stayed near 1,500
 *    against 230 for this walk, the mix 340 against 230;
 *  - a Map of static paths before the walk: static hits 110 -> 52, but hashing every fresh path
 *    cost param lookups 226 -> 312 and the mix 230 -> 340;
 *  - hashing each segment (FNV in the scan) to pick the static child: mix 20-30% slower.
 */
const OFF = 0; // label: codes[OFF, OFF + LEN)
const LEN = 1;
const LO = 2; // first char of the first static child
const SPAN = 3; // last first char - LO + 1; 0 without static children
const START = 4; // index into S
const EMPTY = 5; // node id of the empty-segment child, or -1
const PARAM = 6; // node id of the {param} child, or -1
const GREEDY = 7; // leaf id of the {greedy+} child, or -1
const LEAF = 8; // leaf id of a route ending here, or -1
const STRIDE = 9;

interface Flat<T> {
  t: Int32Array;
  s: Int32Array;
  codes: Uint8Array;
  leaves: Leaf<T>[];
  roots: number[];
}

function flatten<T>(roots: Node<T>[]): Flat<T> {
  // Breadth-first ids, giving each node's static children one consecutive block.
  const order: Node<T>[] = [];
  const give = (n: Node<T>) => {
    n.id = order.length;
    order.push(n);
  };
  for (const r of roots) give(r);
  for (let q = 0; q < order.length; q++) {
    const n = order[q]!;
    for (const label of [...n.kids.keys()].sort()) give(n.kids.get(label)!);
    if (n.empty !== null) give(n.empty);
    if (n.param !== null) give(n.param);
  }
  const t = new Int32Array(order.length * STRIDE);
  const s: number[] = [];
  const codes: number[] = [];
  const leaves: Leaf<T>[] = [];
  const leafId = (l: Leaf<T> | null) => (l === null ? -1 : leaves.push(l) - 1);
  for (const n of order) {
    const b = n.id * STRIDE;
    t[b + OFF] = codes.length;
    // Route labels are visible ASCII (parseRoutePath): one byte per char.
    for (let k = 0; k < n.label.length; k++) codes.push(n.label.charCodeAt(k));
    t[b + LEN] = n.label.length;
    const kids = [...n.kids.keys()].sort().map((l) => n.kids.get(l)!);
    if (kids.length > 0) {
      const lo = kids[0]!.label.charCodeAt(0);
      const hi = kids[kids.length - 1]!.label.charCodeAt(0);
      t[b + LO] = lo;
      t[b + SPAN] = hi - lo + 1;
      t[b + START] = s.length;
      let k = 0;
      for (let c = lo; c <= hi + 1; c++) {
        while (k < kids.length && kids[k]!.label.charCodeAt(0) < c) k++;
        s.push(kids[0]!.id + k);
      }
    }
    t[b + EMPTY] = n.empty === null ? -1 : n.empty.id;
    t[b + PARAM] = n.param === null ? -1 : n.param.id;
    t[b + GREEDY] = leafId(n.greedy);
    t[b + LEAF] = leafId(n.leaf);
  }
  return { t, s: Int32Array.from(s), codes: Uint8Array.from(codes), leaves, roots: roots.map((r) => r.id) };
}

// The router being walked. match() is synchronous and calls no user code while walking, so
// module state is safe and saves passing four arguments through every recursive call.
let T: Int32Array = new Int32Array(0);
let S: Int32Array = new Int32Array(0);
let C: Uint8Array = new Uint8Array(0);
let O: Int32Array = new Int32Array(0);

/**
 * Depth-first walk with backtracking from node n; i is the start of the current segment (just
 * after a `/`). Order at each node: static child, then {param}, then {greedy+}. Returns a leaf id
 * or -1. Parameter offsets go to O[2k], O[2k + 1] while unwinding from the matched leaf, so failed
 * branches never leave stale offsets.
 *
 * A static child is picked by the segment's first char, filtered by the char after its label
 * being `/` or the end, then confirmed against its label's codes; a segment is never scanned or
 * hashed in full first. Measured on the bench box with fresh strings: comparing a 6-char label
 * against a Uint8Array 10 ns, startsWith 13-19 ns; finding a segment's end with indexOf('/')
 * about 7 ns whatever its length, a charCodeAt scan 0.75 ns/char.
 */
function walk(n: number, path: string, i: number, len: number, pc: number): number {
  const b = n * STRIDE;
  let kid = -1;
  let e = i;
  const c0 = i < len ? path.charCodeAt(i) : 47;
  if (c0 === 47) kid = T[b + EMPTY]!;
  else {
    const x = c0 - T[b + LO]!;
    if (x >= 0 && x < T[b + SPAN]!) {
      const sb = T[b + START]! + x;
      for (let k = S[sb]!, end = S[sb + 1]!; k < end; k++) {
        const kb = k * STRIDE;
        e = i + T[kb + LEN]!;
        if (e > len || (e < len && path.charCodeAt(e) !== 47)) continue;
        let q = i + 1;
        let o = T[kb + OFF]! + 1;
        while (q < e && path.charCodeAt(q) === C[o]) {
          q++;
          o++;
        }
        if (q === e) {
          kid = k;
          break;
        }
      }
    }
  }
  if (kid !== -1) {
    if (e === len) {
      const l = T[kid * STRIDE + LEAF]!;
      if (l !== -1) return l;
    } else {
      const r = walk(kid, path, e + 1, len, pc);
      if (r !== -1) return r;
    }
  }
  const p = T[b + PARAM]!;
  if (p !== -1 && c0 !== 47) {
    let j = path.indexOf('/', i);
    if (j === -1) j = len;
    const r = j === len ? T[p * STRIDE + LEAF]! : walk(p, path, j + 1, len, pc + 1);
    if (r !== -1) {
      O[2 * pc] = i;
      O[2 * pc + 1] = j;
      return r;
    }
  }
  const g = T[b + GREEDY]!;
  if (g !== -1 && i < len) {
    O[2 * pc] = i;
    O[2 * pc + 1] = len;
    return g;
  }
  return -1;
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
  private readonly flat: Flat<T>;
  private readonly offs: Int32Array;

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

    // One trie per method (its routes plus ANY routes), then one of ANY routes for other methods.
    // A leaf then needs no per-method lookup, and a path that exists without the method (nor ANY)
    // backtracks exactly like a missing path.
    const roots: Node<T>[] = [];
    for (let mi = 0; mi <= ANY_ONLY; mi++) {
      const method = mi < ANY_ONLY ? METHODS[mi] : null;
      const root = new Node<T>();
      for (const r of parsed) if (r.method === 'ANY' || r.method === method) insert(root, r);
      roots.push(root);
    }
    this.flat = flatten(roots);
    this.offs = new Int32Array(2 * maxParams);
  }

  /**
   * Matches a raw path (no query string; run checkPath first) for a case-sensitive method
   * (`GET`, not `get`). Unknown methods only match ANY routes.
   */
  match(method: string, path: string): RouteMatch<T> | null {
    const len = path.length;
    if (len === 0 || path.charCodeAt(0) !== 47) return null;
    const f = this.flat;
    T = f.t;
    S = f.s;
    C = f.codes;
    O = this.offs;
    const l = walk(f.roots[methodIndex(method)]!, path, 1, len, 0);
    if (l === -1) return null;
    const leaf = f.leaves[l]!;
    return leaf.fixed !== null ? leaf.fixed : leaf.build(path, this.offs, leaf.data);
  }
}
