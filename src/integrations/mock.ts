import type { RequestContext } from '../worker/context.js';
import { sendStaticSync } from '../worker/respond.js';

export interface MockIntegrationConfig {
  type: 'mock';
  status?: number;
  headers?: Record<string, string>;
  body?: string;
}

/** A mock answers synchronously from values fixed at compile time: no promise, no closure per request. */
export function compileMock(conf: MockIntegrationConfig): (ctx: RequestContext) => void {
  const status = conf.status ?? 200;
  const headers: string[] = [];
  for (const [k, v] of Object.entries(conf.headers ?? {})) headers.push(k.toLowerCase(), v);
  const body = Buffer.from(conf.body ?? '');
  return (ctx) => sendStaticSync(ctx, status, headers, body);
}
