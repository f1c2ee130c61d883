/**
 * Config loading: YAML/JSON parse (with line tracking) → ${ENV} interpolation on scalar values →
 * defaults + coercion of interpolated scalars → ajv validation → semantic checks.
 * Every problem becomes a ConfigIssue with a `a.b[0].c` path and, when known, a 1-based line.
 */
import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, extname, isAbsolute, resolve } from 'node:path';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, type Document } from 'yaml';
import { ConfigSchema, type Config, type Target, type TargetObject, type Workers } from './schema.js';
import { checkHttpUrl, parseRouteKey, templateVariables, urlPath, type RouteParam } from './routekey.js';
import { blockListOf } from '../policy/ip.js';
import { resolveTlsFiles, unsupportedTlsKey } from './tls.js';

export interface ConfigIssue {
  /** e.g. `apis[0].routes[2].integration.upstream`; '' for the document itself. */
  path: string;
  message: string;
  /** 1-based line in the YAML/JSON file. */
  line?: number;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
  constructor(
    readonly file: string,
    readonly issues: ConfigIssue[],
  ) {
    super(`Invalid config ${file}:\n${issues.map((i) => '  ' + formatIssue(file, i)).join('\n')}`);
  }
}

/** `file:line: path: message`, leaving out what is unknown. */
export function formatIssue(file: string, issue: ConfigIssue): string {
  return `${file}${issue.line !== undefined ? `:${issue.line}` : ''}: ${issue.path ? `${issue.path}: ` : ''}${issue.message}`;
}

export interface ParseOptions {
  /** Shown in messages. */
  file: string;
  /** Default: 'json' when `file` ends in .json, else 'yaml'. */
  format?: 'yaml' | 'json';
  /** Default: process.env. */
  env?: NodeJS.ProcessEnv;
}

/** Reads and parses a config file (.json is JSON, anything else YAML). Throws ConfigError. */
export function loadConfigFile(file: string, env: NodeJS.ProcessEnv = process.env): Config {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(file, [{ path: '', message: `cannot read file: ${(err as Error).message}` }]);
  }
  return parseConfig(text, { file, env });
}

/** Parses config text; the result has every default filled in. Throws ConfigError listing all issues. */
export function parseConfig(text: string, opts: ParseOptions): Config {
  const file = opts.file;
  const format = opts.format ?? (extname(file).toLowerCase() === '.json' ? 'json' : 'yaml');
  const env = opts.env ?? process.env;
  const src = parseSource(text, file, format);
  const segsOf = new WeakMap<ConfigIssue, Seg[]>();
  const issue = (segs: Seg[], message: string, atParent = false): ConfigIssue => {
    const i: ConfigIssue = { path: formatPath(segs), message, line: src.lineOf(atParent ? segs.slice(0, -1) : segs) };
    segsOf.set(i, segs);
    return i;
  };
  const fail = (issues: ConfigIssue[]): never => {
    const seen = new Set<string>();
    const unique = issues.filter((i) => {
      const k = `${i.path}\0${i.message}`;
      return seen.has(k) ? false : (seen.add(k), true);
    });
    // File order, then document order of paths (several issues can share a line); stable otherwise.
    unique.sort((a, b) => (a.line ?? Infinity) - (b.line ?? Infinity) || compareSegs(segsOf.get(a) ?? [], segsOf.get(b) ?? []));
    throw new ConfigError(file, unique);
  };

  if (src.value === null || src.value === undefined) fail([{ path: '', message: 'the file is empty (expected a mapping with at least apis)' }]);

  const interpolated = new Set<string>();
  const envIssues: ConfigIssue[] = [];
  const data = interpolate(src.value, [], env, interpolated, (segs, msg) => envIssues.push(issue(segs, msg)));
  if (envIssues.length) fail(envIssues);

  const prepared = prepare(ConfigSchema as unknown as S, data, [], interpolated);
  const validate = validator();
  const issues: ConfigIssue[] = [];
  if (!validate(prepared)) {
    for (const e of readableErrors(validate.errors ?? [], prepared)) issues.push(issue(e.segs, unsupportedTlsKey(e.segs) ?? e.message, e.atParent));
  }
  semanticChecks(prepared, (segs, msg) => issues.push(issue(segs, msg)));
  if (issues.length) fail(issues);
  resolveHandlers(prepared as Config, dirname(resolve(file)), (segs, msg) => issues.push(issue(segs, msg)));
  resolveTlsFiles(prepared as Config, dirname(resolve(file)), (segs, msg) => issues.push(issue(segs, msg)));
  if (issues.length) fail(issues);
  return prepared as Config;
}

/** Module file extensions a handler may have (ESM, CommonJS, or either by package type). */
const HANDLER_EXTS = ['.mjs', '.cjs', '.js'];

/**
 * Function handlers (function integrations and Lambda authorizers): 'path#export' with the path
 * relative to the config file, rewritten to an absolute path and '#handler' when no export is named;
 * the file must exist. Whether the export is a function is checked when a worker loads the module.
 */
