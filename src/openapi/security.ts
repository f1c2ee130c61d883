/**
 * OpenAPI security → the API's `authorizers` and each route's `authorizer`, `authorizationScopes`,
 * `authorizationType: AWS_IAM` and `apiKeyRequired` (src/config/schema.ts).
 *
 * AWS references (the behaviour each mapping follows):
 *  - Authorizers:          https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-swagger-extensions-authorizer.html
 *  - authtype (awsSigv4):  https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-swagger-extensions-authtype.html
 *  - auth (per method):    https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-swagger-extensions-auth.html
 *  - API key source:       https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-swagger-extensions-api-key-source.html
 *  - HTTP API definitions: https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-open-api.html
 *                          (one of IAM, a Lambda authorizer or a JWT authorizer per operation)
 *  - HTTP API JWT:         https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-jwt-authorizer.html
 *  - HTTP API Lambda:      https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-lambda-authorizer.html
 *  - REST Lambda (TOKEN, REQUEST): https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-use-lambda-authorizer.html
 *  - Cognito user pools:   https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-enable-cognito-user-pool.html
 *
 * `components.securitySchemes`:
 *  - with `x-amazon-apigateway-authorizer` of type `jwt` (HTTP API: jwtConfiguration {issuer,
 *    audience}, or the issuer from an openIdConnect scheme's openIdConnectUrl) → a jwt authorizer;
 *    `token` / `request` (REST; HTTP API `request` with authorizerPayloadFormatVersion) → a Lambda
 *    authorizer whose authorizerUri's function is found like a Lambda integration's;
 *    `cognito_user_pools` → not supported (the warning names the issuer for a jwt authorizer).
 *  - `type: apiKey, in: header, name: x-api-key` without an authorizer → `apiKeyRequired`.
 *  - `x-amazon-apigateway-authtype: awsSigv4` → `authorizationType: AWS_IAM`.
 * Security requirements: the operation's `security` replaces the document's; `[]` or `[{}]` is none.
 * Schemes in one requirement apply together (an authorizer or IAM, plus an API key); of alternative
 * requirements the first supported one that asks for something is used, with a warning (an
 * anonymous `{}` alternative only when no other is there to fail).
 *
 * A route whose authorization cannot be imported is skipped with a warning: it is never imported
 * without it. Authorizers are read when a route first uses them; those no imported route uses are
 * left out with a warning.
 */
import { formatPath } from '../config/load.js';
import { IDENTITY_CONTEXT_VARIABLES } from '../config/schema.js';
import { parseLambdaUri } from './lambda.js';
import { isObj, type Obj, type Seg } from './models.js';

export const AUTHORIZER = 'x-amazon-apigateway-authorizer';
export const AUTHTYPE = 'x-amazon-apigateway-authtype';
export const AUTH = 'x-amazon-apigateway-auth';
export const API_KEY_SOURCE = 'x-amazon-apigateway-api-key-source';

/** What the importer lends: the document, its warnings, `$ref`s, and Lambda handler lookup. */
export interface SecurityHost {
  readonly doc: Obj;
  warn(segs: Seg[], message: string): void;
  /** Marks an `x-` key as handled here (the extension walker does not report it). */
  consume(segs: Seg[]): void;
  deref(value: unknown, at: Seg[], what: string): unknown;
  /** A Lambda function name → handler; else warns `${skipped}: no handler …` at `uriAt` and yields null. */
  findHandler(name: string, uriAt: Seg[], skipped: string): string | null;
}

type Scheme =
  /** `scheme`: the securitySchemes key; `name`: the config's authorizer name. */
  | { kind: 'authorizer'; label: string; at: Seg[]; jwt: boolean; lambda: boolean; scheme: string; name: string; config: Obj }
  | { kind: 'apiKey'; label: string; at: Seg[] }
  | { kind: 'iam'; label: string; at: Seg[] }
  /** Not importable: reported at the scheme when read. */
  | { kind: 'failed'; label: string; at: Seg[] };

type Note = [Seg[], string];

type Requirement =
  | { ok: true; label: string; empty: boolean; fields: Obj; notes: Note[]; uses: Scheme[] }
  | { ok: false; label: string; reason: string };

