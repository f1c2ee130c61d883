/** Usage-plan quota periods in UTC: days, weeks starting Monday, calendar months. */

export type Period = 'DAY' | 'WEEK' | 'MONTH';

const DAY_MS = 86_400_000;
/** Usage counters stay readable this long after their period ends (AWS GetUsage reaches 90 days back). */
export const USAGE_RETENTION_MS = 90 * DAY_MS;

export function periodStart(period: Period, t: number): number {
  const day = Math.floor(t / DAY_MS);
  if (period === 'DAY') return day * DAY_MS;
  // 1970-01-01 was a Thursday: (day + 3) % 7 is the days since Monday.
  if (period === 'WEEK') return (day - ((day + 3) % 7)) * DAY_MS;
  const d = new Date(t);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
}

export function periodEnd(period: Period, start: number): number {
  if (period === 'DAY') return start + DAY_MS;
  if (period === 'WEEK') return start + 7 * DAY_MS;
  const d = new Date(start);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
}

/** "2026-11-24" for a period start (the counter key's suffix and what the usage API shows). */
export function periodLabel(start: number): string {
  return new Date(start).toISOString().slice(0, 10);
}
