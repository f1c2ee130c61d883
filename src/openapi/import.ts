/**
 * OpenAPI 3.x import: an API as AWS users export it (OpenAPI with `x-amazon-apigateway-*`
 * extensions) becomes one API of a gateway config.
 *
 * AWS references (the behaviour each mapping follows):
 *  - Extensions overview:   https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-swagger-extensions.html
 *  - Integration object:    https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-swagger-extensions-integration.html
 *  - requestParameters:     https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-swagger-extensions-integration-requestParameters.html
 *  - requestTemplates:      https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-swagger-extensions-integration-requestTemplates.html
 *  - responses / response:  https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-swagger-extensions-integration-responses.html
 *                           https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-swagger-extensions-integration-response.html
 *  - responseParameters:    https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-swagger-extensions-integration-responseParameters.html
 *  - Request validators:    https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-swagger-extensions-request-validators.html
 *                           https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-swagger-extensions-request-validator.html
 *                           https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-request-validation-set-up.html
 *  - ANY method, $default:  https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-swagger-extensions-any-method.html
 *  - basePath → stage:      https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-import-api-basePath.html
 *  - HTTP API definitions:  https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-open-api.html
 *  - Shared integrations:   https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-extensions-integrations.html
 *  - Authorization (securitySchemes, security, x-amazon-apigateway-authorizer / -authtype / -auth /
 *    -api-key-source): see src/openapi/security.ts, which cites its pages.
 *
 * Whatever cannot be mapped is reported as a warning (with the document path) or, when it would
 * make the route wrong, the route is skipped with a warning naming it. The whole document is
 * walked for `x-` keys so that no extension is dropped silently.
 */
import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, extname, isAbsolute, resolve } from 'node:path';
import { LineCounter, parseDocument, stringify } from 'yaml';
import { formatPath } from '../config/load.js';
import { checkHttpUrl, parseRouteKey, templateVariables, urlPath, type RouteParam } from '../config/routekey.js';
import { HEADER_NAME_PATTERN, PASSTHROUGH } from '../config/schema.js';
import { FUNCTION_NAME, parseLambdaUri } from './lambda.js';
import { isObj, ModelConverter, type Draft, type Obj, type Seg } from './models.js';
import { AUTH, Security } from './security.js';

export interface ImportOptions {
  /** Directory holding <functionName>.mjs|.cjs|.js files that export `handler`, for Lambda ARNs (CLI --functions DIR). */
  functionsDir?: string;
  /** Named handlers from a gateway config's functions.handlers (name -> 'path#export'), also matched by Lambda function name. */
  handlers?: Record<string, string>;
  /** Directory the document lives in (relative paths in the output are resolved against it). */
  baseDir: string;
}

export interface ImportWarning {
  /** Where in the OpenAPI document, e.g. `paths["/pets"].get.x-amazon-apigateway-integration`. */
  path: string;
  message: string;
}

export interface ImportResult {
  config: Record<string, unknown>;
  warnings: ImportWarning[];
}

/** A document that cannot be converted; `issues` are the reasons, `warnings` what was found on the way. */
export class OpenApiImportError extends Error {
  override name = 'OpenApiImportError';
  constructor(
    readonly issues: ImportWarning[],
    readonly warnings: ImportWarning[] = [],
  ) {
    super(`Cannot import the OpenAPI document:\n${issues.map((i) => `  ${i.path || '(document)'}: ${i.message}`).join('\n')}`);
  }
}

/** Is this parsed document an OpenAPI 3.x document (has `openapi: 3.x` and `paths`)? */
export function isOpenApi(doc: unknown): boolean {
  return isObj(doc) && typeof doc['openapi'] === 'string' && /^3\.\d+(\.\d+)?/.test(doc['openapi']) && isObj(doc['paths']);
}

/** Converts; throws an Error (OpenApiImportError) with a clear `path: message` list for documents it cannot convert. */
export function importOpenApi(doc: unknown, opts: ImportOptions): ImportResult {
  return new Importer(doc, opts).run();
}

/** Reads a file (YAML or JSON), converts, and returns the config as YAML text with the warnings as comments on top. */
export function importOpenApiFile(
  file: string,
  opts: Omit<ImportOptions, 'baseDir'>,
): { yaml: string; config: Record<string, unknown>; warnings: ImportResult['warnings'] } {
  const doc = readDocument(file);
  const { config, warnings } = importOpenApi(doc, { ...opts, baseDir: dirname(resolve(file)) });
  const version = isObj(doc) ? String(doc['openapi']) : '?';
  const head = [
    `# Gateway config imported from ${basename(file)} (OpenAPI ${version}).`,
    '# In string values, $${ stands for a literal ${ (the loader substitutes ${VAR}).',
  ];
  if (warnings.length) {
    head.push(`# ${warnings.length} warning${warnings.length === 1 ? '' : 's'}:`);
    for (const w of warnings) head.push(`#   ${`${w.path ? `${w.path}: ` : ''}${w.message}`.replace(/\r?\n/g, ' ')}`);
  } else head.push('# No warnings.');
  const yaml = `${head.join('\n')}\n${stringify(config, { aliasDuplicateObjects: false, lineWidth: 0 })}`;
  return { yaml, config, warnings };
}

/** Parses an OpenAPI file: `.json` as JSON, anything else as YAML. Errors name the file and line. */
function readDocument(file: string): unknown {
  const text = readFileSync(file, 'utf8');
  if (extname(file).toLowerCase() === '.json') {
    try {
      return JSON.parse(text);
    } catch (err) {
      throw new Error(`${file}: invalid JSON: ${(err as Error).message}`);
    }
  }
  const lc = new LineCounter();
  const parsed = parseDocument(text, { lineCounter: lc, prettyErrors: false });
  if (parsed.errors.length) {
    const e = parsed.errors[0]!;
    throw new Error(`${file}:${lc.linePos(e.pos[0]).line}: YAML syntax error: ${e.message.split('\n')[0]}`);
  }
  return parsed.toJS({ maxAliasCount: 1000 });
}

