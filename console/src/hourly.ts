// The report's time series: the API's hours (UTC hour starts, oldest first, empty hours left
// out) shaped into one value per hour for the chart, the gaps filled with zeros so the time axis
// is even. Pure, so it is unit-tested (hourly.test.ts).
import type { Hour } from './api/types';

/** The figures the chart draws, in its legend's order. */
export const HOURLY_METRICS = ['sent', 'delivered', 'opened', 'clicked'] as const;
export type HourlyMetric = (typeof HOURLY_METRICS)[number];

const HOUR_MS = 3_600_000;
/** Gaps are filled up to this many hours (the API answers at most 366 days: 8,784 hours). */
export const MAX_FILLED_HOURS = 366 * 24 + 1;

export interface HourlySeries {
  /** Hour starts (epoch milliseconds), ascending, one per hour from the first to the last. */
  hours: number[];
  values: Record<HourlyMetric, number[]>;
  totals: Record<HourlyMetric, number>;
}

/** One value per hour from the first hour with figures to the last; missing hours are 0. */
export function hourlySeries(input: readonly Hour[]): HourlySeries {
  const byHour = new Map<number, Hour>();
  for (const h of input) {
    const at = Date.parse(h.hour);
    if (Number.isFinite(at)) byHour.set(Math.floor(at / HOUR_MS) * HOUR_MS, h);
  }
  const known = [...byHour.keys()].sort((a, b) => a - b);
  let hours = known;
  if (known.length > 1) {
    const span = (known[known.length - 1] - known[0]) / HOUR_MS + 1;
    if (span <= MAX_FILLED_HOURS) {
      hours = Array.from({ length: span }, (_, i) => known[0] + i * HOUR_MS);
    }
  }
  const values = Object.fromEntries(
    HOURLY_METRICS.map((m) => [m, hours.map((at) => byHour.get(at)?.[m] ?? 0)]),
  ) as Record<HourlyMetric, number[]>;
  const totals = Object.fromEntries(
    HOURLY_METRICS.map((m) => [m, values[m].reduce((a, b) => a + b, 0)]),
  ) as Record<HourlyMetric, number>;
  return { hours, values, totals };
}

/** An hour's label in `timeZone` (the browser's by default): `12-02 14:00`. */
export function hourLabel(at: number, timeZone?: string): string {
  const parts = new Intl.DateTimeFormat('en-GB', {
    timeZone,
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
  }).formatToParts(new Date(at));
  const part = (type: string) => parts.find((p) => p.type === type)?.value ?? '';
  return `${part('month')}-${part('day')} ${part('hour')}:${part('minute')}`;
}

/** Bars read well for a day or two of hours; beyond that a line does. */
export function chartKind(hourCount: number): 'bar' | 'line' {
  return hourCount <= 48 ? 'bar' : 'line';
}
