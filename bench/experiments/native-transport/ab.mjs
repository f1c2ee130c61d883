/**
 * Measurement prototype, not part of the gateway: is Node's net.Socket worth replacing on the
 * upstream side? Three bare uWS.js proxies, same upstream, wrk, interleaved rounds; CPU per request
 * from /proc. pool = uWS.js + src/upstream/pool.ts on net.Socket (bench/peers.ts uws-pool);
 * native = up.c does connect/write/read and parses the head in C; raw = up.c only moves bytes
 * (reads into a shared JS buffer, one callback per read) and the gateway's own ResponseParser parses.
 *
 *   gcc -O2 -shared -fPIC -I/usr/include/node -DNODE_GYP_MODULE_NAME=up -o up.node up.c
 *   npx tsc -p . && node bench/experiments/native-transport/ab.mjs [rounds] [seconds]
 *
 * up.c (native, raw) has no timeouts, no error handling beyond reconnect-on-EOF, GET only: a
 * measurement, not a client.
 *
 * The whole gateway on a native transport: transport.c is a net.Socket stand-in (connect, write with a
 * queued remainder, drain, pause/resume, EOF/error/close) that patch-net.mjs hands to the pool when
 * preloaded. It passes the upstream and proxy suites:
 *   cc -O2 -shared -fPIC -I/usr/include/node -DNODE_GYP_MODULE_NAME=transport -o transport.node transport.c
 *   NODE_OPTIONS="--import $PWD/bench/experiments/native-transport/patch-net.mjs" npx tap \
 *     dist/test/upstream/*.test.js dist/test/e2e/{proxy,streaming,abort,upstreams}.test.js
 * and measured (2026-11-24, wrk, 6 interleaved rounds, gateway worker CPU from /proc): 11.6 µs user +
 * 17.8 kernel against 12.3 + 18.4 on net.Socket, +5.7% req/s; in `npm run bench -- --scenario
 * proxy-small --compare HEAD`: wrk 1.03x req/s at 0.96x CPU, autocannon 0.98x (noise). Less than the
 * floor's 10% because the pool already writes request heads past the Writable machinery (fastWrite).
 */
import { startHelloUws, stopAll, runWrk, installCleanupHandlers, startProc, freePort, waitHttp200 } from '../../../dist/bench/harness.js';
import { readFileSync } from 'node:fs';
installCleanupHandlers();
const BODY = '{"id":"bench","ok":true,"items":[1,2,3],"source":"upstream"}';
function ut(pid) { const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' '); return [+f[11] / 100, +f[12] / 100]; }
const HERE = new URL('.', import.meta.url).pathname;
const ROOT = new URL('../../../', import.meta.url).pathname;
const up = await startHelloUws(BODY);
const t = {};
for (const [k, args] of [['pool', [ROOT + 'dist/bench/peers.js', '--kind', 'uws-pool', '--upstream', `http://127.0.0.1:${up.port}`, '--port']], ['native', [HERE + 'native-peer.mjs', String(up.port)]], ['raw', [HERE + 'raw-peer.mjs', String(up.port)]]]) {
  const port = await freePort();
  const p = startProc(k, process.execPath, [...args, String(port)]);
  await waitHttp200(p, port, '/items/42');
  t[k] = { port, pid: p.pid };
}
const rounds = +(process.argv[2] ?? 4), dur = +(process.argv[3] ?? 5);
const res = { pool: [], native: [], raw: [] };
for (const k of ['pool', 'native', 'raw']) { const w = await runWrk(`http://127.0.0.1:${t[k].port}/items/42`, 64, 2); console.log(k, 'warm', Math.round(w.rps), w.errors ?? ''); }
for (let r = 0; r < rounds; r++) for (const k of (r % 2 ? ['raw', 'native', 'pool'] : ['pool', 'native', 'raw'])) {
  const a = ut(t[k].pid);
  const w = await runWrk(`http://127.0.0.1:${t[k].port}/items/42`, 64, dur);
  const b = ut(t[k].pid);
  const n = w.rps * dur;
  res[k].push({ rps: w.rps, user: (b[0] - a[0]) / n * 1e6, sys: (b[1] - a[1]) / n * 1e6 });
}
const med = (xs) => { const s = [...xs].sort((x, y) => x - y); return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };
for (const k of ['pool', 'native', 'raw']) console.log(k, 'rps', Math.round(med(res[k].map(x => x.rps))), 'user', med(res[k].map(x => x.user)).toFixed(2), 'sys', med(res[k].map(x => x.sys)).toFixed(2));
await stopAll(); process.exit(0);
