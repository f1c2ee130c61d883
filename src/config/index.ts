export * from './schema.js';
export { ConfigError, formatIssue, loadConfigFile, parseConfig, resolveWorkers, normalizeTargets, formatPath, didYouMean } from './load.js';
export type { ConfigIssue, ParseOptions } from './load.js';
export { parseRouteKey, templateVariables, checkHttpUrl, urlPath } from './routekey.js';
export type { ParsedRouteKey, RouteParam } from './routekey.js';