/** Names the config accepts for authorizers. */
const AUTHORIZER_NAME = /^[A-Za-z0-9_-]{1,128}$/;
/** The identity sources of Lambda authorizers the config accepts (RequestAuthorizerSchema's pattern). */
const IDENTITY_SOURCE = /^(\$request\.(header|querystring)\.[^\s]+|method\.request\.(header|querystring)\.[^\s]+|\$?context\.[A-Za-z.]+|\$?stageVariables\.[A-Za-z0-9_]+)$/;
const CONTEXT_SOURCES: readonly string[] = IDENTITY_CONTEXT_VARIABLES;
const TOKEN_SOURCE = /^(\$request|method\.request)\.header\.[A-Za-z0-9-]+$/;
const JWT_SOURCE = /^\$request\.header\.[A-Za-z0-9-]+$/;
const AUTHORIZER_FIELDS: Record<string, readonly string[]> = {
  jwt: ['type', 'jwtConfiguration', 'identitySource'],
  token: ['type', 'authorizerUri', 'authorizerCredentials', 'identitySource', 'identityValidationExpression', 'authorizerResultTtlInSeconds'],
  request: ['type', 'authorizerUri', 'authorizerCredentials', 'identitySource', 'authorizerPayloadFormatVersion', 'enableSimpleResponses', 'authorizerResultTtlInSeconds'],
};
const ALL_AUTHORIZER_FIELDS = new Set([...Object.values(AUTHORIZER_FIELDS).flat(), 'providerARNs']);

export class Security {
  private readonly schemes: Obj;
  private readonly read = new Map<string, Scheme>();
  /** Authorizer names taken: every acceptable scheme name, and the names given to the others. */
  private readonly names = new Set<string>();
  /** Scheme names of authorizers that imported routes use. */
  private readonly used = new Set<string>();
  private readonly noted = new Set<string>();
  /** `x-amazon-apigateway-api-key-source: AUTHORIZER`: API keys are the Lambda authorizer's usageIdentifierKey. */
  readonly keysFromAuthorizer: boolean = false;

  constructor(private readonly host: SecurityHost) {
    const components = isObj(host.doc['components']) ? host.doc['components'] : {};
    const raw = components['securitySchemes'];
    if (raw !== undefined && !isObj(raw)) host.warn(['components', 'securitySchemes'], 'must be a mapping of scheme name to security scheme: ignored');
    this.schemes = isObj(raw) ? raw : {};
    // Every scheme's extensions are reported on here, used or not (an unused authorizer is named at the end).
    for (const [name, s] of Object.entries(this.schemes)) {
      if (AUTHORIZER_NAME.test(name)) this.names.add(name);
      if (!isObj(s)) continue;
      if (s[AUTHORIZER] !== undefined) host.consume(['components', 'securitySchemes', name, AUTHORIZER]);
      if (s[AUTHTYPE] !== undefined) host.consume(['components', 'securitySchemes', name, AUTHTYPE]);
    }
    const source = host.doc[API_KEY_SOURCE];
    if (source !== undefined) {
      host.consume([API_KEY_SOURCE]);
      const v = typeof source === 'string' ? source.toUpperCase() : undefined;
      if (v === 'AUTHORIZER') this.keysFromAuthorizer = true;
      else if (v !== 'HEADER') host.warn([API_KEY_SOURCE], `unknown value ${JSON.stringify(source)} (HEADER or AUTHORIZER): HEADER (x-api-key) used`);
    }
  }

