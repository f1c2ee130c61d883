import t from 'tap';
import { parseConfig } from '../../src/config/index.js';
import { issuesOf } from './helpers.js';

const doc = {
  listen: { port: 8081 },
  apis: [{ name: 'j', routes: [{ route: 'GET /ping', integration: { type: 'mock', body: '{"ok":true}' } }] }],
};

t.test('JSON input by extension or explicit format, with defaults', async (t) => {
  const text = JSON.stringify(doc, null, 2);
  const a = parseConfig(text, { file: 'gw.json', env: {} });
  t.equal(a.listen.port, 8081);
  t.equal(a.listen.host, '0.0.0.0');
  t.same(a.apis[0]!.routes[0]!.integration, { type: 'mock', status: 200, headers: {}, body: '{"ok":true}' });
  t.same(parseConfig(text, { file: 'stdin', format: 'json', env: {} }), a);
  t.same(parseConfig(JSON.stringify(doc, null, '\t'), { file: 'gw.json', env: {} }), a, 'tab-indented JSON');
});

t.test('JSON errors carry lines too', async (t) => {
  const bad = structuredClone(doc) as Record<string, unknown>;
  (bad['apis'] as Record<string, unknown>[])[0]!['routes'] = [{ route: 'GET /ping', integration: { type: 'mock', statuss: 200 } }];
  const text = JSON.stringify(bad, null, 2);
  const line = text.split('\n').findIndex((l) => l.includes('statuss')) + 1;
  t.same(issuesOf(text, { file: 'gw.json' }), [{ path: 'apis[0].routes[0].integration.statuss', line, message: 'unknown property (did you mean status?)' }]);
});

t.test('JSON syntax: strict JSON, not YAML', async (t) => {
  t.match(issuesOf('{\n  "apis": [],\n}\n', { file: 'gw.json' }), [{ path: '', line: 3, message: /^invalid JSON: / }]);
  t.match(issuesOf('# comment\n{}', { file: 'gw.json' }), [{ path: '', line: 1, message: /^invalid JSON: / }]);
  // JSON.parse would keep the last duplicate silently.
  t.match(issuesOf('{\n  "listen": {},\n  "listen": {}\n}', { file: 'gw.json' }), [{ line: 3, message: /unique/ }]);
});

t.test('${ENV} works in JSON strings', async (t) => {
  const text = JSON.stringify({ ...doc, listen: { port: '${PORT:-9000}' } });
  t.equal(parseConfig(text, { file: 'gw.json', env: {} }).listen.port, 9000);
  t.equal(parseConfig(text, { file: 'gw.json', env: { PORT: '9100' } }).listen.port, 9100);
});

t.test('JSON syntax errors deep in a long file point at their line', async (t) => {
  const lines = JSON.stringify(doc, null, 2).split('\n');
  const at = lines.findIndex((l) => l.includes('"name"'));
  lines[at] = lines[at]!.replace('"name"', 'name');
  t.match(issuesOf(lines.join('\n'), { file: 'gw.json' }), [{ path: '', line: at + 1, message: /^invalid JSON: / }]);
  lines[at] = lines[at]!.replace('name', "'name'");
  t.match(issuesOf(lines.join('\n'), { file: 'gw.json' }), [{ path: '', line: at + 1, message: /^invalid JSON: / }]);
});
