import { describe, expect, it } from 'vitest';
import type { Hour } from './api/types';
import { chartKind, hourLabel, hourlySeries } from './hourly';

const hour = (at: string, f: Partial<Hour> = {}): Hour => ({
  hour: at,
  sent: 0,
  send_failed: 0,
  delivered: 0,
  delivery_failed: 0,
  opened: 0,
  clicked: 0,
  converted: 0,
  unsubscribed: 0,
  ...f,
});

describe('hourlySeries', () => {
  it('is empty without hours', () => {
    const s = hourlySeries([]);
    expect(s.hours).toEqual([]);
    expect(s.values.sent).toEqual([]);
    expect(s.totals.sent).toBe(0);
  });

  it('fills the hours the API leaves out with zeros', () => {
    const s = hourlySeries([
      hour('2026-12-02T06:00:00Z', { sent: 5, delivered: 4 }),
      hour('2026-12-02T09:00:00Z', { sent: 1, opened: 2, clicked: 1 }),
    ]);
    expect(s.hours.map((h) => new Date(h).toISOString())).toEqual([
      '2026-12-02T06:00:00.000Z',
      '2026-12-02T07:00:00.000Z',
      '2026-12-02T08:00:00.000Z',
      '2026-12-02T09:00:00.000Z',
    ]);
    expect(s.values.sent).toEqual([5, 0, 0, 1]);
    expect(s.values.delivered).toEqual([4, 0, 0, 0]);
    expect(s.values.opened).toEqual([0, 0, 0, 2]);
    expect(s.values.clicked).toEqual([0, 0, 0, 1]);
    expect(s.totals).toEqual({ sent: 6, delivered: 4, opened: 2, clicked: 1 });
  });

  it('sorts the hours and reads offsets', () => {
    const s = hourlySeries([
      hour('2026-12-02T10:00:00+08:00', { sent: 2 }),
      hour('2026-12-02T01:00:00Z', { sent: 1 }),
    ]);
    expect(s.hours.map((h) => new Date(h).toISOString())).toEqual([
      '2026-12-02T01:00:00.000Z',
      '2026-12-02T02:00:00.000Z',
    ]);
    expect(s.values.sent).toEqual([1, 2]);
  });

  it('does not fill a span longer than the API can answer', () => {
    const s = hourlySeries([hour('2020-01-01T00:00:00Z', { sent: 1 }), hour('2026-01-01T00:00:00Z', { sent: 1 })]);
    expect(s.hours).toHaveLength(2);
  });
});

describe('hourLabel', () => {
  it('shows month, day and hour in the time zone', () => {
    expect(hourLabel(Date.parse('2026-12-02T06:00:00Z'), 'UTC')).toBe('12-02 06:00');
    expect(hourLabel(Date.parse('2026-12-02T18:00:00Z'), 'Asia/Shanghai')).toBe('12-03 02:00');
  });
});

describe('chartKind', () => {
  it('draws bars for two days at most, lines beyond', () => {
    expect(chartKind(1)).toBe('bar');
    expect(chartKind(48)).toBe('bar');
    expect(chartKind(49)).toBe('line');
  });
});
