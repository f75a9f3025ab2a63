import { describe, expect, it } from 'vitest';
import { clampPercent, formatCount, formatEta, formatRate, formatRatio } from './format';

describe('progress formatting', () => {
  it('clamps the percent to 0..100', () => {
    expect(clampPercent(-3)).toBe(0);
    expect(clampPercent(42.5)).toBe(42.5);
    expect(clampPercent(100.0001)).toBe(100);
    expect(clampPercent(Number.NaN)).toBe(0);
    expect(clampPercent(null)).toBe(0);
  });

  it('says the time left in both languages', () => {
    expect(formatEta(0.5, 'zh')).toBe('1 秒');
    expect(formatEta(65, 'zh')).toBe('1 分 5 秒');
    expect(formatEta(65, 'en')).toBe('1 min 5 s');
    expect(formatEta(3 * 3600 + 120, 'en')).toBe('3 h 2 min');
    expect(formatEta(null, 'en')).toBeNull();
    expect(formatEta(Number.POSITIVE_INFINITY, 'zh')).toBeNull();
  });

  it('formats rates, counts and ratios', () => {
    expect(formatRate(12.345, 'en')).toBe('12.3');
    expect(formatRate(1234.5, 'en')).toBe('1,235');
    expect(formatRate(null, 'zh')).toBe('0');
    expect(formatCount(1000000, 'en')).toBe('1,000,000');
    expect(formatRatio(0.4567)).toBe('45.7%');
    expect(formatRatio(null)).toBe('—');
  });
});
