/**
 * AWS REST "non-proxy" integrations: a request template turns the method request into the
 * integration request, an integration response (chosen by selection pattern) turns the
 * integration's answer into the method response. Used by `mock` (with templates) and `http`.
 * https://docs.aws.amazon.com/apigateway/latest/developerguide/rest-api-data-transformations.html
 */
import type { IntegrationResponse, MockIntegration, HttpIntegration } from '../config/index.js';
import { Errors, messageBody, type GatewayError } from '../errors.js';
import { epochFromMono, clfTime } from '../observability/clock.js';
import {
  compileTemplates, selectRequestTemplate, TemplatePayloadError, type CompiledTemplate, type PassthroughBehavior, type TemplateInput,
} from '../templates/index.js';
import { FetchError, fetchBuffered } from '../upstream/fetch.js';
import type { UpstreamGroup } from '../upstream/group.js';
import { readBody } from '../worker/body.js';
import { hostWithoutPort, type RequestContext } from '../worker/context.js';
import { hooks, sendComplete, sendError } from '../worker/respond.js';
import { forEachQueryPair } from '../functions/payload.js';
import { renderPath, type Part } from './http-proxy.js';
import { ACCOUNT_ID } from './function.js';

interface CompiledResponse {
  /** null: the `default` response. */
  pattern: RegExp | null;
  statusCode: number;
  templates: Record<string, CompiledTemplate>;
  templateKeys: string[];
  headers: string[];
}

export interface CompiledMapping {
  requestTemplates: Record<string, CompiledTemplate>;
  passthrough: PassthroughBehavior;
  responses: CompiledResponse[];
  fallback: CompiledResponse | null;
}

/** Throws with the template's name and position on a VTL error, or on a bad selection pattern. */
export function compileMapping(m: Pick<MockIntegration, 'requestTemplates' | 'passthroughBehavior' | 'responses'>, name: string): CompiledMapping {
  const responses: CompiledResponse[] = [];
  let fallback: CompiledResponse | null = null;
  for (const [pattern, r] of Object.entries(m.responses ?? {})) {
    const c = compileResponse(pattern, r, name);
    if (c.pattern === null) fallback = c;
    else responses.push(c);
  }
  return { requestTemplates: compileTemplates(m.requestTemplates ?? {}, `${name} request`), passthrough: m.passthroughBehavior ?? 'WHEN_NO_MATCH', responses, fallback };
}

function compileResponse(pattern: string, r: IntegrationResponse, name: string): CompiledResponse {
  let re: RegExp | null = null;
  if (pattern !== 'default') {
    // AWS matches the whole value against the selection pattern (Java regex; JS syntax is close enough for status patterns).
    try { re = new RegExp(`^(?:${pattern})$`, 's'); } catch (e) { throw new Error(`${name}: responses["${pattern}"]: invalid selection pattern: ${(e as Error).message}`); }
  }
  const templates = compileTemplates(r.responseTemplates ?? {}, `${name} response ${pattern}`);
  const headers: string[] = [];
  for (const [k, v] of Object.entries(r.responseHeaders ?? {})) headers.push(k.toLowerCase(), v);
  return { pattern: re, statusCode: r.statusCode, templates, templateKeys: Object.keys(templates), headers };
}

/** The integration response for a selector value (status code); the default one when no pattern matches. */
function selectResponse(m: CompiledMapping, selector: string): CompiledResponse | null {
  for (const r of m.responses) if (r.pattern!.test(selector)) return r;
  return m.fallback;
}

/**
 * The response template for the client's Accept header: an exact media type match, else
 * application/json, else the first defined (how API Gateway picks among responseTemplates).
 */
function responseTemplate(r: CompiledResponse, accept: string | undefined): [string, CompiledTemplate] | null {
  if (r.templateKeys.length === 0) return null;
  if (accept !== undefined) {
    for (const part of accept.split(',')) {
      const t = part.split(';')[0]!.trim().toLowerCase();
      if (Object.hasOwn(r.templates, t)) return [t, r.templates[t]!];
    }
  }
  if (Object.hasOwn(r.templates, 'application/json')) return ['application/json', r.templates['application/json']!];
  const k = r.templateKeys[0]!;
  return [k, r.templates[k]!];
}

export interface MappingContext {
  routeKey: string;
  resourcePath: string;
  stage: string;
  apiId: string;
  stageVariables: Record<string, string>;
}

/** Name -> value; a repeated name keeps its last value, as AWS. `__proto__` is never a key. */
function queryMap(q: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (q !== '') forEachQueryPair(q, (k, v) => { if (k !== '__proto__') out[k] = v; });
  return out;
}

/**
 * `$context.authorizer`: a Lambda authorizer's principalId and context keys ($context.authorizer.key),
 * a JWT authorizer's claims and scopes ($context.authorizer.claims.sub); {} without an authorizer.
 * https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-mapping-template-reference.html#context-variable-reference
 */
