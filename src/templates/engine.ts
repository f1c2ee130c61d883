/**
 * VTL on velocityjs, with the Java/Velocity behaviour API Gateway templates rely on.
 *
 * velocityjs differences handled here (each found by running velocityjs 2.1.7):
 *  - `null` printed as "null" and unresolved references printed as their source text: AWS prints both as ''.
 *    -> getReferences() writes every value through toTemplateString(); render runs "silent".
 *  - Java methods (`.length()` on strings, `.size()` on maps that have a "size" key, `.keySet()` ...) missing or
 *    shadowed by data keys; velocityjs also assigns an `eval` property on any object whose JS method is called.
 *    -> one customMethodHandler that takes every call (java.ts invokeMethod); data objects are never mutated.
 *  - `#break` finishes the current iteration's remaining output instead of stopping at once, and `#foreach` over
 *    a map leaks its scope (and a pending #break) past `#end`. -> renderAstList() / getBlockEach() overrides;
 *    `$foreach` also gets Velocity's `first` / `last`.
 *  - an unmatched `#end` silently drops the rest of the template, an unclosed block renders its body twice, and a
 *    stray `#else` crashes at render time. -> checkBalance() / checkElse() reject them when the template is compiled.
 *  - interpolated string literals ("$a-$b", `$input.json("$.id")`) are re-parsed on every evaluation.
 *    -> parsed once, at compile time (getString() / STRING_ASTS).
 *  - `#stop` is only recognised written `#stop()` (velocityjs lexer); not worked around.
 *  - a range literal `[1..$n]` with `$n` from the payload would allocate without bound. -> capped (MAX_RANGE).
 *  - one velocityjs Compile instance keeps state between renders (`#stop`, foreach scopes, macros).
 *    -> the AST is parsed once per template; each render runs a fresh, cheap Compile over it.
 */
import { Compile, parse } from 'velocityjs';
import { TemplatePayloadError, TemplateRenderError, TemplateSyntaxError } from './errors.js';
import { InputApi, UTIL, type TemplateParams } from './input.js';
import { invokeMethod, javaList, toTemplateString } from './java.js';
import { jsonPath, JsonPathError } from './jsonpath.js';

type Ast = ReturnType<typeof parse>[number];
interface Pos {
  first_line: number;
  first_column: number;
}
/** What the AST nodes look like at runtime (velocityjs' own types are not exported from the package). */
interface AnyNode {
  type?: string;
  id?: unknown;
  pos?: Pos;
  path?: AnyNode[];
  args?: AnyNode[];
  value?: unknown;
  isEval?: boolean;
  isRange?: boolean;
  equal?: [AnyNode, AnyNode];
  to?: string;
  from?: AnyNode;
  [k: string]: unknown;
}

/** Largest `[a..b]` range a template may build. Not an AWS limit: a guard against `[1..$input.path('$.n')]`. */
export const MAX_RANGE = 100_000;

const METHOD_HANDLER = {
  uid: 'apigw-java',
  match: (): boolean => true,
  resolve: (p: { property: string; context: unknown; params: unknown[] }): unknown => invokeMethod(p.context, p.property, p.params),
};
const CONFIG = { escape: false, customMethodHandlers: [METHOD_HANDLER] };

let foreachSeq = 0;

/**
 * velocityjs re-parses an interpolated string literal ("Item $x", `$input.json("$.id")`) every time it is
 * evaluated; the parsed form is kept per AST node instead (filled at compile time by scan()).
 */
const STRING_ASTS = new WeakMap<object, Ast[]>();

