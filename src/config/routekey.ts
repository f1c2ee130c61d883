/**
 * Syntax of AWS route keys and integration templates, as the config loader checks them.
 * Route-vs-route conflicts are the router's business, not checked here.
 */
import { METHODS, type RouteMethod } from './schema.js';

export interface RouteParam {
  name: string;
  /** `{name+}`: matches the rest of the path; only as the last segment. */
  greedy: boolean;
}

export type ParsedRouteKey =
  | { kind: 'default' }
  | { kind: 'route'; method: RouteMethod; path: string; params: RouteParam[] };

const PARAM_NAME = /^[A-Za-z0-9_-]+$/;
// RFC 3986 pchar, with %XX checked separately.
const LITERAL_SEGMENT = /^(?:[A-Za-z0-9\-._~!$&'()*+,;=:@]|%[0-9A-Fa-f]{2})*$/;

/** Parses `$default` or `METHOD /path`; returns a message on bad syntax. */
export function parseRouteKey(key: string): ParsedRouteKey | { error: string } {
  if (key === '$default') return { kind: 'default' };
  const m = /^(\S+) (\S+)$/.exec(key);
  if (!m) return { error: "must be '$default' or 'METHOD /path' (one space between)" };
  const method = m[1]!;
  const path = m[2]!;
  if (!(METHODS as readonly string[]).includes(method)) {
    const upper = method.toUpperCase();
    return (METHODS as readonly string[]).includes(upper)
      ? { error: `method must be upper-case: ${upper}` }
      : { error: `unknown method ${method} (expected one of ${METHODS.join(', ')})` };
  }
  const parsed = parseRoutePath(path);
  if ('error' in parsed) return parsed;
  return { kind: 'route', method: method as RouteMethod, path, params: parsed.params };
}

function parseRoutePath(path: string): { params: RouteParam[] } | { error: string } {
  if (!path.startsWith('/')) return { error: `path must start with '/': ${path}` };
  if (path === '/') return { params: [] };
  const segments = path.slice(1).split('/');
  const params: RouteParam[] = [];
  for (let i = 0; i < segments.length; i++) {
    const seg = segments[i]!;
    const last = i === segments.length - 1;
    if (seg === '') {
      if (last) continue; // trailing slash: the router decides what it means
      return { error: `empty path segment ('//') in ${path}` };
    }
    if (seg === '.' || seg === '..') return { error: `dot segment '${seg}' in ${path}` };
    if (seg.includes('{') || seg.includes('}')) {
      const pm = /^\{([^{}]*?)(\+)?\}$/.exec(seg);
      if (!pm) return { error: `path variable must be a whole segment, like {name} or {name+}: ${seg}` };
      const name = pm[1]!;
      if (!PARAM_NAME.test(name)) return { error: `invalid path variable name '${name}' (use A-Z a-z 0-9 _ -)` };
      const greedy = pm[2] === '+';
      if (greedy && !last) return { error: `greedy variable {${name}+} must be the last segment` };
      if (params.some((p) => p.name === name)) return { error: `duplicate path variable {${name}}` };
      params.push({ name, greedy });
      continue;
    }
    if (!LITERAL_SEGMENT.test(seg)) return { error: `invalid character in path segment '${seg}'` };
  }
  return { params };
}

/** `{name}` variables of an integration path/uri template; `{x+}` is not allowed there (write `{x}`). */
export function templateVariables(template: string): { names: string[] } | { error: string } {
  const names: string[] = [];
  const re = /\{([^{}]*)\}|[{}]/g;
  for (let m = re.exec(template); m; m = re.exec(template)) {
    if (m[1] === undefined) return { error: `unbalanced '${m[0]}' in template ${template}` };
    let name = m[1];
    if (name.endsWith('+')) {
      name = name.slice(0, -1);
      return { error: `write {${name}} to use the greedy variable {${name}+}` };
    }
    if (!PARAM_NAME.test(name)) return { error: `invalid template variable '{${name}}'` };
    if (!names.includes(name)) names.push(name);
  }
  return { names };
}

/**
 * Checks an upstream URL: absolute http:// only. With `allowPath` false it must be an origin
 * (the integration supplies the path). Returns a message or undefined.
 */
export function checkHttpUrl(url: string, allowPath: boolean): string | undefined {
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#]*)([^?#]*)([?#].*)?$/.exec(url);
  if (!m) return `must be an absolute http:// URL: ${url}`;
  const scheme = m[1]!.toLowerCase();
  if (scheme === 'https') return `https upstreams are not supported yet (use http://): ${url}`;
  if (scheme !== 'http') return `unsupported scheme ${scheme}:// (only http:// is supported): ${url}`;
  const authority = m[2]!;
  if (authority.includes('@')) return `must not contain credentials: ${url}`;
  if (authority === '' || /[{}]/.test(authority)) return `invalid host in ${url}`;
  try {
    const u = new URL(`http://${authority}/`);
    if (!u.hostname) return `invalid host in ${url}`;
  } catch {
    return `invalid host in ${url}`;
  }
  if (m[4]) return `must not contain a query string or fragment: ${url}`;
  const path = m[3]!;
  if (!allowPath && path !== '' && path !== '/') return `must be an origin (http://host[:port]) without a path; set integration.path instead: ${url}`;
  return undefined;
}

/** The path part of an absolute URL (for template variables); '' when none. */
export function urlPath(url: string): string {
  const m = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]*([^?#]*)/.exec(url);
  return m ? m[1]! : '';
}