function resolveHandlers(cfg: Config, baseDir: string, report: (segs: Seg[], msg: string) => void): void {
  const resolveOne = (handler: string, segs: Seg[]): string => {
    // A name from functions.handlers stands for its 'path#export'.
    const spec = Object.hasOwn(cfg.functions.handlers, handler) ? cfg.functions.handlers[handler]! : handler;
    const hash = spec.lastIndexOf('#');
    const path = hash < 0 ? spec : spec.slice(0, hash);
    const exportName = hash < 0 ? 'handler' : spec.slice(hash + 1);
    const abs = isAbsolute(path) ? path : resolve(baseDir, path);
    if (!HANDLER_EXTS.includes(extname(abs))) report(segs, `handler module must be a .mjs, .cjs or .js file, got "${path}"`);
    else if (!existsSync(abs)) report(segs, `handler module not found: ${path} (resolved to ${abs})`);
    else return `${abs}#${exportName}`;
    return handler;
  };
  cfg.apis.forEach((api, ai) => {
    api.routes.forEach((r, ri) => {
      const integ = r.integration;
      if (integ.type === 'function') integ.handler = resolveOne(integ.handler, ['apis', ai, 'routes', ri, 'integration', 'handler']);
    });
    for (const [name, a] of Object.entries(api.authorizers)) {
      if (a.type !== 'jwt') a.handler = resolveOne(a.handler, ['apis', ai, 'authorizers', name, 'handler']);
    }
  });
}

/** Worker count for `workers`: 'auto' = os.availableParallelism(). */
export function resolveWorkers(workers: Workers): number {
  return workers === 'auto' ? availableParallelism() : workers;
}

/** Targets as `{url, weight}` whichever form the file used. */
export function normalizeTargets(targets: readonly Target[]): TargetObject[] {
  return targets.map((t) => (typeof t === 'string' ? { url: t, weight: 1 } : { url: t.url, weight: t.weight }));
}

// ---------------------------------------------------------------------------------------------
// Paths

type Seg = string | number;

const PLAIN_KEY = /^[A-Za-z0-9_$-]+$/;
export function formatPath(segs: readonly Seg[]): string {
  let out = '';
  for (const s of segs) {
    if (typeof s === 'number') out += `[${s}]`;
    else if (PLAIN_KEY.test(s)) out += out ? `.${s}` : s;
    else out += `[${JSON.stringify(s)}]`;
  }
  return out;
}

const segKey = (segs: readonly Seg[]) => segs.join('\0');

/** Orders array indexes numerically; keys keep their relative order (0) since object order is file order. */
function compareSegs(a: readonly Seg[], b: readonly Seg[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x === y) continue;
    return typeof x === 'number' && typeof y === 'number' ? x - y : 0;
  }
  return 0;
}

// ---------------------------------------------------------------------------------------------
// Parsing

interface Source {
  value: unknown;
  /** Line of the deepest node on `segs` that exists in the file. */
  lineOf(segs: readonly Seg[]): number | undefined;
}

