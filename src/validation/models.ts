/**
 * Models (JSON schemas) of a REST API, compiled once with ajv at config load.
 *
 * "In API Gateway, models are defined using the JSON schema draft 4."
 * (https://docs.aws.amazon.com/apigateway/latest/developerguide/models-mappings-models.html)
 * So `draft: '04'` is the AWS-compatible choice; `'2020-12'` is offered for APIs written fresh.
 *
 * A model may reference another model. AWS writes the reference as a full URL,
 * `https://apigateway.amazonaws.com/restapis/{restapi_id}/models/{model_name}` (same page,
 * "Create more complex models"). We accept, for a model named Pet:
 *  - `"Pet"`                                    (bare model name)
 *  - `"#/components/schemas/Pet"`               (OpenAPI 3 import style)
 *  - `"#/definitions/Pet"`                      (Swagger 2 import style), unless the schema has a
 *                                               local `definitions.Pet`, which then wins
 *  - `"https://apigateway.amazonaws.com/restapis/<any id>/models/Pet"` (AWS style)
 * each optionally followed by a JSON pointer into that model (`#/components/schemas/Pet/properties/id`,
 * `https://…/models/Pet#/properties/id`). Every other `$ref` (`#/properties/x`, `#/definitions/local`)
 * is left to ajv and resolved inside its own document.
 */
import { Ajv2020 } from 'ajv/dist/2020.js';
import Ajv04Import from 'ajv-draft-04';
import addFormatsImport from 'ajv-formats';
import type { AnySchema, ErrorObject, ValidateFunction } from 'ajv';

// ajv-draft-04 and ajv-formats are CommonJS with `exports.default`; under NodeNext the default
// import is `module.exports` for the types. At run time both the namespace and `.default` work.
type Ajv04Ctor = typeof import('ajv-draft-04').default;
type AddFormats = typeof import('ajv-formats').default;
const Ajv04: Ajv04Ctor =
  ((Ajv04Import as unknown as { default?: Ajv04Ctor }).default ?? (Ajv04Import as unknown as Ajv04Ctor));
const addFormats: AddFormats =
  ((addFormatsImport as unknown as { default?: AddFormats }).default ?? (addFormatsImport as unknown as AddFormats));

export type Draft = '04' | '2020-12';

/** Minimal surface of the two ajv classes that we use. */
interface AjvLike {
  addSchema(schema: AnySchema, key?: string): unknown;
  getSchema(key: string): ValidateFunction | undefined;
  compile(schema: AnySchema): ValidateFunction;
}

export type { ErrorObject, ValidateFunction };

