import t from 'tap';
import { derivedKeyId, hashKey, KeyRegistry, type ApiKeyRecord } from '../../src/limits/keys.js';

const rec = (value: string, source: 'config' | 'api' = 'api'): ApiKeyRecord => {
  const hash = hashKey(value);
  return { id: derivedKeyId(hash), name: value.slice(0, 4), usagePlans: ['p'], enabled: true, invalidateCache: false, source, createdDate: '', hash };
};

t.test('memory store: config keys and pushed keys answer synchronously; a flood of unknown values evicts nothing', async (t) => {
  const cfg = rec('config-key-0123456789abc', 'config');
  const reg = new KeyRegistry([cfg], null);
  const pushed = rec('pushed-key-0123456789abc');
  reg.put(pushed, pushed.hash);
  let unknown = 0;
  for (let i = 0; i < 25_000; i++) if (reg.lookup(`unknown-value-${i}-0123456789`) === null) unknown++;
  t.equal(unknown, 25_000, 'unknown values are refused');
  t.equal(reg.lookup('config-key-0123456789abc'), cfg);
  t.equal(reg.lookup('pushed-key-0123456789abc'), pushed, 'still known after 25,000 unknown lookups');
  reg.put(null, pushed.hash);
  t.equal(reg.lookup('pushed-key-0123456789abc'), null, 'revoked');
});

t.test('ids are derived from the value hash, stable and not the value', async (t) => {
  const a = rec('same-value-0123456789abc');
  const b = rec('same-value-0123456789abc');
  t.equal(a.id, b.id);
  t.notMatch(a.id, /same-value/);
  t.match(a.id, /^k[0-9a-f]{12}$/);
});