function parseSource(text: string, file: string, format: 'yaml' | 'json'): Source {
  let jsonValue: unknown;
  if (format === 'json') {
    try {
      jsonValue = JSON.parse(text);
    } catch (err) {
      const { message, pos } = jsonError(text, (err as Error).message);
      throw new ConfigError(file, [{ path: '', message: `invalid JSON: ${message}`, line: pos === undefined ? undefined : lineAt(text, pos) }]);
    }
  }
  const lc = new LineCounter();
  // JSON is YAML, so the same document gives JSON files their line numbers.
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, merge: true, uniqueKeys: true });
  if (doc.errors.length) {
    const dup = doc.errors.find((e) => e.code === 'DUPLICATE_KEY');
    if (format === 'json' && dup) {
      // JSON.parse would silently keep the last one; in a config that is a bug.
      throw new ConfigError(file, [{ path: '', message: dup.message.split('\n')[0]!, line: lc.linePos(dup.pos[0]).line }]);
    }
    // Valid JSON that this YAML parser rejects (rare): still usable, just without lines.
    if (format === 'json') return { value: jsonValue, lineOf: () => undefined };
    // Only the first: the parser's follow-up errors are mostly cascades of it.
    const e = doc.errors[0]!;
    const line = lc.linePos(e.pos[0]).line;
    const text1 = text.split('\n')[line - 1] ?? '';
    // The classic: an unquoted /path/{id} inside a { ... } flow mapping.
    const hint = /flow/.test(e.message) && /[{[]/.test(text1) ? " (inside { } or [ ], quote values that contain { } [ ] or ',')" : '';
    const more = doc.errors.length > 1 ? ` [${doc.errors.length - 1} more errors follow from it]` : '';
    const msg = e.code === 'MULTIPLE_DOCS' ? "the file must hold one YAML document (found a second '---')" : e.message.split('\n')[0];
    throw new ConfigError(file, [{ path: '', message: `YAML syntax error: ${msg}${hint}${more}`, line }]);
  }
  let value = jsonValue;
  if (format === 'yaml') {
    try {
      value = doc.toJS({ maxAliasCount: 1000 });
    } catch (err) {
      // Unresolved alias or alias bomb: point at the alias if we can find it.
      const msg = (err as Error).message;
      const alias = /: ([^\s:]+)$/.exec(msg)?.[1];
      const at = alias ? text.search(new RegExp(`\\*${alias.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?![^\\s,\\]}])`)) : -1;
      throw new ConfigError(file, [{ path: '', message: `YAML error: ${msg}`, line: at >= 0 ? lc.linePos(at).line : undefined }]);
    }
  }
  return { value, lineOf: (segs) => nodeLine(doc, lc, segs) };
}

/** Offset of a JSON.parse error, from V8's message; V8 omits it for "Unexpected token" and quotes context instead. */
function jsonError(text: string, msg: string): { message: string; pos?: number } {
  const at = /^(.*) in JSON at position (\d+)/s.exec(msg);
  if (at) return { message: at[1]!, pos: Number(at[2]) };
  const tok = /^(Unexpected token '(.+?)'), (\.\.\.)?"([\s\S]*)"(\.\.\.)? is not valid JSON$/.exec(msg);
  if (!tok) return { message: msg };
  const [, head, token, before, snippet, after] = tok as unknown as [string, string, string, string | undefined, string, string | undefined];
  // V8 quotes up to 10 characters either side of the error.
  if (before) {
    const i = text.indexOf(snippet);
    return { message: head, pos: i >= 0 ? i + 10 : undefined };
  }
  if (after) return { message: head, pos: Math.max(0, snippet.length - 10) };
  // Whole (short) text quoted: only certain when the token occurs once.
  const first = text.indexOf(token);
  return { message: head, pos: first >= 0 && first === text.lastIndexOf(token) ? first : undefined };
}

function lineAt(text: string, offset: number): number {
  let line = 1;
  for (let i = 0; i < offset && i < text.length; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}

function rangeLine(lc: LineCounter, node: unknown): number | undefined {
  const range = (node as { range?: [number, number, number] } | null)?.range;
  return range ? lc.linePos(range[0]).line : undefined;
}

function nodeLine(doc: Document, lc: LineCounter, segs: readonly Seg[]): number | undefined {
  let node: unknown = doc.contents;
  let line = rangeLine(lc, node);
  for (const seg of segs) {
    if (isAlias(node)) node = node.resolve(doc);
    if (isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(seg));
      if (!pair) break;
      // The key's line: for a block collection value the value starts on a later line.
      line = rangeLine(lc, pair.key) ?? line;
      node = pair.value;
    } else if (isSeq(node) && typeof seg === 'number') {
      const item = node.items[seg];
      if (item === undefined) break;
      line = rangeLine(lc, item) ?? line;
      node = item;
    } else break;
  }
  return line;
}

// ---------------------------------------------------------------------------------------------
// ${ENV} interpolation, on parsed values so a variable's content can never inject structure

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function interpolate(
  value: unknown,
  segs: Seg[],
  env: NodeJS.ProcessEnv,
  marks: Set<string>,
  report: (segs: Seg[], msg: string) => void,
): unknown {
  if (typeof value === 'string') {
    if (!value.includes('${')) return value;
    let substituted = false;
    const out = value.replace(/\$\$\{|\$\{([^}]*)\}|\$\{/g, (m, body: string | undefined) => {
      if (m === '$${') return '${'; // escape for a literal ${
      if (body === undefined) {
        report(segs, `unterminated \${ in "${value}"`);
        return m;
      }
      // AWS selection expressions (`${request.body.action}`) are never environment variables: kept as written.
      if (body.startsWith('request.')) return m;
      const v = /^([A-Za-z_][A-Za-z0-9_]*)(?::-([\s\S]*))?$/.exec(body);
      if (!v) {
        report(segs, `invalid variable reference \${${body}} (expected \${NAME} or \${NAME:-default})`);
        return m;
      }
      const name = v[1]!;
      const def = v[2];
      const val = env[name];
      substituted = true;
      // Shell semantics for ':-': the default also replaces an empty value.
      if (val !== undefined && (def === undefined || val !== '')) return val;
      if (def !== undefined) return def;
      report(segs, `environment variable ${name} is not set (use \${${name}:-default} for a default)`);
      return m;
    });
    if (substituted) marks.add(segKey(segs));
    return out;
  }
  if (Array.isArray(value)) return value.map((v, i) => interpolate(v, [...segs, i], env, marks, report));
  if (isObject(value)) {
    for (const k of Object.keys(value)) value[k] = interpolate(value[k], [...segs, k], env, marks, report);
  }
  return value;
}

// ---------------------------------------------------------------------------------------------
// Defaults and coercion, guided by the schema. Own walker rather than Value.Default: TypeBox
// picks a union variant only when it already validates, so a half-broken integration would get
// no defaults and then spurious "required" errors.

type S = {
  type?: string;
  const?: unknown;
  enum?: unknown[];
  default?: unknown;
  anyOf?: S[];
  properties?: Record<string, S>;
  patternProperties?: Record<string, S>;
  required?: string[];
  items?: S | S[];
  minimum?: number;
  maximum?: number;
  minItems?: number;
  maxItems?: number;
  pattern?: string;
  errorMessage?: string;
};

function jsonType(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

function accepts(s: S, v: unknown): boolean {
  const t = jsonType(v);
  if (s.const !== undefined) return s.const === v;
  if (s.enum) return s.enum.includes(v);
  if (s.type === 'integer') return t === 'number' && Number.isInteger(v);
  return s.type === t;
}

/** The `type` values of a discriminated union's variants, or undefined if it is not one. */
function discriminator(anyOf: S[]): string[] | undefined {
  const tags = anyOf.map((b) => b.properties?.['type']?.const);
  return tags.every((t): t is string => typeof t === 'string') ? tags : undefined;
}

function pickBranch(anyOf: S[], v: unknown): number {
  const tags = discriminator(anyOf);
  if (tags) return isObject(v) ? tags.indexOf(v['type'] as string) : -1;
  const t = jsonType(v);
  // By JSON type, so `{url, wieght}` is reported against the object form, not "must be a string".
  const byType = anyOf.map((b, i) => [b, i] as const).filter(([b]) => b.type === t || (b.type === 'integer' && t === 'number'));
  if (byType.length === 1 && byType[0]![0].const === undefined && !byType[0]![0].enum) return byType[0]![1];
  return anyOf.findIndex((b) => accepts(b, v));
}

/** Strings that came from ${...} become numbers/booleans where the schema wants one. */
function coerce(s: S, v: string): unknown {
  const branches = s.anyOf ?? [s];
  if (branches.some((b) => b.type === 'string' && (b.const === undefined || b.const === v) && (!b.enum || b.enum.includes(v)))) return v;
  if (branches.some((b) => b.type === 'integer' || b.type === 'number') && /^-?\d+(\.\d+)?([eE][+-]?\d+)?$/.test(v.trim())) return Number(v);
  if (branches.some((b) => b.type === 'boolean') && (v === 'true' || v === 'false')) return v === 'true';
  return v;
}

function prepare(s: S, value: unknown, segs: Seg[], marks: Set<string>): unknown {
  let v = value;
  if (v === undefined) {
    if (s.default === undefined) return undefined;
    v = structuredClone(s.default);
  } else if (typeof v === 'string' && marks.has(segKey(segs))) {
    v = coerce(s, v);
  }
  let b: S | undefined = s;
  if (s.anyOf) b = s.anyOf[pickBranch(s.anyOf, v)];
  if (!b) return v;
  if (b.type === 'object' && isObject(v)) {
    const obj = v;
    for (const [k, ps] of Object.entries(b.properties ?? {})) {
      const r = prepare(ps, obj[k], [...segs, k], marks);
      if (r !== undefined) obj[k] = r;
    }
    if (b.patternProperties) {
      const patterns = Object.entries(b.patternProperties).map(([p, ps]) => [new RegExp(p, 'u'), ps] as const);
      for (const k of Object.keys(obj)) {
        if (b.properties && k in b.properties) continue;
        const hit = patterns.find(([re]) => re.test(k));
        if (hit) obj[k] = prepare(hit[1], obj[k], [...segs, k], marks);
      }
    }
  } else if (b.type === 'array' && Array.isArray(v)) {
    const items = b.items;
    for (let i = 0; i < v.length; i++) {
      const is = Array.isArray(items) ? items[i] : items;
      if (is) v[i] = prepare(is, v[i], [...segs, i], marks);
    }
  }
  return v;
}

// ---------------------------------------------------------------------------------------------
// Validation: ajv errors → one readable message per problem

let compiled: ValidateFunction | undefined;
function validator(): ValidateFunction {
  if (!compiled) {
    // allErrors: report everything in one go; verbose: errors carry their schema for messages.
    const ajv = new Ajv({ allErrors: true, verbose: true, strict: true, useDefaults: false, coerceTypes: false });
    ajv.addKeyword({ keyword: 'errorMessage', schemaType: 'string' });
    compiled = ajv.compile(ConfigSchema);
  }
  return compiled;
}

interface Readable {
  segs: Seg[];
  message: string;
  /** Point the line at the parent (the key itself is missing). */
  atParent?: boolean;
}

function pointerSegs(pointer: string, root: unknown): Seg[] {
  if (!pointer) return [];
  const segs: Seg[] = [];
  let cur: unknown = root;
  for (const raw of pointer.slice(1).split('/')) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    const seg: Seg = Array.isArray(cur) ? Number(key) : key;
    segs.push(seg);
    cur = cur === null || typeof cur !== 'object' ? undefined : (cur as Record<string, unknown>)[seg as string];
  }
  return segs;
}

function show(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 60 ? v.slice(0, 57) + '...' : v);
  if (Array.isArray(v)) return 'an array';
  if (v === null) return 'null';
  if (typeof v === 'object') return 'an object';
  return String(v);
}

const ARTICLE: Record<string, string> = {
  string: 'a string', number: 'a number', integer: 'an integer', boolean: 'a boolean (true or false)',
  object: 'a mapping', array: 'a list', null: 'null',
};

function describe(s: S): string {
  if (s.const !== undefined) return JSON.stringify(s.const);
  if (s.enum) return `one of ${s.enum.join(', ')}`;
  if ((s.type === 'integer' || s.type === 'number') && s.minimum !== undefined && s.maximum !== undefined)
    return `${ARTICLE[s.type]} ${s.minimum}..${s.maximum}`;
  if (s.type === 'object' && s.properties) return `a mapping {${Object.keys(s.properties).join(', ')}}`;
  return ARTICLE[s.type ?? ''] ?? 'a value';
}

function readableErrors(errors: ErrorObject[], data: unknown): Readable[] {
  // Unions: keep only the errors of the variant the value was meant to be.
  const dropped = new Set<ErrorObject>();
  const out: Readable[] = [];
  const unions = errors.filter((e) => e.keyword === 'anyOf').sort((a, b) => a.schemaPath.length - b.schemaPath.length);
  for (const u of unions) {
    if (dropped.has(u)) continue;
    dropped.add(u);
    const anyOf = u.schema as S[];
    const prefix = u.schemaPath + '/';
    const segs = pointerSegs(u.instancePath, data);
    const inner = errors.filter((e) => e.schemaPath.startsWith(prefix) && e.instancePath.startsWith(u.instancePath));
    const tags = discriminator(anyOf);
    let chosen = -1;
    if (tags) {
      if (!isObject(u.data)) out.push({ segs, message: `must be a mapping with a type (${tags.join(', ')}) (got ${show(u.data)})` });
      else if (u.data['type'] === undefined) out.push({ segs: [...segs, 'type'], message: `is required (one of ${tags.join(', ')})`, atParent: true });
      else if (!tags.includes(u.data['type'] as string))
        out.push({ segs: [...segs, 'type'], message: `must be one of ${tags.join(', ')} (got ${show(u.data['type'])})` });
      else chosen = tags.indexOf(u.data['type'] as string);
    } else {
      chosen = pickBranch(anyOf, u.data);
      // Picked by JSON type but it is one of several literal options: say what is allowed.
      if (chosen >= 0 && (anyOf[chosen]!.const !== undefined || anyOf[chosen]!.enum)) chosen = -1;
      if (chosen < 0) out.push({ segs, message: `must be ${anyOf.map(describe).join(' or ')} (got ${show(u.data)})` });
    }
    const keep = `${prefix}${chosen}/`;
    for (const e of inner) if (chosen < 0 || !e.schemaPath.startsWith(keep)) dropped.add(e);
  }

  for (const e of errors) {
    if (dropped.has(e)) continue;
    const segs = pointerSegs(e.instancePath, data);
    const ps = (e.parentSchema ?? {}) as S;
    const p = e.params as Record<string, unknown>;
    switch (e.keyword) {
      case 'additionalProperties': {
        const key = String(p['additionalProperty']);
        if (ps.properties) {
          const hint = didYouMean(key, Object.keys(ps.properties));
          out.push({ segs: [...segs, key], message: `unknown property${hint ? ` (did you mean ${hint}?)` : ''}` });
        } else {
          out.push({ segs: [...segs, key], message: ps.errorMessage ?? 'invalid key' });
        }
        break;
      }
      case 'required':
        out.push({ segs: [...segs, String(p['missingProperty'])], message: 'is required', atParent: true });
        break;
      case 'type':
        out.push({ segs, message: `must be ${ARTICLE[String(p['type'])] ?? p['type']} (got ${show(e.data)})` });
        break;
      case 'minimum':
      case 'maximum':
      case 'exclusiveMinimum':
      case 'exclusiveMaximum':
        out.push({
          segs,
          message:
            ps.minimum !== undefined && ps.maximum !== undefined
              ? `must be between ${ps.minimum} and ${ps.maximum} (got ${show(e.data)})`
              : `must be ${p['comparison']} ${p['limit']} (got ${show(e.data)})`,
        });
        break;
      case 'minLength':
        out.push({ segs, message: ps.errorMessage ?? (p['limit'] === 1 ? 'must not be empty' : `must be at least ${p['limit']} characters`) });
        break;
      case 'maxLength':
        out.push({ segs, message: ps.errorMessage ?? `must be at most ${p['limit']} characters` });
        break;
      case 'minItems':
      case 'maxItems':
      case 'additionalItems':
        if (ps.minItems !== undefined && ps.minItems === ps.maxItems) out.push({ segs, message: `must have exactly ${ps.minItems} items` });
        else if (e.keyword === 'minItems') out.push({ segs, message: p['limit'] === 1 ? 'must not be empty' : `must have at least ${p['limit']} items` });
        else out.push({ segs, message: `must have at most ${p['limit']} items` });
        break;
      case 'pattern':
        out.push({ segs, message: `${ps.errorMessage ?? `must match ${p['pattern']}`} (got ${show(e.data)})` });
        break;
      case 'enum':
        out.push({ segs, message: `must be one of ${(p['allowedValues'] as unknown[]).join(', ')} (got ${show(e.data)})` });
        break;
      case 'const':
        out.push({ segs, message: `must be ${JSON.stringify(p['allowedValue'])} (got ${show(e.data)})` });
        break;
      default:
        out.push({ segs, message: e.message ?? `failed ${e.keyword}` });
    }
  }
  return out;
}

/** Closest candidate by edit distance, or one the input is a prefix/case variant of. */
export function didYouMean(input: string, candidates: readonly string[]): string | undefined {
  const lower = input.toLowerCase();
  let best: string | undefined;
  let bestScore = Infinity;
  for (const c of candidates) {
    const cl = c.toLowerCase();
    let score = levenshtein(lower, cl);
    if (cl.startsWith(lower) || lower.startsWith(cl)) score = Math.min(score, 1);
    if (score < bestScore) [best, bestScore] = [c, score];
  }
  return best !== undefined && bestScore <= Math.max(1, Math.floor(input.length / 3)) ? best : undefined;
}

function levenshtein(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length]!;
}

