/**
 * Java semantics for values inside mapping templates.
 *
 * API Gateway runs the templates on Apache Velocity (Java): every value is a Java object, so templates call Java
 * methods on them (`$s.length()`, `$list.size()`, `$map.keySet()`, `$s.replaceAll(regex, repl)`) and print them
 * with Java's toString(). velocityjs runs the same syntax over plain JS values; this module supplies the Java
 * behaviour: one method dispatcher (installed as velocityjs' `customMethodHandlers`, which velocityjs consults
 * before anything else for every `$x.method(...)` call) and one stringifier (used for every `$ref` written out).
 *
 * How values print (AWS: "$input.path(x) ... returns a JSON object representation of the result"):
 *  - a JSON object from `$input.path` is a Java Map, printed `{a=1, b=x}` (strings unquoted);
 *  - a JSON array from `$input.path` is a json-smart JSONArray, printed as compact JSON `[{"c":5}]`, also when it
 *    sits inside a map: `{list=[{"foo":"bar"}]}`. Not in the AWS docs; observed against AWS and recorded by
 *    LocalStack (https://github.com/localstack/localstack/pull/12379).
 *  - lists made by the template itself (`[1, 2]`, `keySet()`, `split()`) are java.util Lists: `[1, 2]`;
 *  - null / a missing value prints as the empty string at the top level (AWS renders unresolved references as '',
 *    https://github.com/ToQoz/api-gateway-mapping-template/pull/4), and as `null` inside a Map/List, like Java.
 */

/** Arrays that print as java.util.List (`[a, b]`); every other array prints as JSON (json-smart JSONArray). */
const JAVA_LISTS = new WeakSet<object>();

export function javaList<T>(a: T[]): T[] {
  JAVA_LISTS.add(a);
  return a;
}

/** A Map.Entry from `$map.entrySet()`: `$e.key`, `$e.value`, `$e.getKey()`, `$e.getValue()`. */
export class MapEntry {
  constructor(
    readonly key: string,
    readonly value: unknown,
  ) {}
  getKey(): string {
    return this.key;
  }
  getValue(): unknown {
    return this.value;
  }
  toString(): string {
    return `${this.key}=${inner(this.value)}`;
  }
}

/**
 * Template built-ins ($input, $util): method calls go to call(); printed as `{}`, as AWS prints `$input` and
 * `$util` (https://github.com/ToQoz/api-gateway-mapping-template/blob/master/test/_.md, recorded against AWS).
 */
export abstract class Builtin {
  abstract call(method: string, args: unknown[]): unknown;
}

function javaNumber(n: number): string {
  return String(n);
}

function isPlainObject(v: object): boolean {
  const p = Object.getPrototypeOf(v);
  return p === Object.prototype || p === null;
}

function mapString(m: Record<string, unknown>): string {
  let s = '{';
  let first = true;
  for (const k in m) {
    if (!Object.prototype.hasOwnProperty.call(m, k)) continue;
    if (!first) s += ', ';
    first = false;
    s += k + '=' + inner(m[k]);
  }
  return s + '}';
}

function listString(a: unknown[]): string {
  let s = '[';
  for (let i = 0; i < a.length; i++) {
    if (i > 0) s += ', ';
    s += inner(a[i]);
  }
  return s + ']';
}

/** JSON for json-smart arrays; nested undefined becomes null. */
function jsonArray(a: unknown[]): string {
  return JSON.stringify(a, (_k, v: unknown) => (v === undefined ? null : v));
}

/** Java toString() of a value nested in a Map or List. */
function inner(v: unknown): string {
  if (v === null || v === undefined) return 'null';
  return javaString(v);
}

function javaString(v: unknown): string {
  switch (typeof v) {
    case 'string':
      return v;
    case 'number':
      return javaNumber(v);
    case 'boolean':
      return v ? 'true' : 'false';
    case 'bigint':
      return v.toString();
    case 'function':
      return '{}';
    case 'object': {
      if (v === null) return 'null';
      if (Array.isArray(v)) return JAVA_LISTS.has(v) ? listString(v) : jsonArray(v);
      if (v instanceof Builtin) return '{}';
      if (isPlainObject(v)) return mapString(v as Record<string, unknown>);
      return String(v);
    }
    default:
      return '';
  }
}

/** What `$ref` writes into the output. */
export function toTemplateString(v: unknown): string {
  if (v === null || v === undefined) return '';
  return typeof v === 'string' ? v : javaString(v);
}

// ---------------------------------------------------------------------------------------------------------------
// Java regular expressions (String.matches / replaceAll / replaceFirst / split)

const regexCache = new Map<string, RegExp>();

/**
 * java.util.regex source -> JS RegExp. The two dialects agree on everything templates commonly use; handled here:
 * leading inline flags `(?i)` `(?s)` `(?m)` and `\Q...\E` quoting. Anything JS cannot compile throws, like Java's
 * PatternSyntaxException does.
 */
