/**
 * Amazon API Gateway REST API mapping templates (VTL): compile once at config load, render per request.
 *
 * References (behaviour notes sit next to the code that implements them):
 *  - Variables ($input, $util, $context, $stageVariables):
 *    https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-mapping-template-reference.html
 *  - Examples: https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-mapping-variable-examples.html
 *  - Passthrough: https://docs.aws.amazon.com/apigateway/latest/developerguide/integration-passthrough-behaviors.html
 *    and Integration.passthroughBehavior in https://docs.aws.amazon.com/apigateway/latest/api/API_Integration.html
 *
 *    const t = compileTemplate(src, 'POST /pets application/json');   // throws TemplateSyntaxError
 *    const sel = selectRequestTemplate(templates, req.contentType, 'WHEN_NO_TEMPLATES');
 *    if (sel.kind === 'template') body = sel.template.render({ body, params, context, stageVariables });
 */
import { compileTemplate, MAX_RANGE, type CompiledTemplate } from './engine.js';

export { compileTemplate, MAX_RANGE };
export type { CompiledTemplate, RenderResult, TemplateInput, TemplateOverrides } from './engine.js';
export type { TemplateParams } from './input.js';
export { TemplateError, TemplatePayloadError, TemplateRenderError, TemplateSyntaxError } from './errors.js';
export { escapeJavaScript, urlEncode, urlDecode, base64Encode, base64Decode } from './input.js';
export { compileJsonPath, evaluate as evaluateJsonPath, JsonPathError, MISSING } from './jsonpath.js';

export type PassthroughBehavior = 'WHEN_NO_MATCH' | 'WHEN_NO_TEMPLATES' | 'NEVER';

export type RequestTemplateSelection =
  | { readonly kind: 'template'; readonly template: CompiledTemplate }
  | { readonly kind: 'passthrough' }
  | { readonly kind: 'reject'; readonly status: 415; readonly body: string };

/**
 * The media type a request template is selected by: the Content-Type without parameters, lower-cased.
 * No Content-Type: "API Gateway defaults to application/json" (integration-passthrough-behaviors, example table).
 */
export function requestMediaType(contentType: string | undefined | null): string {
  if (!contentType) return 'application/json';
  const semi = contentType.indexOf(';');
  const t = (semi === -1 ? contentType : contentType.slice(0, semi)).trim().toLowerCase();
  return t === '' ? 'application/json' : t;
}

const PASSTHROUGH: RequestTemplateSelection = Object.freeze({ kind: 'passthrough' });
/**
 * "rejected with an HTTP 415 Unsupported Media Type response" (integration-passthrough-behaviors); the body is the
 * UNSUPPORTED_MEDIA_TYPE gateway response, `{"message": $context.error.messageString}`
 * (https://docs.aws.amazon.com/apigateway/latest/developerguide/supported-gateway-response-types.html).
 */
const REJECT: RequestTemplateSelection = Object.freeze({ kind: 'reject', status: 415, body: '{"message":"Unsupported Media Type"}' });

const selections = new WeakMap<CompiledTemplate, RequestTemplateSelection>();

function selected(template: CompiledTemplate): RequestTemplateSelection {
  let s = selections.get(template);
  if (s === undefined) {
    s = Object.freeze({ kind: 'template', template });
    selections.set(template, s);
  }
  return s;
}

/**
 * Which request template applies to a request, per the integration's passthroughBehavior
 * (https://docs.aws.amazon.com/apigateway/latest/developerguide/integration-passthrough-behaviors.html):
 *  - a template whose content type matches the request's is used, whatever the behaviour. Matching ignores case
 *    and parameters (`application/json; charset=utf-8` selects `application/json`); no Content-Type means
 *    application/json.
 *  - WHEN_NO_MATCH: "pass through ... when the method request content type does not match any content types
 *    associated with the mapping templates" -> passthrough, templates or not.
 *  - WHEN_NO_TEMPLATES: "pass through ... when no mapping template is defined in the integration request. If a
 *    template is defined ..., the method request with a payload and content type that doesn't match any defined
 *    mapping template will be rejected with an HTTP 415 Unsupported Media Type response."
 *  - NEVER: "rejects the method request with an HTTP 415 Unsupported Media Type response when either the method
 *    request content type does not match any content type associated with the mapping templates defined in the
 *    integration request or no mapping template is defined in the integration request"
 *    (Integration.passthroughBehavior, https://docs.aws.amazon.com/apigateway/latest/api/API_Integration.html).
 */
export function selectRequestTemplate(
  templates: Readonly<Record<string, CompiledTemplate>>,
  contentType: string | undefined | null,
  behavior: PassthroughBehavior,
): RequestTemplateSelection {
  const type = requestMediaType(contentType);
  let hasTemplates = false;
  if (Object.prototype.hasOwnProperty.call(templates, type)) return selected(templates[type]!);
  for (const key in templates) {
    if (!Object.prototype.hasOwnProperty.call(templates, key)) continue;
    hasTemplates = true;
    if (requestMediaType(key) === type) return selected(templates[key]!);
  }
  if (behavior === 'WHEN_NO_MATCH') return PASSTHROUGH;
  if (behavior === 'WHEN_NO_TEMPLATES' && !hasTemplates) return PASSTHROUGH;
  return REJECT;
}

/**
 * Compile a `requestTemplates` / `responseTemplates` map at config load. Keys are normalised like request content
 * types (so selectRequestTemplate() hits the fast path); each template is named `<prefix> <content type>` in errors.
 */
export function compileTemplates(sources: Readonly<Record<string, string>>, prefix: string): Record<string, CompiledTemplate> {
  const out: Record<string, CompiledTemplate> = {};
  for (const [contentType, source] of Object.entries(sources)) {
    const key = requestMediaType(contentType);
    out[key] = compileTemplate(source, `${prefix} ${key}`);
  }
  return out;
}