function templateAuthorizer(auth: Record<string, unknown> | null): Record<string, unknown> {
  if (auth === null) return {};
  const lambda = auth['lambda'] as Record<string, unknown> | undefined;
  if (lambda !== undefined) return auth['principalId'] !== undefined ? { ...lambda, principalId: auth['principalId'] } : { ...lambda };
  return (auth['jwt'] as Record<string, unknown> | undefined) ?? auth;
}

/** $input params and $context for a request (https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-mapping-template-reference.html). */
export function templateInput(ctx: RequestContext, mc: MappingContext, body: string): TemplateInput {
  const header: Record<string, string> = {};
  const h = ctx.headers;
  for (let i = 0; i < h.length; i += 2) if (h[i] !== '__proto__') header[h[i]!] = h[i + 1]!;
  const epoch = epochFromMono(ctx.startMs);
  return {
    body,
    params: { path: ctx.params ?? {}, querystring: queryMap(ctx.query), header },
    context: {
      accountId: ACCOUNT_ID, apiId: mc.apiId, httpMethod: ctx.method, requestId: ctx.requestId, extendedRequestId: ctx.requestId,
      resourcePath: mc.resourcePath, resourceId: mc.routeKey, path: ctx.url, protocol: 'HTTP/1.1', stage: mc.stage,
      domainName: hostWithoutPort(ctx.host), requestTime: clfTime(epoch), requestTimeEpoch: epoch,
      identity: { sourceIp: ctx.ip, userAgent: header['user-agent'] ?? '' },
      authorizer: templateAuthorizer(ctx.authorizer),
    },
    stageVariables: mc.stageVariables,
  };
}

const templateError = (e: unknown): GatewayError =>
  e instanceof TemplatePayloadError ? { code: 'BAD_REQUEST_BODY', status: 400, statusLine: '400 Bad Request', message: e.message, body: messageBody({ message: e.message }) } : Errors.INTERNAL;
const UNSUPPORTED: GatewayError = { code: 'UNSUPPORTED_MEDIA_TYPE', status: 415, statusLine: '415 Unsupported Media Type', message: 'Unsupported Media Type', body: '{"message":"Unsupported Media Type"}' };

/** Method response from an integration response: the template over `integrationBody`, or the body passed through. */
function respond(ctx: RequestContext, mc: MappingContext, r: CompiledResponse, integrationBody: string, passBody: Uint8Array | null, passType: string | undefined, baseHeaders: readonly string[]): void {
  const picked = responseTemplate(r, ctx.header('accept'));
  let body: Uint8Array | null;
  const headers = [...baseHeaders, ...r.headers];
  if (picked !== null) {
    try {
      body = Buffer.from(picked[1].renderResponse(templateInput(ctx, mc, integrationBody)));
    } catch (e) {
      ctx.errorMessage = `response template: ${(e as Error).message}`.slice(0, 500);
      return sendError(ctx, Errors.INTERNAL);
    }
    if (!hasHeader(headers, 'content-type')) headers.push('content-type', picked[0]);
  } else {
    body = passBody;
    if (passType !== undefined && !hasHeader(headers, 'content-type')) headers.push('content-type', passType);
  }
  sendComplete(ctx, r.statusCode, headers, body);
}

/** Whether a flat [name, value, ...] list has this (lower-case) header name; values are not names. */
function hasHeader(flat: readonly string[], name: string): boolean {
  for (let i = 0; i < flat.length; i += 2) if (flat[i] === name) return true;
  return false;
}

/** No integration response matched and there is no default: AWS answers 500 (configuration error). */
function noResponse(ctx: RequestContext, selector: string): void {
  ctx.errorMessage = `no integration response matches ${selector} and there is no default`;
  sendError(ctx, Errors.INTERNAL);
}

/**
 * mock with templates: the request template's output is the mock's input, `{"statusCode": N}`
 * chooses the integration response (https://docs.aws.amazon.com/apigateway/latest/developerguide/how-to-mock-integration.html).
 */