// ---------------------------------------------------------------------------------------------

const OPENAPI_METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;
const GATEWAY_METHODS = new Set(['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS']);
const ANY_METHOD = 'x-amazon-apigateway-any-method';
const INTEGRATION = 'x-amazon-apigateway-integration';
const INTEGRATIONS = 'x-amazon-apigateway-integrations';
const VALIDATORS = 'x-amazon-apigateway-request-validators';
const VALIDATOR = 'x-amazon-apigateway-request-validator';
const AWS_EXT = 'x-amazon-apigateway-';
const MEDIA_TYPE = /^[A-Za-z0-9!#$&^_.+-]+\/[A-Za-z0-9!#$&^_.+*-]+$/;
const HEADER_NAME = new RegExp(HEADER_NAME_PATTERN);
const HANDLER_EXTS = ['.mjs', '.cjs', '.js'];
/** Integration timeouts: the schema's bounds per integration type. */
const TIMEOUT_BOUNDS = { http: [50, 300000], function: [1, 900000] } as const;
/** `'value'`: a static value in AWS parameter mappings. */
const STATIC_VALUE = /^'([\s\S]*)'$/;

interface Validator {
  validateRequestBody: boolean;
  validateRequestParameters: boolean;
}

interface RouteInfo {
  key: string;
  method: string;
  params: RouteParam[];
}

const segKey = (segs: readonly Seg[]) => JSON.stringify(segs);

class Importer {
  private readonly doc: Obj;
  private readonly warnings: ImportWarning[] = [];
  private readonly issues: ImportWarning[] = [];
  private readonly seenWarnings = new Set<string>();
  /** `x-` keys (by path) that the conversion used or reported on. */
  private readonly consumed = new Set<string>();
  private readonly usedIntegrations = new Set<string>();
  private models!: ModelConverter;
  private security!: Security;
  private validators = new Map<string, Validator>();
  private handlers: Record<string, string> = {};

  constructor(
    doc: unknown,
    private readonly opts: ImportOptions,
  ) {
    this.doc = isObj(doc) ? doc : {};
    if (!isObj(doc)) this.issue([], 'the document must be a mapping (an OpenAPI 3.x document)');
    else if (typeof doc['swagger'] === 'string') {
      this.issue(['swagger'], `Swagger/OpenAPI ${doc['swagger']} is not supported: convert it to OpenAPI 3 first (or export the API from AWS as oas30)`);
    } else if (typeof doc['openapi'] !== 'string' || !/^3\.\d+(\.\d+)?/.test(doc['openapi'])) {
      this.issue(['openapi'], `expected openapi: 3.x (got ${doc['openapi'] === undefined ? 'nothing' : JSON.stringify(doc['openapi'])})`);
    } else if (!isObj(doc['paths'])) this.issue(['paths'], 'the document has no paths mapping');
  }

  private warn(segs: Seg[], message: string): void {
    const w = { path: formatPath(segs), message };
    const k = `${w.path}\0${w.message}`;
    if (this.seenWarnings.has(k)) return;
    this.seenWarnings.add(k);
    this.warnings.push(w);
  }

  private issue(segs: Seg[], message: string): void {
    this.issues.push({ path: formatPath(segs), message });
  }

  private fail(): never {
    throw new OpenApiImportError(this.issues, this.warnings);
  }

  run(): ImportResult {
    if (this.issues.length) this.fail();
    const doc = this.doc;
    const draft: Draft = String(doc['openapi']).startsWith('3.0') ? '04' : '2020-12';

    const api: Obj = { name: this.apiName() };
    const { stage, prefix } = this.stage();
    api['stage'] = stage;

    // Models first: routes refer to them by (possibly renamed) name.
    this.models = new ModelConverter(draft, (s, m) => this.warn(s, m));
    const components = isObj(doc['components']) ? doc['components'] : {};
    const schemas: Obj = {};
    for (const [name, schema] of Object.entries(isObj(components['schemas']) ? components['schemas'] : {})) {
      // References to a skipped schema are then reported as unknown.
      if (isObj(schema)) schemas[name] = schema;
      else this.warn(['components', 'schemas', name], 'a model must be a schema mapping: skipped');
    }
    this.models.assignNames(schemas, ['components', 'schemas']);
    const models: Obj = {};
    for (const [name, schema] of Object.entries(schemas)) {
      models[this.models.names.get(name)!] = this.models.convert(schema, ['components', 'schemas', name]);
    }
    if (isObj(components[INTEGRATIONS])) this.consumed.add(segKey(['components', INTEGRATIONS]));

    this.readValidators();
    this.readHandlers();
    this.security = new Security({
      doc,
      warn: (segs, message) => this.warn(segs, message),
      consume: (segs) => this.consumed.add(segKey(segs)),
      deref: (value, at, what) => this.deref(value, at, what),
      findHandler: (name, uriAt, skipped) => this.findHandler(name, uriAt, skipped),
    });

    const routes = this.routes(prefix);
    if (isObj(components[INTEGRATIONS])) {
      for (const name of Object.keys(components[INTEGRATIONS])) {
        if (!this.usedIntegrations.has(name)) this.warn(['components', INTEGRATIONS, name], 'integration not referenced by any operation: ignored');
      }
    }
    const authorizers = this.security.authorizers();
    this.walkExtensions();

    if (this.issues.length) this.fail();
    if (routes.length === 0) {
      // Nothing to serve (a config needs at least one route): the reasons are the warnings.
      this.issue(['paths'], 'no operation could be imported');
      this.issues.push(...this.warnings);
      this.fail();
    }

    if (this.security.keysFromAuthorizer) api['apiKeySource'] = 'AUTHORIZER';
    if (Object.keys(authorizers).length) api['authorizers'] = authorizers;
    api['routes'] = routes;
    if (Object.keys(models).length) api['models'] = models;
    api['modelSchemaDraft'] = draft;
    const config: Obj = {};
    if (Object.keys(this.handlers).length) config['functions'] = { handlers: { ...this.handlers } };
    config['apis'] = [api];
    return { config: escapeInterpolation(config) as Obj, warnings: this.warnings };
  }

  // -------------------------------------------------------------------------------------------
  // API-level

  private apiName(): string {
    const info = isObj(this.doc['info']) ? this.doc['info'] : {};
    const title = typeof info['title'] === 'string' ? info['title'] : '';
    const name = title.replace(/[^A-Za-z0-9_-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 64).replace(/-+$/, '');
    if (!name) {
      this.warn(['info', 'title'], 'no usable title: the API is named "imported"');
      return 'imported';
    }
    return name;
  }

  /**
   * The stage from servers[0].url's path (its variables at their defaults), as AWS exports write
   * it: `https://{id}.execute-api.{region}.amazonaws.com/{basePath}` with basePath's default the
   * stage (`/prod` or `prod`). No path → `$default`. A longer base path is split as AWS's
   * `basepath=split` import mode does: the first part is the stage, the rest prefixes every route.
   */
  private stage(): { stage: string; prefix: string } {
    const servers = this.doc['servers'];
    if (!Array.isArray(servers) || servers.length === 0) return { stage: '$default', prefix: '' };
    if (servers.length > 1) this.warn(['servers'], `${servers.length} servers: only servers[0] is used for the stage`);
    const s0 = servers[0];
    if (!isObj(s0) || typeof s0['url'] !== 'string') {
      this.warn(['servers', 0], 'no url: stage $default');
      return { stage: '$default', prefix: '' };
    }
    const vars = isObj(s0['variables']) ? s0['variables'] : {};
    const url = s0['url'].replace(/\{([^{}]*)\}/g, (_, name: string) => {
      const v = vars[name];
      const def = isObj(v) ? v['default'] : undefined;
      if (def === undefined) {
        this.warn(['servers', 0, 'variables'], `server variable {${name}} has no default: taken as empty`);
        return '';
      }
      return String(def);
    });
    // Absolute (or //host) as written: drop the authority. `/{basePath}` with default `/v1` (as
    // AWS writes relative servers) is a path, even though it starts with '//' once substituted.
    let path = url;
    const abs = /^([A-Za-z][A-Za-z0-9+.-]*:)?\/\//.test(s0['url']) ? /^([A-Za-z][A-Za-z0-9+.-]*:)?\/\/[^/?#]*/.exec(url) : null;
    if (abs) path = url.slice(abs[0].length);
    path = path.replace(/[?#].*$/, '');
    const parts = path.split('/').filter((p) => p !== '').map((p) => {
      try {
        return decodeURIComponent(p);
      } catch {
        return p;
      }
    });
    if (parts.length === 0) return { stage: '$default', prefix: '' };
    let stage = parts[0]!;
    if (stage !== '$default' && !/^[A-Za-z0-9_-]{1,128}$/.test(stage)) {
      const fixed = stage.replace(/[^A-Za-z0-9_-]/g, '-').slice(0, 128);
      this.warn(['servers', 0, 'url'], `base path part "${stage}" is not a valid stage name: stage "${fixed}"`);
      stage = fixed;
    }
    const rest = parts.slice(1);
    if (rest.length) {
      this.warn(['servers', 0, 'url'], `base path /${parts.join('/')}: stage "${stage}", and /${rest.join('/')} is prepended to every route (as AWS's basepath=split import)`);
    }
    return { stage, prefix: rest.length ? `/${rest.join('/')}` : '' };
  }

  private readValidators(): void {
    // The API-level default validator: applied (or reported on) per route.
    if (this.doc[VALIDATOR] !== undefined) this.consumed.add(segKey([VALIDATOR]));
    const raw = this.doc[VALIDATORS];
    if (raw === undefined) return;
    this.consumed.add(segKey([VALIDATORS]));
    if (!isObj(raw)) return this.warn([VALIDATORS], 'must be a mapping of validator name to {validateRequestBody, validateRequestParameters}: ignored');
    for (const [name, v] of Object.entries(raw)) {
      if (!isObj(v)) {
        this.warn([VALIDATORS, name], 'must be {validateRequestBody, validateRequestParameters}: ignored');
        continue;
      }
      for (const k of Object.keys(v)) {
        if (k !== 'validateRequestBody' && k !== 'validateRequestParameters') this.warn([VALIDATORS, name, k], 'unknown validator property: ignored');
      }
      this.validators.set(name, { validateRequestBody: v['validateRequestBody'] === true, validateRequestParameters: v['validateRequestParameters'] === true });
    }
  }

  private readHandlers(): void {
    for (const [name, spec] of Object.entries(this.opts.handlers ?? {})) {
      if (!FUNCTION_NAME.test(name) || typeof spec !== 'string' || spec === '') {
        this.warn([], `handler "${name}" from the given functions.handlers is not usable (names are [A-Za-z0-9_-]{1,64}, values 'path#export'): left out`);
        continue;
      }
      this.handlers[name] = spec;
    }
  }

  // -------------------------------------------------------------------------------------------
  // Routes

  private routes(prefix: string): Obj[] {
    const paths = this.doc['paths'] as Obj;
    const routes: Obj[] = [];
    const keys = new Map<string, { key: string; segs: Seg[] }>();
    for (const [p, rawItem] of Object.entries(paths)) {
      if (p.startsWith('x-')) continue; // an extension on the Paths object: the walker reports it
      const itemSegs: Seg[] = ['paths', p];
      const item = this.deref(rawItem, itemSegs, 'path item');
      if (!isObj(item)) {
        this.warn(itemSegs, 'not a path item mapping: skipped');
        continue;
      }
      if (item['servers'] !== undefined) this.warn([...itemSegs, 'servers'], 'path-level servers are not supported: ignored');
      const pathParams = Array.isArray(item['parameters']) ? item['parameters'] : [];
      for (const key of Object.keys(item)) {
        let method: string;
        if ((OPENAPI_METHODS as readonly string[]).includes(key)) method = key.toUpperCase();
        else if (key === ANY_METHOD) {
          method = 'ANY';
          this.consumed.add(segKey([...itemSegs, key]));
        } else continue;
        const opSegs = [...itemSegs, key];
        const op = item[key];
        if (!isObj(op)) {
          this.warn(opSegs, 'not an operation mapping: skipped');
          continue;
        }
        const isDefault = op['isDefaultRoute'] === true;
        const routePath = prefix ? (p === '/' ? prefix : prefix + p) : p;
        const routeKey = isDefault ? '$default' : `${method} ${routePath}`;
        // The operation's own extensions are ours to report on, whatever happens to the route.
        this.consumed.add(segKey([...opSegs, INTEGRATION]));
        this.consumed.add(segKey([...opSegs, VALIDATOR]));
        this.consumed.add(segKey([...opSegs, AUTH]));
        if (!GATEWAY_METHODS.has(method) && method !== 'ANY') {
          this.warn(opSegs, `${method} ${routePath} skipped: the gateway does not route ${method} requests`);
          continue;
        }
        const parsed = parseRouteKey(routeKey);
        if ('error' in parsed) {
          this.warn(opSegs, `${routeKey} skipped: not a valid route: ${parsed.error}`);
          continue;
        }
        const shape = parsed.kind === 'default' ? '$default' : `${parsed.method} ${parsed.path.replace(/\{[^{}]*?(\+?)\}/g, '{$1}')}`;
        const prev = keys.get(shape);
        if (prev) {
          this.issue(opSegs, `route "${routeKey}" is the same route as "${prev.key}" (${formatPath(prev.segs)})`);
          continue;
        }
        keys.set(shape, { key: routeKey, segs: opSegs });
        const info: RouteInfo = { key: routeKey, method, params: parsed.kind === 'route' ? parsed.params : [] };
        const route = this.route(op, opSegs, info, pathParams, [...itemSegs, 'parameters']);
        if (route) routes.push(route);
      }
    }
    return routes;
  }

  private route(op: Obj, at: Seg[], route: RouteInfo, pathParams: unknown[], pathParamsAt: Seg[]): Obj | null {
    if (op['servers'] !== undefined) this.warn([...at, 'servers'], 'operation-level servers are not supported: ignored');
    const raw = op[INTEGRATION];
    if (raw === undefined) {
      this.warn(at, `${route.key} skipped: no ${INTEGRATION} (API Gateway cannot deploy a method without an integration)`);
      return null;
    }
    const integ = this.integrationObject(raw, [...at, INTEGRATION]);
    if (!integ) {
      this.warn([...at, INTEGRATION], `${route.key} skipped: the integration must be a mapping or a $ref to components.${INTEGRATIONS}.<name>`);
      return null;
    }
    const integration = this.integration(integ.value, integ.at, route);
    if (!integration) return null;
    // Authorization that cannot be imported skips the route (never imported open).
    const auth = this.security.route(op, at, route.key);
    if (!auth) return null;
    const out: Obj = { route: route.key, integration };
    const validation = this.requestValidation(op, at, route, pathParams, pathParamsAt);
    if (validation) out['requestValidation'] = validation;
    Object.assign(out, auth);
    return out;
  }

  /** The integration object, following a `$ref` into components.x-amazon-apigateway-integrations (HTTP APIs). */
  private integrationObject(raw: unknown, at: Seg[]): { value: Obj; at: Seg[] } | null {
    if (isObj(raw) && typeof raw['$ref'] === 'string') {
      const ref = raw['$ref'];
      const m = /^#\/components\/x-amazon-apigateway-integrations\/(.+)$/.exec(ref);
      const components = isObj(this.doc['components']) ? this.doc['components'] : {};
      const all = isObj(components[INTEGRATIONS]) ? components[INTEGRATIONS] : {};
      const name = m ? m[1]!.replace(/~1/g, '/').replace(/~0/g, '~') : undefined;
      const target = name !== undefined ? all[name] : undefined;
      if (!isObj(target)) return null;
      this.usedIntegrations.add(name!);
      return { value: target, at: ['components', INTEGRATIONS, name!] };
    }
    return isObj(raw) ? { value: raw, at } : null;
  }

  // -------------------------------------------------------------------------------------------
  // Integrations

  private integration(integ: Obj, at: Seg[], route: RouteInfo): Obj | null {
    const type = typeof integ['type'] === 'string' ? integ['type'].toLowerCase() : undefined;
    const skip = (msg: string, segs: Seg[] = at): null => {
      this.warn(segs, `${route.key} skipped: ${msg}`);
      return null;
    };
    switch (type) {
      case 'http_proxy':
      case 'http':
        return this.httpIntegration(integ, at, route, type, skip);
      case 'mock':
        return this.mockIntegration(integ, at);
      case 'aws_proxy':
        return this.lambdaIntegration(integ, at, route, skip);
      case 'aws':
        return skip('type aws (non-proxy Lambda or AWS service integration) is not supported', [...at, 'type']);
      case undefined:
        return skip('the integration has no type');
      default:
        return skip(`unknown integration type ${JSON.stringify(integ['type'])}`, [...at, 'type']);
    }
  }

  /** Fields every type may carry; reports the unsupported ones. */
  private commonFields(integ: Obj, at: Seg[], used: readonly string[]): void {
    for (const k of Object.keys(integ)) {
      if (used.includes(k) || k === 'type') continue;
      const v = integ[k];
      switch (k) {
        case 'connectionType':
          if (typeof v === 'string' && v.toUpperCase() === 'VPC_LINK') {
            const id = typeof integ['connectionId'] === 'string' ? ` ${integ['connectionId']}` : '';
            this.warn([...at, k], `VPC_LINK${id}: private integrations are not supported; the uri is used as if directly reachable`);
          } else if (!(typeof v === 'string' && v.toUpperCase() === 'INTERNET')) {
            this.warn([...at, k], `unknown connectionType ${JSON.stringify(v)}: ignored`);
          }
          break;
        case 'connectionId':
          if (!(typeof integ['connectionType'] === 'string' && integ['connectionType'].toUpperCase() === 'VPC_LINK')) this.warn([...at, k], 'not supported: ignored');
          break;
        case 'cacheKeyParameters':
          if (Array.isArray(v) && v.length === 0) break; // no caching: nothing lost
          this.warn([...at, k], 'caching is not supported yet: ignored');
          break;
        case 'cacheNamespace':
          // AWS exports always write it (the resource id); it only means something together with
          // cacheKeyParameters, which is reported on its own.
          break;
        case 'credentials':
          this.warn([...at, k], 'IAM credentials are not used by the gateway: ignored');
          break;
        case 'contentHandling':
          this.warn([...at, k], `${String(v)} is not supported yet: ignored (payloads pass unconverted)`);
          break;
        case 'tlsConfig':
          this.warn([...at, k], 'TLS settings are not supported (http:// upstreams only): ignored');
          break;
        default:
          this.warn([...at, k], `${k} is not supported yet: ignored`);
      }
    }
  }

  /** timeoutInMillis → timeoutMs, within the schema's bounds. */
  private timeout(integ: Obj, at: Seg[], bounds: readonly [number, number]): number | undefined {
    const raw = integ['timeoutInMillis'];
    if (raw === undefined) return undefined;
    const n = typeof raw === 'number' ? raw : typeof raw === 'string' && /^\d+$/.test(raw) ? Number(raw) : NaN;
    if (!Number.isInteger(n)) {
      this.warn([...at, 'timeoutInMillis'], `not an integer (${JSON.stringify(raw)}): the default timeout is used`);
      return undefined;
    }
    const clamped = Math.min(bounds[1], Math.max(bounds[0], n));
    if (clamped !== n) this.warn([...at, 'timeoutInMillis'], `${n} is outside ${bounds[0]}..${bounds[1]}: ${clamped} used`);
    return clamped;
  }

  private httpIntegration(integ: Obj, at: Seg[], route: RouteInfo, type: 'http' | 'http_proxy', skip: (msg: string, segs?: Seg[]) => null): Obj | null {
    const proxy = type === 'http_proxy';
    const uriRaw = integ['uri'];
    if (typeof uriRaw !== 'string' || uriRaw === '') return skip(`${type} integration without a uri`, [...at, 'uri']);
    if (uriRaw.includes('${')) return skip(`the uri uses variables (${uriRaw}); stage variables are not supported yet`, [...at, 'uri']);
    if (/^https:/i.test(uriRaw)) return skip(`https upstreams are not supported by the gateway yet (uri ${uriRaw})`, [...at, 'uri']);

    const out: Obj = { type };
    const requestHeaders: Record<string, string> = {};
    const pathMap = new Map<string, string>();
    const rp = integ['requestParameters'];
    if (rp !== undefined && !isObj(rp)) this.warn([...at, 'requestParameters'], 'must be a mapping: ignored');
    for (const [k, v] of Object.entries(isObj(rp) ? rp : {})) {
      const segs = [...at, 'requestParameters', k];
      const m = /^integration\.request\.(path|querystring|header|multivaluequerystring|multivalueheader)\.(.+)$/.exec(k);
      if (!m || typeof v !== 'string') {
        this.warn(segs, 'parameter mapping not supported yet: ignored');
        continue;
      }
      const [, where, name] = m as unknown as [string, string, string];
      if (where === 'path') {
        pathMap.set(name, v);
        continue;
      }
      const stat = STATIC_VALUE.exec(v);
      if (where === 'header' && stat) {
        if (HEADER_NAME.test(name)) requestHeaders[name] = stat[1]!;
        else this.warn(segs, `invalid header name "${name}": ignored`);
        continue;
      }
      // The gateway forwards the client's query string as it is (http and http_proxy), and
      // http_proxy also the client's headers (src/integrations/mapping.ts, http-proxy.ts): a
      // same-name mapping of those changes nothing.
      if (where === 'querystring' && v === `method.request.querystring.${name}`) continue;
      if (proxy && where === 'header' && v.toLowerCase() === `method.request.header.${name}`.toLowerCase()) continue;
      this.warn(segs, `mapping from ${v} is not supported yet: ignored`);
    }

    // The uri's {vars} are integration path parameters; route variables keep their names.
    const path = urlPath(uriRaw);
    const vars = templateVariables(path);
    if ('error' in vars) return skip(vars.error, [...at, 'uri']);
    const routeVar = (n: string) => route.params.some((p) => p.name === n);
    let failed: string | undefined;
    const newPath = path.replace(/\{([^{}]*)\}/g, (whole, name: string) => {
      const src = pathMap.get(name);
      if (src === undefined) {
        if (!routeVar(name)) failed ??= `uri variable {${name}} is neither mapped in requestParameters nor a route variable`;
        return whole;
      }
      const fromPath = /^method\.request\.path\.(.+)$/.exec(src);
      if (fromPath) {
        if (!routeVar(fromPath[1]!)) failed ??= `uri variable {${name}} is mapped from ${src}, which is not a variable of the route`;
        return `{${fromPath[1]}}`;
      }
      const stat = STATIC_VALUE.exec(src);
      if (stat) return stat[1]!;
      failed ??= `uri variable {${name}} is mapped from ${src}, which the gateway cannot put in the upstream path yet`;
      return whole;
    });
    if (failed) return skip(failed, [...at, 'requestParameters']);
    for (const name of pathMap.keys()) {
      if (!vars.names.includes(name)) this.warn([...at, 'requestParameters', `integration.request.path.${name}`], `the uri has no {${name}}: ignored`);
    }
    const parts = /^([A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]*)([^?#]*)([\s\S]*)$/.exec(uriRaw);
    const uri = parts ? parts[1]! + newPath + parts[3]! : uriRaw;
    const bad = checkHttpUrl(uri, true);
    if (bad) return skip(bad, [...at, 'uri']);
    out['uri'] = uri;

    const hm = typeof integ['httpMethod'] === 'string' ? integ['httpMethod'].toUpperCase() : undefined;
    if (proxy) {
      if (hm !== undefined && hm !== 'ANY' && hm !== route.method) {
        this.warn([...at, 'httpMethod'], `${route.key}: httpMethod ${hm} differs from the route method; http_proxy forwards the request's own method`);
      }
    } else if (hm !== undefined && hm !== 'ANY') {
      if (GATEWAY_METHODS.has(hm)) out['httpMethod'] = hm;
      else this.warn([...at, 'httpMethod'], `unsupported httpMethod ${hm}: the request method is used`);
    }
    const timeoutMs = this.timeout(integ, at, TIMEOUT_BOUNDS.http);
    if (timeoutMs !== undefined) out['timeoutMs'] = timeoutMs;
    if (Object.keys(requestHeaders).length) out['requestHeaders'] = requestHeaders;
    if (proxy) this.proxyMappings(integ, at);
    else this.mappingFields(integ, at, out);
    // The rest is reported only for routes that are imported.
    this.commonFields(integ, at, ['uri', 'httpMethod', 'requestParameters', 'timeoutInMillis', 'requestTemplates', 'passthroughBehavior', 'responses', 'payloadFormatVersion']);
    return out;
  }

  private mockIntegration(integ: Obj, at: Seg[]): Obj {
    const out: Obj = { type: 'mock' };
    this.mappingFields(integ, at, out);
    this.commonFields(integ, at, ['requestTemplates', 'passthroughBehavior', 'responses']);
    return out;
  }

  private lambdaIntegration(integ: Obj, at: Seg[], route: RouteInfo, skip: (msg: string, segs?: Seg[]) => null): Obj | null {
    if (integ['integrationSubtype'] !== undefined) {
      return skip(`AWS service integration ${String(integ['integrationSubtype'])} is not supported`, [...at, 'integrationSubtype']);
    }
    const uri = integ['uri'];
    if (typeof uri !== 'string' || uri === '') return skip('aws_proxy integration without a uri', [...at, 'uri']);
    const ref = parseLambdaUri(uri);
    if (!ref.ok) return skip(ref.reason, [...at, 'uri']);
    if (ref.qualifier !== undefined && ref.qualifier !== '$LATEST') {
      this.warn([...at, 'uri'], `${route.key}: function qualifier :${ref.qualifier} (alias or version) ignored: the local ${ref.name} handler is used`);
    }
    const handler = this.findHandler(ref.name, [...at, 'uri'], `${route.key} skipped`);
    if (!handler) return null;

    // HTTP APIs carry payloadFormatVersion (1.0 or 2.0); REST APIs do not and always send 1.0.
    let version = '1.0';
    const pf = integ['payloadFormatVersion'];
    if (pf !== undefined) {
      const s = String(pf);
      if (s === '1' || s === '1.0') version = '1.0';
      else if (s === '2' || s === '2.0') version = '2.0';
      else this.warn([...at, 'payloadFormatVersion'], `unknown payloadFormatVersion ${JSON.stringify(pf)}: 1.0 used`);
    }
    const out: Obj = { type: 'function', handler, payloadFormatVersion: version, functionName: ref.name };
    const timeoutMs = this.timeout(integ, at, TIMEOUT_BOUNDS.function);
    if (timeoutMs !== undefined) out['timeoutMs'] = timeoutMs;
    if (integ['requestParameters'] !== undefined) this.warn([...at, 'requestParameters'], 'parameter mapping for Lambda proxy integrations is not supported yet: ignored');
    this.proxyMappings(integ, at);
    this.commonFields(integ, at, ['uri', 'httpMethod', 'timeoutInMillis', 'payloadFormatVersion', 'requestTemplates', 'passthroughBehavior', 'responses', 'integrationSubtype', 'requestParameters']);
    return out;
  }

  /**
   * Lambda function name → handler: a name from the given functions.handlers (kept as the name,
   * which the loader resolves), else `<functionsDir>/<name>.mjs|.cjs|.js` as an absolute path.
   * Warnings go to `uriAt` (the ARN's field); none found → `${skipped}: no handler …` and null.
   */
  private findHandler(name: string, uriAt: Seg[], skipped: string): string | null {
    const looked: string[] = [];
    if (Object.hasOwn(this.handlers, name)) {
      const spec = this.handlers[name]!;
      const hash = spec.lastIndexOf('#');
      const file = hash < 0 ? spec : spec.slice(0, hash);
      const abs = isAbsolute(file) ? file : resolve(this.opts.baseDir, file);
      if (HANDLER_EXTS.includes(extname(abs)) && existsSync(abs)) return name;
      this.warn(uriAt, `functions.handlers.${name} (${spec}) does not resolve to a .mjs/.cjs/.js file from ${this.opts.baseDir}`);
      looked.push(`functions.handlers.${name}`);
    }
    if (this.opts.functionsDir !== undefined) {
      const dir = resolve(this.opts.functionsDir);
      for (const ext of HANDLER_EXTS) {
        const file = resolve(dir, name + ext);
        if (!existsSync(file)) continue;
        if (!/\bhandler\b/.test(readFileSync(file, 'utf8'))) {
          this.warn(uriAt, `${file} does not seem to export handler (the gateway checks it at start)`);
        }
        return `${file}#handler`;
      }
      looked.push(`${resolve(dir, name)}.mjs, .cjs or .js`);
    }
    const where = looked.length ? `looked for ${looked.join(' and ')}` : 'no functions directory or named handlers were given';
    this.warn(uriAt, `${skipped}: no handler for Lambda function ${name} (${where})`);
    return null;
  }

  /**
   * Proxy integrations pass requests and responses through; AWS ignores mapping templates and
   * integration responses on them, so plain `{statusCode}` responses (which AWS exports write)
   * go without a word, anything more is reported.
   */
  private proxyMappings(integ: Obj, at: Seg[]): void {
    const rt = integ['requestTemplates'];
    if (isObj(rt) && Object.keys(rt).length) this.warn([...at, 'requestTemplates'], 'mapping templates do not apply to proxy integrations: ignored');
    const responses = integ['responses'];
    if (isObj(responses)) {
      const plain = Object.values(responses).every((r) => isObj(r) && Object.keys(r).every((k) => k === 'statusCode'));
      if (!plain) this.warn([...at, 'responses'], 'integration responses do not apply to proxy integrations: ignored');
    }
  }

  /** requestTemplates, passthroughBehavior, responses (http and mock). */
  private mappingFields(integ: Obj, at: Seg[], out: Obj): void {
    const rt = this.templates(integ['requestTemplates'], [...at, 'requestTemplates']);
    if (rt) out['requestTemplates'] = rt;
    const pb = integ['passthroughBehavior'];
    if (pb !== undefined) {
      const up = typeof pb === 'string' ? pb.toUpperCase() : '';
      if ((PASSTHROUGH as readonly string[]).includes(up)) out['passthroughBehavior'] = up;
      else this.warn([...at, 'passthroughBehavior'], `unknown value ${JSON.stringify(pb)}: WHEN_NO_MATCH used`);
    }
    const responses = integ['responses'];
    if (responses === undefined) return;
    if (!isObj(responses)) return this.warn([...at, 'responses'], 'must be a mapping of selection pattern to response: ignored');
    const res: Obj = {};
    for (const [pattern, r] of Object.entries(responses)) {
      const rat = [...at, 'responses', pattern];
      if (!isObj(r)) {
        this.warn(rat, 'must be a mapping: ignored');
        continue;
      }
      if (pattern !== 'default') {
        try {
          new RegExp(pattern);
        } catch {
          this.warn(rat, 'the selection pattern is not a valid regular expression: response ignored');
          continue;
        }
      }
      const code = Number(typeof r['statusCode'] === 'string' || typeof r['statusCode'] === 'number' ? r['statusCode'] : NaN);
      if (!Number.isInteger(code) || code < 100 || code > 599) {
        this.warn([...rat, 'statusCode'], `statusCode must be 100..599 (got ${JSON.stringify(r['statusCode'])}): response ignored`);
        continue;
      }
      const one: Obj = { statusCode: code };
      const tpl = this.templates(r['responseTemplates'], [...rat, 'responseTemplates']);
      if (tpl) one['responseTemplates'] = tpl;
      const headers: Record<string, string> = {};
      const params = r['responseParameters'];
      for (const [k, v] of Object.entries(isObj(params) ? params : {})) {
        const m = /^method\.response\.header\.(.+)$/.exec(k);
        const stat = typeof v === 'string' ? STATIC_VALUE.exec(v) : null;
        if (!m) this.warn([...rat, 'responseParameters', k], 'only method.response.header.* can be mapped: ignored');
        else if (!stat) this.warn([...rat, 'responseParameters', k], `non-static mapping from ${String(v)} is not supported yet: ignored`);
        else if (!HEADER_NAME.test(m[1]!)) this.warn([...rat, 'responseParameters', k], `invalid header name "${m[1]}": ignored`);
        else headers[m[1]!] = stat[1]!;
      }
      if (params !== undefined && !isObj(params)) this.warn([...rat, 'responseParameters'], 'must be a mapping: ignored');
      if (Object.keys(headers).length) one['responseHeaders'] = headers;
      for (const k of Object.keys(r)) {
        if (k === 'statusCode' || k === 'responseTemplates' || k === 'responseParameters') continue;
        this.warn([...rat, k], k === 'contentHandling' ? `${String(r[k])} is not supported yet: ignored` : `${k} is not supported: ignored`);
      }
      res[pattern] = one;
    }
    if (Object.keys(res).length) out['responses'] = res;
  }

  /** A media type → template map; keys that are not plain media types are dropped with a warning. */
  private templates(raw: unknown, at: Seg[]): Record<string, string> | undefined {
    if (raw === undefined) return undefined;
    if (!isObj(raw)) {
      this.warn(at, 'must be a mapping of media type to template: ignored');
      return undefined;
    }
    const out: Record<string, string> = {};
    for (const [type, tpl] of Object.entries(raw)) {
      if (!MEDIA_TYPE.test(type)) this.warn([...at, type], 'not a media type like application/json: template ignored');
      else if (typeof tpl !== 'string') this.warn([...at, type], 'a template must be a string: ignored');
      else out[type] = tpl;
    }
    return Object.keys(out).length ? out : undefined;
  }

  // -------------------------------------------------------------------------------------------
  // Request validation

  private requestValidation(op: Obj, at: Seg[], route: RouteInfo, pathParams: unknown[], pathParamsAt: Seg[]): Obj | null {
    const own = op[VALIDATOR];
    const name = own !== undefined ? own : this.doc[VALIDATOR];
    const nameAt = own !== undefined ? [...at, VALIDATOR] : [VALIDATOR];
    if (name === undefined) return null;
    if (typeof name !== 'string') {
      this.warn(nameAt, 'must be the name of a request validator: ignored');
      return null;
    }
    const v = this.validators.get(name);
    if (!v) {
      const known = [...this.validators.keys()];
      this.warn(nameAt, `${route.key}: unknown request validator "${name}" (${known.length ? `defined: ${known.join(', ')}` : `no ${VALIDATORS}`}): no validation`);
      return null;
    }
    const out: Obj = { validateBody: v.validateRequestBody, validateParameters: v.validateRequestParameters };

    const body = this.deref(op['requestBody'], [...at, 'requestBody'], 'request body');
    if (isObj(body) && isObj(body['content'])) {
      const models: Obj = {};
      for (const [mt, media] of Object.entries(body['content'])) {
        const mat = [...at, 'requestBody', 'content', mt];
        if (!isObj(media) || media['schema'] === undefined) continue;
        let key = mt.split(';')[0]!.trim();
        if (key === '*/*') key = '$default';
        if (key !== '$default' && !MEDIA_TYPE.test(key)) {
          this.warn(mat, 'not a media type like application/json: body model ignored');
          continue;
        }
        if (Object.hasOwn(models, key)) {
          this.warn(mat, `a model for ${key} is already set: ignored`);
          continue;
        }
        const schema = media['schema'];
        const ref = isObj(schema) && Object.keys(schema).length === 1 && typeof schema['$ref'] === 'string' ? schema['$ref'] : undefined;
        const model = ref !== undefined ? this.models.modelOf(ref) : undefined;
        if (ref !== undefined && model === undefined && /^#\/components\/schemas\/[^/]+$/.test(ref)) {
          this.warn([...mat, 'schema', '$ref'], `unknown schema ${ref}: body model ignored`);
          continue;
        }
        models[key] = model ?? this.models.convert(schema, [...mat, 'schema']);
      }
      if (Object.keys(models).length) out['bodyModels'] = models;
    }

    // Operation parameters override path-level ones with the same name and location.
    const params = new Map<string, { p: Obj; at: Seg[] }>();
    const collect = (list: unknown, listAt: Seg[]) => {
      if (!Array.isArray(list)) return;
      list.forEach((raw, i) => {
        const p = this.deref(raw, [...listAt, i], 'parameter');
        if (isObj(p) && typeof p['name'] === 'string' && typeof p['in'] === 'string') params.set(`${p['in']}\0${p['name']}`, { p, at: [...listAt, i] });
      });
    };
    collect(pathParams, pathParamsAt);
    collect(op['parameters'], [...at, 'parameters']);
    const required: Record<string, string[]> = {};
    const where: Record<string, string> = { query: 'querystring', header: 'header', path: 'path' };
    for (const { p, at: pat } of params.values()) {
      if (p['required'] !== true) continue;
      const loc = where[p['in'] as string];
      let name = p['name'] as string;
      if (!loc) {
        this.warn(pat, `${route.key}: required ${String(p['in'])} parameter ${name} is not validated: ignored`);
        continue;
      }
      if (loc === 'path') {
        // HTTP API exports name the greedy variable 'proxy+'. A path parameter the route does not
        // have would fail every request: AWS cannot have one either.
        name = name.replace(/\+$/, '');
        if (!route.params.some((rp) => rp.name === name)) {
          this.warn(pat, `${route.key}: path parameter ${name} is not in the route: ignored`);
          continue;
        }
      }
      if (!(required[loc] ??= []).includes(name)) required[loc]!.push(name);
    }
    if (Object.keys(required).length) out['required'] = required;
    return out;
  }

  /** Follows a local `$ref` (to components or elsewhere in the document); warns and yields undefined when it cannot. */
  private deref(value: unknown, at: Seg[], what: string, depth = 0): unknown {
    if (!isObj(value) || typeof value['$ref'] !== 'string') return value;
    const ref = value['$ref'];
    if (!ref.startsWith('#/')) {
      this.warn([...at, '$ref'], `external ${what} reference ${ref} is not supported: ignored`);
      return undefined;
    }
    let node: unknown = this.doc;
    for (const raw of ref.slice(2).split('/')) {
      const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~');
      node = isObj(node) ? node[seg] : Array.isArray(node) ? node[Number(seg)] : undefined;
    }
    if (node === undefined || depth > 20) {
      this.warn([...at, '$ref'], `${what} reference ${ref} does not resolve: ignored`);
      return undefined;
    }
    return this.deref(node, at, what, depth + 1);
  }

  // -------------------------------------------------------------------------------------------
  // Extensions nobody consumed

  /**
   * Every `x-amazon-apigateway-*` key the conversion did not use is reported where it is; other
   * `x-` keys once per distinct name. Example values and enum/default data are not walked.
   */
  private walkExtensions(): void {
    const others = new Map<string, { segs: Seg[]; count: number }>();
    const walk = (node: unknown, segs: Seg[]): void => {
      if (Array.isArray(node)) return node.forEach((v, i) => walk(v, [...segs, i]));
      if (!isObj(node)) return;
      for (const [k, v] of Object.entries(node)) {
        const here = [...segs, k];
        if (k.startsWith('x-')) {
          if (k.startsWith(AWS_EXT)) {
            if (this.consumed.has(segKey(here))) walk(v, here);
            else this.warn(here, `${k} is not supported yet: ignored`);
          } else {
            const o = others.get(k);
            if (o) o.count++;
            else others.set(k, { segs: here, count: 1 });
          }
          continue;
        }
        if (k === 'example' || k === 'examples' || k === 'enum' || k === 'const') continue;
        if (k === 'default' && segs[segs.length - 1] !== 'responses') continue;
        walk(v, here);
      }
    };
    walk(this.doc, []);
    for (const [k, { segs, count }] of others) {
      this.warn(segs, `${k} is not an API Gateway extension: ignored${count > 1 ? ` (${count} occurrences, first here)` : ''}`);
    }
  }
}

/**
 * The loader substitutes ${VAR} in every string value (and reads `$${` as a literal `${`), so
 * literal `${` (VTL formal references, ARNs with variables) are written as `$${`.
 */
function escapeInterpolation(value: unknown): unknown {
  if (typeof value === 'string') return value.split('${').join('$${');
  if (Array.isArray(value)) return value.map(escapeInterpolation);
  if (isObj(value)) {
    const out: Obj = {};
    for (const [k, v] of Object.entries(value)) out[k] = escapeInterpolation(v);
    return out;
  }
  return value;
}