  /**
   * The authorization fields of a route (possibly none), or null when the route must be skipped
   * (warned). `opAt` is the operation's path; its own `x-amazon-apigateway-auth` is read too.
   */
  route(op: Obj, opAt: Seg[], key: string): Obj | null {
    const own = op['security'] !== undefined;
    const reqs = own ? op['security'] : this.host.doc['security'];
    const at: Seg[] = own ? [...opAt, 'security'] : ['security'];
    const skip = (segs: Seg[], why: string): null => {
      this.host.warn(segs, `${key} skipped: ${why}; a route is not imported without its authorization`);
      return null;
    };
    let chosen: Extract<Requirement, { ok: true }> = { ok: true, label: 'none', empty: true, fields: {}, notes: [], uses: [] };
    if (reqs !== undefined) {
      if (!Array.isArray(reqs)) return skip(at, 'security must be a list of security requirements');
      const evals = reqs.map((r, i) => this.requirement(r, [...at, i], key));
      if (evals.length > 0) {
        const ok = evals.filter((e): e is Extract<Requirement, { ok: true }> => e.ok);
        const failed = evals.filter((e): e is Extract<Requirement, { ok: false }> => !e.ok);
        // One that asks for something first; `{}` (anonymous) only when nothing else is asked for:
        // AWS enforces the first requirement, so an open alternative is no reason to import a route open.
        const pick = ok.find((e) => !e.empty) ?? (failed.length === 0 ? ok[0] : undefined);
        if (pick === undefined) {
          if (evals.length === 1) return skip(at, failed[0]!.reason);
          return skip(at, `no alternative security requirement that asks for authorization is supported (${failed.map((e) => `${e.label}: ${e.reason}`).join('; ')})`);
        }
        chosen = pick;
        if (evals.length > 1) {
          this.host.warn(at, `${key}: alternative security requirements (${evals.map((e) => e.label).join(' | ')}): a route has one, ${pick.label} is used`);
        }
      }
    }
    const fields: Obj = { ...chosen.fields };

    // The method's own authorization type (REST), beside the security requirements.
    const xa = op[AUTH];
    if (xa !== undefined) {
      const aat = [...opAt, AUTH];
      const type = isObj(xa) && typeof xa['type'] === 'string' ? xa['type'].toUpperCase() : undefined;
      if (type === 'AWS_IAM') {
        if (fields['authorizer'] !== undefined) return skip(aat, `${AUTH} AWS_IAM and the authorizer of ${chosen.label}: a route has one authorization`);
        fields['authorizationType'] = 'AWS_IAM';
        this.iamNote(aat);
      } else if (type === 'NONE') {
        if (!chosen.empty) this.host.warn(aat, `${key}: type NONE ignored: the security requirement (${chosen.label}) applies`);
      } else {
        return skip(aat, `${AUTH} type ${JSON.stringify(isObj(xa) ? xa['type'] : xa)} is not NONE or AWS_IAM`);
      }
    }
    for (const [segs, msg] of chosen.notes) this.host.warn(segs, msg);
    for (const s of chosen.uses) {
      if (s.kind === 'authorizer') this.used.add(s.scheme);
      else if (s.kind === 'iam') this.iamNote(s.at);
      else if (s.kind === 'apiKey' && !this.noted.has('apiKey')) {
        this.noted.add('apiKey');
        this.host.warn(s.at, `routes that require it need API keys: add apiKeys and usagePlans (for this API) to the gateway config${this.keysFromAuthorizer ? '' : '; clients send them in x-api-key'}`);
      }
    }
    // Route fields in the config's order.
    const out: Obj = {};
    for (const k of ['authorizer', 'authorizationScopes', 'authorizationType', 'apiKeyRequired']) if (fields[k] !== undefined) out[k] = fields[k];
    return out;
  }

  /** The authorizers imported routes use (in securitySchemes order); the others are reported. */
  authorizers(): Obj {
    const out: Obj = {};
    for (const name of Object.keys(this.schemes)) {
      const s = this.read.get(name);
      if (s?.kind === 'authorizer' && this.used.has(name)) {
        out[s.name] = s.config;
        continue;
      }
      const raw = this.schemes[name];
      if (isObj(raw) && raw[AUTHORIZER] !== undefined && s?.kind !== 'failed') {
        this.host.warn(['components', 'securitySchemes', name], 'authorizer not used by any imported route: left out');
      }
    }
    return out;
  }

  private iamNote(at: Seg[]): void {
    if (this.noted.has('iam')) return;
    this.noted.add('iam');
    this.host.warn(at, 'AWS_IAM: requests must be signed (SigV4) with a key from the gateway config\'s iam.credentials (AWS IAM users, roles and policies are not consulted): add them to the config');
  }