export function javaRegex(source: string, global: boolean): RegExp {
  const key = (global ? 'g' : '-') + source;
  let re = regexCache.get(key);
  if (re !== undefined) {
    re.lastIndex = 0;
    return re;
  }
  let src = source;
  let flags = global ? 'g' : '';
  const inline = /^\(\?([imsU]+)\)/.exec(src);
  if (inline) {
    for (const f of inline[1]!) if ((f === 'i' || f === 'm' || f === 's') && !flags.includes(f)) flags += f;
    src = src.slice(inline[0].length);
  }
  if (src.includes('\\Q')) {
    src = src.replace(/\\Q([\s\S]*?)(?:\\E|$)/g, (_m, lit: string) => lit.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&'));
  }
  re = new RegExp(src, flags);
  if (regexCache.size >= 512) regexCache.clear();
  regexCache.set(key, re);
  return re;
}

/** Java Matcher replacement syntax (`$1`, `${name}`, `\$`) -> JS replacement syntax. */
function javaReplacement(rep: string): string {
  let out = '';
  for (let i = 0; i < rep.length; i++) {
    const c = rep[i]!;
    if (c === '\\') {
      i++;
      if (i >= rep.length) throw new Error('character to be escaped is missing');
      out += rep[i] === '$' ? '$$' : rep[i];
    } else if (c === '$') {
      const next = rep[i + 1];
      if (next === '{') {
        const close = rep.indexOf('}', i);
        if (close === -1) throw new Error("named capturing group is missing trailing '}'");
        out += '$<' + rep.slice(i + 2, close) + '>';
        i = close;
      } else if (next !== undefined && next >= '0' && next <= '9') {
        out += '$';
      } else {
        throw new Error('Illegal group reference');
      }
    } else out += c;
  }
  return out;
}

/** java.lang.String.split(regex, limit) (java.util.regex.Pattern.split semantics). */
export function javaSplit(s: string, regex: string, limit = 0): string[] {
  const re = javaRegex(regex, true);
  const list: string[] = [];
  const limited = limit > 0;
  let index = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(s)) !== null) {
    const start = m.index;
    const end = start + m[0].length;
    if (m[0].length === 0) re.lastIndex++;
    if (m[0].length === 0 && start >= s.length) break;
    if (!limited || list.length < limit - 1) {
      if (index === 0 && start === 0 && start === end) continue; // no leading empty string for a zero-width match
      list.push(s.slice(index, start));
      index = end;
    } else if (list.length === limit - 1) {
      list.push(s.slice(index));
      index = end;
      break;
    }
  }
  if (index === 0) return javaList([s]);
  if (!limited || list.length < limit) list.push(s.slice(index));
  if (limit === 0) while (list.length > 0 && list[list.length - 1] === '') list.pop();
  return javaList(list);
}

// ---------------------------------------------------------------------------------------------------------------
// Method dispatch

const str = (v: unknown): string => toTemplateString(v);
const int = (v: unknown): number => (typeof v === 'number' ? Math.trunc(v) : Number.parseInt(String(v), 10));

function looseEquals(a: unknown, b: unknown): boolean {
  return a === b || (a !== null && b !== null && typeof a === 'object' && typeof b === 'object' && javaString(a) === javaString(b));
}

function stringMethod(s: string, name: string, a: unknown[]): unknown {
  switch (name) {
    case 'length':
      return s.length;
    case 'isEmpty':
      return s.length === 0;
    case 'isBlank':
      return s.trim().length === 0;
    case 'contains':
      return s.includes(str(a[0]));
    case 'equals':
      return typeof a[0] === 'string' && a[0] === s;
    case 'equalsIgnoreCase':
      return typeof a[0] === 'string' && a[0].toLowerCase() === s.toLowerCase();
    case 'startsWith':
      return s.startsWith(str(a[0]), a[1] === undefined ? 0 : int(a[1]));
    case 'endsWith':
      return s.endsWith(str(a[0]));
    case 'indexOf':
      return s.indexOf(str(a[0]), a[1] === undefined ? 0 : int(a[1]));
    case 'lastIndexOf':
      return a[1] === undefined ? s.lastIndexOf(str(a[0])) : s.lastIndexOf(str(a[0]), int(a[1]));
    case 'substring':
      return a[1] === undefined ? s.substring(int(a[0])) : s.substring(int(a[0]), int(a[1]));
    case 'charAt':
      return s.charAt(int(a[0]));
    case 'toLowerCase':
      return s.toLowerCase();
    case 'toUpperCase':
      return s.toUpperCase();
    case 'trim':
    case 'strip':
      return s.trim();
    case 'concat':
      return s + str(a[0]);
    case 'replace': {
      // String.replace(CharSequence, CharSequence) replaces every literal occurrence.
      const from = str(a[0]);
      const to = str(a[1]);
      if (from === '') return to + s.split('').join(to) + to;
      return s.split(from).join(to);
    }
    case 'replaceAll':
      return s.replace(javaRegex(str(a[0]), true), javaReplacement(str(a[1])));
    case 'replaceFirst':
      return s.replace(javaRegex(str(a[0]), false), javaReplacement(str(a[1])));
    case 'matches':
      return javaRegex(`^(?:${str(a[0])})$`, false).test(s);
    case 'split':
      return javaSplit(s, str(a[0]), a[1] === undefined ? 0 : int(a[1]));
    case 'toString':
    case 'intern':
      return s;
    case 'hashCode': {
      let h = 0;
      for (let i = 0; i < s.length; i++) h = (Math.imul(31, h) + s.charCodeAt(i)) | 0;
      return h;
    }
    default:
      return undefined;
  }
}

