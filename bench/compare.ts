/**
 * `--compare REF`: another git ref of this repository, checked out in a temporary worktree and
 * built there, so the same scenarios run its gateway beside this one (regressions show as a ratio).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from './harness.js';
import type { GatewayBuild } from './scenario.js';

function run(cmd: string, args: string[], cwd: string): { ok: boolean; out: string } {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', maxBuffer: 64 << 20 });
  return { ok: r.status === 0, out: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? String(r.error) : ''}` };
}

export interface RefBuild {
  build: GatewayBuild;
  /** Removes the worktree. */
  cleanup(): void;
}

export function buildRef(ref: string, log: (s: string) => void): RefBuild {
  const rev = run('git', ['rev-parse', '--verify', '--short', `${ref}^{commit}`], ROOT);
  if (!rev.ok) throw new Error(`--compare ${ref}: not a commit in ${ROOT}: ${rev.out.trim()}`);
  const sha = rev.out.trim();
  const dir = mkdtempSync(join(tmpdir(), `bench-compare-${sha}-`));
  rmSync(dir, { recursive: true, force: true });
  const wt = run('git', ['worktree', 'add', '--detach', dir, sha], ROOT);
  if (!wt.ok) throw new Error(`git worktree add ${sha} failed:\n${wt.out}`);
  const cleanup = () => {
    run('git', ['worktree', 'remove', '--force', dir], ROOT);
    rmSync(dir, { recursive: true, force: true });
    run('git', ['worktree', 'prune'], ROOT);
  };
  try {
    // Same lock file: share node_modules (saves a minute of npm ci); else install that ref's own.
    const lock = (d: string) => (existsSync(join(d, 'package-lock.json')) ? readFileSync(join(d, 'package-lock.json'), 'utf8') : '');
    if (lock(dir) === lock(ROOT) && existsSync(join(ROOT, 'node_modules'))) {
      symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
    } else {
      log(`--compare ${ref}: dependencies differ, npm ci in ${dir}`);
      const ci = run('npm', ['ci', '--no-audit', '--no-fund', '--ignore-scripts'], dir);
      if (!ci.ok) throw new Error(`npm ci for ${ref} failed:\n${ci.out.slice(-4000)}`);
    }
    log(`--compare ${ref}: building ${sha} in ${dir}`);
    const tsc = run(process.execPath, [join(dir, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', dir], dir);
    const cli = join(dir, 'dist', 'src', 'cli.js');
    // tsc emits despite type errors (e.g. in that ref's tests); only a missing CLI is fatal.
    if (!existsSync(cli)) throw new Error(`build of ${ref} produced no dist/src/cli.js:\n${tsc.out.slice(-4000)}`);
    if (!tsc.ok) log(`--compare ${ref}: tsc reported errors, using what it emitted`);
    return { build: { name: `gateway@${ref}`, cli }, cleanup };
  } catch (e) {
    cleanup();
    throw e;
  }
}