  private requirement(req: unknown, at: Seg[], key: string): Requirement {
    if (!isObj(req)) return { ok: false, label: JSON.stringify(req), reason: 'not a security requirement mapping' };
    const names = Object.keys(req);
    const label = names.length ? names.join(' + ') : 'none';
    const fields: Obj = {};
    const notes: Note[] = [];
    const uses: Scheme[] = [];
    let authorizer: Extract<Scheme, { kind: 'authorizer' }> | undefined;
    let iam: Scheme | undefined;
    for (const name of names) {
      const s = this.scheme(name);
      if (s === undefined) return { ok: false, label, reason: `security scheme ${name} is not defined in components.securitySchemes` };
      if (s.kind === 'failed') return { ok: false, label, reason: `${s.label} is not supported (see ${formatPath(['components', 'securitySchemes', name])})` };
      const raw = req[name];
      const scopes = Array.isArray(raw) ? raw.filter((x): x is string => typeof x === 'string' && x !== '') : [];
      if (!Array.isArray(raw)) notes.push([[...at, name], `${key}: scopes must be a list of strings: ignored`]);
      else if (scopes.length !== raw.length) notes.push([[...at, name], `${key}: scopes must be non-empty strings: the others are ignored`]);
      uses.push(s);
      if (s.kind === 'authorizer') {
        if (authorizer !== undefined) return { ok: false, label, reason: `a route has one authorizer (${authorizer.label} and ${s.label})` };
        authorizer = s;
        fields['authorizer'] = s.name;
        if (scopes.length && s.jwt) fields['authorizationScopes'] = scopes;
        else if (scopes.length) notes.push([[...at, name], `${key}: scopes apply to JWT authorizers only: ignored`]);
      } else {
        if (scopes.length) notes.push([[...at, name], `${key}: scopes apply to JWT authorizers only: ignored`]);
        if (s.kind === 'iam') {
          iam = s;
          fields['authorizationType'] = 'AWS_IAM';
        } else fields['apiKeyRequired'] = true;
      }
    }
    if (authorizer !== undefined && iam !== undefined) return { ok: false, label, reason: 'a route has one authorization: AWS_IAM or an authorizer, not both' };
    if (fields['apiKeyRequired'] === true && this.keysFromAuthorizer && !authorizer?.lambda) {
      return { ok: false, label, reason: `API keys come from a Lambda authorizer (${API_KEY_SOURCE} AUTHORIZER) and ${label} has none` };
    }
    return { ok: true, label, empty: names.length === 0, fields, notes, uses };
  }

  /** A security scheme, read once (its problems are reported the first time). */
  private scheme(name: string): Scheme | undefined {
    const known = this.read.get(name);
    if (known) return known;
    if (!Object.hasOwn(this.schemes, name)) return undefined;
    const at: Seg[] = ['components', 'securitySchemes', name];
    const s = this.readScheme(name, at);
    this.read.set(name, s);
    return s;
  }

  private readScheme(name: string, at: Seg[]): Scheme {
    const label = `security scheme ${name}`;
    const failed = (segs: Seg[], msg: string): Scheme => {
      this.host.warn(segs, `${label} not imported: ${msg}`);
      return { kind: 'failed', label, at };
    };
    const s = this.host.deref(this.schemes[name], at, 'security scheme');
    if (!isObj(s)) return failed(at, 'not a security scheme mapping');
    if (s[AUTHORIZER] !== undefined) return this.authorizer(name, s, at);
    const authtype = s[AUTHTYPE];
    const type = s['type'];
    if (typeof authtype === 'string' && authtype.toLowerCase() === 'awssigv4') return { kind: 'iam', label: `IAM (${name})`, at };
    if (typeof authtype === 'string' && /^aws/i.test(authtype)) return failed([...at, AUTHTYPE], `${AUTHTYPE} ${authtype} is not supported (awsSigv4 is)`);
    if (type === 'apiKey') {
      if (s['in'] === 'header' && typeof s['name'] === 'string' && s['name'].toLowerCase() === 'x-api-key') return { kind: 'apiKey', label: `API key (${name})`, at };
      return failed(at, `an API key in ${String(s['in'])} ${String(s['name'])}: the gateway reads API keys from the x-api-key header only (AWS's HEADER source)`);
    }
    return failed(at, `type ${JSON.stringify(type)} without ${AUTHORIZER}: the gateway enforces authorizers, IAM (${AUTHTYPE} awsSigv4) and x-api-key API keys only`);
  }