/** A JSON object / VTL map (not $input, $util or a Map.Entry). */
function isPlainMap(v: object): boolean {
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

function interpolated(node: AnyNode): boolean {
  const v = node.value;
  return node.isEval === true && typeof v === 'string' && (v.includes('$') || v.includes('#'));
}

class AwsCompile extends Compile {
  /** `$ref` written to the output: Java toString, '' for null/unresolved (render runs silent). */
  protected override getReferences(ast: Ast, isVal?: boolean): string {
    const v: unknown = super.getReferences(ast, isVal);
    return isVal ? toTemplateString(v) : (v as string);
  }

  /** As velocityjs', but `#break` / `#stop` end the list at once. */
  override renderAstList(asts?: Ast[], contextId?: string): string {
    const list = (asts ?? this.asts) as unknown as (AnyNode | string)[];
    if (contextId) {
      if (contextId !== this.contextId && !this.conditions.includes(contextId)) this.conditions.unshift(contextId);
      this.contextId = contextId;
    } else this.contextId = '';
    let out = '';
    for (const ast of list) {
      if (this.runState.stop || this.runState.break) break;
      if (typeof ast === 'string') {
        out += ast;
        continue;
      }
      switch (ast.type) {
        case 'references':
          out += this.getReferences(ast as Ast, true);
          break;
        case 'set':
          this.setValue(ast as never);
          break;
        case 'break':
          this.runState.break = true;
          break;
        case 'macro_call':
          out += this.getMacro(ast as Ast) as unknown as string;
          break;
        case 'comment':
          break;
        case 'raw':
          out += String(ast.value);
          break;
        default:
          out += this.getBlock(ast as never);
      }
    }
    return out;
  }

  /** `#foreach`: arrays, or a map's values (as Velocity iterates a Map); `$foreach.{index,count,hasNext,first,last}`. */
  getBlockEach(block: AnyNode[]): string {
    const head = block[0]!;
    const from: unknown = this.getLiteral({ ...head.from, pos: head.pos } as never);
    let items: unknown[];
    if (Array.isArray(from)) items = from;
    else if (from !== null && typeof from === 'object' && isPlainMap(from)) items = Object.values(from);
    else return '';
    const len = items.length;
    if (len === 0) return '';
    const body = block.slice(1) as unknown as Ast[];
    const to = head.to!;
    const contextId = `foreach:${++foreachSeq}`;
    const local: Record<string, unknown> = {};
    let out = '';
    for (let i = 0; i < len; i++) {
      local[to] = items[i];
      local['foreach'] = { index: i, count: i + 1, hasNext: i + 1 < len, first: i === 0, last: i + 1 === len };
      local['velocityCount'] = i + 1;
      this.local[contextId] = local;
      out += this.renderAstList(body, contextId);
      if (this.runState.break || this.runState.stop) break;
    }
    this.runState.break = false;
    delete this.local[contextId];
    const at = this.conditions.indexOf(contextId);
    if (at !== -1) this.conditions.splice(at, 1);
    this.contextId = this.conditions[0] ?? '';
    return out;
  }

  /** Double-quoted string literals: interpolated from the cached parse. */
  getString(literal: AnyNode): string {
    if (!interpolated(literal)) return literal.value as string;
    let asts = STRING_ASTS.get(literal);
    if (asts === undefined) {
      asts = parse(literal.value as string);
      STRING_ASTS.set(literal, asts);
    }
    return this.renderAstList(asts, this.contextId);
  }

  /** List literals are java.util.Lists (print `[1, 2]`); ranges are capped. */
  getArray(literal: AnyNode): unknown[] {
    const value = literal.value as (AnyNode | string | number)[];
    if (literal.isRange !== true) return javaList(value.map((e) => this.getLiteral(e as never) as unknown));
    const [begin, end] = value.map((e) => (typeof e === 'string' ? Number.parseInt(e, 10) : typeof e === 'number' ? e : Number(this.getReferences(e as Ast))));
    if (begin === undefined || end === undefined || !Number.isFinite(begin) || !Number.isFinite(end)) return javaList([]);
    if (Math.abs(end - begin) >= MAX_RANGE) throw new RangeError(`range [${begin}..${end}] has more than ${MAX_RANGE} elements`);
    const out: number[] = [];
    if (begin < end) for (let i = begin; i <= end; i++) out.push(i);
    else for (let i = begin; i >= end; i--) out.push(i);
    return javaList(out);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Compile-time checks

const SENTINEL = '#*__apigw_template_end__*#';

function isNode(v: unknown): v is AnyNode {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function lineCol(src: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset && i < src.length; i++) {
    if (src.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: offset - lineStart + 1 };
}

function snippetAt(src: string, line: number, column: number): string {
  const text = src.split('\n')[line - 1];
  if (text === undefined) return '';
  return `  ${text}\n  ${' '.repeat(Math.max(0, column - 1))}^`;
}

function syntaxError(name: string, src: string, line: number, column: number, reason: string): TemplateSyntaxError {
  return new TemplateSyntaxError(name, line, column, reason, column > 0 ? snippetAt(src, line, column) : '');
}

/**
 * Where a velocityjs (jison) parse/lexical error happened. jison reports the line, and a snippet whose `^` sits
 * under the start of the offending token, after the (newline-stripped, last 20 characters of) input consumed so far.
 */
function jisonPosition(src: string, err: Error & { hash?: { line?: number } }): { line: number; column: number } {
  const lines = err.message.split('\n');
  const headerLine = /on line (\d+)/.exec(lines[0] ?? '');
  const reportedLine = err.hash?.line !== undefined ? err.hash.line + 1 : headerLine ? Number(headerLine[1]) : 1;
  const snippet = lines[1];
  const pointer = lines[2];
  if (snippet !== undefined && pointer !== undefined && /^-*\^$/.test(pointer)) {
    const pre = snippet.slice(0, pointer.length - 1);
    const candidates: number[] = [];
    if (pre.startsWith('...') && pre.length > 3) {
      const tail = pre.slice(3);
      for (let p = 21; p <= src.length; p++) if (src.slice(p - 20, p).replace(/\n/g, '') === tail) candidates.push(p);
    }
    let seen = 0;
    for (let p = 0; p <= src.length && seen <= pre.length; p++) {
      if (seen === pre.length && src.slice(0, p).replace(/\n/g, '') === pre) {
        candidates.push(p);
        break;
      }
      if (p < src.length && src.charCodeAt(p) !== 10) seen++;
    }
    const positions = candidates.map((p) => lineCol(src, p));
    const best = positions.find((pc) => pc.line === reportedLine) ?? positions[0];
    if (best) return best;
  }
  return { line: reportedLine, column: 0 };
}

function jisonReason(err: Error): string {
  const lines = err.message.split('\n');
  const expecting = lines.find((l) => l.startsWith('Expecting '));
  if (expecting) return `VTL syntax error: ${expecting.replace(/, got '1'$/, ', got the end of the template')}`;
  if (lines[0]?.startsWith('Lexical error')) return 'VTL syntax error: unrecognized text (unterminated string or bad directive?)';
  return `VTL syntax error: ${lines[0] ?? err.message}`;
}

function parseOrThrow(name: string, src: string): Ast[] {
  try {
    return parse(src);
  } catch (e) {
    const err = e as Error & { hash?: { line?: number } };
    const { line, column } = jisonPosition(src, err);
    throw syntaxError(name, src, line, column, jisonReason(err));
  }
}

/** Does the sentinel comment, appended to the source, survive as the last top-level node, and only there? */
function sentinelCount(list: unknown[]): number {
  let n = 0;
  for (const item of list) {
    if (Array.isArray(item)) n += sentinelCount(item);
    else if (isNode(item) && item.type === 'comment' && item.value === SENTINEL) n++;
  }
  return n;
}

function endsWithSentinel(tree: unknown[]): boolean {
  const last = tree[tree.length - 1];
  return isNode(last) && last.type === 'comment' && last.value === SENTINEL;
}

/** The outermost block that swallowed the sentinel: a `#if` / `#foreach` / `#macro` ... without `#end`. */
function unclosedBlock(tree: unknown[]): AnyNode | undefined {
  for (const item of tree) {
    if (Array.isArray(item) && sentinelCount(item) > 0 && isNode(item[0])) return item[0];
  }
  return undefined;
}

function checkBalance(name: string, src: string): void {
  let withSentinel: unknown[];
  try {
    withSentinel = parse(src + '\n' + SENTINEL) as unknown[];
  } catch {
    return; // the plain parse succeeded; nothing more to learn here
  }
  if (endsWithSentinel(withSentinel) && sentinelCount(withSentinel) === 1) return;
  const open = unclosedBlock(withSentinel);
  if (open?.pos) {
    throw syntaxError(name, src, open.pos.first_line, open.pos.first_column + 1, `VTL syntax error: #${open.type} has no matching #end`);
  }
  // A stray #end: find the first one after which the template stops (velocityjs would drop everything after it).
  const re = /#\{?end\}?/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(src)) !== null) {
    const upTo = m.index + m[0].length;
    try {
      const t = parse(src.slice(0, upTo) + '\n' + SENTINEL) as unknown[];
      if (!endsWithSentinel(t)) {
        const { line, column } = lineCol(src, m.index);
        throw syntaxError(name, src, line, column, 'VTL syntax error: #end without a matching #if, #foreach, #macro or #define');
      }
    } catch (e) {
      if (e instanceof TemplateSyntaxError) throw e;
    }
  }
  throw syntaxError(name, src, 1, 0, 'VTL syntax error: unbalanced #if/#foreach/#end');
}

/** `#else` / `#elseif` only directly inside `#if`, and nothing after `#else` but the body. */
function checkElse(name: string, src: string, list: unknown[], inIf: boolean): void {
  let sawElse = false;
  for (const item of list) {
    if (Array.isArray(item)) {
      const head = item[0];
      checkElse(name, src, item.slice(1), isNode(head) && head.type === 'if');
    } else if (isNode(item) && (item.type === 'else' || item.type === 'elseif')) {
      const pos = item.pos ?? { first_line: 1, first_column: -1 };
      if (!inIf) throw syntaxError(name, src, pos.first_line, pos.first_column + 1, `VTL syntax error: #${item.type} outside #if`);
      if (sawElse) throw syntaxError(name, src, pos.first_line, pos.first_column + 1, `VTL syntax error: #${item.type} after #else`);
      if (item.type === 'else') sawElse = true;
    }
  }
}

interface Scan {
  /** The template writes `$context` (`#set($context.responseOverride.status = 400)`, requestOverride ...). */
  writesContext: boolean;
}

/** Compile every literal JSONPath of `$input.json('...')` / `$input.path('...')` now, so a bad one fails config load. */
function scan(name: string, src: string, tree: unknown[]): Scan {
  const result: Scan = { writesContext: false };
  const visit = (v: unknown, pos: Pos | undefined): void => {
    if (Array.isArray(v)) {
      for (const x of v) visit(x, pos);
      return;
    }
    if (!isNode(v)) return;
    const here = v.pos ?? pos;
    if (v.type === 'string' && interpolated(v) && !STRING_ASTS.has(v)) {
      try {
        STRING_ASTS.set(v, parse(v.value as string));
      } catch (e) {
        const line = here?.first_line ?? 1;
        throw syntaxError(name, src, line, here ? here.first_column + 1 : 0, `in string ${JSON.stringify(v.value)}: ${jisonReason(e as Error)}`);
      }
    }
    if (v.type === 'set' && v.equal && v.equal[0]?.id === 'context') result.writesContext = true;
    if (v.type === 'references' && v.id === 'input' && Array.isArray(v.path)) {
      const first = v.path[0];
      const arg = first?.args?.[0];
      if (first?.type === 'method' && (first.id === 'json' || first.id === 'path') && arg?.type === 'string' && typeof arg.value === 'string') {
        const dynamic = arg.isEval === true && /\$!?\{?[A-Za-z_]/.test(arg.value);
        if (!dynamic) {
          try {
            jsonPath(arg.value);
          } catch (e) {
            if (!(e instanceof JsonPathError)) throw e;
            const line = here?.first_line ?? 1;
            const column = here ? here.first_column + 1 : 0;
            throw syntaxError(name, src, line, column, `$input.${String(first.id)}(): ${e.message}`);
          }
        }
      }
    }
    for (const key in v) if (key !== 'pos') visit(v[key], here);
  };
  visit(tree, undefined);
  return result;
}

// ---------------------------------------------------------------------------------------------------------------
// Public surface (re-exported by index.ts)

export interface TemplateInput {
  /** Raw body text ('' when none). For a response template: the integration response body. */
  body: string;
  /** Method request parameters. Header names in any case (lookups ignore case); one value per name. */
  params: TemplateParams;
  /**
   * `$context` variables (requestId, httpMethod, resourcePath, stage, identity: { sourceIp, userAgent, ... },
   * requestTime, requestTimeEpoch, path, protocol, apiId, accountId, domainName, authorizer, ...).
   */
  context: Record<string, unknown>;
  stageVariables: Record<string, string>;
}

/** `$context.requestOverride` / `$context.responseOverride` as the template left them. */
export interface TemplateOverrides {
  requestOverride: { header: Record<string, unknown>; path: Record<string, unknown>; querystring: Record<string, unknown> };
  responseOverride: { header: Record<string, unknown>; status?: unknown };
}

export interface RenderResult {
  body: string;
  /** Present only for templates that write `$context` (https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-override-request-response-parameters.html). */
  overrides?: TemplateOverrides;
}

export interface CompiledTemplate {
  readonly name: string;
  /**
   * Integration request template. Throws TemplatePayloadError (400 `{"message":"Could not process payload..."}`)
   * when it reads a malformed JSON payload, TemplateRenderError (500) for anything else.
   */
  render(input: TemplateInput): string;
  /** Integration response template (`$input` over the integration response body): every failure is a TemplateRenderError (500). */
  renderResponse(input: TemplateInput): string;
  /** render() plus the `$context.requestOverride` / `responseOverride` values the template set. */
  renderWithOverrides(input: TemplateInput, phase?: 'request' | 'response'): RenderResult;
}

class Template implements CompiledTemplate {
  constructor(
    readonly name: string,
    private readonly asts: Ast[],
    private readonly writesContext: boolean,
  ) {}

  render(input: TemplateInput): string {
    return this.run(input, 'request').body;
  }

  renderResponse(input: TemplateInput): string {
    return this.run(input, 'response').body;
  }

  renderWithOverrides(input: TemplateInput, phase: 'request' | 'response' = 'request'): RenderResult {
    return this.run(input, phase);
  }

  private run(input: TemplateInput, phase: 'request' | 'response'): RenderResult {
    let context = input.context;
    let overrides: TemplateOverrides | undefined;
    if (this.writesContext) {
      overrides = {
        requestOverride: { header: {}, path: {}, querystring: {} },
        responseOverride: { header: {} },
      };
      context = { ...input.context, ...overrides };
    }
    const root = {
      input: new InputApi(input.body, input.params),
      util: UTIL,
      context,
      stageVariables: input.stageVariables,
    };
    let body: string;
    try {
      body = new AwsCompile(this.asts, CONFIG).render(root, {}, true);
    } catch (e) {
      if (e instanceof TemplatePayloadError) {
        if (phase === 'request') throw e;
        throw new TemplateRenderError(this.name, e.message, { cause: e });
      }
      if (e instanceof TemplateRenderError) throw e;
      throw new TemplateRenderError(this.name, e instanceof Error ? e.message : String(e), { cause: e });
    }
    if (overrides) {
      // The template may have replaced the objects (`#set($context.responseOverride = {...})`): read them back.
      const c = context as Record<string, unknown>;
      overrides = {
        requestOverride: (c['requestOverride'] as TemplateOverrides['requestOverride']) ?? overrides.requestOverride,
        responseOverride: (c['responseOverride'] as TemplateOverrides['responseOverride']) ?? overrides.responseOverride,
      };
      return { body, overrides };
    }
    return { body };
  }
}

/**
 * Parse and check a mapping template once, at config load. Throws TemplateSyntaxError naming the template, with
 * line and column, for: VTL syntax errors, unbalanced `#end`, `#else` outside `#if`, and literal JSONPath
 * arguments of `$input.json()` / `$input.path()` that are invalid or use unsupported JSONPath features.
 */
export function compileTemplate(source: string, name: string): CompiledTemplate {
  const tree = parseOrThrow(name, source);
  checkBalance(name, source);
  checkElse(name, source, tree, false);
  const { writesContext } = scan(name, source, tree);
  const overrides = writesContext || /\b(?:request|response)Override\b/.test(source);
  return new Template(name, tree, overrides);
}