// ---------------------------------------------------------------------------------------------
// Semantic checks. They run even when the schema failed (so one pass shows everything), hence
// every access is guarded.

function semanticChecks(cfg: unknown, report: (segs: Seg[], msg: string) => void): void {
  if (!isObject(cfg) || !Array.isArray(cfg['apis'])) return;
  checkSharedState(cfg, report);
  const apis = cfg['apis'] as unknown[];
  const names = new Map<string, number>();
  const claims = new Map<string, { api: number; name: string }>();

  apis.forEach((api, i) => {
    if (!isObject(api)) return;
    const at: Seg[] = ['apis', i];
    const name = typeof api['name'] === 'string' ? api['name'] : `#${i}`;
    if (typeof api['name'] === 'string') {
      const prev = names.get(api['name']);
      if (prev !== undefined) report([...at, 'name'], `duplicate API name "${api['name']}" (also apis[${prev}].name)`);
      else names.set(api['name'], i);
    }

    // (host, stage) pairs: an API without hosts claims host '*'.
    const stage = typeof api['stage'] === 'string' ? api['stage'] : '$default';
    const hosts = Array.isArray(api['hosts']) ? (api['hosts'] as unknown[]) : undefined;
    const claim = (host: string, segs: Seg[]) => {
      const k = `${host}\0${stage}`;
      const prev = claims.get(k);
      if (!prev) return void claims.set(k, { api: i, name });
      if (prev.api === i) return report(segs, `duplicate host "${host}"`);
      report(
        segs,
        host === '*'
          ? `API "${name}" has no hosts and stage "${stage}", like API "${prev.name}" (apis[${prev.api}]); give one of them hosts or another stage`
          : `host "${host}" with stage "${stage}" is already served by API "${prev.name}" (apis[${prev.api}])`,
      );
    };
    if (hosts) hosts.forEach((h, j) => typeof h === 'string' && claim(h.toLowerCase(), [...at, 'hosts', j]));
    else claim('*', [...at, 'stage']);

    const cors = api['cors'];
    if (isObject(cors) && cors['allowCredentials'] === true && Array.isArray(cors['allowOrigins'])) {
      (cors['allowOrigins'] as unknown[]).forEach((o, j) => {
        // A wildcard with credentials would let any site read responses with the user's cookies.
        if (o === '*' || o === 'https://*' || o === 'http://*') report([...at, 'cors', 'allowOrigins', j], `"${o}" cannot be used with allowCredentials: list the origins`);
      });
    }

    const ws = api['websocket'];
    // Defaults are filled in by now. A batch alone past the slow-consumer limit would drop every subscriber it is sent to.
    if (isObject(ws) && typeof ws['broadcastBatchBytes'] === 'number' && typeof ws['maxBackpressureBytes'] === 'number' && ws['broadcastBatchBytes'] > ws['maxBackpressureBytes'] / 2) {
      report([...at, 'websocket', 'broadcastBatchBytes'], `must be at most half of maxBackpressureBytes (${ws['maxBackpressureBytes']})`);
    }

    const upstreams = isObject(api['upstreams']) ? api['upstreams'] : {};
    for (const [uname, up] of Object.entries(upstreams)) {
      if (isObject(up)) checkUpstream(up, [...at, 'upstreams', uname], report);
    }

    if (!Array.isArray(api['routes'])) return;
    (api['routes'] as unknown[]).forEach((route, k) => {
      if (!isObject(route)) return;
      const rat: Seg[] = [...at, 'routes', k];
      let params: RouteParam[] | undefined;
      const routeKey = route['route'];
      if (api['protocol'] === 'websocket') {
        // WebSocket route keys are names a message selects, not method + path.
        params = [];
        if (typeof routeKey === 'string' && routeKey.startsWith('$') && !['$connect', '$disconnect', '$default'].includes(routeKey)) {
          report([...rat, 'route'], 'WebSocket route keys starting with $ are $connect, $disconnect and $default');
        } else if (typeof routeKey === 'string' && routeKey.length > 128) {
          report([...rat, 'route'], 'a route key has at most 128 characters');
        }
      } else if (typeof routeKey === 'string' && routeKey !== '') {
        const parsed = parseRouteKey(routeKey);
        if ('error' in parsed) report([...rat, 'route'], parsed.error);
        else params = parsed.kind === 'route' ? parsed.params : [];
      }
      const integ = route['integration'];
      if (isObject(integ) && (integ['type'] === 'http_proxy' || integ['type'] === 'http')) {
        checkHttpProxy(integ, [...rat, 'integration'], params, typeof routeKey === 'string' ? routeKey : '', upstreams, report);
      }
    });
  });
}