  private authorizer(name: string, s: Obj, at: Seg[]): Scheme {
    const aat = [...at, AUTHORIZER];
    const label = `authorizer ${name}`;
    const failed = (segs: Seg[], msg: string): Scheme => {
      this.host.warn(segs, `${label} not imported: ${msg}`);
      return { kind: 'failed', label, at };
    };
    const ext = s[AUTHORIZER];
    if (!isObj(ext)) return failed(aat, 'must be a mapping');
    const type = typeof ext['type'] === 'string' ? ext['type'].toLowerCase() : undefined;
    if (type === 'cognito_user_pools') {
      const arn = Array.isArray(ext['providerARNs']) ? ext['providerARNs'].find((a) => typeof a === 'string') : undefined;
      const m = typeof arn === 'string' ? /^arn:[^:]+:cognito-idp:([^:]+):[^:]*:userpool\/([^/]+)$/.exec(arn) : null;
      const issuer = m ? `https://cognito-idp.${m[1]}.amazonaws.com/${m[2]}` : 'https://cognito-idp.{region}.amazonaws.com/{userPoolId}';
      return failed(aat, `Cognito user pool authorizers are not supported: use a jwt authorizer (issuer ${issuer}, audience: the app client id) in the gateway config`);
    }
    if (type === undefined) return failed(aat, 'no type (token, request, jwt or cognito_user_pools)');
    const allowed = Object.hasOwn(AUTHORIZER_FIELDS, type) ? AUTHORIZER_FIELDS[type]! : undefined;
    if (allowed === undefined) return failed([...aat, 'type'], `unknown type ${JSON.stringify(ext['type'])} (token, request, jwt or cognito_user_pools)`);
    for (const k of Object.keys(ext)) {
      if (allowed.includes(k)) continue;
      this.host.warn([...aat, k], ALL_AUTHORIZER_FIELDS.has(k) ? `does not apply to ${type} authorizers: ignored` : 'not an authorizer property: ignored');
    }
    // The readers report their failures and then answer null.
    const config = type === 'jwt' ? this.jwt(label, s, ext, aat) : this.lambda(label, type as 'token' | 'request', s, ext, aat);
    if (config === null) return { kind: 'failed', label, at };
    return { kind: 'authorizer', label, at, jwt: type === 'jwt', lambda: type !== 'jwt', scheme: name, name: this.configName(name, at), config };
  }

