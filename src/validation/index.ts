/**
 * Request validation as Amazon API Gateway REST APIs do it: request validators + models.
 *
 * Compiled once at config load (compileModels, compileRouteValidator); per request the gateway
 * calls checkParameters() (cheap, always inline) and then, if the route needsBody, checkBody().
 * Parameters are checked before the body, as AWS does: a request missing a parameter and carrying
 * a bad body gets the parameters message (recorded against AWS by LocalStack's parity test
 * tests/aws/services/apigateway/test_apigateway_common.py::test_api_gateway_request_validator).
 *
 * AWS behaviours implemented (pages quoted next to the code that does each):
 *  - P1 parameters: "The required request parameters in the URI, query string, and headers of an
 *    incoming request are included and not blank. API Gateway only checks the existence of a
 *    parameter and doesn't check the type or format."
 *    https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-method-request-validation.html
 *  - P2 message: 400 `{"message": "Missing required request parameters: [q1]"}`; `?q1=` (blank)
 *    answers the same; a missing or blank header `h1` answers `[h1]`.
 *    https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-request-validation-test.html
 *  - P3 several missing: bare names, ", "-separated, headers then path then query string, e.g.
 *    `Missing required request parameters: [x-header-param, issuer, qs1]` (response recorded on
 *    AWS, LocalStack snapshot test_apigateway_common.snapshot.json). Within one location we sort by
 *    name (LocalStack sorts the `method.request.<location>.<name>` keys, which yields that order).
 *  - B1 body: 400 `{"message": "Invalid request body"}` when the payload does not match the model.
 *    https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-request-validation-test.html
 *  - B2 model choice: "The applicable request payload adheres to the configured JSON schema request
 *    of the method for a given content type. If no matching content type is found, request
 *    validation is not performed. To use the same model regardless of the content type, set the
 *    content type for your data model to $default."
 *    https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-method-request-validation.html
 *  - B3 no Content-Type header: "API Gateway defaults to application/json".
 *    https://docs.aws.amazon.com/apigateway/latest/developerguide/integration-passthrough-behaviors.html
 *  - Gateway response types BAD_REQUEST_PARAMETERS and BAD_REQUEST_BODY, both default 400.
 *    https://docs.aws.amazon.com/apigateway/latest/developerguide/supported-gateway-response-types.html
 */
import { messageBody } from '../errors.js';
import { displaySchemaPath, ModelSet, type Draft, type ErrorObject, type ValidateFunction } from './models.js';

export { ModelSet, type Draft } from './models.js';

/**
 * Bodies up to this many bytes are validated inline on the uWS thread; larger ones go to the
 * worker-thread pool. Measured with bench/validation.ts (node dist/bench/validation.js; Node 20,
 * 2-vCPU dev machine; draft-04 Pet model with nested $ref object, arrays, enum, pattern and
 * uuid/date/date-time/email/uri formats; 200 B and 2 KB are one Pet, larger a PetList), median µs
 * per checkBody (JSON.parse + ajv, roughly half each):
 *     229 B: 1.4 µs · 2.0 KB: 9.2–9.7 µs · 20 KB: 110–149 µs · 200 KB: 1,210–1,260 µs · 2 MB: 13.2–13.7 ms
 * i.e. 140–220 MB/s. Inline validation crosses 50 µs at ~8.0–9.7 KB (log-log interpolation); a
 * worker round trip (copy + postMessage + reply, idle worker) measured 16–23 µs on a quiet machine
 * and 57–67 µs under load. 8 KiB keeps every inline check under ~45 µs, below the cost of a
 * round trip; above it the event loop would stall longer than offloading costs.
 */
export const INLINE_BODY_LIMIT = 8 * 1024;

export interface ValidatorSpec {
  validateRequestBody: boolean;
  validateRequestParameters: boolean;
}

export interface RouteValidation {
  /**
   * Models by content type: `{ 'application/json': schema | 'ModelName', '$default': … }`. A schema
   * given inline may `$ref` a model by name (`"Pet"`, `"#/components/schemas/Pet"`, the AWS URL).
   * Keys are media types, matched case-insensitively without parameters (`; charset=…`).
   */
  bodyModels?: Record<string, unknown>;
  required?: { querystring?: string[]; header?: string[]; path?: string[] };
  validator: ValidatorSpec;
  /** Include ajv's error details in the 400 body (off by default: AWS does not). */
  details?: boolean;
}

