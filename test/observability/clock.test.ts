import t from 'tap';
import { clfTime, epochFromMono, formatClf, monoMs, nowMs } from '../../src/observability/clock.js';

t.test('CLF format matches AWS $context.requestTime', async (t) => {
  t.equal(formatClf(Date.UTC(2026, 10, 24, 10, 0, 0)), '24/Nov/2026:10:00:00 +0000');
  t.equal(formatClf(Date.UTC(2025, 0, 5, 3, 4, 9, 999)), '05/Jan/2025:03:04:09 +0000');
  t.equal(formatClf(Date.UTC(2024, 1, 29, 23, 59, 59)), '29/Feb/2024:23:59:59 +0000');
});

t.test('clfTime caches per second and stays correct across seconds', async (t) => {
  const base = Date.UTC(2026, 10, 24, 10, 0, 0);
  const a = clfTime(base + 1);
  t.equal(a, '24/Nov/2026:10:00:00 +0000');
  t.equal(clfTime(base + 999), a);
  t.equal(clfTime(base + 999), a, 'same string object from the cache');
  // Interleaving lines from neighbouring seconds, and a jump far away (same slot, other second).
  for (let i = 0; i < 10; i++) {
    t.equal(clfTime(base + 1000 * (i % 3)), formatClf(base + 1000 * (i % 3)));
  }
  t.equal(clfTime(base + 4000), '24/Nov/2026:10:00:04 +0000');
  t.equal(clfTime(base), a);
  t.equal(clfTime(base - 1), '24/Nov/2026:09:59:59 +0000');
  const now = clfTime();
  t.match(now, /^\d\d\/[A-Z][a-z]{2}\/\d{4}:\d\d:\d\d:\d\d \+0000$/);
});

t.test('monotonic and wall clocks', async (t) => {
  const m1 = monoMs();
  const m2 = monoMs();
  t.ok(m2 >= m1);
  // Compared with Date.now() read just before and after, so a busy machine descheduling the test
  // between two reads does not count against the clocks.
  const within = (f: () => number, slack: number): boolean => {
    const before = Date.now();
    const v = f();
    const after = Date.now();
    return v >= before - slack && v <= after + slack;
  };
  t.ok(within(nowMs, 50));
  const e = epochFromMono(monoMs());
  t.ok(Number.isInteger(e));
  t.ok(within(() => epochFromMono(monoMs()), 50), 'epoch from a monotonic reading is close to Date.now()');
  // After more than the resync interval the offset is refreshed, result still consistent.
  await new Promise((r) => setTimeout(r, 1050));
  t.ok(within(() => epochFromMono(monoMs()), 50));
  t.ok(epochFromMono(m1) <= epochFromMono(monoMs()), 'earlier readings map to earlier times');
});