/** Store, usage plans and API keys: names that must point at something, AWS's one-plan-per-stage rule. */
/** Every entry of an IP list parses (the schema only knows they are strings). */
function checkIpList(list: unknown, at: Seg[], report: (segs: Seg[], msg: string) => void): void {
  if (!Array.isArray(list)) return;
  list.forEach((e, i) => {
    if (typeof e !== 'string') return;
    try { blockListOf([e]); } catch (err) { report([...at, i], (err as Error).message); }
  });
}

function checkSharedState(cfg: Record<string, unknown>, report: (segs: Seg[], msg: string) => void): void {
  checkIpList(cfg['trustedProxies'], ['trustedProxies'], report);
  (cfg['apis'] as unknown[]).forEach((api, i) => {
    if (!isObject(api)) return;
    const pol = (p: unknown, at: Seg[]) => { if (isObject(p)) { checkIpList(p['allow'], [...at, 'allow'], report); checkIpList(p['deny'], [...at, 'deny'], report); } };
    pol(api['ipPolicy'], ['apis', i, 'ipPolicy']);
    if (Array.isArray(api['routes'])) (api['routes'] as unknown[]).forEach((r, j) => { if (isObject(r)) pol(r['ipPolicy'], ['apis', i, 'routes', j, 'ipPolicy']); });
  });
  const store = cfg['store'];
  if (isObject(store) && store['type'] === 'redis') {
    const r = store['redis'];
    if (!isObject(r)) report(['store', 'redis'], 'store.type redis needs store.redis (url, sentinels + name, or cluster)');
    else {
      const modes = ['url', 'sentinels', 'cluster'].filter((k) => r[k] !== undefined);
      if (modes.length !== 1) report(['store', 'redis'], `give exactly one of url, sentinels, cluster${modes.length ? ` (got ${modes.join(', ')})` : ''}`);
      if (r['sentinels'] !== undefined && typeof r['name'] !== 'string') report(['store', 'redis', 'name'], 'sentinels need the master group name');
    }
  }
  const apis = (cfg['apis'] as unknown[]).filter(isObject);
  const apiByName = new Map(apis.filter((a) => typeof a['name'] === 'string').map((a) => [a['name'] as string, a]));
  const plans = isObject(cfg['usagePlans']) ? cfg['usagePlans'] : {};
  /** plan -> "api\0stage" it covers */
  const planStages = new Map<string, string[]>();
  for (const [pname, plan] of Object.entries(plans)) {
    if (!isObject(plan) || !Array.isArray(plan['apiStages'])) continue;
    const stages: string[] = [];
    (plan['apiStages'] as unknown[]).forEach((as, j) => {
      if (!isObject(as) || typeof as['api'] !== 'string') return;
      const at: Seg[] = ['usagePlans', pname, 'apiStages', j];
      const api = apiByName.get(as['api']);
      if (api === undefined) return report([...at, 'api'], `unknown API "${as['api']}"${didYouMean(as['api'], [...apiByName.keys()]) ? ` (did you mean ${didYouMean(as['api'], [...apiByName.keys()])}?)` : ''}`);
      const apiStage = typeof api['stage'] === 'string' ? api['stage'] : '$default';
      if (as['stage'] !== undefined && as['stage'] !== apiStage) report([...at, 'stage'], `API "${as['api']}" is deployed to stage "${apiStage}"`);
      stages.push(`${as['api']}\0${apiStage}`);
      const routeKeys = Array.isArray(api['routes']) ? (api['routes'] as unknown[]).filter(isObject).map((r) => r['route']) : [];
      if (isObject(as['throttle'])) {
        for (const rk of Object.keys(as['throttle'])) if (!routeKeys.includes(rk)) report([...at, 'throttle', rk], `no route "${rk}" in API "${as['api']}"`);
      }
    });
    planStages.set(pname, stages);
  }
  const keys = Array.isArray(cfg['apiKeys']) ? (cfg['apiKeys'] as unknown[]) : [];
  const seenValues = new Map<string, number>();
  const seenIds = new Map<string, number>();
  keys.forEach((k, i) => {
    if (!isObject(k)) return;
    const at: Seg[] = ['apiKeys', i];
    if (typeof k['value'] === 'string') {
      const prev = seenValues.get(k['value']);
      if (prev !== undefined) report([...at, 'value'], `same value as apiKeys[${prev}]`);
      else seenValues.set(k['value'], i);
    }
    if (typeof k['id'] === 'string') {
      const prev = seenIds.get(k['id']);
      if (prev !== undefined) report([...at, 'id'], `same id as apiKeys[${prev}]`);
      else seenIds.set(k['id'], i);
    }
    if (!Array.isArray(k['usagePlans'])) return;
    const stageOwner = new Map<string, string>();
    (k['usagePlans'] as unknown[]).forEach((p, j) => {
      if (typeof p !== 'string') return;
      const stages = planStages.get(p);
      if (stages === undefined) return report([...at, 'usagePlans', j], `unknown usage plan "${p}"${Object.keys(plans).length ? ` (defined: ${Object.keys(plans).join(', ')})` : ' (usagePlans is empty)'}`);
      for (const st of stages) {
        const other = stageOwner.get(st);
        // AWS: a key may be in several plans, but only one plan per API stage.
        if (other !== undefined) report([...at, 'usagePlans', j], `plans "${other}" and "${p}" both cover API "${st.split('\0')[0]}" stage "${st.split('\0')[1]}"; a key may use one plan per stage`);
        else stageOwner.set(st, p);
      }
    });
  });
}

