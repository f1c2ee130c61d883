import { connect } from 'node:net';

/**
 * Sends raw bytes and collects what comes back until the server closes or `waitMs` passes.
 * For requests no well-behaved client would send.
 */
export function rawRequest(port: number, data: string | Buffer, waitMs = 2000): Promise<{ text: string; closed: boolean; reset: boolean }> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    let text = '';
    let reset = false;
    const timer = setTimeout(() => { s.destroy(); resolve({ text, closed: false, reset }); }, waitMs);
    s.on('connect', () => s.write(data));
    s.on('data', (d) => { text += d.toString('latin1'); });
    s.on('error', () => { reset = true; });
    s.on('close', () => { clearTimeout(timer); resolve({ text, closed: true, reset }); });
  });
}

/** Status code of the first response in `text`, or 0. */
export function statusOf(text: string): number {
  const m = /^HTTP\/1\.1 (\d{3})/.exec(text);
  return m ? Number(m[1]) : 0;
}

/** Body of the first response in `text` (after the blank line). */
export function bodyOf(text: string): string {
  const i = text.indexOf('\r\n\r\n');
  return i < 0 ? '' : text.slice(i + 4);
}
