/**
 * One catalog of every error the gateway itself answers with: code -> status + AWS-style body.
 *
 * Codes are Amazon API Gateway's gateway response types where one exists
 * (https://docs.aws.amazon.com/apigateway/latest/developerguide/supported-gateway-response-types.html);
 * bodies are `{"message":"..."}` as API Gateway sends them. Bodies are serialized once, here, so the
 * hot path writes a ready string.
 */
import fastJson from 'fast-json-stringify';

export interface GatewayError {
  readonly code: string;
  readonly status: number;
  /** "404 Not Found": what uWS writeStatus takes. */
  readonly statusLine: string;
  readonly message: string;
  /** `{"message":"..."}`, serialized once. */
  readonly body: string;
}

/**
 * The gateway's own JSON bodies, `{"message": ..., "errors"?: [...]}`, through one compiled
 * fast-json-stringify serializer (validation errors and template errors are built per request).
 */
export const messageBody: (body: { message: string; errors?: unknown[] }) => string = fastJson({
  type: 'object',
  properties: {
    message: { type: 'string' },
    errors: { type: 'array', items: { type: 'object', additionalProperties: true } },
  },
  required: ['message'],
});

function def(code: string, status: number, reason: string, message: string): GatewayError {
  return Object.freeze({ code, status, statusLine: `${status} ${reason}`, message, body: messageBody({ message }) });
}

export const Errors = {
  /** HTTP APIs answer any request that matches no route, whatever the method, with 404 Not Found. */
  RESOURCE_NOT_FOUND: def('RESOURCE_NOT_FOUND', 404, 'Not Found', 'Not Found'),
  /** Malformed request: bad path encoding, dot segments, duplicate Host, bad Content-Length. */
  BAD_REQUEST: def('BAD_REQUEST', 400, 'Bad Request', 'Bad Request'),
  /** Request target longer than limits.maxUrlBytes. */
  URI_TOO_LONG: def('URI_TOO_LONG', 414, 'URI Too Long', 'Request-URI Too Long'),
  /** Transfer-Encoding other than chunked. */
  NOT_IMPLEMENTED: def('NOT_IMPLEMENTED', 501, 'Not Implemented', 'Not Implemented'),
  /** AWS REQUEST_TOO_LARGE is 413. */
  REQUEST_TOO_LARGE: def('REQUEST_TOO_LARGE', 413, 'Payload Too Large', 'Request Entity Too Large'),
  /** No AWS response type: API Gateway limits headers to 10 KB and answers 431 above it. */
  REQUEST_HEADERS_TOO_LARGE: def('REQUEST_HEADERS_TOO_LARGE', 431, 'Request Header Fields Too Large', 'Request Header Fields Too Large'),
  /** AWS INTEGRATION_TIMEOUT: 504 "Endpoint request timed out". */
  INTEGRATION_TIMEOUT: def('INTEGRATION_TIMEOUT', 504, 'Gateway Timeout', 'Endpoint request timed out'),
  /**
   * Upstream unreachable, reset, or an invalid upstream response. AWS REST APIs default
   * INTEGRATION_FAILURE to 504; we answer 502 so a client can tell a dead upstream from a slow one.
   */
  INTEGRATION_FAILURE: def('INTEGRATION_FAILURE', 502, 'Bad Gateway', 'Bad Gateway'),
  /** Every target of the upstream is unhealthy or its circuit is open. */
  SERVICE_UNAVAILABLE: def('SERVICE_UNAVAILABLE', 503, 'Service Unavailable', 'Service Unavailable'),
  /** Worker is draining (SIGTERM / reload) and got a new request on a kept-alive connection. */
  DRAINING: def('DRAINING', 503, 'Service Unavailable', 'Service Unavailable'),
  /**
   * A function that throws, times out, crashes its thread or returns a malformed result: AWS answers
   * 502 `{"message":"Internal Server Error"}` for a Lambda proxy integration that fails
   * (https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-integrations-lambda.html).
   */
  FUNCTION_ERROR: def('FUNCTION_ERROR', 502, 'Bad Gateway', 'Internal Server Error'),
  /**
   * The function queue is full: a throttled integration. AWS THROTTLED is 429 "Too Many Requests"
   * (https://repost.aws/knowledge-center/api-gateway-429-limit).
   */
  THROTTLED: def('THROTTLED', 429, 'Too Many Requests', 'Too Many Requests'),
  /**
   * Missing, unknown or disabled API key, or a key whose usage plans do not cover the stage: AWS
   * answers 403 `{"message":"Forbidden"}` (INVALID_API_KEY / MISSING_AUTHENTICATION_TOKEN are 403 too).
   * https://docs.aws.amazon.com/apigateway/latest/developerguide/supported-gateway-response-types.html
   */
  FORBIDDEN: def('FORBIDDEN', 403, 'Forbidden', 'Forbidden'),
  /** JWT authorizer: no token, or an invalid one (AWS UNAUTHORIZED). */
  UNAUTHORIZED: def('UNAUTHORIZED', 401, 'Unauthorized', 'Unauthorized'),
  /** A usage-plan quota is used up: AWS QUOTA_EXCEEDED, 429 "Limit Exceeded" (https://repost.aws/knowledge-center/api-gateway-429-limit). */
  QUOTA_EXCEEDED: def('QUOTA_EXCEEDED', 429, 'Too Many Requests', 'Limit Exceeded'),
  /** Redis unreachable and throttling.failMode is closed. */
  STORE_UNAVAILABLE: def('STORE_UNAVAILABLE', 503, 'Service Unavailable', 'Service Unavailable'),
  /**
   * A Lambda authorizer that fails, times out or answers in an invalid format: AWS answers 500
   * (AUTHORIZER_FAILURE; https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-lambda-authorizer.html, troubleshooting).
   */
  AUTHORIZER_FAILURE: def('AUTHORIZER_FAILURE', 500, 'Internal Server Error', 'Internal Server Error'),
  /** Bug in the gateway: never a crash, always this. AWS DEFAULT_5XX body. */
  INTERNAL: def('INTERNAL', 500, 'Internal Server Error', 'Internal Server Error'),
} as const;

