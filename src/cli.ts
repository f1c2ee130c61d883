#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { loadConfigFile, ConfigError } from './config/index.js';
import type { Config } from './config/index.js';
import { compilePlan, PlanError } from './compile/plan.js';
import { createLogger } from './observability/log.js';

const USAGE = `Usage:
  gateway start    [--config FILE] [--workers N|auto] [--port N]
  gateway validate  --config FILE
  gateway bench    [--scenario NAME] [--quick] [...]   (npm run bench -- --help for all options)

Environment: GATEWAY_CONFIG (config file), GATEWAY_PORT (listen port), GATEWAY_WORKERS (N or auto).
Flags win over environment, environment over the config file.`;

function fail(msg: string, code = 1): never {
  process.stderr.write(`${msg}\n`);
  process.exit(code);
}

function applyOverrides(c: Config, port: string | undefined, workers: string | undefined): Config {
  const out = { ...c, listen: { ...c.listen } };
  if (port !== undefined) {
    const p = Number(port);
    if (!Number.isInteger(p) || p < 1 || p > 65535) fail(`--port: must be an integer 1..65535, got "${port}"`, 2);
    out.listen.port = p;
  }
  if (workers !== undefined) {
    if (workers === 'auto') out.workers = 'auto';
    else {
      const n = Number(workers);
      if (!Number.isInteger(n) || n < 1 || n > 256) fail(`--workers: must be "auto" or an integer 1..256, got "${workers}"`, 2);
      out.workers = n;
    }
  }
  return out;
}

/** Loads, validates and dry-compiles (route conflicts); throws ConfigError | PlanError. */
function load(file: string, port?: string, workers?: string): Config {
  const config = applyOverrides(loadConfigFile(file), port, workers);
  void compilePlan(config).close();
  return config;
}

function describe(e: unknown, file: string): string {
  if (e instanceof ConfigError) return e.message;
  if (e instanceof PlanError) return e.issues.map((i) => `${file}: ${i.path}: ${i.message}`).join('\n');
  return `${file}: ${(e as Error).message}`;
}

/** The bench suite lives in dist/bench and needs the dev dependencies (autocannon, the Node peers). */
async function bench(args: string[]): Promise<never> {
  let run: typeof import('../bench/run.js');
  try {
    run = await import('../bench/run.js');
  } catch (e) {
    fail(`gateway bench: the benchmark suite did not load (${(e as Error).message.split('\n')[0]}); ` +
      'it needs a checkout of the repository with its dev dependencies: `npm ci`, then `npm run bench`.');
  }
  process.exit(await run.main(args));
}

async function main(): Promise<void> {
  const [cmd, ...rest] = process.argv.slice(2);
  if (cmd === 'bench') await bench(rest);
  let values: { config?: string; workers?: string; port?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: rest,
      options: {
        config: { type: 'string', short: 'c' },
        workers: { type: 'string', short: 'w' },
        port: { type: 'string', short: 'p' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (e) {
    fail(`${(e as Error).message}\n\n${USAGE}`, 2);
  }
  if (cmd === undefined || cmd === 'help' || cmd === '--help' || values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const file = values.config ?? process.env.GATEWAY_CONFIG;
  const port = values.port ?? process.env.GATEWAY_PORT;
  const workers = values.workers ?? process.env.GATEWAY_WORKERS;

  switch (cmd) {
    case 'validate': {
      if (file === undefined) fail(`validate needs --config FILE\n\n${USAGE}`, 2);
      try {
        load(file);
      } catch (e) {
        fail(describe(e, file));
      }
      process.stdout.write(`${file}: ok\n`);
      return;
    }
    case 'start': {
      const configFile = file ?? 'config/gateway.yaml';
      let config: Config;
      try {
        config = load(configFile, port, workers);
      } catch (e) {
        fail(describe(e, configFile));
      }
      // Loaded here so `validate` works even where the uWS binary cannot load.
      let Supervisor: typeof import('./master/supervisor.js').Supervisor;
      try {
        await import('../native/uws.js');
        ({ Supervisor } = await import('./master/supervisor.js'));
      } catch (e) {
        fail(`gateway: ${(e as Error).message}`);
      }
      const log = createLogger('master');
      const sup = new Supervisor(config, {
        log,
        loadConfig: () => {
          try {
            return load(configFile, port, workers);
          } catch (e) {
            throw new Error(describe(e, configFile));
          }
        },
      });
      try {
        await sup.start();
      } catch (e) {
        fail(`gateway: ${(e as Error).message}`);
      }
      process.exit(await sup.exited);
    }
    default:
      fail(`unknown command "${cmd}"\n\n${USAGE}`, 2);
  }
}

void main();
