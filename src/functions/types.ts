/**
 * What crosses between a uWS worker and its function threads. The uWS thread only copies what it
 * already has (strings from the request, the body bytes, moved, not copied); building the AWS event,
 * running the handler and mapping its result all happen on the function thread.
 */

export type PayloadFormat = '1.0' | '2.0';

/** One invocation, as posted to a function thread (structured clone + transfer list for `body`). */
export interface InvokeRequest {
  /** Absolute path of the handler module. */
  module: string;
  /** Export name, e.g. "handler". */
  exportName: string;
  format: PayloadFormat;
  /** The function's own timeout (context.getRemainingTimeInMillis counts down from it). */
  timeoutMs: number;
  /** Function name for the context object (config name, or the module's base name). */
  functionName: string;
  /** Size the context reports as memoryLimitInMB. */
  memoryLimitInMB: number;

  /** Method as the client sent it, e.g. "GET". */
  method: string;
  /** Path as received, stage prefix included, percent-encoding kept, no query. */
  rawPath: string;
  /** Raw query string without '?', '' when none. */
  query: string;
  /** Flat [name, value, name, value, ...] in arrival order; names lower-case; repeats kept. */
  headers: string[];
  sourceIp: string;
  requestId: string;
  /** Epoch ms when the request arrived. */
  requestTimeEpochMs: number;
  /** AWS route key: "GET /pets/{id}", "ANY /files/{proxy+}" or "$default". */
  routeKey: string;
  /** "$default" or the stage name. */
  stage: string;
  /** Path parameters as matched (raw: percent-encoding kept), null when the route has none. */
  pathParameters: Record<string, string> | null;
  stageVariables: Record<string, string> | null;
  /** Host header without port ('' when absent). */
  domainName: string;
  /** Stand-ins for AWS identifiers (config: api name, a fixed account id). */
  apiId: string;
  accountId: string;
  /** Request body bytes (moved to the thread), null when the request had none. */
  body: ArrayBuffer | null;
  /** Authorizer output for requestContext.authorizer (JWT claims, custom context); absent without one. */
  authorizer?: Record<string, unknown>;
}

/** A handler result mapped to HTTP, ready for uWS. */
export interface MappedResponse {
  status: number;
  /** Flat [name, value, ...]; names lower-case; set-cookie may repeat. */
  headers: string[];
  /** Response body bytes (moved back to the uWS thread). */
  body: ArrayBuffer | null;
}

/** Why an invocation gave no usable response (every kind answers 502 Internal Server Error as AWS does). */
export type InvokeFailure =
  | { kind: 'handler_error'; message: string }
  | { kind: 'bad_result'; message: string }
  | { kind: 'load_error'; message: string }
  | { kind: 'timeout'; message: string };

export type InvokeReply = { ok: true; response: MappedResponse } | { ok: false; failure: InvokeFailure };

/**
 * A Lambda authorizer call: the request as for an invocation (no body: AWS does not send it to
 * authorizers) plus what the authorizer event needs.
 */
export interface AuthorizeRequest extends InvokeRequest {
  auth: {
    type: 'REQUEST' | 'TOKEN';
    /** routeArn (2.0) / methodArn (1.0, TOKEN): arn:aws:execute-api:{region}:{account}:{api}/{stage}/{METHOD}/{path}. */
    arn: string;
    /** Identity source values in configured order (TOKEN: the token). */
    identity: string[];
    /** Payload 2.0 with enableSimpleResponses: the answer is { isAuthorized, context }. */
    simpleResponses: boolean;
  };
}

/**
 * An invocation whose event the uWS thread built itself (WebSocket events: small, and AWS-shaped
 * with connection state only the uWS thread has). The thread runs the handler and sends back what
 * it returned as plain JSON data.
 */
export interface EventInvokeRequest {
  module: string;
  exportName: string;
  event: Record<string, unknown>;
  timeoutMs: number;
  functionName: string;
  memoryLimitInMB: number;
  requestId: string;
  accountId: string;
}

export type EventInvokeReply = { ok: true; result: unknown } | { ok: false; failure: InvokeFailure };

/** One statement of an authorizer's IAM policy, normalized (Action/Resource always arrays). */
export interface PolicyStatement {
  effect: 'Allow' | 'Deny';
  actions: string[];
  resources: string[];
}

/** What an authorizer decided, checked and normalized on the thread. */
export type AuthorizerDecision =
  | { kind: 'simple'; isAuthorized: boolean; context: Record<string, unknown> | null }
  | { kind: 'policy'; principalId: string | null; statements: PolicyStatement[]; context: Record<string, unknown> | null; usageIdentifierKey: string | null };

/** `unauthorized`: the authorizer failed with "Unauthorized" (AWS answers 401); any other failure is a 500. */
export type AuthorizeReply =
  | { ok: true; decision: AuthorizerDecision }
  | { ok: false; unauthorized: boolean; failure: InvokeFailure };

/** Body validation on a function thread (bodies above the inline limit); the thread compiles `spec` once per key. */
export interface ValidateTask {
  /** Identifies the route's validator (plan version + route id): compiled once per thread. */
  key: string;
  spec: import('../validation/index.js').RouteValidation;
  models: Record<string, unknown>;
  draft: '04' | '2020-12';
  contentType: string;
  /** Moved to the thread and back. */
  body: ArrayBuffer;
}

export interface ValidateReply {
  error: import('../validation/index.js').ValidationError | null;
  body: ArrayBuffer;
}

/** One task in a batch posted to a function thread. */
export type ThreadTask =
  | { id: number; kind: 'invoke'; req: InvokeRequest }
  | { id: number; kind: 'authorize'; req: AuthorizeRequest }
  | { id: number; kind: 'event'; req: EventInvokeRequest }
  | { id: number; kind: 'validate'; task: ValidateTask }
  | { id: number; kind: 'load'; handlers: { module: string; exportName: string }[] };

/** One result in a batch posted back; `error` when the task itself failed on the thread. */
export interface ThreadResult {
  id: number;
  reply?: InvokeReply;
  authorized?: AuthorizeReply;
  evented?: EventInvokeReply;
  validated?: ValidateReply;
  loaded?: { module: string; exportName: string; error: string }[];
  error?: string;
}
