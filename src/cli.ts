#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { loadConfigFile, parseConfig, ConfigError } from './config/index.js';
import { importOpenApiFile, isOpenApi, OpenApiImportError } from './openapi/import.js';
import type { Config } from './config/index.js';
import { compilePlan, PlanError } from './compile/plan.js';
import { createLogger } from './observability/log.js';

const USAGE = `Usage:
  gateway start    [--config FILE] [--workers N|auto] [--port N] [--admin-port N] [--functions DIR]
  gateway validate  --config FILE [--functions DIR]
  gateway import-openapi FILE [--functions DIR]     print the gateway config for an OpenAPI 3 document
  gateway bench    [--scenario NAME] [--quick] [...]   (npm run bench -- --help for all options)

FILE may be an OpenAPI 3 document with x-amazon-apigateway-* extensions: it is detected and imported
(Lambda ARNs map to <functions DIR>/<name>.mjs|.cjs|.js exporting handler); warnings go to stderr.
Environment: GATEWAY_CONFIG (config file), GATEWAY_PORT (listen port), GATEWAY_ADMIN_PORT, GATEWAY_WORKERS (N or auto).
Flags win over environment, environment over the config file.`;

function fail(msg: string, code = 1): never {
  process.stderr.write(`${msg}\n`);
  process.exit(code);
}

function portNumber(flag: string, v: string): number {
  const p = Number(v);
  if (!Number.isInteger(p) || p < 1 || p > 65535) fail(`--${flag}: must be an integer 1..65535, got "${v}"`, 2);
  return p;
}

function applyOverrides(c: Config, port: string | undefined, workers: string | undefined, adminPort?: string): Config {
  const out = { ...c, listen: { ...c.listen }, admin: { ...c.admin } };
  if (port !== undefined) out.listen.port = portNumber('port', port);
  if (adminPort !== undefined) out.admin.port = portNumber('admin-port', adminPort);
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

/** A gateway config file, or an OpenAPI document imported on the fly (warnings to stderr once). */
let warned = false;
function readConfig(file: string, functionsDir: string | undefined): Config {
  let doc: unknown = null;
  try {
    doc = parseYaml(readFileSync(file, 'utf8'));
  } catch { /* not parseable here: the config loader reports it with its line */ }
  if (!isOpenApi(doc)) return loadConfigFile(file);
  const { yaml, warnings } = importOpenApiFile(file, { functionsDir: functionsDir === undefined ? undefined : resolve(functionsDir) });
  if (!warned) {
    for (const w of warnings) process.stderr.write(`${file}: warning: ${w.path ? `${w.path}: ` : ''}${w.message}\n`);
    warned = true;
  }
  // Relative handler paths in the import are relative to the document's directory.
  return parseConfig(yaml, { file: join(dirname(resolve(file)), `${basename(file)}.imported.yaml`), format: 'yaml' });
}

/** Loads, validates and dry-compiles (route conflicts); throws ConfigError | PlanError. */
function load(file: string, port?: string, workers?: string, functionsDir?: string, adminPort?: string): Config {
  const config = applyOverrides(readConfig(file, functionsDir), port, workers, adminPort);
  void compilePlan(config).close();
  return config;
}

function describe(e: unknown, file: string): string {
  if (e instanceof ConfigError) return e.message;
  if (e instanceof OpenApiImportError) return `${file}: cannot import the OpenAPI document:\n${e.issues.map((i) => `  ${i.path ? `${i.path}: ` : ''}${i.message}`).join('\n')}`;
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
  let values: { config?: string; workers?: string; port?: string; 'admin-port'?: string; functions?: string; help?: boolean };
  let positionals: string[] = [];
  try {
    ({ values, positionals } = parseArgs({
      args: rest,
      allowPositionals: cmd === 'import-openapi',
      options: {
        functions: { type: 'string' },
        'admin-port': { type: 'string' },
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
  const adminPort = values['admin-port'] ?? process.env.GATEWAY_ADMIN_PORT;

  const functionsDir = values.functions;
  switch (cmd) {
    case 'import-openapi': {
      const doc = positionals[0] ?? values.config;
      if (doc === undefined) fail(`import-openapi needs FILE\n\n${USAGE}`, 2);
      try {
        const { yaml, warnings } = importOpenApiFile(doc, { functionsDir: functionsDir === undefined ? undefined : resolve(functionsDir) });
        for (const w of warnings) process.stderr.write(`${doc}: warning: ${w.path ? `${w.path}: ` : ''}${w.message}\n`);
        process.stdout.write(yaml);
      } catch (e) {
        fail(describe(e, doc));
      }
      return;
    }
    case 'validate': {
      if (file === undefined) fail(`validate needs --config FILE\n\n${USAGE}`, 2);
      try {
        load(file, undefined, undefined, functionsDir);
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
        config = load(configFile, port, workers, functionsDir, adminPort);
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
            return load(configFile, port, workers, functionsDir, adminPort);
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