export interface RequestView {
  /** Raw query string, without '?'. */
  query: string;
  /** Flat [name, value, name, value, …], names lower-case. */
  headers: string[];
  pathParameters: Record<string, string> | null;
  /** Content-Type header value as received ('' when absent). */
  contentType: string;
  body: Buffer | null;
}

export type ValidationErrorType = 'BAD_REQUEST_PARAMETERS' | 'BAD_REQUEST_BODY';

export interface ValidationError {
  status: 400;
  /** JSON text as AWS sends it: `{"message":"…"}` (plus `errors` when details are on). */
  body: string;
  /** AWS gateway response type, for customised gateway responses. */
  type: ValidationErrorType;
  message: string;
}

export interface RequestValidator {
  /** Parameters only (cheap, always inline). null when valid, else the error to answer. */
  checkParameters(req: RequestView): ValidationError | null;
  /** Body against the model for its content type. null when valid or when no model applies. */
  checkBody(req: RequestView): ValidationError | null;
  /** Parameters, then body: what AWS does in one call. */
  check(req: RequestView): ValidationError | null;
  /** Body validation is on and at least one model is configured. */
  needsBody: boolean;
  /** Whether a request with this Content-Type has a model to check (so its body must be read). */
  needsBodyFor(contentType: string): boolean;
}

/** Compile the API's models. Throws an Error naming the model on an invalid schema or unknown ref. */
export function compileModels(models: Record<string, unknown>, opts: { draft: Draft }): ModelSet {
  return new ModelSet(models, opts.draft);
}

const INVALID_BODY_MESSAGE = 'Invalid request body';
const INVALID_BODY: ValidationError = Object.freeze({
  status: 400,
  type: 'BAD_REQUEST_BODY',
  message: INVALID_BODY_MESSAGE,
  body: messageBody({ message: INVALID_BODY_MESSAGE }),
});

function paramsError(names: string[]): ValidationError {
  // P3: "[a, b]" — Java List.toString formatting, names bare (no location prefix).
  const message = `Missing required request parameters: [${names.join(', ')}]`;
  return { status: 400, type: 'BAD_REQUEST_PARAMETERS', message, body: messageBody({ message }) };
}

function bodyErrorWithDetails(errors: unknown[]): ValidationError {
  return {
    status: 400,
    type: 'BAD_REQUEST_BODY',
    message: INVALID_BODY_MESSAGE,
    body: messageBody({ message: INVALID_BODY_MESSAGE, errors }),
  };
}

function detailOf(e: ErrorObject): Record<string, unknown> {
  return { instancePath: e.instancePath, schemaPath: displaySchemaPath(e.schemaPath), keyword: e.keyword, params: e.params, message: e.message };
}

/** Normalised media type: lower-case, no parameters, trimmed. '' stays ''. */
export function mediaType(contentType: string): string {
  const semi = contentType.indexOf(';');
  const t = (semi < 0 ? contentType : contentType.slice(0, semi)).trim();
  return t.toLowerCase();
}

// ---------------------------------------------------------------------------------------------
// Blank checks (P1: "included and not blank")
// ---------------------------------------------------------------------------------------------

function isWs(c: number): boolean {
  // Java Character.isWhitespace in the ASCII range: space, \t \n \v \f \r, FS GS RS US
  return c === 32 || (c >= 9 && c <= 13) || (c >= 28 && c <= 31);
}

/** A plain (decoded) value is blank when empty or whitespace only. */
function nonBlank(v: string): boolean {
  const n = v.length;
  for (let i = 0; i < n; i++) {
    const c = v.charCodeAt(i);
    if (!isWs(c) && c !== 0xa0 && c !== 0xfeff && !(c >= 0x2000 && c <= 0x200a) && c !== 0x3000 && c !== 0x2028 && c !== 0x2029) return true;
  }
  return false;
}

/**
 * Whether the percent-encoded slice s[start, end) of a query string (or a raw path parameter)
 * decodes to something not blank. `+` is a space in a query string. No allocation unless a `%`
 * is met.
 */
