/**
 * `$input` and `$util`, as the AWS "API Gateway mapping template and access logging variable reference" defines
 * them: https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-mapping-template-reference.html
 */
import { Buffer } from 'node:buffer';
import { Builtin, toTemplateString } from './java.js';
import { evaluate, jsonPath, MISSING } from './jsonpath.js';
import { TemplatePayloadError } from './errors.js';

export interface TemplateParams {
  path: Record<string, string>;
  querystring: Record<string, string>;
  header: Record<string, string>;
}

const UNPARSED: unique symbol = Symbol('unparsed');

/**
 * The payload as the template sees it.
 *  - Empty payload: API Gateway substitutes `{}` (for `$input.body` and for JSONPath), whatever the content type.
 *    Verified against AWS by LocalStack (https://github.com/localstack/localstack/pull/12413) and in the AWS
 *    results recorded by https://github.com/ToQoz/api-gateway-mapping-template/blob/master/test/_.md
 *    (`$input.json('$')` with an empty payload -> `{}`).
 *  - A payload that does not look like JSON (first character not `{`, `[` or `"`, and not a JSON scalar) is one
 *    JSON string: `$input.path('$')` -> the raw text, `$input.json('$')` -> the text as a quoted JSON string
 *    (same AWS record: payload `a=b` -> `"a=b"`). This is what form-urlencoded templates rely on
 *    (`$input.path('$').split('&')`).
 *  - A payload starting with `{`, `[` or `"` that is not valid JSON: AWS answers 400
 *    `{"message": "Could not process payload..."}` (same AWS record, payloads `{a` and `[a`).
 */
function parsePayload(body: string): unknown {
  let i = 0;
  while (i < body.length && (body[i] === ' ' || body[i] === '\t' || body[i] === '\n' || body[i] === '\r')) i++;
  if (i === body.length) return {};
  const c = body[i];
  if (c === '{' || c === '[' || c === '"') {
    try {
      return JSON.parse(body);
    } catch (e) {
      throw new TemplatePayloadError((e as Error).message);
    }
  }
  try {
    return JSON.parse(body);
  } catch {
    return body;
  }
}

/** Header names are case-insensitive (HTTP), and the gateway sees them lower-cased: look up either way. */
function headerLookup(header: Record<string, string>, name: string): string | undefined {
  const v = header[name];
  if (v !== undefined || Object.prototype.hasOwnProperty.call(header, name)) return v;
  const lower = name.toLowerCase();
  if (lower !== name) {
    const lv = header[lower];
    if (lv !== undefined) return lv;
  }
  for (const k in header) if (k.toLowerCase() === lower) return header[k];
  return undefined;
}

/** `$input.params().header`: a map whose get()/property access ignores the case of the header name. */
function caseInsensitiveHeaders(header: Record<string, string>): Record<string, string> {
  return new Proxy(header, {
    get(target, prop, receiver) {
      if (typeof prop !== 'string' || prop in target) return Reflect.get(target, prop, receiver) as unknown;
      return headerLookup(target, prop);
    },
  });
}

function own(m: Record<string, string>, k: string): string | undefined {
  return Object.prototype.hasOwnProperty.call(m, k) ? m[k] : undefined;
}

export class InputApi extends Builtin {
  private parsed: unknown = UNPARSED;
  private rootJson: string | undefined;
  private allParams: Record<string, Record<string, string>> | undefined;

  constructor(
    private readonly raw: string,
    private readonly parameters: TemplateParams,
  ) {
    super();
  }

  /** `$input.body`: "Returns the raw request payload as a string." (`{}` when empty, see parsePayload). */
  get body(): string {
    return this.raw.length === 0 ? '{}' : this.raw;
  }

  /** The payload parsed once per render, on first use. */
  private root(): unknown {
    if (this.parsed === UNPARSED) this.parsed = parsePayload(this.raw);
    return this.parsed;
  }

  /**
   * `$input.json(x)`: "evaluates a JSONPath expression and returns the results as a JSON string".
   * A definite path that does not resolve gives `""` (LocalStack's AWS-checked behaviour,
   * https://github.com/localstack/localstack/pull/12774); an indefinite one gives a JSON array, `[]` when empty.
   */
  json(path: unknown): string {
    const p = jsonPath(path === undefined || path === null ? '$' : String(path));
    const root = this.root();
    if (p.segments.length === 0) return (this.rootJson ??= JSON.stringify(root) ?? 'null');
    const v = evaluate(p, root);
    if (v === MISSING) return '""';
    return JSON.stringify(v) ?? 'null';
  }

  /**
   * `$input.path(x)`: "Takes a JSONPath expression string (x) and returns a JSON object representation of the
   * result. This allows you to access and manipulate elements of the payload natively in VTL"
   * (e.g. `$input.path('$.pets').size()`). Unresolved -> null (prints as '').
   */
  path(path: unknown): unknown {
    const p = jsonPath(path === undefined || path === null ? '$' : String(path));
    const v = evaluate(p, this.root());
    return v === MISSING ? undefined : v;
  }

  /**
   * `$input.params()`: "Returns a map of all the request parameters" (path, querystring, header);
   * `$input.params(x)`: "Returns the value of a method request parameter from the path, query string, or header
   * value (searched in that order), given a parameter name string x." A missing parameter is the empty string.
   */
  params(name?: unknown): unknown {
    if (name === undefined) {
      if (this.allParams === undefined) {
        const p = this.parameters;
        this.allParams = {
          path: { ...p.path },
          querystring: { ...p.querystring },
          header: caseInsensitiveHeaders({ ...p.header }),
        };
      }
      return this.allParams;
    }
    const n = toTemplateString(name);
    const p = this.parameters;
    return own(p.path, n) ?? own(p.querystring, n) ?? headerLookup(p.header, n) ?? '';
  }

