/**
 * WebSocket API events for function (Lambda proxy) integrations, shaped as API Gateway sends them.
 * Sources: the $context variables of WebSocket APIs
 * (https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-websocket-api-mapping-template-reference.html)
 * and events captured from live WebSocket APIs (the pages show no complete event): CONNECT and
 * DISCONNECT carry the handshake's headers / multiValueHeaders (and the query string on CONNECT),
 * MESSAGE carries body and isBase64Encoded; requestContext keys in the captured order, with
 * messageId, disconnectStatusCode and disconnectReason null where they do not apply.
 * Header names are lower-case (uWS gives them so; AWS keeps the client's case).
 */
import { clfTime, forEachQueryPair } from '../functions/payload.js';

export interface WsEventBase {
  routeKey: string;
  connectionId: string;
  connectedAt: number;
  stage: string;
  apiId: string;
  domainName: string;
  sourceIp: string;
  userAgent: string;
  requestId: string;
  requestTimeEpoch: number;
  /** A Lambda authorizer's output at $connect, flat (principalId, integrationLatency, context keys), or null. */
  authorizer: Record<string, unknown> | null;
}

function identity(b: WsEventBase): Record<string, unknown> {
  return {
    cognitoIdentityPoolId: null, cognitoIdentityId: null, principalOrgId: null, cognitoAuthenticationType: null,
    userArn: null, userAgent: b.userAgent, accountId: null, caller: null, sourceIp: b.sourceIp, accessKey: null,
    cognitoAuthenticationProvider: null, user: null,
  };
}

function requestContext(b: WsEventBase, eventType: 'CONNECT' | 'MESSAGE' | 'DISCONNECT', messageId: string | null, disconnect: { code: number; reason: string } | null): Record<string, unknown> {
  const rc: Record<string, unknown> = {
    routeKey: b.routeKey,
    disconnectStatusCode: disconnect === null ? null : disconnect.code,
    messageId,
    eventType,
    extendedRequestId: b.requestId,
    requestTime: clfTime(b.requestTimeEpoch),
    messageDirection: 'IN',
    disconnectReason: disconnect === null ? null : disconnect.reason,
    stage: b.stage,
    connectedAt: b.connectedAt,
    requestTimeEpoch: b.requestTimeEpoch,
    identity: identity(b),
    requestId: b.requestId,
    domainName: b.domainName,
    connectionId: b.connectionId,
    apiId: b.apiId,
  };
  if (b.authorizer !== null) rc['authorizer'] = b.authorizer;
  return rc;
}

function headerMaps(headers: readonly string[]): { headers: Record<string, string>; multiValueHeaders: Record<string, string[]> } {
  const h: Record<string, string> = {};
  const mv: Record<string, string[]> = {};
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i]!;
    if (name === '__proto__') continue;
    h[name] = headers[i + 1]!;
    (mv[name] ??= []).push(headers[i + 1]!);
  }
  return { headers: h, multiValueHeaders: mv };
}

export function connectEvent(b: WsEventBase, headers: readonly string[], query: string): Record<string, unknown> {
  const event: Record<string, unknown> = headerMaps(headers);
  if (query !== '') {
    const q: Record<string, string> = {};
    const mq: Record<string, string[]> = {};
    forEachQueryPair(query, (k, v) => {
      if (k === '__proto__') return;
      q[k] = v;
      (mq[k] ??= []).push(v);
    });
    event['queryStringParameters'] = q;
    event['multiValueQueryStringParameters'] = mq;
  }
  event['requestContext'] = requestContext(b, 'CONNECT', null, null);
  event['isBase64Encoded'] = false;
  return event;
}

export function messageEvent(b: WsEventBase, messageId: string, body: string, isBase64Encoded: boolean): Record<string, unknown> {
  return { requestContext: requestContext(b, 'MESSAGE', messageId, null), body, isBase64Encoded };
}

export function disconnectEvent(b: WsEventBase, headers: readonly string[], code: number, reason: string): Record<string, unknown> {
  const event: Record<string, unknown> = headerMaps(headers);
  event['requestContext'] = requestContext(b, 'DISCONNECT', null, { code, reason });
  event['isBase64Encoded'] = false;
  return event;
}