function encodedNonBlank(s: string, start: number, end: number, plusIsSpace: boolean): boolean {
  for (let i = start; i < end; i++) {
    const c = s.charCodeAt(i);
    if (c === 37 /* % */) {
      let raw = s.slice(start, end);
      if (plusIsSpace) raw = raw.replace(/\+/g, ' ');
      try {
        return nonBlank(decodeURIComponent(raw));
      } catch {
        return true; // malformed escape: something is there
      }
    }
    if (isWs(c) || (plusIsSpace && c === 43 /* + */)) continue;
    return true;
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// Route validator
// ---------------------------------------------------------------------------------------------

function uniqueSorted(xs: string[] | undefined, what: string): string[] {
  if (xs === undefined) return [];
  if (!Array.isArray(xs)) throw new Error(`required.${what} must be an array of names`);
  for (const x of xs) if (typeof x !== 'string' || x === '') throw new Error(`required.${what}: parameter names must be non-empty strings`);
  // Sorted by code unit, like the sorted `method.request.<location>.<name>` keys.
  return [...new Set(xs)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

class CompiledRouteValidator implements RequestValidator {
  readonly needsBody: boolean;
  private readonly params: boolean;
  private readonly body: boolean;
  private readonly details: boolean;
  // Parameters, each list sorted; names as configured (reported as configured).
  private readonly headerNames: string[];
  private readonly headerKeys: string[]; // lower-cased, for lookup
  private readonly pathNames: string[];
  private readonly queryNames: string[];
  private readonly anyParams: boolean;
  // Body models by normalised media type; `$default` separately.
  private readonly models: Map<string, ValidateFunction>;
  private readonly defaultModel: ValidateFunction | null;
  private readonly jsonModel: ValidateFunction | null;

  constructor(spec: RouteValidation, models: ModelSet) {
    if (!spec || typeof spec !== 'object' || !spec.validator) throw new Error('route validation: validator { validateRequestBody, validateRequestParameters } is required');
    this.params = spec.validator.validateRequestParameters === true;
    this.body = spec.validator.validateRequestBody === true;
    this.details = spec.details === true;

    const req = spec.required ?? {};
    this.headerNames = uniqueSorted(req.header, 'header');
    // Header names are case-insensitive; the same header listed twice in two cases is one header.
    const seen = new Set<string>();
    const hn: string[] = [];
    for (const n of this.headerNames) {
      const k = n.toLowerCase();
      if (!seen.has(k)) { seen.add(k); hn.push(n); }
    }
    this.headerNames = hn;
    this.headerKeys = hn.map((n) => n.toLowerCase());
    this.pathNames = uniqueSorted(req.path, 'path');
    this.queryNames = uniqueSorted(req.querystring, 'querystring');
    this.anyParams = this.params && (this.headerNames.length + this.pathNames.length + this.queryNames.length) > 0;

    // Compile body models even when body validation is off: a bad ref is a config error either way.
    this.models = new Map();
    let def: ValidateFunction | null = null;
    for (const [key, schema] of Object.entries(spec.bodyModels ?? {})) {
      const ctx = `body model for content type '${key}'`;
      const fn = models.compileInline(schema, ctx);
      if (key === '$default') def = fn;
      else {
        const mt = mediaType(key);
        if (mt === '') throw new Error(`${ctx}: empty media type`);
        this.models.set(mt, fn);
      }
    }
    this.defaultModel = def;
    this.jsonModel = this.models.get('application/json') ?? def;
    this.needsBody = this.body && (this.models.size > 0 || def !== null);
  }

  needsBodyFor(contentType: string): boolean {
    return this.needsBody && this.modelFor(contentType) !== null;
  }

  /** B2/B3: the model for a Content-Type; null = no validation. */
  private modelFor(contentType: string): ValidateFunction | null {
    if (contentType === '') return this.jsonModel; // B3: absent Content-Type is application/json
    const exact = this.models.get(contentType);
    if (exact) return exact;
    const mt = mediaType(contentType);
    if (mt === '') return this.jsonModel;
    return this.models.get(mt) ?? this.defaultModel; // B2: else $default, else none
  }

  checkParameters(req: RequestView): ValidationError | null {
    if (!this.anyParams) return null;
    let missing: string[] | null = null;

    // Headers: flat array, names already lower-case. Present when some occurrence is not blank.
    const hk = this.headerKeys;
    if (hk.length > 0) {
      const h = req.headers;
      for (let j = 0; j < hk.length; j++) {
        const key = hk[j]!;
        let ok = false;
        for (let i = 0; i + 1 < h.length; i += 2) {
          if (h[i] === key && nonBlank(h[i + 1]!)) { ok = true; break; }
        }
        if (!ok) (missing ??= []).push(this.headerNames[j]!);
      }
    }

    // Path: a parameter the matched route does not have is missing too (AWS reports `issuer`
    // for a method requiring method.request.path.issuer on resource /nested/{test}).
    const pn = this.pathNames;
    if (pn.length > 0) {
      const pp = req.pathParameters;
      for (let j = 0; j < pn.length; j++) {
        const v = pp ? pp[pn[j]!] : undefined;
        if (typeof v !== 'string' || !encodedNonBlank(v, 0, v.length, false)) (missing ??= []).push(pn[j]!);
      }
    }

    const qn = this.queryNames;
    if (qn.length > 0) {
      const q = req.query;
      if (qn.length <= 30) {
        const found = scanQuery(q, qn);
        if (found !== (1 << qn.length) - 1) {
          for (let j = 0; j < qn.length; j++) if ((found & (1 << j)) === 0) (missing ??= []).push(qn[j]!);
        }
      } else {
        // Rare: more than 30 required query parameters; one scan per name.
        for (let j = 0; j < qn.length; j++) if (scanQuery(q, [qn[j]!]) === 0) (missing ??= []).push(qn[j]!);
      }
    }

    return missing === null ? null : paramsError(missing);
  }

  checkBody(req: RequestView): ValidationError | null {
    if (!this.needsBody) return null;
    const fn = this.modelFor(req.contentType);
    if (fn === null) return null;
    let data: unknown;
    let body = req.body;
    if (body === null || body.length === 0) {
      // Not documented by AWS. LocalStack's AWS-validated test shows an empty GET body failing a
      // model with required properties; LocalStack validates an empty body as `{}`, and so do we:
      // `{}` passes the AWS "Empty" model and fails a model with `required`.
      data = {};
    } else {
      if (body.length >= 3 && body[0] === 0xef && body[1] === 0xbb && body[2] === 0xbf) body = body.subarray(3);
      try {
        data = JSON.parse(body.toString('utf8'));
      } catch (e) {
        // A body that is not JSON cannot adhere to a JSON schema model: B1.
        return this.details ? bodyErrorWithDetails([{ instancePath: '', keyword: 'json', message: `body is not valid JSON: ${(e as Error).message}` }]) : INVALID_BODY;
      }
    }
    if (fn(data)) return null;
    return this.details ? bodyErrorWithDetails((fn.errors ?? []).map(detailOf)) : INVALID_BODY;
  }

  check(req: RequestView): ValidationError | null {
    return this.checkParameters(req) ?? this.checkBody(req);
  }
}

/**
 * Scan a raw query string once for up to 30 required names (plain text); returns a bit set of the
 * names present with a non-blank value. Pairs are split on '&'; a name without '=' has a blank
 * value. Names are compared raw, and percent-decoded only when the raw name has a '%' or '+'.
 */
function scanQuery(q: string, names: string[]): number {
  const n = q.length;
  const want = names.length;
  const all = (1 << want) - 1;
  let found = 0;
  let i = 0;
  while (i < n) {
    let end = q.indexOf('&', i);
    if (end < 0) end = n;
    let eq = q.indexOf('=', i);
    if (eq < 0 || eq > end) eq = end;
    const nameLen = eq - i;
    // A pair without '=' or with nothing after it is blank: it never satisfies a name.
    if (nameLen > 0 && eq < end) {
      let decoded: string | null = null;
      for (let k = i; k < eq; k++) {
        const c = q.charCodeAt(k);
        if (c === 37 /* % */ || c === 43 /* + */) {
          try {
            decoded = decodeURIComponent(q.slice(i, eq).replace(/\+/g, ' '));
          } catch {
            decoded = q.slice(i, eq);
          }
          break;
        }
      }
      for (let j = 0; j < want; j++) {
        const bit = 1 << j;
        if ((found & bit) !== 0) continue;
        const name = names[j]!;
        const match = decoded !== null ? decoded === name : nameLen === name.length && q.startsWith(name, i);
        if (match && encodedNonBlank(q, eq + 1, end, true)) found |= bit;
      }
      if (found === all) return found;
    }
    i = end + 1;
  }
  return found;
}

/** Compile one method's validation. Throws on unknown model names or refs, naming them. */
export function compileRouteValidator(spec: RouteValidation, models: ModelSet): RequestValidator {
  return new CompiledRouteValidator(spec, models);
}
