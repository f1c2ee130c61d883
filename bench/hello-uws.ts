/**
 * Raw uWS server for the load benchmarks: the upstream behind every proxy, and the "no gateway"
 * ceiling of the mock scenarios. Content-Length and keep-alive (uWS defaults).
 *
 *   node dist/bench/hello-uws.js --port P [--body JSON | --body-bytes N]
 *
 * GET (and anything without a body) gets the body; a request with a body is read to the end and
 * answered `{"received":<bytes>}`, so a proxy that loses or adds bytes shows in the answer.
 */
import { parseArgs } from 'node:util';
import uws from '../native/uws.js';
import { receivedJson, sizedJson } from './bodies.js';

const { values } = parseArgs({
  options: {
    port: { type: 'string' },
    host: { type: 'string', default: '127.0.0.1' },
    body: { type: 'string' },
    'body-bytes': { type: 'string' },
  },
});
const port = Number(values.port);
const body = values['body-bytes'] !== undefined ? sizedJson(Number(values['body-bytes'])) : (values.body ?? '{"ok":true}');

uws
  .App()
  .any('/*', (res, req) => {
    if (req.getHeader('content-length') === '' && req.getHeader('transfer-encoding') === '') {
      res.writeHeader('content-type', 'application/json').end(body);
      return;
    }
    let received = 0;
    let aborted = false;
    res.onAborted(() => { aborted = true; });
    res.onData((chunk, last) => {
      received += chunk.byteLength;
      if (last && !aborted) res.cork(() => res.writeHeader('content-type', 'application/json').end(receivedJson(received)));
    });
  })
  .listen(values.host!, port, (token) => {
    if (!token) {
      process.stderr.write(`hello-uws: cannot listen on ${values.host}:${port}\n`);
      process.exit(1);
    }
    process.stdout.write(`hello-uws listening on ${values.host}:${port}\n`);
  });

process.on('SIGTERM', () => process.exit(0));
