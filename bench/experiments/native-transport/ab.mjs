/**
 * Measurement prototype, not part of the gateway: is Node's net.Socket worth replacing on the
 * upstream side? wrk against each target, interleaved rounds, CPU per request of the target process
 * (the gateway's worker) from /proc:
 *   pool             bench/peers.ts uws-pool: uWS.js + src/upstream/pool.ts on net.Socket (the floor)
 *   pool+transport   the same with patch-net.mjs preloaded: the pool on transport.c, a net.Socket
 *                    stand-in on libuv (reads into one shared buffer, the TypeScript parser)
 *   c-parse          native-peer.mjs on up.c: the connection and the response head parse in C
 *   gateway, gateway+transport   the whole gateway (1 worker), on net.Socket and on transport.c
 *
 *   cc -O2 -shared -fPIC -I/usr/include/node -DNODE_GYP_MODULE_NAME=transport -o transport.node transport.c
 *   cc -O2 -shared -fPIC -I/usr/include/node -DNODE_GYP_MODULE_NAME=up -o up.node up.c
 *   npx tsc -p . && node bench/experiments/native-transport/ab.mjs [rounds] [seconds]
 *
 * transport.c with patch-net.mjs passes the upstream and proxy suites:
 *   NODE_OPTIONS="--import $PWD/bench/experiments/native-transport/patch-net.mjs" npx tap \
 *     dist/test/upstream/*.test.js dist/test/e2e/{proxy,streaming,abort,upstreams}.test.js
 * up.c has no timeouts and no error handling beyond reconnect-on-EOF, GET only: a measurement.
 * Figures and what they decided: README, Performance.
 */
import { startHelloUws, startGateway, stopAll, runWrk, installCleanupHandlers, startProc, freePort, waitHttp200 } from '../../../dist/bench/harness.js';
import { readFileSync } from 'node:fs';
installCleanupHandlers();
const BODY = '{"id":"bench","ok":true,"items":[1,2,3],"source":"upstream"}';
const HERE = new URL('.', import.meta.url).pathname;
const ROOT = new URL('../../../', import.meta.url).pathname;
const PRELOAD = ['--import', HERE + 'patch-net.mjs'];
function cpu(pid) { const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' '); return [+f[11] / 100, +f[12] / 100]; }

const up = await startHelloUws(BODY);
const upstream = `http://127.0.0.1:${up.port}`;
const t = {};
for (const [k, args] of [
  ['pool', [ROOT + 'dist/bench/peers.js', '--kind', 'uws-pool', '--upstream', upstream, '--port']],
  ['pool+transport', [...PRELOAD, ROOT + 'dist/bench/peers.js', '--kind', 'uws-pool', '--upstream', upstream, '--port']],
  ['c-parse', [HERE + 'native-peer.mjs', String(up.port)]],
]) {
  const port = await freePort();
  const p = startProc(k, process.execPath, [...args, String(port)]);
  await waitHttp200(p, port, '/items/42');
  t[k] = { port, pid: p.pid };
}
const apis = [{ name: 'bench', upstreams: { u: { targets: [upstream] } },
  routes: [{ route: 'ANY /{proxy+}', integration: { type: 'http_proxy', upstream: 'u', path: '/{proxy}' } }] }];
for (const [k, nodeArgs] of [['gateway', []], ['gateway+transport', PRELOAD]]) {
  const g = await startGateway(apis, { name: k, nodeArgs });
  t[k] = { port: g.port, pid: g.workers[0] };
}

const rounds = +(process.argv[2] ?? 4), dur = +(process.argv[3] ?? 5);
const keys = Object.keys(t);
const res = Object.fromEntries(keys.map((k) => [k, []]));
for (const k of keys) await runWrk(`http://127.0.0.1:${t[k].port}/items/42`, 64, 2);
for (let r = 0; r < rounds; r++) for (const k of (r % 2 ? [...keys].reverse() : keys)) {
  const a = cpu(t[k].pid);
  const w = await runWrk(`http://127.0.0.1:${t[k].port}/items/42`, 64, dur);
  const b = cpu(t[k].pid);
  const n = w.rps * dur;
  res[k].push({ rps: w.rps, user: (b[0] - a[0]) / n * 1e6, sys: (b[1] - a[1]) / n * 1e6 });
}
const med = (xs) => { const s = [...xs].sort((x, y) => x - y); return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };
for (const k of keys) {
  const m = (f) => med(res[k].map(f));
  console.log(`${k.padEnd(18)} ${String(Math.round(m((x) => x.rps))).padStart(7)} req/s  user ${m((x) => x.user).toFixed(2)} µs  kernel ${m((x) => x.sys).toFixed(2)} µs per request`);
}
await stopAll();
process.exit(0);
