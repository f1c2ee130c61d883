import WebSocket from 'ws';
import { SignatureV4 } from '@smithy/signature-v4';
import { Sha256 } from '@aws-crypto/sha256-js';
import { get, type SimpleResponse } from './gateway.js';

/** A real `ws` client: `next()` resolves with the next message (queued in arrival order). */
export interface WsClient {
  ws: WebSocket;
  next(): Promise<string>;
  /** The next message parsed as a broadcast frame. */
  frame(): Promise<{ topic: string; id: string; data: string }>;
  send(msg: unknown): void;
  closed: Promise<{ code: number; reason: string }>;
}

/** Opens a client; rejects with "handshake <status>" when the gateway refuses the upgrade. */
export function openWs(url: string, headers: Record<string, string> = {}): Promise<WsClient> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    const queue: string[] = [];
    const waiters: ((m: string) => void)[] = [];
    ws.on('message', (d) => {
      const m = d.toString();
      const w = waiters.shift();
      if (w) w(m);
      else queue.push(m);
    });
    const closed = new Promise<{ code: number; reason: string }>((r) => ws.on('close', (code, reason) => r({ code, reason: reason.toString() })));
    const next = (): Promise<string> => (queue.length ? Promise.resolve(queue.shift()!) : new Promise((r) => waiters.push(r)));
    ws.once('open', () => resolve({
      ws, closed, next,
      frame: async () => JSON.parse(await next()) as { topic: string; id: string; data: string },
      send: (msg) => ws.send(typeof msg === 'string' ? msg : JSON.stringify(msg)),
    }));
    ws.once('unexpected-response', (_req, res) => reject(Object.assign(new Error(`handshake ${res.statusCode}`), { status: res.statusCode })));
    ws.once('error', reject);
  });
}

/** Calls on a WebSocket API's management paths (@connections, @broadcast), signed as the AWS SDK signs them. */
export function managementClient(port: number, stage: string, credentials: { accessKeyId: string; secretAccessKey: string }) {
  const signer = new SignatureV4({ service: 'execute-api', region: 'us-east-1', credentials, sha256: Sha256 });
  const call = async (method: string, path: string, body?: string | Buffer, sign = true): Promise<SimpleResponse> => {
    const full = `/${stage}${path}`;
    const headers: Record<string, string> = { host: `127.0.0.1:${port}` };
    if (body !== undefined) headers['content-type'] = 'application/octet-stream';
    const signed = sign ? await signer.sign({ method, protocol: 'http:', hostname: '127.0.0.1', port, path: full, headers, ...(body !== undefined ? { body } : {}) }) : { headers };
    return get(port, full, { method, headers: signed.headers as Record<string, string>, ...(body !== undefined ? { body } : {}) });
  };
  return {
    call,
    connection: (method: 'POST' | 'GET' | 'DELETE', id: string, body?: string | Buffer, sign = true) => call(method, `/@connections/${encodeURIComponent(id)}`, body, sign),
    topic: (method: 'PUT' | 'DELETE', id: string, topic: string) => call(method, `/@connections/${encodeURIComponent(id)}/topics/${topic}`),
    broadcast: (topic: string, body: string, sign = true) => call('POST', `/@broadcast/${topic}`, body, sign),
  };
}