  call(method: string, args: unknown[]): unknown {
    switch (method) {
      case 'json':
        return this.json(args[0]);
      case 'path':
        return this.path(args[0]);
      case 'params':
        return args.length === 0 ? this.params() : this.params(args[0]);
      case 'getBody':
        return this.body;
      default:
        return undefined;
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// $util (AWS: "$util variables"): escapeJavaScript, parseJson, urlEncode, urlDecode, base64Encode, base64Decode.
// "When a non-existent function is referenced, no error is shown ... and the request continues" (AWS re:Post,
// https://repost.aws/questions/QUd8ArVQaaReyZv3nmigFDGQ): any other method yields null.

function hex4(code: number): string {
  return code.toString(16).toUpperCase().padStart(4, '0');
}

/**
 * `$util.escapeJavaScript()`: "Escapes the characters in a string using JavaScript string rules. This function
 * will turn any regular single quotes (') into escaped ones (\')" (AWS $util reference). That wording is Apache
 * Commons Lang 2's StringEscapeUtils.escapeJavaScript, reproduced character for character: `'` `"` `\` `/` get a
 * backslash; \b \t \n \f \r their short escapes; other control characters and everything above 0x7F become
 * \uXXXX (upper-case hex, per UTF-16 code unit).
 */
export function escapeJavaScript(s: string): string {
  let out = '';
  let last = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    let rep: string | undefined;
    if (c > 0x7f) rep = '\\u' + hex4(c);
    else if (c < 32) {
      switch (c) {
        case 8:
          rep = '\\b';
          break;
        case 9:
          rep = '\\t';
          break;
        case 10:
          rep = '\\n';
          break;
        case 12:
          rep = '\\f';
          break;
        case 13:
          rep = '\\r';
          break;
        default:
          rep = '\\u' + hex4(c);
      }
    } else if (c === 0x27) rep = "\\'";
    else if (c === 0x22) rep = '\\"';
    else if (c === 0x5c) rep = '\\\\';
    else if (c === 0x2f) rep = '\\/';
    if (rep !== undefined) {
      out += s.slice(last, i) + rep;
      last = i + 1;
    }
  }
  return last === 0 ? s : out + s.slice(last);
}

/**
 * `$util.urlEncode()`: "Converts a string into application/x-www-form-urlencoded format", i.e. Java's
 * URLEncoder.encode(s, "UTF-8"): `A-Z a-z 0-9 . - * _` kept, space -> `+`, everything else %XX of its UTF-8 bytes.
 */
export function urlEncode(s: string): string {
  const wellFormed = s.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD');
  return encodeURIComponent(wellFormed)
    .replace(/[!'()~]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase())
    .replace(/%20/g, '+')
    .replace(/%2A/g, '*');
}

/** `$util.urlDecode()`: Java's URLDecoder.decode(s, "UTF-8"): `+` -> space, %XX -> bytes, bytes read as UTF-8. */
export function urlDecode(s: string): string {
  if (!s.includes('%')) return s.includes('+') ? s.replace(/\+/g, ' ') : s;
  let out = '';
  let i = 0;
  while (i < s.length) {
    const c = s[i]!;
    if (c === '+') {
      out += ' ';
      i++;
    } else if (c === '%') {
      const bytes: number[] = [];
      while (i < s.length && s[i] === '%') {
        const h = s.slice(i + 1, i + 3);
        if (!/^[0-9a-fA-F]{2}$/.test(h)) throw new Error(`URLDecoder: Illegal hex characters in escape (%) pattern: ${JSON.stringify(s.slice(i, i + 3))}`);
        bytes.push(Number.parseInt(h, 16));
        i += 3;
      }
      out += Buffer.from(bytes).toString('utf8');
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

/** `$util.base64Encode()`: "Encodes the data into a base64-encoded string" (UTF-8 bytes, standard alphabet). */
export function base64Encode(s: string): string {
  return Buffer.from(s, 'utf8').toString('base64');
}

/** `$util.base64Decode()`: "Decodes the data from a base64-encoded string" (to UTF-8 text). */
export function base64Decode(s: string): string {
  return Buffer.from(s, 'base64').toString('utf8');
}

/**
 * `$util.parseJson()`: "Takes 'stringified' JSON and returns an object representation of the result. You can use
 * the result from this function to access and manipulate elements of the payload natively in VTL."
 */
export function parseJson(s: string): unknown {
  return JSON.parse(s);
}

export class UtilApi extends Builtin {
  call(method: string, args: unknown[]): unknown {
    const a = args[0];
    // A null argument yields null (the Java functions return null for null).
    if (a === undefined || a === null) return undefined;
    const s = toTemplateString(a);
    switch (method) {
      case 'escapeJavaScript':
        return escapeJavaScript(s);
      case 'parseJson':
        return parseJson(s);
      case 'urlEncode':
        return urlEncode(s);
      case 'urlDecode':
        return urlDecode(s);
      case 'base64Encode':
        return base64Encode(s);
      case 'base64Decode':
        return base64Decode(s);
      default:
        return undefined;
    }
  }
}

export const UTIL = new UtilApi();
