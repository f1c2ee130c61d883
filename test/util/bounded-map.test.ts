import t from 'tap';
import { BoundedMap } from '../../src/util/bounded-map.js';

t.test('holds at most max entries, evicting the oldest insertion', async (t) => {
  const m = new BoundedMap<{ n: number }>(3);
  for (let i = 0; i < 10; i++) m.set(`k${i}`, { n: i });
  t.equal(m.size, 3);
  t.same([m.get('k7'), m.get('k8'), m.get('k9')], [{ n: 7 }, { n: 8 }, { n: 9 }]);
  t.equal(m.get('k6'), undefined);
});

t.test('a key deleted and set again is not evicted by its old slot', async (t) => {
  const m = new BoundedMap<{ v: string }>(3);
  m.set('a', { v: 'a1' });
  m.set('b', { v: 'b' });
  m.delete('a');
  m.set('c', { v: 'c' });
  m.set('a', { v: 'a2' }); // slot 0 (old 'a') is overwritten now: a2 lives in it
  m.set('d', { v: 'd' }); // evicts 'b' (slot 1)
  t.same(m.get('a'), { v: 'a2' });
  t.equal(m.get('b'), undefined);
  t.ok(m.size <= 3);
  // Replacing a value keeps the bound too.
  for (let i = 0; i < 100; i++) m.set('a', { v: `a${i}` });
  t.ok(m.size <= 3);
  t.same(m.get('a'), { v: 'a99' });
});

t.test('max 0 holds nothing; clear empties', async (t) => {
  const z = new BoundedMap<object>(0);
  z.set('x', {});
  t.equal(z.size, 0);
  const m = new BoundedMap<object>(2);
  m.set('x', {});
  m.clear();
  t.equal(m.size, 0);
  m.set('y', {});
  t.equal(m.size, 1);
});