export function compileMappedMock(integ: MockIntegration, m: CompiledMapping, mc: MappingContext, maxBodyBytes: number): (ctx: RequestContext) => void {
  const baseHeaders: string[] = [];
  for (const [k, v] of Object.entries(integ.headers)) baseHeaders.push(k.toLowerCase(), v);
  const staticBody = Buffer.from(integ.body);
  return (ctx) => {
    readBody(ctx, maxBodyBytes, (raw) => {
      const body = raw === null ? '' : Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString();
      const sel = selectRequestTemplate(m.requestTemplates, ctx.header('content-type'), m.passthrough);
      if (sel.kind === 'reject') return sendError(ctx, UNSUPPORTED);
      let status = integ.status;
      if (sel.kind === 'template') {
        let out: string;
        try {
          out = sel.template.render(templateInput(ctx, mc, body));
        } catch (e) {
          ctx.errorMessage = `request template: ${(e as Error).message}`.slice(0, 500);
          return sendError(ctx, templateError(e));
        }
        try {
          const parsed = JSON.parse(out) as { statusCode?: unknown };
          const sc = typeof parsed.statusCode === 'string' && /^\d{3}$/.test(parsed.statusCode) ? Number(parsed.statusCode) : parsed.statusCode;
          // Only a final status selects: the value may echo client input, and 1xx or junk must never reach the wire.
          if (typeof sc === 'number' && Number.isInteger(sc) && sc >= 200 && sc <= 599) status = sc;
        } catch { /* AWS: a mock whose template yields no statusCode answers from the default response */ }
      }
      const r = selectResponse(m, String(status));
      if (r === null) {
        if (m.responses.length === 0) return sendComplete(ctx, status, baseHeaders, staticBody);
        return noResponse(ctx, String(status));
      }
      respond(ctx, mc, r, '', staticBody.length > 0 ? staticBody : null, undefined, baseHeaders);
    });
  };
}

export interface HttpMappingOptions {
  group: UpstreamGroup;
  pathTemplate: Part[] | null;
  method: string | undefined;
  timeoutMs: number;
  connectTimeoutMs: number;
  staticHeaders: string;
  maxBodyBytes: number;
  onUpstreamError: (kind: string) => void;
}

/** http (non-proxy): template → upstream → integration response by upstream status → template. */
export function compileMappedHttp(integ: HttpIntegration, m: CompiledMapping, mc: MappingContext, o: HttpMappingOptions): (ctx: RequestContext) => void {
  return (ctx) => {
    readBody(ctx, o.maxBodyBytes, (raw) => {
      const bodyText = raw === null ? '' : Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString();
      const contentType = ctx.header('content-type');
      const sel = selectRequestTemplate(m.requestTemplates, contentType, m.passthrough);
      if (sel.kind === 'reject') return sendError(ctx, UNSUPPORTED);
      let upBody: Buffer | null;
      let upType: string | undefined;
      if (sel.kind === 'template') {
        try {
          upBody = Buffer.from(sel.template.render(templateInput(ctx, mc, bodyText)));
        } catch (e) {
          ctx.errorMessage = `request template: ${(e as Error).message}`.slice(0, 500);
          return sendError(ctx, templateError(e));
        }
        upType = sel.template.name.slice(sel.template.name.lastIndexOf(' ') + 1);
      } else {
        upBody = raw === null ? null : Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
        upType = contentType;
      }
      let path = o.pathTemplate === null ? ctx.path : renderPath(o.pathTemplate, ctx.params);
      if (ctx.query !== '') path += `?${ctx.query}`;
      // A non-proxy integration sends only what is mapped, not the client's headers.
      let headers = `${hooks.requestIdHeader}: ${ctx.requestId}\r\n${o.staticHeaders}`;
      if (upType !== undefined && upBody !== null) headers += `content-type: ${upType}\r\n`;
      ctx.integrationStartMs = performance.now();
      const abortable = { abort: () => {} };
      ctx.abortable = abortable;
      fetchBuffered(o.group, {
        method: o.method ?? ctx.method, path, headers, body: upBody, connectTimeoutMs: o.connectTimeoutMs, timeoutMs: o.timeoutMs,
        maxResponseBytes: o.maxBodyBytes, onUpstreamError: o.onUpstreamError, abortable,
      }).then(
        (up) => {
          ctx.integrationEndMs = performance.now();
          const sel2 = String(up.status);
          const r = selectResponse(m, sel2);
          let upCt: string | undefined;
          for (let i = 0; i < up.headers.length; i += 2) if (up.headers[i] === 'content-type') upCt = up.headers[i + 1];
          if (r === null) {
            // No integration responses configured at all: the upstream's status and body pass through.
            if (m.responses.length === 0) return sendComplete(ctx, up.status, upCt === undefined ? [] : ['content-type', upCt], up.body);
            return noResponse(ctx, sel2);
          }
          respond(ctx, mc, r, up.body.toString(), up.body, upCt, []);
        },
        (e: FetchError) => {
          ctx.integrationEndMs = performance.now();
          ctx.errorMessage = `upstream ${e.kind}`;
          sendError(ctx, e.kind === 'timeout' || e.kind === 'connect_timeout' ? Errors.INTEGRATION_TIMEOUT : e.kind === 'unavailable' || e.kind === 'pool_full' ? Errors.SERVICE_UNAVAILABLE : Errors.INTEGRATION_FAILURE);
        },
      );
    });
  };
}
