import { ConfigError, parseConfig, type ConfigIssue, type ParseOptions } from '../../src/config/index.js';

/** Strips the leading newline and common indentation, so YAML can sit indented in a test. */
export function y(strings: TemplateStringsArray, ...values: unknown[]): string {
  // Cooked strings, so `\${NAME}` in a test reads as a literal ${NAME}.
  const raw = strings.reduce((acc, s, i) => acc + s + (i < values.length ? String(values[i]) : ''), '').replace(/^\n/, '');
  const lines = raw.split('\n');
  const indent = Math.min(...lines.filter((l) => l.trim()).map((l) => l.length - l.trimStart().length));
  return lines.map((l) => l.slice(indent)).join('\n');
}

/** The issues parseConfig reports ([] when the config is valid). */
export function issuesOf(text: string, opts: Partial<ParseOptions> = {}): ConfigIssue[] {
  try {
    parseConfig(text, { file: 'test.yaml', env: {}, ...opts });
    return [];
  } catch (err) {
    if (err instanceof ConfigError) return err.issues;
    throw err;
  }
}

/** A minimal valid API block, for tests that vary the top level. */
export const MINIMAL_APIS = y`
  apis:
    - name: a
      routes:
        - route: GET /ping
          integration: { type: mock }
`;
