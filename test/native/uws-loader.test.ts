import t from 'tap';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

// The loader uses the native binary or refuses to start; it never takes the package's JS fallback.

const loader = fileURLToPath(new URL('../../native/uws.js', import.meta.url));

function sandbox(binary: string | null): string {
  const dir = mkdtempSync(join(tmpdir(), 'uws-loader-'));
  mkdirSync(join(dir, 'native'));
  copyFileSync(loader, join(dir, 'native', 'uws.js'));
  writeFileSync(join(dir, 'package.json'), '{"type":"module"}');
  const pkg = join(dir, 'node_modules', 'uWebSockets.js');
  mkdirSync(join(pkg, 'binaries'), { recursive: true });
  // The fallback entry a silent loader would return: it must never be picked.
  writeFileSync(join(pkg, 'package.json'), '{"name":"uWebSockets.js","main":"index.js"}');
  writeFileSync(join(pkg, 'index.js'), 'module.exports = { App() { return {}; } };');
  const name = `uws_${process.platform}_${process.arch}_${process.versions.modules}.node`;
  if (binary !== null) writeFileSync(join(pkg, 'binaries', name), binary);
  return dir;
}

function load(dir: string) {
  return spawnSync(process.execPath, ['-e', `import(${JSON.stringify(join(dir, 'native', 'uws.js'))}).then(() => console.log('loaded'), (e) => { console.error(e.name + ': ' + e.message); process.exit(3); })`], { encoding: 'utf8' });
}

t.test('the real binary loads and is native', async (t) => {
  const mod = await import('../../native/uws.js');
  t.type(mod.default.App, 'function');
  t.match(Function.prototype.toString.call(mod.default.App), /\[native code\]/);
});

t.test('no binary for this runtime: a clear error naming supported versions', async (t) => {
  const r = load(sandbox(null));
  t.equal(r.status, 3);
  t.match(r.stderr, /UwsLoadError: No uWebSockets\.js binary for this runtime/);
  t.match(r.stderr, /Node 20 \(ABI 115\)/);
  t.match(r.stderr, /glibc/);
  t.notMatch(r.stdout, /loaded/);
});

t.test('a binary that fails to load: refused, not replaced by the JS fallback', async (t) => {
  const r = load(sandbox('not an ELF file'));
  t.equal(r.status, 3);
  t.match(r.stderr, /UwsLoadError: The uWebSockets\.js binary failed to load/);
});
