/**
 * Raw uWS hello server for the load benchmarks: every request gets the same JSON body with
 * Content-Length and keep-alive (both uWS defaults). Used as the proxy upstream and as the
 * "no gateway" ceiling of the mock benchmark.
 *
 *   node dist/bench/hello-uws.js --port P [--body JSON]
 */
import { parseArgs } from 'node:util';
import uws from '../native/uws.js';

const { values } = parseArgs({
  options: { port: { type: 'string' }, host: { type: 'string', default: '127.0.0.1' }, body: { type: 'string', default: '{"ok":true}' } },
});
const port = Number(values.port);
const body = values.body!;

uws
  .App()
  .any('/*', (res) => {
    res.writeHeader('content-type', 'application/json').end(body);
  })
  .listen(values.host!, port, (token) => {
    if (!token) {
      process.stderr.write(`hello-uws: cannot listen on ${values.host}:${port}\n`);
      process.exit(1);
    }
    process.stdout.write(`hello-uws listening on ${values.host}:${port}\n`);
  });

process.on('SIGTERM', () => process.exit(0));