  /** A jwt authorizer's config, or null when it was reported as not importable. */
  private jwt(label: string, s: Obj, ext: Obj, aat: Seg[]): Obj | null {
    const fail = (segs: Seg[], msg: string): null => {
      this.host.warn(segs, `${label} not imported: ${msg}`);
      return null;
    };
    const jc = ext['jwtConfiguration'];
    if (jc !== undefined && !isObj(jc)) return fail([...aat, 'jwtConfiguration'], 'jwtConfiguration must be a mapping {issuer, audience}');
    const conf = isObj(jc) ? jc : {};
    for (const k of Object.keys(conf)) if (k !== 'issuer' && k !== 'audience') this.host.warn([...aat, 'jwtConfiguration', k], 'not a jwtConfiguration property: ignored');
    let issuer = conf['issuer'];
    let issuerAt: Seg[] = [...aat, 'jwtConfiguration', 'issuer'];
    if (issuer === undefined && s['type'] === 'openIdConnect' && typeof s['openIdConnectUrl'] === 'string') {
      // AWS: "The openIdConnectUrl must be fully formed" — the issuer is what precedes the well-known path.
      const url = s['openIdConnectUrl'];
      issuerAt = [...aat.slice(0, -1), 'openIdConnectUrl'];
      const m = /^(.*?)\/\.well-known\/openid-configuration$/.exec(url);
      if (!m) return fail(issuerAt, `openIdConnectUrl ${url} does not end in /.well-known/openid-configuration`);
      issuer = m[1];
    }
    if (issuer === undefined) return fail([...aat, 'jwtConfiguration'], 'no issuer (jwtConfiguration.issuer, or openIdConnectUrl on an openIdConnect scheme)');
    if (typeof issuer !== 'string' || !/^https?:\/\//.test(issuer)) return fail(issuerAt, `the issuer must be an https:// URL (got ${JSON.stringify(issuer)})`);
    const rawAud = conf['audience'];
    const audience = (Array.isArray(rawAud) ? rawAud : [rawAud]).filter((a): a is string => typeof a === 'string' && a !== '');
    if (audience.length === 0) return fail([...aat, 'jwtConfiguration', 'audience'], 'no audience: the gateway checks aud (or client_id) against at least one');
    const sources = this.sourceList(ext['identitySource']);
    let identitySource = '$request.header.Authorization';
    if (sources !== undefined) {
      const one = sources.length === 1 ? sources[0]!.replace(/^method\.request\./, '$request.') : undefined;
      if (one === undefined || !JWT_SOURCE.test(one)) {
        return fail([...aat, 'identitySource'], `identitySource must be one header ($request.header.Name), got ${JSON.stringify(ext['identitySource'])}`);
      }
      identitySource = one;
    }
    return { type: 'jwt', issuer, audience, identitySource };
  }

  /** A Lambda (token or request) authorizer's config, or null when it was reported as not importable. */
  private lambda(label: string, type: 'token' | 'request', s: Obj, ext: Obj, aat: Seg[]): Obj | null {
    const fail = (segs: Seg[], msg: string): null => {
      this.host.warn(segs, `${label} not imported: ${msg}`);
      return null;
    };
    const uri = ext['authorizerUri'];
    const uriAt = [...aat, 'authorizerUri'];
    if (typeof uri !== 'string' || uri === '') return fail(aat, 'no authorizerUri (the authorizer\'s Lambda function)');
    const ref = parseLambdaUri(uri);
    if (!ref.ok) return fail(uriAt, ref.reason);
    if (ref.qualifier !== undefined && ref.qualifier !== '$LATEST') {
      this.host.warn(uriAt, `${label}: function qualifier :${ref.qualifier} (alias or version) ignored: the local ${ref.name} handler is used`);
    }
    const handler = this.host.findHandler(ref.name, uriAt, `${label} not imported`);
    if (handler === null) return null;
    const out: Obj = { type, handler, functionName: ref.name };

    if (type === 'token') {
      // AWS: the scheme's name is "the name of the header containing the authorization token".
      let src = ext['identitySource'];
      if (src === undefined) src = s['in'] === 'header' && typeof s['name'] === 'string' ? `method.request.header.${s['name']}` : 'method.request.header.Authorization';
      if (typeof src !== 'string' || !TOKEN_SOURCE.test(src.trim())) {
        return fail([...aat, 'identitySource'], `a token authorizer's identitySource is one header (method.request.header.Name), got ${JSON.stringify(src)}`);
      }
      out['identitySource'] = src.trim();
      const ive = ext['identityValidationExpression'];
      if (ive !== undefined) {
        let ok = typeof ive === 'string' && ive !== '';
        if (ok) {
          try {
            new RegExp(ive as string);
          } catch {
            ok = false;
          }
        }
        if (ok) out['identityValidationExpression'] = ive;
        else this.host.warn([...aat, 'identityValidationExpression'], `not a regular expression (${JSON.stringify(ive)}): ignored (the authorizer sees every token)`);
      }
    } else {
      let version = '1.0'; // REST REQUEST authorizers send the 1.0 (REST) event and read IAM policies
      const pf = ext['authorizerPayloadFormatVersion'];
      if (pf !== undefined) {
        const v = String(pf);
        if (v === '1' || v === '1.0') version = '1.0';
        else if (v === '2' || v === '2.0') version = '2.0';
        else return fail([...aat, 'authorizerPayloadFormatVersion'], `unknown authorizerPayloadFormatVersion ${JSON.stringify(pf)} (1.0 or 2.0)`);
      }
      out['payloadFormatVersion'] = version;
      const simple = ext['enableSimpleResponses'];
      if (simple !== undefined) {
        if (typeof simple !== 'boolean') this.host.warn([...aat, 'enableSimpleResponses'], 'must be true or false: ignored (IAM policy answers)');
        else if (simple && version !== '2.0') this.host.warn([...aat, 'enableSimpleResponses'], 'simple responses need authorizerPayloadFormatVersion 2.0: ignored (IAM policy answers)');
        else out['enableSimpleResponses'] = simple;
      }
      const sources = this.sourceList(ext['identitySource']);
      if (sources === undefined && ext['identitySource'] !== undefined) {
        return fail([...aat, 'identitySource'], `identitySource must be a comma-separated string or a list of strings, got ${JSON.stringify(ext['identitySource'])}`);
      }
      // Every source is kept or the authorizer is not imported: a source left out would shrink the
      // cache key, and one caller's cached answer could then serve another.
      for (const src of sources ?? []) {
        const bad = identitySourceProblem(src);
        if (bad) return fail([...aat, 'identitySource'], bad);
        const sv = /^\$?stageVariables\.(.+)$/.exec(src);
        if (sv) {
          this.host.warn([...aat, 'identitySource'], `${label}: stage variable ${sv[1]} is not in the document: set it in the API's stageVariables, else every request gets 401`);
        }
      }
      out['identitySource'] = sources ?? [];
    }

    const ttlRaw = ext['authorizerResultTtlInSeconds'];
    if (ttlRaw !== undefined) {
      const ttlAt = [...aat, 'authorizerResultTtlInSeconds'];
      const n = typeof ttlRaw === 'number' ? ttlRaw : typeof ttlRaw === 'string' && /^\d+$/.test(ttlRaw.trim()) ? Number(ttlRaw) : NaN;
      if (!Number.isInteger(n)) this.host.warn(ttlAt, `not an integer (${JSON.stringify(ttlRaw)}): the default is used`);
      else {
        let ttl = Math.min(3600, Math.max(0, n));
        if (ttl !== n) this.host.warn(ttlAt, `${n} is outside 0..3600: ${ttl} used`);
        if (ttl > 0 && Array.isArray(out['identitySource']) && out['identitySource'].length === 0) {
          this.host.warn(ttlAt, `${label}: caching needs identity sources and there are none: 0 (no caching) used`);
          ttl = 0;
        }
        out['resultTtlSeconds'] = ttl;
      }
    }
    if (ext['authorizerCredentials'] !== undefined) this.host.warn([...aat, 'authorizerCredentials'], 'IAM credentials are not used by the gateway: ignored');
    return out;
  }

  /** identitySource as a list: a comma-separated string (the extension's documented form) or a list of strings. */
  private sourceList(raw: unknown): string[] | undefined {
    if (typeof raw === 'string') return raw.split(',').map((x) => x.trim()).filter((x) => x !== '');
    if (Array.isArray(raw) && raw.every((x) => typeof x === 'string')) return raw.map((x: string) => x.trim()).filter((x) => x !== '');
    return undefined;
  }

  /** A config authorizer name for a scheme name (renamed, with a warning, when the config would refuse it). */
  private configName(scheme: string, at: Seg[]): string {
    // Scheme names the config accepts are kept (reserved up front); the others are made acceptable.
    if (AUTHORIZER_NAME.test(scheme)) return scheme;
    const base = scheme.replace(/[^A-Za-z0-9_-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 120) || 'authorizer';
    let name = base;
    for (let i = 2; this.names.has(name); i++) name = `${base}-${i}`;
    this.names.add(name);
    this.host.warn(at, `authorizer named ${name} (authorizer names are 1-128 of A-Z a-z 0-9 _ -)`);
    return name;
  }
}

/** Why the gateway cannot read this Lambda authorizer identity source, or undefined. */
function identitySourceProblem(src: string): string | undefined {
  if (!IDENTITY_SOURCE.test(src)) {
    return `identity source ${src} is not supported ($request.header.X, $request.querystring.X, $context.X, $stageVariables.X or their method.request / context / stageVariables forms)`;
  }
  const ctx = /^\$?context\.(.+)$/.exec(src);
  if (ctx && !CONTEXT_SOURCES.includes(ctx[1]!)) {
    return `identity source ${src} is not supported (context variables: ${CONTEXT_SOURCES.join(', ')})`;
  }
  return undefined;
}