function listMethod(l: unknown[], name: string, a: unknown[]): unknown {
  switch (name) {
    case 'size':
    case 'count': // "$input.path('$.pets').count()" in the AWS $input reference
      return l.length;
    case 'isEmpty':
      return l.length === 0;
    case 'get':
      return l[int(a[0])];
    case 'contains':
      return l.some((v) => looseEquals(v, a[0]));
    case 'indexOf':
      return l.findIndex((v) => looseEquals(v, a[0]));
    case 'lastIndexOf': {
      for (let i = l.length - 1; i >= 0; i--) if (looseEquals(l[i], a[0])) return i;
      return -1;
    }
    case 'add':
      if (a.length >= 2) l.splice(int(a[0]), 0, a[1]);
      else l.push(a[0]);
      return true;
    case 'addAll':
      if (Array.isArray(a[0])) l.push(...(a[0] as unknown[]));
      return true;
    case 'set': {
      const i = int(a[0]);
      const prev = l[i];
      l[i] = a[1];
      return prev;
    }
    case 'remove': {
      if (typeof a[0] === 'number' && Number.isInteger(a[0])) return l.splice(a[0], 1)[0];
      const i = l.findIndex((v) => looseEquals(v, a[0]));
      if (i === -1) return false;
      l.splice(i, 1);
      return true;
    }
    case 'clear':
      l.length = 0;
      return undefined;
    case 'subList':
      return javaList(l.slice(int(a[0]), int(a[1])));
    case 'toString':
      return javaString(l);
    default:
      return undefined;
  }
}

function mapMethod(m: Record<string, unknown>, name: string, a: unknown[]): unknown {
  switch (name) {
    case 'get':
      return m[str(a[0])];
    case 'getOrDefault': {
      const k = str(a[0]);
      return Object.prototype.hasOwnProperty.call(m, k) || k in m ? m[k] : a[1];
    }
    case 'containsKey': {
      const k = str(a[0]);
      return m[k] !== undefined || Object.prototype.hasOwnProperty.call(m, k);
    }
    case 'containsValue':
      return Object.values(m).some((v) => looseEquals(v, a[0]));
    case 'keySet':
      return javaList(Object.keys(m));
    case 'values':
      return javaList(Object.values(m));
    case 'entrySet':
      return javaList(Object.keys(m).map((k) => new MapEntry(k, m[k])));
    case 'size':
      return Object.keys(m).length;
    case 'isEmpty':
      return Object.keys(m).length === 0;
    case 'put': {
      const k = str(a[0]);
      if (k === '__proto__') return undefined;
      const prev = m[k];
      m[k] = a[1];
      return prev;
    }
    case 'putAll':
      if (a[0] !== null && typeof a[0] === 'object') for (const [k, v] of Object.entries(a[0])) if (k !== '__proto__') m[k] = v;
      return undefined;
    case 'remove': {
      const k = str(a[0]);
      const prev = m[k];
      delete m[k];
      return prev;
    }
    case 'clear':
      for (const k of Object.keys(m)) delete m[k];
      return undefined;
    case 'toString':
      return javaString(m);
    default:
      return undefined;
  }
}

/** Every `$target.name(args)` call in a template lands here (see engine.ts). Unknown methods yield null, as in AWS. */
export function invokeMethod(target: unknown, name: string, args: unknown[]): unknown {
  switch (typeof target) {
    case 'string':
      return stringMethod(target, name, args);
    case 'number':
      switch (name) {
        case 'intValue':
        case 'longValue':
          return Math.trunc(target);
        case 'doubleValue':
        case 'floatValue':
          return target;
        case 'toString':
          return javaNumber(target);
        case 'equals':
          return args[0] === target;
        default:
          return undefined;
      }
    case 'boolean':
      if (name === 'booleanValue') return target;
      if (name === 'toString') return target ? 'true' : 'false';
      if (name === 'equals') return args[0] === target;
      return undefined;
    case 'object': {
      if (target === null) return undefined;
      if (Array.isArray(target)) return listMethod(target, name, args);
      if (target instanceof Builtin) return target.call(name, args);
      if (isPlainObject(target)) return mapMethod(target as Record<string, unknown>, name, args);
      const fn = (target as Record<string, unknown>)[name];
      return typeof fn === 'function' ? (fn as (...a: unknown[]) => unknown).apply(target, args) : undefined;
    }
    default:
      return undefined;
  }
}