function checkUpstream(up: Record<string, unknown>, at: Seg[], report: (segs: Seg[], msg: string) => void): void {
  if (Array.isArray(up['targets'])) {
    (up['targets'] as unknown[]).forEach((t, j) => {
      const [url, segs] = typeof t === 'string' ? [t, [...at, 'targets', j]] : isObject(t) ? [t['url'], [...at, 'targets', j, 'url']] : [];
      if (typeof url === 'string' && url !== '') {
        const err = checkHttpUrl(url, false);
        if (err) report(segs as Seg[], err);
      }
    });
  }
  const hc = up['healthCheck'];
  if (isObject(hc)) {
    if (typeof hc['timeoutMs'] === 'number' && typeof hc['intervalMs'] === 'number' && hc['timeoutMs'] > hc['intervalMs'])
      report([...at, 'healthCheck', 'timeoutMs'], `must not exceed intervalMs (${hc['intervalMs']})`);
    const es = hc['expectStatus'];
    if (Array.isArray(es) && typeof es[0] === 'number' && typeof es[1] === 'number' && es[0] > es[1])
      report([...at, 'healthCheck', 'expectStatus'], `must be [low, high] with low <= high (got [${es[0]}, ${es[1]}])`);
  }
}

function checkHttpProxy(
  integ: Record<string, unknown>,
  at: Seg[],
  params: RouteParam[] | undefined,
  routeKey: string,
  upstreams: Record<string, unknown>,
  report: (segs: Seg[], msg: string) => void,
): void {
  const hasUpstream = integ['upstream'] !== undefined;
  const hasUri = integ['uri'] !== undefined;
  if (hasUpstream && hasUri) report([...at, 'uri'], 'set either upstream or uri, not both');
  if (!hasUpstream && !hasUri) report([...at, 'upstream'], `${String(integ['type'])} needs upstream (a name from upstreams) or uri`);

  const up = integ['upstream'];
  if (typeof up === 'string' && up !== '' && !Object.hasOwn(upstreams, up)) {
    const names = Object.keys(upstreams);
    const hint = didYouMean(up, names);
    report(
      [...at, 'upstream'],
      `unknown upstream "${up}"${hint ? ` (did you mean ${hint}?)` : names.length ? ` (defined: ${names.join(', ')})` : ' (this API defines no upstreams)'}`,
    );
  }

  const checkVars = (template: string, segs: Seg[]) => {
    const vars = templateVariables(template);
    if ('error' in vars) return report(segs, vars.error);
    if (!params) return; // the route key itself is broken and already reported
    for (const v of vars.names) {
      if (params.some((p) => p.name === v)) continue;
      const avail = params.map((p) => (p.greedy ? `{${p.name}} (from {${p.name}+})` : `{${p.name}}`));
      report(segs, `variable {${v}} is not in route "${routeKey}"${avail.length ? ` (available: ${avail.join(', ')})` : ' (it has no path variables)'}`);
    }
  };

  const uri = integ['uri'];
  if (typeof uri === 'string' && uri !== '') {
    const err = checkHttpUrl(uri, true);
    if (err) report([...at, 'uri'], err);
    else checkVars(urlPath(uri), [...at, 'uri']);
  }
  const path = integ['path'];
  if (typeof path === 'string' && path !== '') {
    if (hasUri) report([...at, 'path'], 'only allowed with upstream (with uri, put the path in the uri)');
    else if (!path.startsWith('/')) report([...at, 'path'], `must start with '/': ${path}`);
    else checkVars(path, [...at, 'path']);
  }
}