/** Where a model lives inside ajv: never seen by clients, only in error messages. */
const MODEL_BASE = 'https://models.gateway.invalid/';
const AWS_MODEL_URL = /^https?:\/\/apigateway\.amazonaws\.com\/restapis\/[^/]+\/models\/([^/#?]+)(#.*)?$/;

function modelUri(name: string): string {
  return MODEL_BASE + encodeURIComponent(name);
}

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** JSON-pointer segment unescape (RFC 6901) after percent-decoding, as in a URI fragment. */
function unescapeSegment(seg: string): string {
  let s = seg;
  try {
    s = decodeURIComponent(s);
  } catch {
    /* keep raw */
  }
  return s.replace(/~1/g, '/').replace(/~0/g, '~');
}

/** Keywords whose values are data, not schemas: a `$ref` key inside them is not a reference. */
const DATA_KEYWORDS = new Set(['enum', 'const', 'default', 'examples', 'example']);

export class ModelSet {
  readonly draft: Draft;
  private readonly ajv: AjvLike;
  private readonly models = new Map<string, ValidateFunction>();
  private readonly inline = new Map<string, ValidateFunction>();

  /** Use compileModels(). */
  constructor(models: Record<string, unknown>, draft: Draft) {
    if (draft !== '04' && draft !== '2020-12') throw new Error(`models: unknown JSON schema draft '${String(draft)}' (use '04' or '2020-12')`);
    this.draft = draft;
    const opts = {
      // AWS models carry keywords ajv's strict mode rejects (title is fine, but "example",
      // vendor "x-" keys, draft-04 leftovers); the meta-schema still catches malformed schemas.
      strict: false,
      allErrors: false, // stop at the first error: cheapest, and bounds work on hostile input
      coerceTypes: false,
      useDefaults: false,
      removeAdditional: false,
      validateFormats: true,
      messages: true,
      code: { source: false },
    } as const;
    this.ajv = (draft === '04' ? new Ajv04(opts) : new Ajv2020(opts)) as unknown as AjvLike;
    addFormats(this.ajv as never);

    const names = Object.keys(models);
    const known = new Set(names);
    // 1) add every model (validated against the draft's meta-schema), so refs can cross in any order
    for (const name of names) {
      const schema = models[name];
      if (!isObject(schema) && typeof schema !== 'boolean') {
        throw new Error(`model '${name}': schema must be a JSON object, got ${schema === null ? 'null' : Array.isArray(schema) ? 'an array' : typeof schema}`);
      }
      let prepared: AnySchema;
      if (typeof schema === 'boolean') prepared = schema;
      else {
        prepared = rewriteRefs(schema, schema, known, `model '${name}'`) as Record<string, unknown>;
        // Our own id, whatever the model declared, so `#/…` refs resolve inside this model.
        const idKey = draft === '04' ? 'id' : '$id';
        delete (prepared as Record<string, unknown>).id;
        delete (prepared as Record<string, unknown>).$id;
        (prepared as Record<string, unknown>)[idKey] = modelUri(name);
      }
      try {
        this.ajv.addSchema(prepared, modelUri(name));
      } catch (e) {
        throw new Error(`model '${name}': invalid JSON schema (draft ${draft}): ${errText(e)}`);
      }
    }
    // 2) compile each: unresolvable refs and bad regexes surface here
    for (const name of names) {
      try {
        const fn = this.ajv.getSchema(modelUri(name));
        if (!fn) throw new Error('not compiled');
        this.models.set(name, fn);
      } catch (e) {
        throw new Error(`model '${name}': cannot compile (draft ${draft}): ${errText(e)}`);
      }
    }
  }

  /** Model names, in definition order. */
  names(): string[] {
    return [...this.models.keys()];
  }

  has(name: string): boolean {
    return this.models.has(name);
  }

  /** The compiled validator of a named model; throws naming the model if it does not exist. */
  get(name: string, context = 'reference'): ValidateFunction {
    const fn = this.models.get(name);
    if (!fn) throw new Error(`${context}: unknown model '${name}' (known models: ${this.names().join(', ') || 'none'})`);
    return fn;
  }

  /**
   * Compile a schema given in place (a route's body model written inline, or `{ "$ref": "Pet" }`).
   * Refs to models are resolved as in the models themselves. Identical schemas share one function.
   */
  compileInline(schema: unknown, context: string): ValidateFunction {
    if (typeof schema === 'string') return this.get(schema, context);
    if (!isObject(schema) && typeof schema !== 'boolean') throw new Error(`${context}: schema must be a JSON object or a model name`);
    const prepared = typeof schema === 'boolean' ? schema : rewriteRefs(schema, schema, new Set(this.models.keys()), context);
    // A bare `{ "$ref": <model> }` is the model itself: reuse its function (no wrapper call).
    if (isObject(prepared) && Object.keys(prepared).length === 1 && typeof prepared.$ref === 'string' && prepared.$ref.startsWith(MODEL_BASE) && !prepared.$ref.includes('#')) {
      const name = decodeURIComponent(prepared.$ref.slice(MODEL_BASE.length));
      return this.get(name, context);
    }
    const key = JSON.stringify(prepared);
    let fn = this.inline.get(key);
    if (!fn) {
      try {
        fn = this.ajv.compile(prepared as AnySchema);
      } catch (e) {
        throw new Error(`${context}: invalid JSON schema (draft ${this.draft}): ${errText(e)}`);
      }
      this.inline.set(key, fn);
    }
    return fn;
  }
}

/**
 * An ajv schemaPath for clients: `https://models.gateway.invalid/Owner/properties/x` (ajv's form
 * inside a referenced model) becomes `Owner#/properties/x`; local paths (`#/properties/x`) stay.
 */
export function displaySchemaPath(p: string): string {
  if (!p.startsWith(MODEL_BASE)) return p;
  const rest = p.slice(MODEL_BASE.length);
  const cut = rest.search(/[/#]/);
  const name = decodeURIComponent(cut < 0 ? rest : rest.slice(0, cut));
  const tail = cut < 0 ? '' : rest.slice(cut).replace(/^#/, '');
  return `${name}#${tail}`;
}

function errText(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  // ajv names our internal URIs; show model names instead
  return msg.split(MODEL_BASE).join('model:');
}

/** Deep copy of a schema with model references rewritten to our model URIs. */
function rewriteRefs(node: unknown, root: Record<string, unknown>, known: Set<string>, context: string): unknown {
  if (Array.isArray(node)) return node.map((x) => rewriteRefs(x, root, known, context));
  if (!isObject(node)) return node;
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(node)) {
    const v = node[k];
    if (k === '$ref' && typeof v === 'string') out[k] = resolveRef(v, root, known, context);
    else if (DATA_KEYWORDS.has(k)) out[k] = v;
    else out[k] = rewriteRefs(v, root, known, context);
  }
  return out;
}

function resolveRef(ref: string, root: Record<string, unknown>, known: Set<string>, context: string): string {
  const unknownRef = (name: string): never => {
    throw new Error(`${context}: unknown model reference '${ref}' (no model named '${name}'; known models: ${[...known].join(', ') || 'none'})`);
  };
  const aws = AWS_MODEL_URL.exec(ref);
  if (aws) {
    const name = unescapeSegment(aws[1]!);
    if (!known.has(name)) unknownRef(name);
    return modelUri(name) + (aws[2] ?? '');
  }
  for (const prefix of ['#/components/schemas/', '#/definitions/']) {
    if (!ref.startsWith(prefix)) continue;
    const rest = ref.slice(prefix.length);
    const slash = rest.indexOf('/');
    const name = unescapeSegment(slash < 0 ? rest : rest.slice(0, slash));
    const tail = slash < 0 ? '' : rest.slice(slash);
    // A local definition of that name wins (plain JSON schema semantics).
    const local = prefix === '#/definitions/'
      ? isObject(root.definitions) && name in root.definitions
      : isObject(root.components) && isObject(root.components.schemas) && name in root.components.schemas;
    if (local) return ref;
    if (!known.has(name)) unknownRef(name);
    return modelUri(name) + (tail ? '#' + tail : '');
  }
  // Bare model name: no fragment, no scheme, no path.
  if (ref !== '' && !/[#:/]/.test(ref)) {
    if (!known.has(ref)) unknownRef(ref);
    return modelUri(ref);
  }
  return ref;
}

export function createModelSet(models: Record<string, unknown>, draft: Draft): ModelSet {
  return new ModelSet(models, draft);
}
