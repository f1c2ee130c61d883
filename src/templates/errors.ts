/** Errors of mapping templates: at config load (syntax) and per request (payload, render). */

export abstract class TemplateError extends Error {}

/** The template does not compile: thrown by compileTemplate(), so a bad template fails config load. */
export class TemplateSyntaxError extends TemplateError {
  constructor(
    readonly templateName: string,
    readonly line: number,
    /** 1-based; 0 when unknown. */
    readonly column: number,
    readonly reason: string,
    snippet: string,
  ) {
    super(`mapping template ${JSON.stringify(templateName)} line ${line}${column > 0 ? `, column ${column}` : ''}: ${reason}${snippet ? '\n' + snippet : ''}`);
    this.name = 'TemplateSyntaxError';
  }
}

/**
 * The template read the payload with `$input.json()` / `$input.path()` and the payload looks like JSON (starts
 * with `{`, `[` or `"`) but does not parse. AWS answers the method request with 400
 * `{"message": "Could not process payload..."}`, as recorded against AWS in
 * https://github.com/ToQoz/api-gateway-mapping-template/blob/master/test/_.md (payloads `{a`, `[a`).
 */
export class TemplatePayloadError extends TemplateError {
  readonly status = 400;
  readonly body: string;
  constructor(readonly detail: string) {
    super(`Could not process payload: ${detail}`);
    this.name = 'TemplatePayloadError';
    this.body = JSON.stringify({ message: this.message });
  }
}

/**
 * Anything else that fails while rendering (invalid regex in replaceAll, `$util.parseJson` of non-JSON, bad %XX
 * in urlDecode, a range literal too large...). The gateway answers 500 Internal Server Error.
 */
export class TemplateRenderError extends TemplateError {
  constructor(
    readonly templateName: string,
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(`mapping template ${JSON.stringify(templateName)} failed to render: ${reason}`, options);
    this.name = 'TemplateRenderError';
  }
}
