import pino from 'pino';

/**
 * Operational log (not the access log): JSON lines on stderr. Synchronous on purpose: these lines
 * are rare (start, reload, crash) and must not be lost when a process dies right after writing one.
 */
export function createLogger(role: string) {
  return pino({ base: { role, pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime }, pino.destination({ dest: 2, sync: true }));
}

export type Logger = ReturnType<typeof createLogger>;