export type ErrorCode = keyof typeof Errors;

/** A 403 from an IAM policy evaluation (resource policy, authorizer policy): AWS spells the body's key "Message". */
export function accessDenied(message: string): GatewayError {
  return { code: 'ACCESS_DENIED', status: 403, statusLine: '403 Forbidden', message, body: JSON.stringify({ Message: message }) };
}

const REASONS: Record<number, string> = {
  100: 'Continue', 101: 'Switching Protocols', 200: 'OK', 201: 'Created', 202: 'Accepted', 203: 'Non-Authoritative Information',
  204: 'No Content', 205: 'Reset Content', 206: 'Partial Content', 207: 'Multi-Status', 300: 'Multiple Choices',
  301: 'Moved Permanently', 302: 'Found', 303: 'See Other', 304: 'Not Modified', 307: 'Temporary Redirect',
  308: 'Permanent Redirect', 400: 'Bad Request', 401: 'Unauthorized', 402: 'Payment Required', 403: 'Forbidden',
  404: 'Not Found', 405: 'Method Not Allowed', 406: 'Not Acceptable', 408: 'Request Timeout', 409: 'Conflict',
  410: 'Gone', 411: 'Length Required', 412: 'Precondition Failed', 413: 'Payload Too Large', 414: 'URI Too Long',
  415: 'Unsupported Media Type', 416: 'Range Not Satisfiable', 417: 'Expectation Failed', 418: "I'm a Teapot",
  422: 'Unprocessable Entity', 425: 'Too Early', 426: 'Upgrade Required', 428: 'Precondition Required',
  429: 'Too Many Requests', 431: 'Request Header Fields Too Large', 451: 'Unavailable For Legal Reasons',
  500: 'Internal Server Error', 501: 'Not Implemented', 502: 'Bad Gateway', 503: 'Service Unavailable',
  504: 'Gateway Timeout', 505: 'HTTP Version Not Supported',
};

const statusLines: string[] = [];
/** "200 OK" for a status code, cached; unknown codes get an empty reason as RFC 9112 allows. */
export function statusLine(status: number): string {
  return statusLines[status] ??= `${status} ${REASONS[status] ?? ''}`.trimEnd();
}
