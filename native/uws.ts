/**
 * Loads the uWebSockets.js native binding and refuses anything else.
 *
 * The package's own entry (`src/uws.js`) silently falls back to a slow JS imitation built on `ws`
 * when the binary does not load; a gateway running on that would be 10x slower with no warning
 * a user would notice in production logs. We load the `.node` file directly instead, so the
 * fallback can never be picked, and fail at start-up with a message that says what is supported.
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type * as UWS from 'uWebSockets.js';

const require = createRequire(import.meta.url);

/** Node ABI versions the pinned build (@trufflesuite/uws-js-unofficial@20.30.0) ships binaries for. */
export const SUPPORTED_ABIS: Record<string, string> = { '93': 'Node 16', '108': 'Node 18', '115': 'Node 20' };
export const SUPPORTED_PLATFORMS = ['linux-x64', 'linux-arm64', 'linux-arm', 'darwin-x64', 'darwin-arm64', 'win32-x64'];

export class UwsLoadError extends Error {
  override name = 'UwsLoadError';
}

function supportText(): string {
  const nodes = Object.entries(SUPPORTED_ABIS).map(([abi, n]) => `${n} (ABI ${abi})`).join(', ');
  return `Supported: ${nodes} on ${SUPPORTED_PLATFORMS.join(', ')}; Linux builds need glibc >= 2.36 ` +
    `(Debian 12 works). This is Node ${process.version} (ABI ${process.versions.modules}) on ` +
    `${process.platform}-${process.arch}.`;
}

function load(): typeof UWS {
  let pkgDir: string;
  try {
    pkgDir = dirname(require.resolve('uWebSockets.js/package.json'));
  } catch {
    throw new UwsLoadError('uWebSockets.js is not installed: run `npm ci`. ' + supportText());
  }
  const file = join(pkgDir, 'binaries', `uws_${process.platform}_${process.arch}_${process.versions.modules}.node`);
  if (!existsSync(file)) {
    throw new UwsLoadError(`No uWebSockets.js binary for this runtime (${file} does not exist). ` + supportText());
  }
  let mod: typeof UWS;
  try {
    mod = require(file) as typeof UWS;
  } catch (e) {
    throw new UwsLoadError(`The uWebSockets.js binary failed to load: ${(e as Error).message}. ` + supportText());
  }
  // The JS fallback exports an App too; only the native addon has native functions.
  if (typeof mod.App !== 'function' || !/\[native code\]/.test(Function.prototype.toString.call(mod.App))) {
    throw new UwsLoadError('uWebSockets.js loaded a non-native implementation; refusing to start. ' + supportText());
  }
  return mod;
}

const uws: typeof UWS = load();
export default uws;
export type { HttpRequest, HttpResponse, TemplatedApp, us_listen_socket, us_socket_context_t, WebSocket, WebSocketBehavior } from 'uWebSockets.js';
