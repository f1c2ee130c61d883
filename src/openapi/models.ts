/**
 * OpenAPI `components.schemas` → the API's `models` (JSON Schemas the validation module compiles).
 *
 * AWS: "In API Gateway, models are defined using the JSON schema draft 4" and model names are
 * alphanumeric (https://docs.aws.amazon.com/apigateway/latest/developerguide/models-mappings-models.html).
 * An OpenAPI 3.0 Schema Object is close to draft 4 but not equal: `nullable: true` has no draft-4
 * meaning (AWS itself ignores it, so AWS rejects `null` there); we translate it to a type union,
 * which is what the document's author meant. OpenAPI 3.1 schemas are JSON Schema 2020-12 and are
 * kept as they are (the API gets `modelSchemaDraft: '2020-12'`).
 *
 * `$ref: '#/components/schemas/X'` stays as it is (renamed when X had to be renamed): the
 * validation module resolves that form by model name (src/validation/models.ts).
 */

export type Seg = string | number;
export type Obj = Record<string, unknown>;
export type Warn = (segs: Seg[], message: string) => void;
export type Draft = '04' | '2020-12';

export const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

const SCHEMAS_PREFIX = '#/components/schemas/';
const AWS_MODEL_URL = /^(https?:\/\/apigateway\.amazonaws\.com\/restapis\/[^/]+\/models\/)([^/#?]+)(#.*)?$/;
const MODEL_NAME = /^[A-Za-z0-9]+$/;

/** Keywords whose values are data, not schemas (copied untouched). */
const DATA_KEYWORDS = new Set(['enum', 'const', 'default', 'example', 'examples']);
/** Keywords holding one schema. */
const ONE_SCHEMA = new Set([
  'not', 'additionalProperties', 'additionalItems', 'contains', 'if', 'then', 'else', 'propertyNames',
  'unevaluatedProperties', 'unevaluatedItems', 'contentSchema',
]);
/** Keywords holding a list of schemas. */
const SCHEMA_LISTS = new Set(['allOf', 'anyOf', 'oneOf', 'prefixItems']);
/** Keywords holding a map of name → schema. */
const SCHEMA_MAPS = new Set(['properties', 'patternProperties', 'definitions', '$defs', 'dependentSchemas']);

function unescapePointer(seg: string): string {
  let s = seg;
  try {
    s = decodeURIComponent(s);
  } catch {
    /* keep raw */
  }
  return s.replace(/~1/g, '/').replace(/~0/g, '~');
}

export class ModelConverter {
  /** Original component name → model name. */
  readonly names = new Map<string, string>();

  constructor(
    private readonly draft: Draft,
    private readonly warn: Warn,
  ) {}

  /**
   * Model names for `components.schemas`: names that already match ^[A-Za-z0-9]+$ are kept (and
   * reserved first), the others lose their other characters, numbered on a clash; each rename is
   * warned about (references are rewritten).
   */
  assignNames(schemas: Obj, at: Seg[]): void {
    const taken = new Set<string>();
    for (const name of Object.keys(schemas)) {
      if (MODEL_NAME.test(name)) {
        this.names.set(name, name);
        taken.add(name);
      }
    }
    for (const name of Object.keys(schemas)) {
      if (this.names.has(name)) continue;
      const base = name.replace(/[^A-Za-z0-9]/g, '') || 'Model';
      let candidate = base;
      for (let i = 2; taken.has(candidate); i++) candidate = `${base}${i}`;
      taken.add(candidate);
      this.names.set(name, candidate);
      this.warn([...at, name], `model renamed to ${candidate} (AWS model names are alphanumeric); references to it are rewritten`);
    }
  }

  /** The model name a `$ref` designates when it is exactly a whole model, else undefined. */
  modelOf(ref: string): string | undefined {
    if (ref.startsWith(SCHEMAS_PREFIX)) {
      const rest = ref.slice(SCHEMAS_PREFIX.length);
      if (rest.includes('/')) return undefined;
      return this.names.get(unescapePointer(rest));
    }
    const aws = AWS_MODEL_URL.exec(ref);
    if (aws && !aws[3]) return this.names.get(decodeURIComponent(aws[2]!));
    return undefined;
  }

  /** A copy of a schema: refs renamed, `nullable` translated (OpenAPI 3.0), sub-schemas likewise. */
  convert(schema: unknown, at: Seg[]): unknown {
    if (Array.isArray(schema)) return schema.map((s, i) => this.convert(s, [...at, i]));
    if (!isObj(schema)) return schema;
    const out: Obj = {};
    for (const [k, v] of Object.entries(schema)) {
      if (DATA_KEYWORDS.has(k)) out[k] = structuredClone(v);
      else if (k === '$ref' && typeof v === 'string') out[k] = this.rewriteRef(v, [...at, k]);
      else if (k === 'nullable' && this.draft === '04') continue; // handled below
      else if (ONE_SCHEMA.has(k) || SCHEMA_LISTS.has(k) || k === 'items') out[k] = this.convert(v, [...at, k]);
      else if (SCHEMA_MAPS.has(k) && isObj(v)) {
        const m: Obj = {};
        for (const [name, sub] of Object.entries(v)) m[name] = this.convert(sub, [...at, k, name]);
        out[k] = m;
      } else out[k] = structuredClone(v);
    }
    if (this.draft === '04' && schema['nullable'] === true) {
      // OpenAPI 3.0 nullable: https://spec.openapis.org/oas/v3.0.3#fixed-fields-19 ("A true value
      // adds "null" to the allowed types"). With an enum, null must be listed in it too (3.0.3).
      const type = out['type'];
      if (typeof type === 'string') out['type'] = type === 'null' ? type : [type, 'null'];
      else if (Array.isArray(type)) {
        if (!type.includes('null')) out['type'] = [...type, 'null'];
      } else {
        this.warn([...at, 'nullable'], 'nullable without a type cannot be expressed in JSON Schema draft 4: ignored (null is rejected)');
      }
    }
    return out;
  }

  private rewriteRef(ref: string, at: Seg[]): string {
    if (ref.startsWith(SCHEMAS_PREFIX)) {
      const rest = ref.slice(SCHEMAS_PREFIX.length);
      const cut = rest.indexOf('/');
      const raw = cut < 0 ? rest : rest.slice(0, cut);
      const tail = cut < 0 ? '' : rest.slice(cut);
      const name = this.names.get(unescapePointer(raw));
      if (name === undefined) {
        this.warn(at, `reference to an unknown schema ${ref}: the model will not compile`);
        return ref;
      }
      return `${SCHEMAS_PREFIX}${name}${tail}`;
    }
    const aws = AWS_MODEL_URL.exec(ref);
    if (aws) {
      const name = this.names.get(decodeURIComponent(aws[2]!));
      if (name === undefined) {
        this.warn(at, `reference to an unknown model ${ref}: the model will not compile`);
        return ref;
      }
      return `${aws[1]}${name}${aws[3] ?? ''}`;
    }
    // '#/properties/x' style pointers resolve inside the model itself; anything else
    // (other components, other files, URLs) cannot be resolved by the validation module.
    if (!ref.startsWith('#/') || ref.startsWith('#/components/')) {
      this.warn(at, `unsupported $ref ${ref} (only #/components/schemas/<name> references are resolved)`);
    }
    return ref;
  }
}
